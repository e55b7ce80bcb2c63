// SPDX-License-Identifier: MIT
#include "common/transparency.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace primaps {

namespace {

std::string lowerExtension(const std::string& path)
{
    const std::size_t dot = path.find_last_of('.');
    std::string ext = dot == std::string::npos ? std::string() : path.substr(dot + 1);
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char c) { return char(std::tolower(c)); });
    return ext;
}

// A PNG says in its header whether it has alpha (colour types 4 and 6) or a
// transparency chunk; reading 33 bytes and looking for "tRNS" in the first
// chunks spares a second decode of every opaque PNG.
bool pngMayHaveAlpha(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    char head[4096] = {};
    in.read(head, sizeof head);
    const std::streamsize n = in.gcount();
    if (n < 33)
        return false;
    const unsigned char colourType = static_cast<unsigned char>(head[25]);
    if (colourType == 4 || colourType == 6)
        return true;
    return std::string(head, std::size_t(n)).find("tRNS") != std::string::npos;
}

} // namespace

bool compositeTransparency(const std::string& path, cv::Mat& rgb)
{
    const std::string ext = lowerExtension(path);
    const bool png = ext == "png";
    if (!(png || ext == "webp" || ext == "tif" || ext == "tiff") || rgb.type() != CV_8UC3)
        return false;
    if (png && !pngMayHaveAlpha(path))
        return false;
    cv::Mat raw;
    try {
        raw = cv::imread(path, cv::IMREAD_UNCHANGED);
    } catch (const cv::Exception&) {
        return false;
    }
    if (raw.empty() || raw.channels() != 4 || raw.size() != rgb.size())
        return false;
    cv::Mat bgra;
    raw.convertTo(bgra, CV_32F, raw.depth() == CV_16U ? 1.0 / 65535.0 : 1.0 / 255.0);
    cv::Mat out(rgb.size(), CV_8UC3);
    for (int y = 0; y < out.rows; ++y) {
        const cv::Vec4f* src = bgra.ptr<cv::Vec4f>(y);
        cv::Vec3b* dst = out.ptr<cv::Vec3b>(y);
        for (int x = 0; x < out.cols; ++x) {
            const float a = std::clamp(src[x][3], 0.0f, 1.0f);
            const float grey = float(checkerGrey(x, y)) * (1.0f - a);
            // BGRA in, RGB out.
            for (int c = 0; c < 3; ++c)
                dst[x][c] = cv::saturate_cast<unsigned char>(src[x][2 - c] * 255.0f * a + grey);
        }
    }
    rgb = out;
    return true;
}

} // namespace primaps
