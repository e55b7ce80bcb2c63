// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>
#include <string>

namespace cv {
class Mat;
}

namespace primaps {

/// Writes `bytes` to `path` atomically: into a temporary file beside it, flushed,
/// then renamed over the target, so a reader never sees a half-written file and
/// an interrupted run leaves the old file (or nothing) behind. Throws
/// primaps::Error naming the path when the folder is not writable or the disk is full.
void writeFileAtomic(const std::string& path, const std::string& bytes);

/// Encodes `image` in the format given by the extension of `path` (png, jpg, ...)
/// and writes it with writeFileAtomic(). `image` is in OpenCV's BGR order for
/// colour images. Throws primaps::Error when encoding or writing fails.
void writeImageAtomic(const std::string& path, const cv::Mat& image);

/// For writers that need a file name rather than bytes (a video encoder): creates
/// an empty temporary file beside `path` whose name ends in `suffix` (so that the
/// writer picks the right container) and returns its name. Write it, then
/// commitTemporaryFile() it, or remove it on failure. Throws primaps::Error
/// naming `path` when the folder is not writable.
std::string createTemporaryBeside(const std::string& path, const std::string& suffix);

/// Flushes `temporary` to disk and renames it over `path` (the atomic step of
/// writeFileAtomic()). On failure removes `temporary` and throws primaps::Error
/// naming `path`.
void commitTemporaryFile(const std::string& temporary, const std::string& path);

/// Reads a whole file. Throws primaps::Error naming the path when it cannot.
std::string readFile(const std::string& path);

/// Reads a whole regular file of at most `maxBytes` bytes; anything else (a folder,
/// a FIFO, a device, a larger file) is refused with primaps::Error naming the path
/// before any of it is read, so a hostile name cannot block or exhaust memory.
std::string readFile(const std::string& path, std::size_t maxBytes);

} // namespace primaps
