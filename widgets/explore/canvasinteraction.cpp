// SPDX-License-Identifier: MIT
// The canvas under the hand: mouse, keys and context menu, the before/after
// divider, and the hover read-out of the mask under the cursor.
#include "explore/canvaswidget.h"
#include "explore/canvaswidget_p.h"

#include "explore/labelnumbering.h"

#include "image/overlay.h"
#include "pipeline/pipeline.h"

#include <algorithm>
#include <cmath>
#include <QContextMenuEvent>
#include <QKeyEvent>
#include <QLabel>
#include <QScrollBar>

namespace primaps {

using namespace canvas_detail;

namespace {

// The divider moves by this share of the labelled width per [ or ] key press.
constexpr double kSplitKeyStep = 0.05;

QColor labelQColor(const LabelTable& table, int id)
{
    const cv::Vec3b c = table.color(id);
    return QColor(c[0], c[1], c[2]);
}

} // namespace

void CanvasWidget::setSplitPosition(double fraction)
{
    fraction = std::clamp(fraction, 0.0, 1.0);
    if (fraction == m_split)
        return;
    m_split = fraction;
    updateLayers();
    // A still cursor may now be over the other side.
    m_hovered = -2;
    updateHover(viewport()->mapFromGlobal(QCursor::pos()));
    emit splitPositionChanged(m_split);
}

int CanvasWidget::dividerViewX() const
{
    const double splitX = m_labelRect.left() + m_split * m_labelRect.width();
    return mapFromScene(QPointF(splitX, m_labelRect.center().y())).x();
}

bool CanvasWidget::nearDivider(const QPoint& viewPos) const
{
    if (!isComparing() || !m_overlayVisible)
        return false;
    const QRect span = mapFromScene(m_labelRect).boundingRect();
    return std::abs(viewPos.x() - dividerViewX()) <= kDividerGrab && viewPos.y() >= span.top() &&
           viewPos.y() <= span.bottom();
}

void CanvasWidget::updateCursor(const QPoint& viewPos)
{
    if (isEditing())
        return; // the cross of the tools; the divider is not draggable while editing
    const bool onDivider = m_draggingSplit || nearDivider(viewPos);
    if (onDivider == m_cursorOnDivider)
        return;
    m_cursorOnDivider = onDivider;
    // Elsewhere the hand of the scroll drag mode applies.
    viewport()->setCursor(onDivider ? Qt::SplitHCursor : Qt::OpenHandCursor);
}

void CanvasWidget::mousePressEvent(QMouseEvent* event)
{
    const QPoint pos = event->position().toPoint();
    if (event->button() == Qt::MiddleButton && !m_photo.isNull()) {
        m_panning = true;
        m_panLast = pos;
        viewport()->setCursor(Qt::ClosedHandCursor);
        event->accept();
        return;
    }
    if (isEditing() && event->button() == Qt::LeftButton) {
        event->accept();
        const QPoint pixel = labelPixelAt(sceneAtPixelCentre(event->position()));
        if (pixel.x() < 0)
            return;
        if (m_tool == EditTool::Picker || (event->modifiers() & Qt::AltModifier)) {
            emit labelPicked(m_labels.at<uchar>(pixel.y(), pixel.x()));
            return;
        }
        if (m_tool == EditTool::Fill) {
            const LabelPatch patch =
                fillRegionPatch(m_labels, cv::Point(pixel.x(), pixel.y()), uchar(m_brushLabel));
            if (patch.empty())
                return;
            detachLabels();
            applyPatch(m_labels, patch, true);
            countPatch(patch);
            redrawOverlayRect(patch.rect);
            updateFractions();
            m_hovered = -2;
            updateHover(pos);
            emit labelsEdited(patch, tr("Fill"));
            emit labelsChanged();
            return;
        }
        m_stroking = true;
        detachLabels();
        m_strokeBefore = m_labels.clone();
        m_strokeBox = cv::Rect();
        m_strokeLast = pixel;
        paintTo(pixel);
        return;
    }
    if (event->button() == Qt::LeftButton && nearDivider(pos)) {
        // The divider takes the press; the picture does not pan.
        m_draggingSplit = true;
        updateCursor(pos);
        event->accept();
        return;
    }
    QGraphicsView::mousePressEvent(event);
}

void CanvasWidget::mouseMoveEvent(QMouseEvent* event)
{
    const QPoint pos = event->position().toPoint();
    m_mouseView = pos;
    if (m_panning) {
        const QPoint delta = pos - m_panLast;
        m_panLast = pos;
        horizontalScrollBar()->setValue(horizontalScrollBar()->value() - delta.x());
        verticalScrollBar()->setValue(verticalScrollBar()->value() - delta.y());
        event->accept();
        return;
    }
    if (m_stroking) {
        // Between two mouse events the stroke is a straight segment, so a fast
        // hand leaves no gaps. Outside the labels the pixel is clamped to the edge.
        const QPointF scenePos = sceneAtPixelCentre(event->position());
        const QPointF clamped(
            std::clamp(scenePos.x(), m_labelRect.left(), m_labelRect.right() - 1e-6),
            std::clamp(scenePos.y(), m_labelRect.top(), m_labelRect.bottom() - 1e-6));
        const QPoint pixel = labelPixelAt(clamped);
        if (pixel.x() >= 0 && pixel != m_strokeLast)
            paintTo(pixel);
        viewport()->update();
        updateHover(pos);
        event->accept();
        return;
    }
    if (brushActive())
        viewport()->update(); // the brush outline follows the cursor
    if (m_draggingSplit) {
        if (m_labelRect.width() > 0)
            setSplitPosition((mapToScene(pos).x() - m_labelRect.left()) / m_labelRect.width());
        event->accept();
        return;
    }
    QGraphicsView::mouseMoveEvent(event);
    if (event->buttons() == Qt::NoButton)
        updateCursor(pos);
    updateHover(pos);
}

void CanvasWidget::mouseReleaseEvent(QMouseEvent* event)
{
    if (m_panning && event->button() == Qt::MiddleButton) {
        m_panning = false;
        viewport()->setCursor(isEditing() ? Qt::CrossCursor : Qt::OpenHandCursor);
        event->accept();
        return;
    }
    if (m_stroking && event->button() == Qt::LeftButton) {
        finishStroke();
        event->accept();
        return;
    }
    if (isEditing() && event->button() == Qt::LeftButton) {
        event->accept();
        return;
    }
    if (m_draggingSplit && event->button() == Qt::LeftButton) {
        m_draggingSplit = false;
        updateCursor(event->position().toPoint());
        event->accept();
        return;
    }
    QGraphicsView::mouseReleaseEvent(event);
}

void CanvasWidget::leaveEvent(QEvent* event)
{
    QGraphicsView::leaveEvent(event);
    m_mouseView = QPoint(-1, -1);
    viewport()->update();
    m_hoverLabel->hide();
    if (m_hovered != -1) {
        m_hovered = -1;
        emit hoveredMaskChanged(-1);
    }
}

void CanvasWidget::keyPressEvent(QKeyEvent* event)
{
    switch (event->key()) {
    case Qt::Key_Plus:
    case Qt::Key_Equal:
        zoomIn();
        return;
    case Qt::Key_Minus:
        zoomOut();
        return;
    case Qt::Key_F:
        fitToWindow();
        return;
    case Qt::Key_1:
        showActualSize();
        return;
    case Qt::Key_BracketLeft:
    case Qt::Key_BracketRight:
        if (brushActive()) {
            // Steps that feel even at every size: about 15 %, at least one pixel.
            const int step = std::max(1, int(std::lround(m_brushRadius * 0.15)));
            setBrushRadius(m_brushRadius +
                           (event->key() == Qt::Key_BracketLeft ? -step : step));
            return;
        }
        if (isComparing()) {
            setSplitPosition(
                m_split + (event->key() == Qt::Key_BracketLeft ? -kSplitKeyStep : kSplitKeyStep));
            return;
        }
        break;
    default:
        break;
    }
    QGraphicsView::keyPressEvent(event);
}

void CanvasWidget::contextMenuEvent(QContextMenuEvent* event)
{
    if (m_editable && !m_labels.empty()) {
        const QPoint pixel = labelPixelAt(sceneAtPixelCentre(event->pos()));
        if (pixel.x() >= 0) {
            event->accept();
            emit editMenuRequested(pixel, m_labels.at<uchar>(pixel.y(), pixel.x()),
                                   event->globalPos());
            return;
        }
    }
    QGraphicsView::contextMenuEvent(event);
}

void CanvasWidget::updateHover(const QPoint& viewPos)
{
    const bool inside = viewport()->rect().contains(viewPos) && underMouse();
    const QPointF photoPoint = mapToScene(viewPos);
    const int id = inside ? maskIdAt(photoPoint) : -1;
    if (id >= 0) {
        const bool before = showsBeforeAt(photoPoint);
        const std::vector<double>& fractions = before ? m_beforeFractions : m_fractions;
        const double share = id < int(fractions.size()) ? fractions[std::size_t(id)] : 0.0;
        // The legend's words: consecutive label numbers, "unassigned" for id 0
        // (while editing, the ids the editor's tools use).
        QString name = QString::fromStdString(m_table.name(id)).toHtmlEscaped();
        if (!m_table.hasName(id)) {
            const std::vector<int> numbers = consecutiveLabelNumbers(fractions);
            const int number =
                m_editBase.empty() && id < int(numbers.size()) ? numbers[std::size_t(id)] : id;
            name = id == 0 ? tr("unassigned") : tr("label %1").arg(number > 0 ? number : id);
        }
        const QString idText =
            m_table.hasName(id) ? QStringLiteral(" <span style=\"color:#aab\">%1</span>").arg(id)
                                : QString();
        // While comparing, say which map the readout comes from.
        const QString side =
            isComparing() ? QStringLiteral("<span style=\"color:#aab\">%1</span> &nbsp;")
                                .arg((before ? m_beforeCaption : m_afterCaption).toHtmlEscaped())
                          : QString();
        m_hoverLabel->setText(
            QStringLiteral("%1<span style=\"color:%2\">\u25a0</span> <b>%3</b>%7 &nbsp;%4 % of "
                           "the label map &nbsp;<span style=\"color:#aab\">x %5, y %6</span>")
                .arg(side, labelQColor(m_table, id).name(), name)
                .arg(100.0 * share, 0, 'f', 1)
                .arg(int(photoPoint.x()))
                .arg(int(photoPoint.y()))
                .arg(idText));
        m_hoverLabel->adjustSize();
        placeReadouts();
        m_hoverLabel->show();
    } else {
        m_hoverLabel->hide();
    }
    if (id != m_hovered) {
        m_hovered = id;
        emit hoveredMaskChanged(id);
    }
}

} // namespace primaps
