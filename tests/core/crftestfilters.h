// SPDX-License-Identifier: MIT
// Shared by the dense CRF's and the permutohedral lattice's tests: a smooth
// colour image, the kernels' features of an image, and exact Gaussian
// filtering to measure the lattice against.
#pragma once

#include <algorithm>
#include <cmath>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <random>
#include <vector>

namespace crftest {

// A smooth random colour image with mild noise: regions of similar colour, so
// that bilateral kernels are neither the identity nor a plain blur.
inline cv::Mat smoothRandomImage(int rows, int cols, unsigned seed)
{
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> colour(0, 255);
    cv::Mat coarse(4, 4, CV_8UC3);
    for (int i = 0; i < 16; ++i)
        coarse.at<cv::Vec3b>(i) =
            cv::Vec3b(uchar(colour(rng)), uchar(colour(rng)), uchar(colour(rng)));
    cv::Mat rgb;
    cv::resize(coarse, rgb, cv::Size(cols, rows), 0, 0, cv::INTER_LINEAR);
    std::uniform_int_distribution<int> noise(-6, 6);
    for (int i = 0; i < rows * cols; ++i)
        for (int c = 0; c < 3; ++c) {
            uchar& v = rgb.at<cv::Vec3b>(i)[c];
            v = cv::saturate_cast<uchar>(int(v) + noise(rng));
        }
    return rgb;
}

// Brute-force Gaussian filtering: out_i = sum_j exp(-|f_i - f_j|^2 / 2) in_j, in
// double precision, point-major like the lattice.
inline std::vector<double> bruteForceFilter(const std::vector<float>& features, int dim,
                                            const std::vector<float>& in, int channels)
{
    const std::size_t n = features.size() / std::size_t(dim);
    std::vector<double> out(n * std::size_t(channels), 0.0);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j) {
            double d2 = 0.0;
            for (int f = 0; f < dim; ++f) {
                const double d = double(features[i * dim + f]) - double(features[j * dim + f]);
                d2 += d * d;
            }
            const double w = std::exp(-0.5 * d2);
            for (int c = 0; c < channels; ++c)
                out[i * channels + c] += w * double(in[j * channels + c]);
        }
    return out;
}

// Features of the CRF's kernels for an RGB image, in the order the CRF uses
// (the bilateral colours as B, G, R).
inline std::vector<float> imageFeatures(const cv::Mat& rgb, float sxy, float srgb, bool colour)
{
    const int dim = colour ? 5 : 2;
    std::vector<float> f(std::size_t(rgb.rows) * rgb.cols * dim);
    for (int y = 0; y < rgb.rows; ++y)
        for (int x = 0; x < rgb.cols; ++x) {
            float* p = f.data() + (std::size_t(y) * rgb.cols + x) * dim;
            p[0] = float(x) / sxy;
            p[1] = float(y) / sxy;
            if (colour) {
                const cv::Vec3b c = rgb.at<cv::Vec3b>(y, x);
                p[2] = float(c[2]) / srgb;
                p[3] = float(c[1]) / srgb;
                p[4] = float(c[0]) / srgb;
            }
        }
    return f;
}

inline double maxAbsDiff(const std::vector<float>& a, const std::vector<float>& b)
{
    double worst = 0.0;
    for (std::size_t i = 0; i < a.size(); ++i)
        worst = std::max(worst, double(std::abs(a[i] - b[i])));
    return worst;
}

} // namespace crftest
