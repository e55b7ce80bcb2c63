// SPDX-License-Identifier: MIT
// Private to the evaluation view's files (evaluationwidget.cpp, evaluationcharts.cpp).
#pragma once

#include <cmath>
#include <QString>

namespace primaps::evaluationview {

/// A score in percent as the view writes it: one decimal, "n/a" when undefined.
inline QString percent(double v)
{
    return std::isnan(v) ? QStringLiteral("n/a") : QString::number(v, 'f', 1);
}

} // namespace primaps::evaluationview
