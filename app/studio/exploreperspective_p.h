// SPDX-License-Identifier: MIT
#pragma once
// Values the Explore perspective's translation units share (exploreperspective.cpp,
// exploretoolbar.cpp); not part of its interface.

#include <cmath>

namespace primaps::explore_detail {

constexpr int kDefaultOpacity = 60;
constexpr double kThresholdMin = 0.01;
constexpr double kThresholdMax = 0.99;

/// The threshold slider works in hundredths of tau.
inline int toSlider(double tau)
{
    return int(std::lround(tau * 100.0));
}

} // namespace primaps::explore_detail
