// SPDX-License-Identifier: MIT
#pragma once

#include <opencv2/core/mat.hpp>

#include <string>
#include <vector>

namespace primaps {

/// Loads any image OpenCV can decode (PNG, JPEG, TIFF, WebP, BMP, ...; 8 or 16
/// bit; grey, RGB or RGBA) as 8-bit RGB (CV_8UC3, RGB order). EXIF orientation
/// is applied; 16-bit values are scaled to 8 bit; grey is replicated; alpha is
/// dropped. Throws primaps::Error naming the file when it does not exist or is
/// not a readable image. Thread-safe.
cv::Mat loadImageRgb8(const std::string& path);

/// File extensions (lower case, with dot) that the image list offers and the CLI
/// accepts when it expands a folder.
const std::vector<std::string>& imageExtensions();

} // namespace primaps
