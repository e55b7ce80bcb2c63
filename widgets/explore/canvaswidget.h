// SPDX-License-Identifier: MIT
#pragma once

#include "labels/labelmap.h"

#include <array>
#include <atomic>
#include <memory>
#include <opencv2/core/mat.hpp>
#include <QGraphicsView>
#include <QImage>
#include <vector>

class QGraphicsPixmapItem;
class QThreadPool;
class QGraphicsRectItem;
class QLabel;

namespace primaps {

struct CanvasLabelPictures;
struct ExplorePictures;
struct ImageDecomposition;
class LabelLayerItem;

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
///
/// Editing: with editing enabled and a tool chosen, the left button edits the
/// label map on display instead of panning (the middle button still pans).
/// Brush and eraser paint discs of brushRadius() label pixels along the drag
/// (the eraser paints background, 0); fill gives the connected segment under
/// the click the brush label; the picker (or Alt+click with any tool) reports
/// the label under the cursor. Each stroke or fill is applied at once and then
/// reported as one reversible LabelPatch through labelsEdited(); whoever keeps
/// the undo history calls applyLabelPatch() to undo or redo it. A circle shows
/// the brush's footprint; [ and ] change its size while a brush is active.
class CanvasWidget : public QGraphicsView
{
    Q_OBJECT

public:
    enum class EditTool
    {
        None, ///< the left button pans, as when not editing
        Brush,
        Eraser,
        Fill,
        Picker
    };
    Q_ENUM(EditTool)

    explicit CanvasWidget(QWidget* parent = nullptr);
    /// Waits for an overlay being drawn (at most one drawing, tens of ms).
    ~CanvasWidget() override;

    /// Shows `photo` without labels. A photo of another size is fitted to the
    /// window; one of the same size keeps the current zoom and scroll position.
    void setPhoto(const QImage& photo);
    /// Shows `photo` (the original image) with `decomposition`'s mask ids over
    /// it; the padding of the prepared image is left out. When the CRF ran, its
    /// input (labelsBeforeCrf) becomes the "before" map of the compare mode.
    /// `drawn`, when given, holds what the DecomposeJob's worker already
    /// computed for it (the maps, their counts and default overlays), so that the GUI thread only swaps pictures.
    void setDecomposition(const QImage& photo, const ImageDecomposition& decomposition,
                          const ExplorePictures* drawn = nullptr);
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
    /// The label pixel under a point in photo pixels; (-1, -1) outside the labels.
    QPoint labelPixelAt(const QPointF& photoPoint) const;
    /// The overlay layers as drawn before their opacity is applied (null while
    /// the first overlay of a large map is still being drawn).
    QImage overlayImage() const { return m_overlay; }
    /// True while the overlay of a large map (more than kSyncOverlayPixels) is
    /// drawn on a worker; overlayReady() follows. Meanwhile the labels, their
    /// areas, the readout and editing work; a new map shows the photo alone, a
    /// new colour table or highlight keeps the previous overlay of the same map.
    bool isOverlayPending() const { return m_overlayPending; }
    /// Up to this many label pixels (about 5 ms of drawing) the overlay is drawn
    /// at once on the GUI thread; larger maps are drawn on a worker.
    static constexpr std::size_t kSyncOverlayPixels = 1u << 20;
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
    /// The zoom as the canvas's corner read-out shows it ("Fit · 157 %" while
    /// following the window's size, else "200 %"); empty without a photo.
    QString zoomText() const;
    double overlayOpacity() const { return m_opacity; }
    bool isOverlayVisible() const { return m_overlayVisible; }
    int highlightedMask() const { return m_highlighted; }

    /// Names (hover readout) and colours (overlay) of the labels; the default
    /// table gives "mask N" in core's labelColor().
    void setLabelTable(const LabelTable& table);
    const LabelTable& labelTable() const { return m_table; }

