// SPDX-License-Identifier: MIT
// Private to the fit monitor's files (fitmonitor*.cpp): the series colours (the same
// in the plot and in its legend check boxes) and how numbers are written.
#pragma once

#include <QColor>
#include <QString>

namespace primaps::fitmonitor {

inline const QColor kEmColour(31, 119, 180);
inline const QColor kKMeansColour(230, 120, 20);
inline const QColor kMiouColour(44, 160, 44);
inline const QColor kAccColour(148, 103, 189);
inline const QColor kLabelledColour(140, 140, 140);
inline const QColor kEmaColour(214, 39, 40);

inline QString number(double v, int precision = 4)
{
    return QString::number(v, 'g', precision);
}

inline QString percent(double v)
{
    return QStringLiteral("%1 %").arg(v, 0, 'f', 1);
}

} // namespace primaps::fitmonitor
