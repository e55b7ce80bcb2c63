// SPDX-License-Identifier: MIT
#include "image/overlay.h"

#include "support/error.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>

namespace primaps {

cv::Vec3b labelColor(int id)
{
    // Qualitative colours in the spirit of Kelly's and Tableau's palettes:
    // saturated, distinct on photos, and none of them grey.
    static const cv::Vec3b palette[] = {
        {128, 128, 128}, {230, 25, 75},  {60, 180, 75},  {255, 225, 25}, {0, 130, 200},
        {245, 130, 48},  {145, 30, 180}, {70, 240, 240}, {240, 50, 230}, {210, 245, 60},
        {250, 190, 212}, {0, 128, 128},  {220, 190, 255}, {170, 110, 40}, {255, 250, 200},
        {128, 0, 0},     {170, 255, 195}, {128, 128, 0},  {255, 215, 180}, {0, 0, 128},
        {255, 255, 255},
    };
    constexpr int known = int(sizeof(palette) / sizeof(palette[0]));
    if (id >= 0 && id < known)
        return palette[id];
    const double hue = std::fmod(id * 137.50776405, 360.0);
    cv::Mat hsv(1, 1, CV_8UC3, cv::Scalar(hue / 2.0, 200, 230));
    cv::Mat rgb;
    cv::cvtColor(hsv, rgb, cv::COLOR_HSV2RGB);
    return rgb.at<cv::Vec3b>(0, 0);
}

const LabelPalette& defaultLabelPalette()
{
    static const LabelPalette palette = [] {
        LabelPalette colors;
        for (int i = 0; i < 256; ++i)
            colors[std::size_t(i)] = labelColor(i);
        return colors;
    }();
    return palette;
}

cv::Mat colorizeLabels(const cv::Mat& labels, const LabelPalette& lut)
{
    if (labels.type() != CV_8U)
        throw Error("colorizeLabels expects an 8-bit label map");
    cv::Mat out(labels.size(), CV_8UC3);
    for (int y = 0; y < labels.rows; ++y) {
        const uchar* in = labels.ptr<uchar>(y);
        cv::Vec3b* o = out.ptr<cv::Vec3b>(y);
        for (int x = 0; x < labels.cols; ++x)
            o[x] = lut[in[x]];
    }
    return out;
}

cv::Mat overlayLabels(const cv::Mat& rgb, const cv::Mat& labels, float opacity,
                      const LabelPalette& lut)
{
    if (rgb.type() != CV_8UC3 || labels.type() != CV_8U || rgb.size() != labels.size())
        throw Error("overlayLabels expects an RGB image and an 8-bit label map of the same size");
    const float a = std::clamp(opacity, 0.0f, 1.0f);
    cv::Mat out(rgb.size(), CV_8UC3);
    for (int y = 0; y < rgb.rows; ++y) {
        const cv::Vec3b* src = rgb.ptr<cv::Vec3b>(y);
        const uchar* lab = labels.ptr<uchar>(y);
        const uchar* up = labels.ptr<uchar>(std::max(0, y - 1));
        const uchar* down = labels.ptr<uchar>(std::min(rgb.rows - 1, y + 1));
        cv::Vec3b* dst = out.ptr<cv::Vec3b>(y);
        for (int x = 0; x < rgb.cols; ++x) {
            const int id = lab[x];
            const bool border = (x > 0 && lab[x - 1] != id) || (x + 1 < rgb.cols && lab[x + 1] != id) ||
                                up[x] != id || down[x] != id;
            for (int c = 0; c < 3; ++c) {
                float v;
                if (id == 0)
                    v = src[x][c] * (1.0f - 0.55f * a);
                else if (border)
                    v = src[x][c] * (1.0f - a) + 255.0f * a;
                else
                    v = src[x][c] * (1.0f - a) + lut[std::size_t(id)][c] * a;
                dst[x][c] = cv::saturate_cast<uchar>(v);
            }
        }
    }
    return out;
}

cv::Mat heatmap(const std::vector<float>& values, int height, int width, float lo, float hi)
{
    if (values.size() != std::size_t(height) * width || height < 1 || width < 1)
        throw Error("heatmap: array size does not match its dimensions");
    if (!(hi > lo))
        hi = lo + 1.0f;
    cv::Mat out(height, width, CV_8UC3);
    if (lo >= 0.0f) {
        cv::Mat grey(height, width, CV_8U);
        for (std::size_t i = 0; i < values.size(); ++i)
            grey.data[i] = cv::saturate_cast<uchar>(255.0f * (values[i] - lo) / (hi - lo));
        cv::Mat bgr;
        cv::applyColorMap(grey, bgr, cv::COLORMAP_VIRIDIS);
        cv::cvtColor(bgr, out, cv::COLOR_BGR2RGB);
        return out;
    }
    const float span = std::max(std::abs(lo), std::abs(hi));
    const cv::Vec3f negative(33, 102, 172), middle(247, 247, 247), positive(178, 24, 43);
    for (std::size_t i = 0; i < values.size(); ++i) {
        const float t = std::clamp(values[i] / span, -1.0f, 1.0f);
        const cv::Vec3f c = t < 0 ? middle + (negative - middle) * (-t) : middle + (positive - middle) * t;
        out.at<cv::Vec3b>(int(i) / width, int(i) % width) =
            cv::Vec3b(cv::saturate_cast<uchar>(c[0]), cv::saturate_cast<uchar>(c[1]),
                      cv::saturate_cast<uchar>(c[2]));
    }
    return out;
}

} // namespace primaps