    /// Whether the labels on display may be edited (the owner of the edits
    /// turns it on while it shows a map it keeps); tools do nothing otherwise.
    void setEditingEnabled(bool enabled);
    bool isEditingEnabled() const { return m_editable; }
    void setEditTool(EditTool tool);
    EditTool editTool() const { return m_tool; }
    /// Editing is on, a tool is chosen and there are labels to edit.
    bool isEditing() const;
    /// The label brush and fill paint with (0..255).
    void setBrushLabel(int id);
    int brushLabel() const { return m_brushLabel; }
    /// In label pixels: a disc of pixels within this distance of the cursor's
    /// pixel (0 = one pixel). Clamped to 0..kMaxBrushRadius.
    void setBrushRadius(int radius);
    int brushRadius() const { return m_brushRadius; }
    static constexpr int kMaxBrushRadius = 400;
    /// The map the edits started from (same size as the labels), for "show edits
    /// only"; an empty matrix forgets it.
    void setEditBase(const cv::Mat& base);
    /// Draws only the pixels whose label differs from the edit base.
    void setShowEditsOnly(bool on);
    bool isShowingEditsOnly() const { return m_editsOnly; }
    /// Applies `patch` to the labels on display (after, or before when not
    /// `forward`) and redraws only what changed. Throws primaps::Error when it
    /// does not fit the labels.
    void applyLabelPatch(const LabelPatch& patch, bool forward);
    /// Ends a brush stroke in progress as if the button had been released.
    void finishStroke();

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
    /// A stroke or fill changed the labels on display; `patch` undoes and redoes
    /// it. `description` names it for an undo history ("Brush stroke").
    void labelsEdited(const primaps::LabelPatch& patch, const QString& description);
    /// The labels on display changed (an edit or applyLabelPatch()); areas are new.
    void labelsChanged();
    /// The picker (or Alt+click) chose the label `id`.
    void labelPicked(int id);
    /// The overlay drawn on a worker is on display (isOverlayPending() is false).
    void overlayReady();
    void brushRadiusChanged(int radius);
    /// A right click while editing was enabled, on label pixel `pixel` with label `id`.
    void editMenuRequested(const QPoint& pixel, int id, const QPoint& globalPos);

protected:
    void wheelEvent(QWheelEvent* event) override;
    void resizeEvent(QResizeEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;
    void mouseMoveEvent(QMouseEvent* event) override;
    void mouseReleaseEvent(QMouseEvent* event) override;
    void leaveEvent(QEvent* event) override;
    void keyPressEvent(QKeyEvent* event) override;
    void contextMenuEvent(QContextMenuEvent* event) override;
    void drawForeground(QPainter* painter, const QRectF& rect) override;

private:
    /// Takes the maps of `layers` (the canvas's own copies); with `drawn` also
    /// their counts and, when they fit the current colours and highlight, overlays.
    void showLabels(const CanvasLabelPictures& layers, bool drawn);
    void applyZoom(double zoom, bool underMouse);
    void rebuildOverlay();
    // canvasoverlaybuild.cpp: the overlay of a large map, drawn on a worker.
    void startOverlayBuild(const std::array<QRgb, 256>& lut, const cv::Mat& editBase);
    void takeOverlay(quint64 generation, const QImage& overlay, const QImage& before);
    /// Puts m_overlay and m_beforeOverlay on display.
    void showOverlays();
    /// Gives m_labels its own buffer before an in-place edit while a worker reads it.
    void detachLabels();
    void updateLayers();
    bool nearDivider(const QPoint& viewPos) const;
    void updateCursor(const QPoint& viewPos);
    void updateHover(const QPoint& viewPos);
    void updateZoomLabel();
    void placeReadouts();
    void redrawOverlayRect(const cv::Rect& rect);
    void countPatch(const LabelPatch& patch);
    void updateFractions();
    void updateDragMode();
    void paintTo(const QPoint& pixel);
    bool brushActive() const;
    QPointF sceneAtPixelCentre(const QPointF& viewPos) const;

    QGraphicsScene* m_scene = nullptr;
    QGraphicsPixmapItem* m_photoItem = nullptr;
    LabelLayerItem* m_overlayItem = nullptr;
    LabelLayerItem* m_beforeItem = nullptr;
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
    // The worker drawing a large map's overlay: one thread, the newest request
    // wins (older ones are skipped); its snapshot shares m_labels' buffer, so
    // an edit detaches first, and the rectangles edited meanwhile are drawn
    // again on the overlay when it arrives.
    QThreadPool* m_overlayPool = nullptr;
    std::shared_ptr<std::atomic<quint64>> m_overlayWanted;
    quint64 m_overlayGeneration = 0;
    bool m_overlayPending = false;
    bool m_labelsShared = false;
    std::vector<cv::Rect> m_overlayDirty;
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

    LabelTable m_table;
    LabelCounts m_counts{};
    bool m_editable = false;
    EditTool m_tool = EditTool::None;
    int m_brushLabel = 1;
    int m_brushRadius = 6;
    cv::Mat m_editBase;
    bool m_editsOnly = false;
    // The stroke in progress: the map before it, the last painted pixel and
    // the box of everything it touched.
    bool m_stroking = false;
    cv::Mat m_strokeBefore;
    QPoint m_strokeLast;
    cv::Rect m_strokeBox;
    // Middle-button pan.
    bool m_panning = false;
    QPoint m_panLast;
    QPoint m_mouseView{-1, -1};
};

} // namespace primaps
