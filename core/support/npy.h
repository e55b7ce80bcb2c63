// SPDX-License-Identifier: MIT
#pragma once

#include "support/featuremap.h"

#include <cstdint>
#include <string>
#include <vector>

namespace primaps {

/// A NumPy .npy array as stored: shape, dtype descriptor (e.g. "<f4", "|u1"),
/// memory order and the raw bytes.
struct NpyArray
{
    std::vector<std::int64_t> shape;
    std::string dtype;
    bool fortranOrder = false;
    std::vector<char> data;

    std::int64_t elementCount() const;
    /// Values converted to float32 in C (row-major) order. Supports float16/32/64,
    /// signed and unsigned integers of 1-8 bytes, bool; both byte orders.
    /// Throws primaps::Error for any other dtype.
    std::vector<float> toFloat32() const;
    /// Values as uint8 in C order; requires dtype u1/i1/b1 or throws.
    std::vector<std::uint8_t> toUint8() const;
};

/// Reads a .npy file (format versions 1-3). Throws primaps::Error naming the file
/// when it is missing, not an .npy file, has a malformed header, or holds fewer
/// bytes than its header promises (truncated).
NpyArray readNpy(const std::string& path);

/// Reads a C x h x w (or 1 x C x h x w) float32/float64 array, in C or Fortran
/// order, as a FeatureMap. Throws primaps::Error naming the file when the dtype is
/// not a float type, the rank is wrong, or a value is not finite.
FeatureMap readFeaturesNpy(const std::string& path);

/// Writes a float32 array atomically as .npy (C order). Throws primaps::Error.
void writeNpy(const std::string& path, const std::vector<std::int64_t>& shape, const float* values);
/// Writes a uint8 array atomically as .npy (C order). Throws primaps::Error.
void writeNpy(const std::string& path, const std::vector<std::int64_t>& shape,
              const std::uint8_t* values);
/// Writes a FeatureMap as a C x h x w float32 .npy file.
void writeFeaturesNpy(const std::string& path, const FeatureMap& features);

} // namespace primaps
