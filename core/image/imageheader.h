// SPDX-License-Identifier: MIT
// What an image file says about itself before any pixel is decoded: its format,
// its size, and whether the file holds all of the data its structure announces.
// The pixel budget (imageio.h) is checked against this, so that no decoder ever
// allocates memory for a size nobody agreed to.
#pragma once

#include "image/pngchunks.h"

#include <cstdint>
#include <optional>
#include <string>

namespace primaps {

/// The header of an image file.
struct ImageHeader
{
    std::string format; ///< "PNG", "JPEG", "BMP", "TIFF", "WebP", "PNM"
    int width = 0;
    int height = 0;
    /// False when the file ends before the end its structure announces (a PNG
    /// without IEND, a JPEG without its end-of-image marker, a WebP, BMP or
    /// binary PNM shorter than its header says). Not checked for TIFF.
    bool complete = true;
    std::string incompleteWhy; ///< why `complete` is false, for the user
    /// A PNG chunk whose header claims more data than the file holds, found by the
    /// same walk (libpng allocates such a claim before reading it: refuse the file
    /// before decoding when PngChunkOverrun::allocatesClaim()).
    std::optional<PngChunkOverrun> pngOverrun;
};

/// Reads the header of the image file at `path` (by its content, not its name)
/// without decoding pixels; JPEG and PNG files are walked to their end marker
/// to judge `complete`. Throws primaps::Error naming the file when it cannot be
/// opened, is empty, is not one of the formats above, or its header is damaged
/// (no size, a zero size). Thread-safe.
ImageHeader readImageHeader(const std::string& path);

} // namespace primaps
