// SPDX-License-Identifier: MIT
// Private to core/crf: spreading a loop over OpenCV's thread pool.
#pragma once

#include <algorithm>
#include <opencv2/core.hpp>

namespace primaps::detail {

/// Runs body(begin, end) over [0, n) on OpenCV's pool, in at most 256 stripes
/// of about `grain` iterations. Small ranges run inline: waking the pool costs
/// more than a few thousand cheap iterations.
template <typename Body> void parallelRanges(int n, int grain, const Body& body)
{
    if (n <= 0)
        return;
    const int stripes = std::min(n / std::max(grain, 1), 256);
    if (stripes <= 1) {
        body(0, n);
        return;
    }
    cv::parallel_for_(
        cv::Range(0, n), [&](const cv::Range& r) { body(r.start, r.end); }, double(stripes));
}

} // namespace primaps::detail
