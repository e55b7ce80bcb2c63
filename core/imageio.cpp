// SPDX-License-Identifier: MIT
#include "imageio.h"

#include "error.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <filesystem>

namespace primaps {

cv::Mat loadImageRgb8(const std::string& path)
{
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::exists(path, ec))
        throw Error("'" + path + "': no such file");
    if (fs::is_directory(path, ec))
        throw Error("'" + path + "': is a folder, not an image");

    cv::Mat raw;
    try {
        // IMREAD_COLOR applies the EXIF orientation (IMREAD_UNCHANGED would not);
        // IMREAD_ANYDEPTH keeps 16-bit data so we can scale it ourselves.
        raw = cv::imread(path, cv::IMREAD_COLOR | cv::IMREAD_ANYDEPTH);
    } catch (const cv::Exception& e) {
        throw Error("'" + path + "': cannot decode image (" + e.err + ")");
    }
    if (raw.empty())
        throw Error("'" + path + "': not an image OpenCV can read, or the file is corrupt");

    cv::Mat bgr8;
    switch (raw.depth()) {
    case CV_8U:
        bgr8 = raw;
        break;
    case CV_16U:
        raw.convertTo(bgr8, CV_8U, 255.0 / 65535.0);
        break;
    case CV_32F:
    case CV_64F:
        // Floating-point images (TIFF, EXR) are taken to be in [0, 1].
        raw.convertTo(bgr8, CV_8U, 255.0);
        break;
    default:
        raw.convertTo(bgr8, CV_8U);
        break;
    }
    cv::Mat rgb;
    cv::cvtColor(bgr8, rgb, cv::COLOR_BGR2RGB);
    return rgb;
}

const std::vector<std::string>& imageExtensions()
{
    static const std::vector<std::string> extensions = {
        ".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm"};
    return extensions;
}

} // namespace primaps
