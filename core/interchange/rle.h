// SPDX-License-Identifier: MIT
// The two run-length encodings the annotation tools exchange masks in: COCO's
// (column-major run lengths, and its compressed string form) and Label Studio's
// brush RLE (a bit-packed run-length code over the RGBA bytes of a mask image).
// Written from the published definitions; no Qt, no JSON. Any thread.
#pragma once

#include <cstdint>
#include <opencv2/core/mat.hpp>
#include <string>
#include <vector>

namespace primaps::interchange {

/// COCO run lengths of a binary mask (CV_8UC1, nonzero = inside): the pixels in
/// column-major order (down the first column, then the next), alternating runs
/// of outside and inside, starting with outside (a leading 0 when the first
/// pixel is inside). The counts sum to rows * cols.
std::vector<std::uint32_t> cocoRunLengths(const cv::Mat& mask);

/// The inverse: a CV_8UC1 mask (1 inside, 0 outside) of `rows` x `cols`. Throws
/// primaps::Error when the counts do not sum to rows * cols.
cv::Mat cocoMaskFromRuns(const std::vector<std::uint32_t>& counts, int rows, int cols);

/// COCO's compressed string form of run lengths (pycocotools' rleToString):
/// from the fourth count on, each count is stored as its difference to the count
/// two before; every value is written in little-endian 5-bit groups, each group a
/// character 48 + bits, bit 0x20 set when another group follows (the last group's
/// bit 0x10 is the sign).
std::string cocoRleString(const std::vector<std::uint32_t>& counts);

/// Parses cocoRleString() text. Throws primaps::Error on a character outside
/// '0'..'o', a truncated value, a value longer than 7 characters (a 32-bit run
/// never needs more) or a count outside 0..2^32 - 1.
std::vector<std::uint32_t> parseCocoRleString(const std::string& text);

/// Label Studio's brush RLE of a sequence of bytes (label-studio-converter's
/// brush.py; rle-pack's layout): bits most significant first; a header of the
/// value count (32 bits), word size - 1 (5 bits, 8-bit words here) and four run
/// length field widths - 1 (4 bits each: 3, 4, 8, 16); then blocks of: 1 bit
/// (1 = one repeated value, 0 = literal values), 2 bits choosing a width, the
/// block length - 1 in that width, and the value(s). Padded with zero bits to
/// whole bytes.
std::vector<std::uint8_t> brushRleEncode(const std::vector<std::uint8_t>& values);

/// Decodes any stream in that layout (any widths, word sizes up to 8 bits).
/// Throws primaps::Error when the stream ends early or the word size is above 8.
std::vector<std::uint8_t> brushRleDecode(const std::vector<std::uint8_t>& bytes);

/// A binary mask (CV_8UC1, nonzero = inside) as the RGBA bytes Label Studio
/// paints (255 in every channel inside, 0 outside), brush-encoded.
std::vector<std::uint8_t> brushRleFromMask(const cv::Mat& mask);

/// The mask of a brush RLE of `rows` x `cols`: inside where the alpha byte is
/// nonzero (Label Studio's brushes are often translucent). Throws
/// primaps::Error when the stream does not hold rows * cols * 4 values.
cv::Mat brushRleToMask(const std::vector<std::uint8_t>& bytes, int rows, int cols);

} // namespace primaps::interchange
