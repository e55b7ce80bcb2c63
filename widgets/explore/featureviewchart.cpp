// SPDX-License-Identifier: MIT
// The Features dock's bar chart: the variance each PriMaPs step's direction
// explains, and clicking a bar to select the step.
#include "explore/featureviewwidget.h"

#include "explore/featureviewdata.h"
#include "image/overlay.h"
#include "pipeline/pipeline.h"

#include <algorithm>
#include <cmath>
#include <qcustomplot.h>
#include <QMouseEvent>

namespace primaps {

namespace {

QColor toQColor(const cv::Vec3b& rgb)
{
    return QColor(rgb[0], rgb[1], rgb[2]);
}

} // namespace

void FeatureViewWidget::createChart()
{
    m_chart = new QCustomPlot(this);
    m_chart->setMinimumHeight(110);
    m_chart->setMaximumHeight(160);
    m_chart->setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Preferred);
    m_chart->setBackground(palette().brush(QPalette::Base));
    m_chart->setCursor(Qt::PointingHandCursor);
    m_chart->installEventFilter(this); // replots a chart that changed while hidden
    m_chart->setToolTip(
        tr("Bars (left axis): the feature variance along each PriMaPs step's principal direction, "
           "in its mask's colour.\nDots (right axis): that as a percentage of the variance of the "
           "patches no earlier step took.\nClick a bar to select its step."));
    QFont small = font();
    small.setPointSizeF(small.pointSizeF() * 0.85);
    for (QCPAxis* axis : {m_chart->xAxis, m_chart->yAxis, m_chart->yAxis2}) {
        axis->setTickLabelFont(small);
        axis->setLabelFont(small);
        axis->grid()->setPen(QPen(QColor(0, 0, 0, 25), 1, Qt::DotLine));
    }
    m_chart->xAxis->setLabel(tr("PriMaPs step"));
    // The dots: a share of the variance the patches not yet taken still hold
    // ("% of free" read as a riddle; the tooltip says it in full).
    m_chart->yAxis->setLabel(tr("variance"));
    m_chart->yAxis2->setLabel(tr("% of remaining"));
    m_chart->yAxis2->setVisible(true);
    m_chart->yAxis2->grid()->setVisible(false);
    m_chart->yAxis2->setRange(0, 100);
    m_chart->yAxis2->setLabelColor(QColor(90, 90, 90));
    m_chart->yAxis2->setTickLabelColor(QColor(90, 90, 90));
    auto ticker = QSharedPointer<QCPAxisTickerFixed>::create();
    ticker->setTickStep(1.0);
    ticker->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
    m_chart->xAxis->setTicker(ticker);
    m_chart->xAxis->grid()->setVisible(false);
    m_chart->axisRect()->setAutoMargins(QCP::msLeft | QCP::msBottom | QCP::msRight);
    m_chart->axisRect()->setMargins(QMargins(0, 6, 0, 0));
    connect(m_chart, &QCustomPlot::mousePress, this, [this](QMouseEvent* event) {
        const int bars = barCount();
        if (bars == 0 || !m_chart->axisRect()->rect().contains(event->pos()))
            return;
        const double x = m_chart->xAxis->pixelToCoord(event->position().x());
        const int index = int(std::lround(x)) - 1;
        if (index < 0 || index >= bars || std::abs(x - (index + 1)) > 0.5)
            return;
        setSelectedIteration(index);
        setMode(Mode::Iteration);
        emit iterationClicked(index);
    });
}

void FeatureViewWidget::rebuildChart()
{
    m_chart->clearPlottables();
    const int count = m_decomposition ? int(m_decomposition->trace.iterations.size()) : 0;
    double top = 0;
    for (int k = 0; k < count; ++k) {
        const double value = m_decomposition->trace.iterations[std::size_t(k)].explainedVariance;
        auto* bars = new QCPBars(m_chart->xAxis, m_chart->yAxis);
        bars->setWidth(0.72);
        bars->addData(k + 1, value);
        bars->setName(tr("step %1").arg(k + 1));
        bars->setSelectable(QCP::stNone);
        top = std::max(top, value);
    }
    // The share of the remaining variance, once the projections are known.
    if (hasResult() && count > 0) {
        auto* share = new QCPGraph(m_chart->xAxis, m_chart->yAxis2);
        for (int k = 0; k < count && k < int(m_data->iterations.size()); ++k)
            share->addData(k + 1, 100.0 * m_data->iterations[std::size_t(k)].explainedRatio());
        share->setPen(QPen(QColor(70, 70, 70), 1.0, Qt::DotLine));
        share->setScatterStyle(
            QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(QColor(50, 50, 50), 1.0), Qt::white, 5));
        share->setSelectable(QCP::stNone);
    }
    m_chart->xAxis->setRange(0.4, std::max(1, count) + 0.6);
    m_chart->yAxis->setRange(0, top > 0 ? top * 1.08 : 1.0);
    updateChartSelection();
}

void FeatureViewWidget::updateChartSelection()
{
    const int count = barCount();
    for (int k = 0; k < count; ++k) {
        auto* bars = qobject_cast<QCPBars*>(m_chart->plottable(k));
        if (!bars)
            continue;
        QColor colour = toQColor(labelColor(k + 1));
        const bool selected = k == m_selected;
        if (m_selected >= 0 && !selected)
            colour.setAlpha(80);
        bars->setBrush(colour);
        bars->setPen(selected ? QPen(palette().color(QPalette::WindowText), 2.0)
                              : QPen(colour.darker(130), 1.0));
    }
    // A hidden chart (the Features dock behind the Steps tab) is drawn when it
    // shows, not for every result: a replot is several milliseconds of the GUI
    // thread.
    if (!m_chart->isVisible()) {
        m_chartStale = true;
        return;
    }
    m_chart->replot(QCustomPlot::rpQueuedReplot);
}

int FeatureViewWidget::barCount() const
{
    int bars = 0;
    for (int i = 0; i < m_chart->plottableCount(); ++i)
        if (qobject_cast<QCPBars*>(m_chart->plottable(i)))
            ++bars;
    return bars;
}

QPoint FeatureViewWidget::barPosition(int index) const
{
    auto* bars = index >= 0 && index < barCount() ? qobject_cast<QCPBars*>(m_chart->plottable(index))
                                                  : nullptr;
    if (!bars || bars->data()->isEmpty())
        return {-1, -1};
    // The layout is only current after a replot.
    m_chart->replot(QCustomPlot::rpImmediateRefresh);
    const double value = bars->data()->begin()->value;
    return QPoint(int(std::lround(m_chart->xAxis->coordToPixel(index + 1))),
                  int(std::lround(m_chart->yAxis->coordToPixel(value / 2.0))));
}

QWidget* FeatureViewWidget::chartWidget() const
{
    return m_chart;
}

} // namespace primaps
