// SPDX-License-Identifier: MIT
#include "explore/featureimageview.h"

#include <algorithm>
#include <cmath>
#include <QMouseEvent>
#include <QPainter>
#include <QPainterPath>

namespace primaps {

FeatureImageView::FeatureImageView(QWidget* parent) : QWidget(parent)
{
    setMouseTracking(true);
    setMinimumSize(160, 120);
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
}

void FeatureImageView::paintEvent(QPaintEvent*)
{
    QPainter painter(this);
    const QRectF target = imageRect();
    if (image.isNull() || target.isEmpty() || source.isEmpty()) {
        painter.setPen(palette().color(QPalette::PlaceholderText));
        painter.drawText(rect().adjusted(8, 8, -8, -8), Qt::AlignCenter | Qt::TextWordWrap,
                         placeholder);
        return;
    }
    painter.save();
    painter.setClipRect(target);
    if (opacity < 1.0 && !photo.isNull()) {
        painter.setRenderHint(QPainter::SmoothPixmapTransform, true);
        painter.drawImage(target, photo);
    } else if (opacity < 1.0) {
        painter.fillRect(target, Qt::black);
    }
    painter.setOpacity(opacity);
    painter.setRenderHint(QPainter::SmoothPixmapTransform, smooth);
    painter.drawImage(target, image, source);
    painter.setOpacity(1.0);

    const double cellW = target.width() / source.width();
    const double cellH = target.height() / source.height();
    if (!outline.empty()) {
        // Edges between a mask cell and a non-mask cell, with a dark halo so
        // the white line reads on any colour.
        QPainterPath path;
        const int w = image.width(), h = image.height();
        auto in = [&](int x, int y) {
            return x >= 0 && y >= 0 && x < w && y < h && outline[std::size_t(y) * w + x];
        };
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x) {
                if (!in(x, y))
                    continue;
                const QPointF a = gridToWidget(QPointF(x, y));
                const QPointF b = gridToWidget(QPointF(x + 1, y + 1));
                if (!in(x, y - 1)) {
                    path.moveTo(a.x(), a.y());
                    path.lineTo(b.x(), a.y());
                }
                if (!in(x, y + 1)) {
                    path.moveTo(a.x(), b.y());
                    path.lineTo(b.x(), b.y());
                }
                if (!in(x - 1, y)) {
                    path.moveTo(a.x(), a.y());
                    path.lineTo(a.x(), b.y());
                }
                if (!in(x + 1, y)) {
                    path.moveTo(b.x(), a.y());
                    path.lineTo(b.x(), b.y());
                }
            }
        painter.setRenderHint(QPainter::Antialiasing, true);
        painter.strokePath(path, QPen(QColor(0, 0, 0, 150), 3.0));
        painter.strokePath(path, QPen(Qt::white, 1.3));
    }
    if (seed.x() >= 0) {
        const QPointF centre = gridToWidget(QPointF(seed.x() + 0.5, seed.y() + 0.5));
        const double r = std::max(4.0, 0.45 * std::min(cellW, cellH));
        painter.setRenderHint(QPainter::Antialiasing, true);
        painter.setBrush(Qt::NoBrush);
        painter.setPen(QPen(Qt::white, 3.0));
        painter.drawEllipse(centre, r, r);
        painter.setPen(QPen(Qt::black, 1.4));
        painter.drawEllipse(centre, r, r);
    }
    if (hover.x() >= 0) {
        const QPointF cell(std::floor(hover.x()), std::floor(hover.y()));
        const QRectF box(gridToWidget(cell), gridToWidget(cell + QPointF(1, 1)));
        painter.setRenderHint(QPainter::Antialiasing, false);
        painter.setBrush(Qt::NoBrush);
        painter.setPen(QPen(QColor(0, 0, 0, 170), 3.0));
        painter.drawRect(box.adjusted(-1, -1, 1, 1));
        painter.setPen(QPen(Qt::white, 1.0));
        painter.drawRect(box.adjusted(-1, -1, 1, 1));
    }
    painter.restore();
    painter.setPen(QPen(QColor(0, 0, 0, 70), 1.0));
    painter.setBrush(Qt::NoBrush);
    painter.drawRect(target.adjusted(-0.5, -0.5, 0.5, 0.5));
}

void FeatureImageView::mouseMoveEvent(QMouseEvent* event)
{
    const QPointF g = widgetToGrid(event->position());
    if (image.isNull() || !imageRect().contains(event->position()) || g.x() < 0 || g.y() < 0 ||
        g.x() >= image.width() || g.y() >= image.height())
        emit hovered(QPointF(-1, -1));
    else
        emit hovered(g);
}

} // namespace primaps
