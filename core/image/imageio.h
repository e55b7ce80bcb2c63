// SPDX-License-Identifier: MIT
#pragma once

#include <opencv2/core/mat.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace primaps {

/// Limits on the images the project decodes and processes, so that no single
/// input can exhaust memory (a 110-byte PNG can claim 3000x2 pixels that the
/// resize turns into 480000x320, or 30000x30000 that a decoder would allocate).
struct PixelBudget
{
    /// Decoded pixels of an image, and pixels of any resized version of it.
    std::int64_t maxPixels = 64'000'000;
    /// Longer side / shorter side of the image a backbone gets.
    double maxAspect = 50.0;
    /// Pixels of the image a backbone and the dense CRF process (the prepared
    /// image, preprocess.h). Their memory grows with it: the CRF's by about 570
    /// bytes per pixel, a ViT's attention with the square of its patches. A resize
    /// beyond it is made smaller, keeping the aspect ratio, and reported
    /// (PreparedImage::budgetNote()); a fixed-size protocol (a centre-cropped
    /// square) beyond it is refused. 1024 x 1024 keeps one image under 2 GB
    /// (docs/sanitizers-and-fuzzing.md, "Peak memory for one image").
    std::int64_t maxProcessingPixels = 1024 * 1024;
    /// How the user raises the budget, appended to refusals (the CLI names its
    /// option, the studio its setting).
    std::string howToRaise = "raise the pixel budget to accept it";
};

/// The process-wide budget. Thread-safe.
PixelBudget pixelBudget();
/// Replaces the process-wide budget; images decoded or prepared afterwards obey
/// it. Throws primaps::Error when maxPixels < 1, maxAspect < 1 or
/// maxProcessingPixels < 4096 (a 64 x 64 image). Thread-safe.
void setPixelBudget(const PixelBudget& budget);

/// "12.3 MP": a pixel count for messages.
std::string megapixels(double pixels);

/// Throws primaps::Error when a width x height image exceeds the budget's pixel
/// count; `what` starts the message (e.g. "'a.png': 20000x20000 pixels"). The
/// message names the limit and how to raise it.
void checkPixelCount(std::int64_t width, std::int64_t height, const std::string& what);

/// Loads any image OpenCV can decode of the formats imageheader.h knows (PNG,
/// JPEG, TIFF, WebP, BMP, PNM; 8 or 16 bit; grey, RGB or RGBA) as 8-bit RGB
/// (CV_8UC3, RGB order). The header is read first: an image beyond the pixel
/// budget is refused before any pixel is decoded. EXIF orientation is applied;
/// 16-bit values are scaled to 8 bit; grey is replicated; alpha is dropped.
///
/// A file that ends before its data does (a truncated download) decodes with the
/// missing part filled in by the decoder: the image is returned and `partial`,
/// when given, receives a one-line warning naming the file (it is cleared
/// otherwise). Throws primaps::Error naming the file when it does not exist, is
/// not a readable image, or exceeds the budget. Thread-safe.
cv::Mat loadImageRgb8(const std::string& path, std::string* partial = nullptr);

/// Loads a single-channel 8-bit image (a label map, a correction, a cached mask
/// map) as it is stored, with loadImageRgb8()'s care: the pixel budget is checked
/// on the header before anything is decoded, and a decoder's failure, a file cut
/// short or another pixel type is a primaps::Error naming the file and `what`
/// ("label map", "correction"). Thread-safe.
cv::Mat loadGray8(const std::string& path, const std::string& what);

/// File extensions (lower case, with dot) that the image list offers and the CLI
/// accepts when it expands a folder.
const std::vector<std::string>& imageExtensions();

} // namespace primaps
