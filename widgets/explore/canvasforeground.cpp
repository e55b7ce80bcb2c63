// SPDX-License-Identifier: MIT
// What the canvas paints over the picture: the brush footprint, the
// before/after divider with its grip and captions, and where the read-outs sit.
#include "explore/canvaswidget.h"
#include "explore/canvaswidget_p.h"

#include "explore/labelnumbering.h"

#include "image/overlay.h"
#include "pipeline/pipeline.h"

#include <algorithm>
#include <cmath>
#include <QLabel>
#include <QPainter>
#include <QPainterPath>

namespace primaps {

using namespace canvas_detail;

void CanvasWidget::placeReadouts()
{
    // Readouts along the bottom edge leave the top to the badge and to the
    // captions of the compare mode, which follow the divider.
    const QRect area = viewport()->geometry();
    m_placeholder->setGeometry(area.adjusted(40, 40, -40, -40));
    m_hoverLabel->move(area.left() + 10, area.bottom() - m_hoverLabel->height() - 10);
    m_zoomLabel->move(area.right() - m_zoomLabel->width() - 10,
                      area.bottom() - m_zoomLabel->height() - 10);
    m_badge->move(area.left() + (area.width() - m_badge->width()) / 2, area.top() + 10);
}

void CanvasWidget::drawForeground(QPainter* painter, const QRectF& rect)
{
    QGraphicsView::drawForeground(painter, rect);
    if (brushActive() && m_mouseView.x() >= 0 && !m_panning) {
        // The footprint of a dab here: a circle through the outer edges of the
        // disc's pixels, centred on the pixel under the cursor. Drawn dark under
        // light so it reads on any picture.
        const QPoint pixel = labelPixelAt(sceneAtPixelCentre(m_mouseView));
        if (pixel.x() >= 0) {
            const double px = m_labelRect.width() / m_labels.cols;
            const double py = m_labelRect.height() / m_labels.rows;
            const QPointF centre(m_labelRect.left() + (pixel.x() + 0.5) * px,
                                 m_labelRect.top() + (pixel.y() + 0.5) * py);
            const QPointF viewCentre = viewportTransform().map(centre);
            const double radius = std::max(2.0, (m_brushRadius + 0.5) * px * zoom());
            painter->save();
            painter->resetTransform();
            painter->setRenderHint(QPainter::Antialiasing);
            painter->setBrush(Qt::NoBrush);
            painter->setPen(QPen(QColor(0, 0, 0, 150), 3.0));
            painter->drawEllipse(viewCentre, radius, radius);
            const cv::Vec3b c = m_table.color(m_tool == EditTool::Eraser ? 0 : m_brushLabel);
            painter->setPen(QPen(m_tool == EditTool::Eraser ? QColor(Qt::white)
                                                            : QColor(c[0], c[1], c[2]),
                                 1.5));
            painter->drawEllipse(viewCentre, radius, radius);
            painter->restore();
        }
    }
    if (!isComparing() || !m_overlayVisible)
        return;
    const QRect view = viewport()->rect();
    const QRect photo = mapFromScene(m_labelRect).boundingRect().intersected(view);
    const int x = dividerViewX();
    if (photo.isEmpty() || x < view.left() - kDividerGrab || x > view.right() + kDividerGrab)
        return;
    painter->save();
    painter->resetTransform(); // viewport pixels from here on
    painter->setRenderHint(QPainter::Antialiasing);

    // The divider: a white line with a dark rim, readable on any picture.
    const QPointF top(x + 0.5, photo.top()), bottom(x + 0.5, photo.bottom() + 1);
    painter->setPen(QPen(QColor(0, 0, 0, 110), 4.0));
    painter->drawLine(top, bottom);
    painter->setPen(QPen(Qt::white, 2.0));
    painter->drawLine(top, bottom);

    // A round grip in the middle with arrows both ways says "drag me".
    const QPointF grip(x + 0.5, photo.center().y());
    painter->setPen(QPen(QColor(0, 0, 0, 110), 1.5));
    painter->setBrush(Qt::white);
    painter->drawEllipse(grip, 13.0, 13.0);
    painter->setPen(Qt::NoPen);
    painter->setBrush(QColor(0x2b, 0x2f, 0x36));
    for (const double dir : {-1.0, 1.0}) {
        QPainterPath arrow;
        arrow.moveTo(grip + QPointF(dir * 9.0, 0.0));
        arrow.lineTo(grip + QPointF(dir * 3.5, -5.0));
        arrow.lineTo(grip + QPointF(dir * 3.5, 5.0));
        arrow.closeSubpath();
        painter->drawPath(arrow);
    }

    // Captions in pills on either side of the divider, near the top.
    QFont font = this->font();
    font.setBold(true);
    painter->setFont(font);
    const QFontMetrics fm(font);
    const int pillHeight = fm.height() + 8;
    const int pillTop = photo.top() + 10;
    auto pill = [&](const QString& text, bool leftOfDivider) {
        const int width = fm.horizontalAdvance(text) + 18;
        const QRect box(leftOfDivider ? x - 10 - width : x + 10, pillTop, width, pillHeight);
        painter->setPen(Qt::NoPen);
        painter->setBrush(QColor(20, 24, 30, 200));
        painter->drawRoundedRect(QRectF(box), 4, 4);
        painter->setPen(QColor(0xf2, 0xf2, 0xf2));
        painter->drawText(box, Qt::AlignCenter, text);
    };
    pill(QStringLiteral("\u25c0 ") + m_beforeCaption, true);
    pill(m_afterCaption + QStringLiteral(" \u25b6"), false);
    painter->restore();
}

} // namespace primaps
