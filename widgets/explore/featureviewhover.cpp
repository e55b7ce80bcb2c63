// SPDX-License-Identifier: MIT
// The Features dock's read-out: the component values of the patch under the
// cursor, over its own picture or over the tracked canvas.
#include "explore/featureviewwidget.h"

#include "explore/featureimageview.h"
#include "explore/featureviewdata.h"
#include "decompose/patchsimilarity.h"
#include "pipeline/pipeline.h"

#include <cmath>
#include <QCursor>
#include <QGraphicsView>
#include <QLabel>
#include <qcustomplot.h>
#include <QMouseEvent>

namespace primaps {

namespace {

QString signedValue(double v)
{
    // A typographic minus lines up with the plus sign.
    const QString digits = QString::number(std::abs(v), 'f', std::abs(v) < 10 ? 2 : 1);
    return (v < 0 ? QStringLiteral("\u2212") : QStringLiteral("+")) + digits;
}

} // namespace

QWidget* FeatureViewWidget::imageView() const
{
    return m_view;
}

QRectF FeatureViewWidget::imageRect() const
{
    return m_view->imageRect();
}

QString FeatureViewWidget::readoutText() const
{
    QString text = m_readout->text();
    return text.replace(QChar(0x00a0), QLatin1Char(' '));
}

void FeatureViewWidget::showImagePoint(const QPointF& photoPoint)
{
    if (!hasResult() || photoPoint.x() < 0 || photoPoint.y() < 0) {
        showGridPoint(QPointF(-1, -1));
        return;
    }
    const PreparedImage& prepared = m_data->decomposition->prepared;
    const FeaturePca& p = *m_data->pca;
    if (prepared.rgb.empty()) {
        showGridPoint(photoPoint); // features without an image: photo pixels are patches
        return;
    }
    if (photoPoint.x() >= prepared.originalSize.width ||
        photoPoint.y() >= prepared.originalSize.height) {
        showGridPoint(QPointF(-1, -1));
        return;
    }
    const cv::Point2d g = imageToGrid({photoPoint.x(), photoPoint.y()}, prepared, p.height, p.width);
    showGridPoint(QPointF(g.x, g.y));
}

void FeatureViewWidget::refreshHover()
{
    // Values only for a cursor that rests on the picture or the tracked canvas
    // now; a point left from an earlier image or hover would be a stale read-out.
    if (m_trackedViewport && m_tracked) {
        auto* viewport = qobject_cast<QWidget*>(m_trackedViewport.get());
        if (viewport && viewport->underMouse()) {
            showImagePoint(m_tracked->mapToScene(viewport->mapFromGlobal(QCursor::pos())));
            return;
        }
    }
    showGridPoint(m_view->underMouse() ? m_hoverGrid : QPointF(-1, -1));
}

void FeatureViewWidget::showGridPoint(const QPointF& gridPoint)
{
    const FeaturePca* p = pca();
    const bool inside = p && gridPoint.x() >= 0 && gridPoint.y() >= 0 &&
                        gridPoint.x() < p->width && gridPoint.y() < p->height;
    m_hoverGrid = inside ? gridPoint : QPointF(-1, -1);
    m_view->hover = m_hoverGrid;
    m_view->update();
    if (!inside) {
        m_readout->setText(p ? tr("Hover over the picture or the canvas to read the component "
                                  "values of a patch.")
                             : QString());
        return;
    }
    const int x = int(gridPoint.x()), y = int(gridPoint.y());
    const std::size_t i = std::size_t(y) * p->width + x;
    const char* channelColours[3] = {"#c62828", "#2e7d32", "#1565c0"};
    QStringList parts;
    // Non-breaking spaces inside an item: a line breaks only between items.
    const auto keep = [](QString text) { return text.replace(QLatin1Char(' '), QChar(0x00a0)); };
    parts << keep(tr("patch x %1, y %2").arg(x).arg(y));
    if (m_mode == Mode::Iteration && m_selected >= 0) {
        const IterationProjection& it = m_data->iterations[std::size_t(m_selected)];
        const int taker = m_data->takenBy[i];
        QString state;
        if (!it.remaining[i])
            state = tr("taken by mask %1").arg(taker);
        else if (taker == m_selected + 1)
            state = tr("in this mask");
        else
            state = taker > 0 ? tr("left for mask %1").arg(taker) : tr("background");
        parts << QStringLiteral("<b>%1</b>\u00a0%2 (%3)")
                     .arg(keep(tr("step %1").arg(m_selected + 1)), signedValue(it.values[i]), state);
        for (int k = 0; k < 3; ++k)
            parts << keep(tr("PC %1 %2").arg(k + 1).arg(signedValue(p->projection(k)[i])));
    } else {
        for (std::size_t c = 0; c < 3; ++c) {
            const int k = m_components[c];
            parts << QStringLiteral("<span style=\"color:%1\"><b>%2</b></span>\u00a0PC\u00a0%3\u00a0%4")
                         .arg(QLatin1String(channelColours[c]))
                         .arg(QLatin1Char("RGB"[c]))
                         .arg(k + 1)
                         .arg(signedValue(p->projection(k)[i]));
        }
    }
    m_readout->setText(parts.join(QStringLiteral(" &nbsp;\u00b7&nbsp; ")));
}

void FeatureViewWidget::trackCanvas(QGraphicsView* view)
{
    if (m_tracked)
        m_tracked->viewport()->removeEventFilter(this);
    m_tracked = view;
    m_trackedViewport = view ? view->viewport() : nullptr;
    if (view) {
        view->viewport()->setMouseTracking(true);
        view->viewport()->installEventFilter(this);
    }
}

bool FeatureViewWidget::eventFilter(QObject* watched, QEvent* event)
{
    if (watched == m_chart && event->type() == QEvent::Show && m_chartStale) {
        m_chartStale = false;
        m_chart->replot(QCustomPlot::rpQueuedReplot);
    }
    if (m_trackedViewport && watched == m_trackedViewport.get()) {
        if (event->type() == QEvent::MouseMove && m_tracked) {
            const auto* move = static_cast<QMouseEvent*>(event);
            showImagePoint(m_tracked->mapToScene(move->position().toPoint()));
        } else if (event->type() == QEvent::Leave) {
            showImagePoint(QPointF(-1, -1));
        }
    }
    return QWidget::eventFilter(watched, event); // observe only
}

} // namespace primaps
