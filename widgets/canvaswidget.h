// SPDX-License-Identifier: MIT
#pragma once

#include <opencv2/core/mat.hpp>
#include <QGraphicsView>
#include <QImage>
#include <vector>

class QGraphicsPixmapItem;
class QLabel;

namespace primaps {

struct ImageDecomposition;

/// Shows a photo with the mask ids of its decomposition laid over it.
///
/// The photo is drawn with smooth scaling and the label layer with nearest
/// neighbour, so mask borders stay where the label map puts them. The overlay
/// looks like core's overlayLabels(): masks in labelColor() colours, white
/// borders between masks, background dimmed; its opacity is a property of the
/// layer, so changing it costs nothing. Zoom with the wheel (under the cursor),
/// +/-, F (fit) and 1 (100 %); pan by dragging. A readout in the corner names the
/// mask under the cursor.
class CanvasWidget : public QGraphicsView
{
    Q_OBJECT

public:
    explicit CanvasWidget(QWidget* parent = nullptr);

    /// Shows `photo` without labels. A photo of another size is fitted to the
    /// window; one of the same size keeps the current zoom and scroll position.
    void setPhoto(const QImage& photo);
    /// Shows `photo` (the original image) with `decomposition`'s mask ids over
    /// it; the padding of the prepared image is left out.
    void setDecomposition(const QImage& photo, const ImageDecomposition& decomposition);
    /// Mask ids (CV_8U) covering `rectInPhoto`, in photo pixels; stretched over
    /// it with nearest neighbour. An empty matrix removes the labels.
    void setLabels(const cv::Mat& labels, const QRectF& rectInPhoto);
    void clear();

    bool hasPhoto() const { return !m_photo.isNull(); }
    bool hasLabels() const { return !m_labels.empty(); }
    QImage photo() const { return m_photo; }
    /// The mask ids on display (CV_8U); empty when there are none.
    cv::Mat labels() const { return m_labels; }
    /// Share of the labelled area per mask id (index 0 = background).
    const std::vector<double>& areaFractions() const { return m_fractions; }
    /// Mask id at a point in photo pixels, or -1 outside the labelled area.
    int maskIdAt(const QPointF& photoPoint) const;
    /// The overlay layer as drawn before its opacity is applied.
    QImage overlayImage() const { return m_overlay; }

    /// Text shown in the middle of the canvas while it has no photo.
    void setPlaceholderText(const QString& text);

    /// Screen pixels per photo pixel.
    double zoom() const;
    bool isFitToWindow() const { return m_fit; }
    double overlayOpacity() const { return m_opacity; }
    bool isOverlayVisible() const { return m_overlayVisible; }
    int highlightedMask() const { return m_highlighted; }

public slots:
    /// 0 (photo only) .. 1 (opaque mask colours).
    void setOverlayOpacity(double opacity);
    void setOverlayVisible(bool visible);
    /// Draws mask `id` alone and dims the rest; 0 shows all masks again.
    void setHighlightedMask(int id);
    void zoomIn();
    void zoomOut();
    void fitToWindow();
    void showActualSize();
    /// Zoom about the centre of the view, clamped to 2 %..3200 %.
    void setZoom(double zoom);

signals:
    void zoomChanged(double zoom);
    /// The mask under the cursor changed (-1: the cursor left the labels).
    void hoveredMaskChanged(int id);

protected:
    void wheelEvent(QWheelEvent* event) override;
    void resizeEvent(QResizeEvent* event) override;
    void mouseMoveEvent(QMouseEvent* event) override;
    void leaveEvent(QEvent* event) override;
    void keyPressEvent(QKeyEvent* event) override;

private:
    void applyZoom(double zoom, bool underMouse);
    void rebuildOverlay();
    void updateHover(const QPoint& viewPos);
    void updateZoomLabel();
    void placeReadouts();

    QGraphicsScene* m_scene = nullptr;
    QGraphicsPixmapItem* m_photoItem = nullptr;
    QGraphicsPixmapItem* m_overlayItem = nullptr;
    QLabel* m_hoverLabel = nullptr;
    QLabel* m_zoomLabel = nullptr;
    QLabel* m_placeholder = nullptr;

    QImage m_photo;
    cv::Mat m_labels;
    QRectF m_labelRect;
    QImage m_overlay;
    std::vector<double> m_fractions;
    double m_opacity = 0.6;
    bool m_overlayVisible = true;
    int m_highlighted = 0;
    int m_hovered = -1;
    bool m_fit = true;
};

} // namespace primaps
