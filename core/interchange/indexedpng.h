// SPDX-License-Identifier: MIT
// 8-bit label PNGs with an embedded palette (colour type 3, as Pascal VOC and
// CVAT write them): any image viewer shows the classes in their colours, and
// PIL / numpy still read the class values. OpenCV expands palettes to colours
// when it reads, so the values are read back here with libpng. Any thread.
#pragma once

#include <opencv2/core/mat.hpp>
#include <opencv2/core/matx.hpp>
#include <string>
#include <vector>

namespace primaps::interchange {

/// PNG bytes of `values` (CV_8UC1) with `palette` (RGB, at most 256 entries;
/// values beyond it are black), and `provenance` (when not empty) as a tEXt
/// chunk with the keyword "primaps". Throws primaps::Error when encoding fails.
std::string encodeIndexedPng(const cv::Mat& values, const std::vector<cv::Vec3b>& palette,
                             const std::string& provenance = {});

/// The values of an 8-bit PNG without expanding a palette: the indices of a
/// palette PNG, the grey values of a greyscale one (CV_8UC1). Other PNGs (RGB,
/// 16-bit) are refused. `palette` (optional) receives the palette (empty for
/// greyscale). Throws primaps::Error naming `source` when the bytes are not
/// such a PNG.
cv::Mat decodePngValues(const std::string& bytes, const std::string& source,
                        std::vector<cv::Vec3b>* palette = nullptr);

} // namespace primaps::interchange
