// SPDX-License-Identifier: MIT
// Zooming the canvas: steps, fit to window, actual size, the wheel, and the badge.
#include "explore/canvaswidget.h"

#include "explore/labelnumbering.h"

#include "image/overlay.h"
#include "pipeline/pipeline.h"

#include <algorithm>
#include <cmath>
#include <QContextMenuEvent>
#include <QGraphicsPixmapItem>
#include <QGraphicsRectItem>
#include <QGraphicsScene>
#include <QKeyEvent>
#include <QLabel>
#include <QPainter>
#include <QPainterPath>
#include <QScrollBar>
#include <QStyleOptionGraphicsItem>
#include <QWheelEvent>

namespace primaps {

namespace {

constexpr double kMinZoom = 0.02;
constexpr double kMaxZoom = 32.0;
constexpr double kStep = 1.25;

} // namespace

void CanvasWidget::zoomIn()
{
    applyZoom(zoom() * kStep, false);
}

void CanvasWidget::zoomOut()
{
    applyZoom(zoom() / kStep, false);
}

void CanvasWidget::setZoom(double zoom)
{
    applyZoom(zoom, false);
}

void CanvasWidget::showActualSize()
{
    applyZoom(1.0, false);
}

void CanvasWidget::fitToWindow()
{
    m_fit = true;
    if (m_photo.isNull()) {
        resetTransform();
        return;
    }
    // A small margin keeps the photo's edge visible against the background.
    const QRectF target = QRectF(viewport()->rect()).adjusted(8, 8, -8, -8);
    const double scale =
        std::clamp(std::min(target.width() / m_photo.width(), target.height() / m_photo.height()),
                   kMinZoom, kMaxZoom);
    setTransform(QTransform::fromScale(scale, scale));
    centerOn(m_scene->sceneRect().center());
    updateZoomLabel();
    emit zoomChanged(scale);
}

void CanvasWidget::applyZoom(double target, bool underMouse)
{
    const double clamped = std::clamp(target, kMinZoom, kMaxZoom);
    const double factor = clamped / zoom();
    if (std::abs(factor - 1.0) < 1e-9)
        return;
    m_fit = false;
    setTransformationAnchor(underMouse ? QGraphicsView::AnchorUnderMouse
                                       : QGraphicsView::AnchorViewCenter);
    scale(factor, factor);
    setTransformationAnchor(QGraphicsView::AnchorUnderMouse);
    updateZoomLabel();
    emit zoomChanged(zoom());
}

void CanvasWidget::wheelEvent(QWheelEvent* event)
{
    const int delta = event->angleDelta().y();
    if (delta == 0 || m_photo.isNull())
        return QGraphicsView::wheelEvent(event);
    // 120 units are one notch of a mouse wheel; touchpads send smaller steps.
    applyZoom(zoom() * std::pow(kStep, delta / 120.0), true);
    event->accept();
}

QString CanvasWidget::zoomText() const
{
    if (m_photo.isNull())
        return {};
    const QString percent = QStringLiteral("%1 %").arg(std::lround(zoom() * 100.0));
    return m_fit ? tr("Fit \u00b7 %1").arg(percent) : percent;
}

void CanvasWidget::updateZoomLabel()
{
    if (m_photo.isNull()) {
        m_zoomLabel->hide();
        return;
    }
    m_zoomLabel->setText(zoomText());
    m_zoomLabel->adjustSize();
    placeReadouts();
    m_zoomLabel->show();
}

} // namespace primaps
