// SPDX-License-Identifier: MIT
#include "common/imageconvert.h"

#include "support/error.h"

#include <cstring>

namespace primaps {

namespace {

// QImage rows are 32-bit aligned and cv::Mat rows may be padded (ROIs), so the
// copy goes row by row with each side's own stride.
QImage copyInto(const cv::Mat& mat, QImage::Format format, int bytesPerPixel)
{
    QImage image(mat.cols, mat.rows, format);
    if (image.isNull())
        throw Error("out of memory converting a " + std::to_string(mat.cols) + "x" +
                    std::to_string(mat.rows) + " image");
    const std::size_t rowBytes = std::size_t(mat.cols) * bytesPerPixel;
    for (int y = 0; y < mat.rows; ++y)
        std::memcpy(image.scanLine(y), mat.ptr(y), rowBytes);
    return image;
}

cv::Mat copyFrom(const QImage& image, int type, int bytesPerPixel)
{
    cv::Mat mat(image.height(), image.width(), type);
    const std::size_t rowBytes = std::size_t(image.width()) * bytesPerPixel;
    for (int y = 0; y < image.height(); ++y)
        std::memcpy(mat.ptr(y), image.constScanLine(y), rowBytes);
    return mat;
}

} // namespace

QImage toQImage(const cv::Mat& mat)
{
    if (mat.empty())
        return {};
    switch (mat.type()) {
    case CV_8UC3:
        return copyInto(mat, QImage::Format_RGB888, 3);
    case CV_8UC1:
        return copyInto(mat, QImage::Format_Grayscale8, 1);
    case CV_8UC4:
        return copyInto(mat, QImage::Format_RGBA8888, 4);
    default:
        throw Error("cannot show a matrix of OpenCV type " + std::to_string(mat.type()) +
                    " as an image (expected 8-bit grey, RGB or RGBA)");
    }
}

cv::Mat toRgbMat(const QImage& image)
{
    if (image.isNull())
        return {};
    if (image.format() == QImage::Format_RGB888)
        return copyFrom(image, CV_8UC3, 3);
    return copyFrom(image.convertToFormat(QImage::Format_RGB888), CV_8UC3, 3);
}

cv::Mat toGreyMat(const QImage& image)
{
    if (image.isNull())
        return {};
    if (image.format() == QImage::Format_Grayscale8)
        return copyFrom(image, CV_8UC1, 1);
    return copyFrom(image.convertToFormat(QImage::Format_Grayscale8), CV_8UC1, 1);
}

} // namespace primaps
