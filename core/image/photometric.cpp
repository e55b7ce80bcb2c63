// SPDX-License-Identifier: MIT
#include "image/photometric.h"

#include "support/error.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <opencv2/imgproc.hpp>

namespace primaps {

namespace {

// splitmix64 with uniform doubles: portable, unlike the standard distributions.
struct Rng
{
    std::uint64_t state;
    std::uint64_t next()
    {
        std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    double uniform(double lo, double hi)
    {
        return lo + (hi - lo) * double(next() >> 11) * 0x1.0p-53;
    }
};

cv::Mat grey3(const cv::Mat& rgb)
{
    cv::Mat g, out;
    cv::cvtColor(rgb, g, cv::COLOR_RGB2GRAY);
    cv::cvtColor(g, out, cv::COLOR_GRAY2RGB);
    return out;
}

// img * f + other * (1 - f), saturated to 8 bit (torchvision's _blend).
cv::Mat blend(const cv::Mat& img, const cv::Mat& other, double f)
{
    cv::Mat out;
    cv::addWeighted(img, f, other, 1.0 - f, 0.0, out);
    return out;
}

} // namespace

cv::Mat photometricAugment(const cv::Mat& rgb, std::uint64_t seed)
{
    if (rgb.type() != CV_8UC3 || rgb.empty())
        throw Error("photometric augmentation needs a non-empty 8-bit RGB image");
    Rng rng{seed};
    cv::Mat img;
    const double sigma = rng.uniform(0.1, 2.0);
    cv::GaussianBlur(rgb, img, cv::Size(21, 21), sigma, sigma, cv::BORDER_REFLECT_101);

    if (rng.uniform(0, 1) < 0.5) {
        if (rng.uniform(0, 1) < 0.3) {
            std::array<int, 4> order = {0, 1, 2, 3};
            for (int i = 3; i > 0; --i)
                std::swap(order[std::size_t(i)],
                          order[std::size_t(rng.next() % std::uint64_t(i + 1))]);
            const double brightness = rng.uniform(0.9, 1.1);
            const double contrast = rng.uniform(0.9, 1.1);
            const double saturation = rng.uniform(0.9, 1.1);
            const double hue = rng.uniform(-0.1, 0.1);
            for (int op : order) {
                switch (op) {
                case 0:
                    img = blend(img, cv::Mat::zeros(img.size(), img.type()), brightness);
                    break;
                case 1: {
                    cv::Mat g;
                    cv::cvtColor(img, g, cv::COLOR_RGB2GRAY);
                    const double mean = cv::mean(g)[0];
                    img = blend(img, cv::Mat(img.size(), img.type(), cv::Scalar::all(mean)),
                                contrast);
                    break;
                }
                case 2:
                    img = blend(img, grey3(img), saturation);
                    break;
                default: {
                    // Hue in OpenCV's 8-bit HSV spans 0..180 for a full turn.
                    cv::Mat hsv;
                    cv::cvtColor(img, hsv, cv::COLOR_RGB2HSV);
                    const int shift = int(std::lround(hue * 180.0));
                    for (int y = 0; y < hsv.rows; ++y) {
                        cv::Vec3b* row = hsv.ptr<cv::Vec3b>(y);
                        for (int x = 0; x < hsv.cols; ++x)
                            row[x][0] = std::uint8_t(((int(row[x][0]) + shift) % 180 + 180) % 180);
                    }
                    cv::cvtColor(hsv, img, cv::COLOR_HSV2RGB);
                    break;
                }
                }
            }
        }
    } else if (rng.uniform(0, 1) < 0.1) {
        img = grey3(img);
    }
    return img;
}

} // namespace primaps
