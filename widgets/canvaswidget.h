// SPDX-License-Identifier: MIT
#pragma once

#include <opencv2/core/mat.hpp>
#include <QGraphicsView>
#include <QImage>
#include <vector>

class QGraphicsPixmapItem;
class QGraphicsRectItem;
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
///
/// Before/after view: given a second label map (the masks before the dense CRF),
/// compare mode splits the picture at a vertical divider, the earlier map left
/// of it and the final one right of it, each captioned. Drag the divider (or
/// press [ and ]) to sweep it across a boundary and see how the refinement moved
/// it; the readout names the side under the cursor.
class CanvasWidget : public QGraphicsView
{
    Q_OBJECT

public:
    explicit CanvasWidget(QWidget* parent = nullptr);

    /// Shows `photo` without labels. A photo of another size is fitted to the
    /// window; one of the same size keeps the current zoom and scroll position.
    void setPhoto(const QImage& photo);
    /// Shows `photo` (the original image) with `decomposition`'s mask ids over
    /// it; the padding of the prepared image is left out. When the CRF ran, its
    /// input (labelsBeforeCrf) becomes the "before" map of the compare mode.
    void setDecomposition(const QImage& photo, const ImageDecomposition& decomposition);
    /// Mask ids (CV_8U) covering `rectInPhoto`, in photo pixels; stretched over
    /// it with nearest neighbour. An empty matrix removes the labels.
    /// `before`, when not empty, is the same kind of map (same size) before a
    /// refinement, shown left of the divider in compare mode.
    void setLabels(const cv::Mat& labels, const QRectF& rectInPhoto,
                   const cv::Mat& before = cv::Mat());
    void clear();

    bool hasPhoto() const { return !m_photo.isNull(); }
    bool hasLabels() const { return !m_labels.empty(); }
    QImage photo() const { return m_photo; }
    /// The mask ids on display (CV_8U); empty when there are none.
    cv::Mat labels() const { return m_labels; }
    /// The "before" mask ids for compare mode; empty when there are none.
    cv::Mat beforeLabels() const { return m_before; }
    bool hasBeforeLabels() const { return !m_before.empty(); }
    /// Share of the labelled area per mask id (index 0 = background).
    const std::vector<double>& areaFractions() const { return m_fractions; }
    const std::vector<double>& beforeAreaFractions() const { return m_beforeFractions; }
    /// Mask id at a point in photo pixels, or -1 outside the labelled area. While
    /// comparing, left of the divider it is read from the "before" map.
    int maskIdAt(const QPointF& photoPoint) const;
    /// Whether a point in photo pixels shows the "before" map.
    bool showsBeforeAt(const QPointF& photoPoint) const;
    /// The overlay layers as drawn before their opacity is applied.
    QImage overlayImage() const { return m_overlay; }
    QImage beforeOverlayImage() const { return m_beforeOverlay; }

    /// Text shown in the middle of the canvas while it has no photo.
    void setPlaceholderText(const QString& text);
    /// A short notice in a pill at the top of the view (e.g. that the masks are
    /// a preview); empty hides it.
    void setBadgeText(const QString& text);
    QString badgeText() const;
    /// Captions of the two sides in compare mode.
    void setCompareCaptions(const QString& before, const QString& after);

    /// Compare mode is switched on (it shows only while there is a "before" map).
    bool isCompareMode() const { return m_compare; }
    /// The split is on screen: compare mode with both maps.
    bool isComparing() const { return m_compare && !m_before.empty() && !m_labels.empty(); }
    /// Divider position as a fraction of the labelled width (0 = left edge).
    double splitPosition() const { return m_split; }
    /// The divider's x in viewport pixels (meaningful while comparing).
    int dividerViewX() const;

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
    void setCompareMode(bool on);
    /// Clamped to 0..1.
    void setSplitPosition(double fraction);
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
    void splitPositionChanged(double fraction);

protected:
    void wheelEvent(QWheelEvent* event) override;
    void resizeEvent(QResizeEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;
    void mouseMoveEvent(QMouseEvent* event) override;
    void mouseReleaseEvent(QMouseEvent* event) override;
    void leaveEvent(QEvent* event) override;
    void keyPressEvent(QKeyEvent* event) override;
    void drawForeground(QPainter* painter, const QRectF& rect) override;

private:
    void applyZoom(double zoom, bool underMouse);
    void rebuildOverlay();
    void updateLayers();
    bool nearDivider(const QPoint& viewPos) const;
    void updateCursor(const QPoint& viewPos);
    void updateHover(const QPoint& viewPos);
    void updateZoomLabel();
    void placeReadouts();

    QGraphicsScene* m_scene = nullptr;
    QGraphicsPixmapItem* m_photoItem = nullptr;
    QGraphicsPixmapItem* m_overlayItem = nullptr;
    QGraphicsPixmapItem* m_beforeItem = nullptr;
    // Clip the two overlays to their sides of the divider. Both are needed: the
    // dimmed background is translucent, so one layer over the other would mix.
    QGraphicsRectItem* m_afterClip = nullptr;
    QGraphicsRectItem* m_beforeClip = nullptr;
    QLabel* m_hoverLabel = nullptr;
    QLabel* m_zoomLabel = nullptr;
    QLabel* m_placeholder = nullptr;
    QLabel* m_badge = nullptr;

    QImage m_photo;
    cv::Mat m_labels;
    cv::Mat m_before;
    QRectF m_labelRect;
    QImage m_overlay;
    QImage m_beforeOverlay;
    std::vector<double> m_fractions;
    std::vector<double> m_beforeFractions;
    QString m_beforeCaption;
    QString m_afterCaption;
    bool m_compare = false;
    double m_split = 0.5;
    bool m_draggingSplit = false;
    bool m_cursorOnDivider = false;
    double m_opacity = 0.6;
    bool m_overlayVisible = true;
    int m_highlighted = 0;
    int m_hovered = -1;
    bool m_fit = true;
};

} // namespace primaps
