// SPDX-License-Identifier: MIT
// Inputs for the dense CRF's bit-for-bit comparisons (tst_crfpadding,
// tst_crfregions): a smooth colour image and smooth random scores, so that the
// CRF has boundaries to move.
#pragma once

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <random>
#include <vector>

namespace crftest {

// A smooth colour image and smooth random scores: boundaries for the CRF to move.
inline cv::Mat smoothImage(int height, int width, unsigned seed)
{
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> value(0, 255);
    cv::Mat small(height / 8 + 1, width / 8 + 1, CV_8UC3);
    for (int i = 0; i < small.rows * small.cols; ++i)
        small.at<cv::Vec3b>(i) = cv::Vec3b(uchar(value(rng)), uchar(value(rng)), uchar(value(rng)));
    cv::Mat rgb;
    cv::resize(small, rgb, cv::Size(width, height), 0, 0, cv::INTER_LINEAR);
    return rgb;
}

inline std::vector<float> smoothScores(int labels, int height, int width, unsigned seed)
{
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 2.0f);
    std::vector<float> out(std::size_t(labels) * height * width);
    for (int k = 0; k < labels; ++k) {
        cv::Mat small(height / 6 + 1, width / 6 + 1, CV_32F);
        for (int i = 0; i < small.rows * small.cols; ++i)
            small.at<float>(i) = normal(rng);
        cv::Mat plane(height, width, CV_32F, out.data() + std::size_t(k) * height * width);
        cv::resize(small, plane, plane.size(), 0, 0, cv::INTER_LINEAR);
    }
    return out;
}


} // namespace crftest
