// SPDX-License-Identifier: MIT
#pragma once

#include <QImage>
#include <QObject>
#include <QPointer>

class QGraphicsPixmapItem;

namespace primaps {

class CanvasWidget;

/// A picture laid over a CanvasWidget's photo, stretched over its extent so
/// that it zooms and pans with it: a playback frame, a similarity heat map.
/// Several layers stack by their z value (the canvas's own layers are at 0..1).
/// The layer leaves the canvas's labels, readouts and editing alone. GUI thread only.
class CanvasImageLayer : public QObject
{
    Q_OBJECT

public:
    CanvasImageLayer(CanvasWidget* canvas, double z, QObject* parent = nullptr);
    ~CanvasImageLayer() override;

    /// Shows `image` over the photo (any size: it is stretched to the photo's)
    /// at `opacity`; smooth scaling for pictures, nearest for patch grids.
    void show(const QImage& image, double opacity = 1.0, bool smooth = true);
    void hide();
    bool isShown() const;
    /// The picture on display (null when hidden).
    QImage image() const { return m_image; }

private:
    QPointer<CanvasWidget> m_canvas;
    QGraphicsPixmapItem* m_item = nullptr;
    double m_z = 2.0;
    QImage m_image;
};

} // namespace primaps
