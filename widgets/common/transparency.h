// SPDX-License-Identifier: MIT
// Images with an alpha channel in the studio: core decodes colour only, so a
// transparent PNG would show (and be decomposed) as whatever colour its clear
// pixels happen to hold, usually black. The studio composites them on a
// neutral grey checkerboard instead, the usual sign of "transparent here".
#pragma once

#include <opencv2/core/mat.hpp>
#include <string>

namespace primaps {

/// Side of a checkerboard square in image pixels, and its two greys.
constexpr int kCheckerSquare = 8;
constexpr unsigned char kCheckerLight = 204;
constexpr unsigned char kCheckerDark = 153;

/// The checkerboard's grey at pixel (x, y).
inline unsigned char checkerGrey(int x, int y)
{
    return ((x / kCheckerSquare + y / kCheckerSquare) % 2) == 0 ? kCheckerLight : kCheckerDark;
}

/// When the file at `path` has an alpha channel (PNG with alpha, WebP, TIFF),
/// replaces `rgb` (its CV_8UC3 RGB decode, same size) with the image composited
/// over the checkerboard and returns true; otherwise leaves it and returns
/// false. Decodes the file a second time only when it can hold alpha; never
/// throws (an image that cannot be decoded again stays as it was).
bool compositeTransparency(const std::string& path, cv::Mat& rgb);

} // namespace primaps
