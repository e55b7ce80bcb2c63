// SPDX-License-Identifier: MIT
// The canvas as a label editor: brush and fill tools, strokes, patches and undo.
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

void CanvasWidget::setEditingEnabled(bool enabled)
{
    if (!enabled)
        finishStroke();
    m_editable = enabled;
    updateDragMode();
}

void CanvasWidget::setEditTool(EditTool tool)
{
    if (tool == m_tool)
        return;
    finishStroke();
    m_tool = tool;
    updateDragMode();
}

bool CanvasWidget::isEditing() const
{
    return m_editable && m_tool != EditTool::None && !m_labels.empty();
}

bool CanvasWidget::brushActive() const
{
    return isEditing() && (m_tool == EditTool::Brush || m_tool == EditTool::Eraser);
}

void CanvasWidget::setBrushLabel(int id)
{
    m_brushLabel = std::clamp(id, 0, 255);
}

void CanvasWidget::setBrushRadius(int radius)
{
    radius = std::clamp(radius, 0, kMaxBrushRadius);
    if (radius == m_brushRadius)
        return;
    m_brushRadius = radius;
    viewport()->update();
    emit brushRadiusChanged(radius);
}

void CanvasWidget::setEditBase(const cv::Mat& base)
{
    m_editBase = base.empty() || base.size() != m_labels.size() || base.type() != CV_8U
                     ? cv::Mat()
                     : base.clone();
    if (m_editsOnly)
        rebuildOverlay();
}

void CanvasWidget::setShowEditsOnly(bool on)
{
    if (on == m_editsOnly)
        return;
    m_editsOnly = on;
    rebuildOverlay();
}

void CanvasWidget::applyLabelPatch(const LabelPatch& patch, bool forward)
{
    if (patch.empty() || m_labels.empty())
        return;
    finishStroke();
    detachLabels();
    applyPatch(m_labels, patch, forward);
    if (forward)
        countPatch(patch);
    else
        countPatch(LabelPatch{patch.rect, patch.after, patch.before});
    redrawOverlayRect(patch.rect);
    updateFractions();
    m_hovered = -2;
    updateHover(viewport()->mapFromGlobal(QCursor::pos()));
    emit labelsChanged();
}

void CanvasWidget::updateDragMode()
{
    const bool editing = isEditing();
    setDragMode(editing ? QGraphicsView::NoDrag : QGraphicsView::ScrollHandDrag);
    m_cursorOnDivider = false;
    viewport()->setCursor(editing ? Qt::CrossCursor : Qt::OpenHandCursor);
    viewport()->update();
}

QPointF CanvasWidget::sceneAtPixelCentre(const QPointF& viewPos) const
{
    // A mouse position names a screen pixel; its centre is what the pointer
    // points at. Rounding to the pixel's corner instead would shift edits by a
    // label pixel at some zooms and scroll offsets.
    return viewportTransform().inverted().map(viewPos + QPointF(0.5, 0.5));
}

QPoint CanvasWidget::labelPixelAt(const QPointF& photoPoint) const
{
    if (m_labels.empty() || !m_labelRect.contains(photoPoint))
        return QPoint(-1, -1);
    const int x =
        std::clamp(int((photoPoint.x() - m_labelRect.left()) / m_labelRect.width() * m_labels.cols),
                   0, m_labels.cols - 1);
    const int y =
        std::clamp(int((photoPoint.y() - m_labelRect.top()) / m_labelRect.height() * m_labels.rows),
                   0, m_labels.rows - 1);
    return QPoint(x, y);
}

void CanvasWidget::paintTo(const QPoint& pixel)
{
    const uchar label = uchar(m_tool == EditTool::Eraser ? 0 : m_brushLabel);
    detachLabels(); // a worker may have started drawing since the stroke began
    const cv::Rect box = paintSegment(m_labels, cv::Point(m_strokeLast.x(), m_strokeLast.y()),
                                      cv::Point(pixel.x(), pixel.y()), m_brushRadius, label);
    m_strokeLast = pixel;
    if (box.empty())
        return;
    m_strokeBox = m_strokeBox.empty() ? box : (m_strokeBox | box);
    redrawOverlayRect(box);
}

void CanvasWidget::finishStroke()
{
    if (!m_stroking)
        return;
    m_stroking = false;
    const LabelPatch patch = m_strokeBox.empty()
                                 ? LabelPatch()
                                 : diffLabels(m_strokeBefore, m_labels, m_strokeBox);
    m_strokeBefore = cv::Mat();
    m_strokeBox = cv::Rect();
    if (patch.empty())
        return;
    countPatch(patch);
    updateFractions();
    m_hovered = -2;
    updateHover(viewport()->mapFromGlobal(QCursor::pos()));
    emit labelsEdited(patch, m_tool == EditTool::Eraser ? tr("Erase") : tr("Brush stroke"));
    emit labelsChanged();
}

} // namespace primaps
