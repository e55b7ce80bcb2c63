// SPDX-License-Identifier: MIT
#pragma once

#include <functional>
#include <QString>
#include <QWidget>

class QCustomPlot;

namespace primaps {

/// An empty state for a plot: while the plot has nothing to show, a calm
/// sentence covers it instead of axes with invented ranges (0–5, 0–10). The
/// cover asks `isEmpty` after every replot of the plot (and once at start) and
/// shows or hides itself; it follows the plot's size.
class EmptyPlotCover : public QWidget
{
    Q_OBJECT

public:
    EmptyPlotCover(QCustomPlot* plot, std::function<bool()> isEmpty, const QString& text);

    QString text() const { return m_text; }
    void setText(const QString& text);
    /// Asks the predicate again (also done after every replot).
    void refresh();

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;
    void paintEvent(QPaintEvent* event) override;

private:
    QCustomPlot* m_plot;
    std::function<bool()> m_isEmpty;
    QString m_text;
};

} // namespace primaps
