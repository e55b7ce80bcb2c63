// SPDX-License-Identifier: MIT
#pragma once

#include <opencv2/core/mat.hpp>
#include <QImage>

namespace primaps {

/// Deep copy of an 8-bit matrix as a QImage: CV_8UC3 in RGB order becomes
/// Format_RGB888, CV_8UC1 becomes Format_Grayscale8, CV_8UC4 (RGBA) becomes
/// Format_RGBA8888. An empty matrix gives a null image. Throws primaps::Error
/// for any other type. The result shares nothing with `mat`. Thread-safe.
QImage toQImage(const cv::Mat& mat);

/// Deep copy of `image` as CV_8UC3 in RGB order. Other formats are converted
/// first; alpha is dropped (not blended). A null image gives an empty matrix.
cv::Mat toRgbMat(const QImage& image);

/// Deep copy of `image` as CV_8UC1. Colour formats are converted to grey by
/// Qt's luminance rule first. A null image gives an empty matrix.
cv::Mat toGreyMat(const QImage& image);

} // namespace primaps
