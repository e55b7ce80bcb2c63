// SPDX-License-Identifier: MIT
// MAT 7.3 files are HDF5 files, and libhdf5 trusts their structure: a damaged file
// crashed it inside matio's Mat_Open (a null read in H5G__node_sumup, found by
// fuzzing). We cannot check an HDF5 file's structure ourselves the way
// matfilecheck.h checks MAT 5 files, so a 7.3 file is read in a child process: a
// crash, a hang or a malformed reply of the child becomes an error naming the file,
// and the process that asked (the studio, the CLI) goes on. Private to core/dataset.
#pragma once

#include <cstdint>
#include <opencv2/core/mat.hpp>
#include <string>

struct matvar_t;

namespace primaps {

/// A numeric variable's class, kind and shape, as matio reports them before its
/// data is read (matio's `matio_classes` as an int, so this header needs no matio).
struct MatArrayShape
{
    std::int32_t classType = 0;
    std::int32_t isComplex = 0;
    std::int32_t rank = 0;
    std::uint64_t dims[3] = {0, 0, 0}; ///< rows, cols, channels (dims[2] only when rank 3)
};

/// The class, kind and shape of a variable matio has read (its info or its data).
MatArrayShape matArrayShapeOf(const matvar_t* var);

/// Throws primaps::Error "<where>: ..." unless `shape` is a real dense numeric
/// array of rank 2 or 3 with at most 4 channels, within the pixel budget.
void checkMatArrayShape(const MatArrayShape& shape, const std::string& where);

/// Bytes per value of a numeric matio class; 0 for any other class.
std::size_t matValueBytes(std::int32_t classType);

/// Converts a checked array's values (column-major, MATLAB's order, of
/// matValueBytes(shape.classType) bytes each) into a rows x cols matrix of
/// shape.dims[2] channels in the file's element type.
cv::Mat matArrayToMat(const MatArrayShape& shape, const void* values);

/// What runs in the child after fork(): reads `variable` of `path` and writes one
/// reply (matsandbox.cpp defines its layout) to `replyFd`. Tests pass their own to
/// make the child crash, hang or send garbage.
using MatChildBody = void (*)(const char* path, const char* variable, int replyFd);

/// The body used by readMat73Variable(): matio in the child.
void readMatVariableForParent(const char* path, const char* variable, int replyFd);

/// Reads `variable` of the MAT 7.3 file `path` in a forked child that runs `body`
/// and sends the values through a pipe; the child writes nothing else (its stderr,
/// where HDF5 prints its diagnostics, goes to /dev/null). Waits at most
/// `timeoutSeconds`, plus one second per 32 MB the variable declares. Throws
/// primaps::Error naming the file when the child crashes ("MAT 7.3 (HDF5) file is
/// corrupt: the HDF5 library crashed reading it (...)"), takes too long (it is
/// killed), sends a malformed reply, or refuses the file or the variable (the same
/// messages as for a MAT 5 file). Thread-safe, one child at a time per process
/// (callers wait); the calling process may have other threads (the child runs only
/// the forking thread's copy and calls matio, HDF5, the shape check and write()).
cv::Mat readMat73Variable(const std::string& path, const std::string& variable,
                          MatChildBody body = readMatVariableForParent,
                          double timeoutSeconds = 20.0);

} // namespace primaps
