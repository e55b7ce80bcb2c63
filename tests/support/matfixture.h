// SPDX-License-Identifier: MIT
// Writes a MATLAB 5 .mat file with one variable, for tests of the Potsdam-3
// reader (core/dataset/dataset). Separate from testsupport.h because it needs matio,
// which only the tests that read .mat files link.
#pragma once

#include <filesystem>
#include <matio.h>
#include <QtTest>
#include <vector>

/// Creates the parent folders and writes `values` (column-major, MATLAB's order)
/// as variable `name` of the given class, type and dimensions, zlib-compressed when
/// asked. Fails the current test on any matio error.
template <typename T>
void writeMat(const std::filesystem::path& path, const char* name, matio_classes cls,
              matio_types type, std::vector<std::size_t> dims, std::vector<T> values,
              matio_compression compression = MAT_COMPRESSION_NONE)
{
    std::filesystem::create_directories(path.parent_path());
    mat_t* mat = Mat_CreateVer(path.string().c_str(), nullptr, MAT_FT_MAT5);
    QVERIFY(mat);
    matvar_t* var = Mat_VarCreate(name, cls, type, int(dims.size()), dims.data(), values.data(), 0);
    QVERIFY(var);
    QCOMPARE(Mat_VarWrite(mat, var, compression), 0);
    Mat_VarFree(var);
    Mat_Close(mat);
}
