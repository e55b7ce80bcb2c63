// SPDX-License-Identifier: MIT
#pragma once
// Values the main window's translation units share (mainwindow.cpp,
// mainwindowtoolbar.cpp); not part of its interface.

#include <cmath>

namespace primaps::mainwindow_detail {

constexpr int kDefaultOpacity = 60;
constexpr double kThresholdMin = 0.01;
constexpr double kThresholdMax = 0.99;

/// The threshold slider works in hundredths of tau.
inline int toSlider(double tau)
{
    return int(std::lround(tau * 100.0));
}

} // namespace primaps::mainwindow_detail
