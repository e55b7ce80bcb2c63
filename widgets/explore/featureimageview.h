// SPDX-License-Identifier: MIT
// The Features dock's picture (internal to FeatureViewWidget).
#pragma once

#include <vector>
#include <QImage>
#include <QPoint>
#include <QPointF>
#include <QRectF>
#include <QSize>
#include <QString>
#include <QWidget>

namespace primaps {

/// The picture: the photo's aspect, the padding left out, a cross-hair on the
/// hovered patch and, in the step view, the mask's outline and the seed.
class FeatureImageView : public QWidget
{
    Q_OBJECT

public:
    explicit FeatureImageView(QWidget* parent);

    QImage image;       ///< grid resolution
    QImage photo;       ///< original size
    QRectF source;      ///< the photo's extent in grid coordinates
    QSize photoSize;
    double opacity = 1.0;
    bool smooth = false;
    std::vector<unsigned char> outline; ///< grid cells of the mask to outline (may be empty)
    QPoint seed{-1, -1};
    QPointF hover{-1, -1}; ///< grid coordinates
    QString placeholder;

    QRectF imageRect() const
    {
        if (photoSize.isEmpty())
            return {};
        const QSizeF fitted =
            QSizeF(photoSize).scaled(QSizeF(rect().adjusted(4, 4, -4, -4).size()), Qt::KeepAspectRatio);
        return QRectF(QPointF((width() - fitted.width()) / 2.0, (height() - fitted.height()) / 2.0),
                      fitted);
    }

    QPointF gridToWidget(const QPointF& g) const
    {
        const QRectF t = imageRect();
        return QPointF(t.left() + (g.x() - source.left()) * t.width() / source.width(),
                       t.top() + (g.y() - source.top()) * t.height() / source.height());
    }

    QPointF widgetToGrid(const QPointF& p) const
    {
        const QRectF t = imageRect();
        return QPointF(source.left() + (p.x() - t.left()) * source.width() / t.width(),
                       source.top() + (p.y() - t.top()) * source.height() / t.height());
    }

signals:
    void hovered(const QPointF& gridPoint);

protected:
    void paintEvent(QPaintEvent*) override;

    void mouseMoveEvent(QMouseEvent* event) override;
    void leaveEvent(QEvent*) override { emit hovered(QPointF(-1, -1)); }
};

} // namespace primaps
