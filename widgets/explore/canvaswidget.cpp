// SPDX-License-Identifier: MIT
// The canvas's picture: the photo, the label layers and their overlay images, the
// label table, the area shares, and the settings that change what is drawn.
#include "explore/canvaswidget.h"

#include "explore/explorepictures.h"
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

/// Draws a label layer's image (owned by the canvas, which redraws parts of it
/// in place while painting) with nearest-neighbour scaling. A QPixmap would
/// have to be converted whole after every brush dab.
class LabelLayerItem : public QGraphicsItem
{
public:
    explicit LabelLayerItem(QGraphicsItem* parent) : QGraphicsItem(parent) {}

    void setImage(const QImage* image)
    {
        prepareGeometryChange();
        m_image = image;
        m_size = image && !image->isNull() ? image->size() : QSize();
        update();
    }
    QRectF boundingRect() const override { return QRectF(QPointF(0, 0), QSizeF(m_size)); }
    void paint(QPainter* painter, const QStyleOptionGraphicsItem*, QWidget*) override
    {
        if (!m_image || m_image->isNull())
            return;
        painter->setRenderHint(QPainter::SmoothPixmapTransform, false);
        painter->drawImage(QPointF(0, 0), *m_image);
    }

private:
    const QImage* m_image = nullptr;
    QSize m_size;
};

namespace {

// The lookup table of the default label table, which the DecomposeJob's worker
// draws the overlays with.
const std::array<QRgb, 256>& defaultLut()
{
    static const std::array<QRgb, 256> lut = overlayLut(LabelTable());
    return lut;
}

QGraphicsRectItem* addClip(QGraphicsScene* scene)
{
    auto* clip = scene->addRect(QRectF(), Qt::NoPen, Qt::NoBrush);
    clip->setFlag(QGraphicsItem::ItemClipsChildrenToShape);
    clip->setZValue(1);
    return clip;
}

} // namespace

CanvasWidget::CanvasWidget(QWidget* parent) : QGraphicsView(parent)
{
    m_scene = new QGraphicsScene(this);
    // A handful of items that change with every result: a BSP index only
    // costs time on each change.
    m_scene->setItemIndexMethod(QGraphicsScene::NoIndex);
    setScene(m_scene);
    setBackgroundBrush(QColor(0x2b, 0x2f, 0x36));
    setFrameShape(QFrame::NoFrame);
    setDragMode(QGraphicsView::ScrollHandDrag);
    setTransformationAnchor(QGraphicsView::AnchorUnderMouse);
    setResizeAnchor(QGraphicsView::AnchorViewCenter);
    setViewportUpdateMode(QGraphicsView::FullViewportUpdate);
    setMouseTracking(true);
    viewport()->setMouseTracking(true);
    setFocusPolicy(Qt::StrongFocus);
    setAlignment(Qt::AlignCenter);

    m_photoItem = m_scene->addPixmap(QPixmap());
    m_photoItem->setTransformationMode(Qt::SmoothTransformation);
    // Smooth scaling a photo costs milliseconds, and the view repaints it whole
    // on every update (FullViewportUpdate): keep it scaled at the current zoom.
    m_photoItem->setCacheMode(QGraphicsItem::DeviceCoordinateCache);
    m_afterClip = addClip(m_scene);
    m_beforeClip = addClip(m_scene);
    m_overlayItem = new LabelLayerItem(m_afterClip);
    m_beforeItem = new LabelLayerItem(m_beforeClip);
    for (LabelLayerItem* item : {m_overlayItem, m_beforeItem}) {
        item->setOpacity(m_opacity);
        // Scaled once per zoom, not on every repaint; an edit redraws only its rectangle.
        item->setCacheMode(QGraphicsItem::DeviceCoordinateCache);
    }
    m_beforeCaption = tr("Before CRF");
    m_afterCaption = tr("After CRF");

    // The readouts are children of the view, not of the viewport: the viewport
    // scrolls its children along with the picture.
    const QString readoutStyle = QStringLiteral(
        "QLabel { background: rgba(20, 24, 30, 190); color: #f2f2f2; border-radius: 4px; "
        "padding: 3px 7px; }");
    m_hoverLabel = new QLabel(this);
    m_hoverLabel->setStyleSheet(readoutStyle);
    m_hoverLabel->setTextFormat(Qt::RichText);
    m_hoverLabel->setAttribute(Qt::WA_TransparentForMouseEvents);
    m_hoverLabel->hide();
    m_zoomLabel = new QLabel(this);
    m_zoomLabel->setStyleSheet(readoutStyle);
    m_zoomLabel->setAttribute(Qt::WA_TransparentForMouseEvents);
    m_zoomLabel->hide();

    m_badge = new QLabel(this);
    m_badge->setStyleSheet(QStringLiteral(
        "QLabel { background: rgba(255, 193, 7, 225); color: #1f1a05; border-radius: 4px; "
        "padding: 3px 9px; }"));
    m_badge->setAttribute(Qt::WA_TransparentForMouseEvents);
    m_badge->hide();

    m_placeholder = new QLabel(tr("No image"), this);
    m_placeholder->setAlignment(Qt::AlignCenter);
    m_placeholder->setWordWrap(true);
    m_placeholder->setStyleSheet(QStringLiteral("QLabel { color: #9aa3ad; }"));
    m_placeholder->setAttribute(Qt::WA_TransparentForMouseEvents);
}

void CanvasWidget::setPlaceholderText(const QString& text)
{
    m_placeholder->setText(text);
}

void CanvasWidget::setBadgeText(const QString& text)
{
    m_badge->setText(text);
    m_badge->adjustSize();
    m_badge->setVisible(!text.isEmpty());
    placeReadouts();
}

QString CanvasWidget::badgeText() const
{
    return m_badge->text();
}

void CanvasWidget::setCompareCaptions(const QString& before, const QString& after)
{
    m_beforeCaption = before;
    m_afterCaption = after;
    viewport()->update();
}

void CanvasWidget::setPhoto(const QImage& photo)
{
    const bool sameSize = !m_photo.isNull() && photo.size() == m_photo.size();
    // Re-runs of the same image bring the same QImage; only a new picture is uploaded.
    if (photo.isNull() || (photo.cacheKey() != m_photo.cacheKey() && photo != m_photo)) {
        m_photo = photo;
        m_photoItem->setPixmap(QPixmap::fromImage(photo));
    }
    setLabels(cv::Mat(), QRectF());
    m_scene->setSceneRect(QRectF(QPointF(0, 0), QSizeF(photo.size())));
    m_placeholder->setVisible(photo.isNull());
    if (!sameSize || m_fit)
        fitToWindow();
    updateZoomLabel();
}

void CanvasWidget::setDecomposition(const QImage& photo, const ImageDecomposition& decomposition,
                                    const ExplorePictures* drawn)
{
    setPhoto(photo);
    if (drawn && !drawn->canvas.labels.empty()) {
        // The worker's maps may be shared with other holders of the result;
        // the canvas edits its own.
        CanvasLabelPictures layers = drawn->canvas;
        layers.labels = layers.labels.clone();
        layers.before = layers.before.clone();
        showLabels(layers, true);
    } else {
        showLabels(canvasLabelsOf(decomposition, false), false);
    }
}

void CanvasWidget::setLabels(const cv::Mat& labels, const QRectF& rectInPhoto,
                             const cv::Mat& before)
{
    CanvasLabelPictures layers;
    layers.labels = labels.empty() ? cv::Mat() : labels.clone();
    // A "before" map that does not line up with the labels cannot be compared.
    if (!labels.empty() && before.size() == labels.size() && before.type() == labels.type())
        layers.before = before.clone();
    layers.rectInPhoto = rectInPhoto;
    showLabels(layers, false);
}

void CanvasWidget::showLabels(const CanvasLabelPictures& layers, bool drawn)
{
    // A stroke in progress belongs to the map it was painted on: report it first.
    finishStroke();
    m_labels = layers.labels;
    m_labelsShared = false; // a new buffer, no worker reads it
    if (m_editBase.size() != m_labels.size())
        m_editBase = cv::Mat();
    m_before = layers.before;
    m_labelRect = layers.rectInPhoto;
    m_counts = drawn ? layers.counts : countLabels(m_labels);
    m_fractions = labelShares(m_counts);
    m_beforeFractions = m_before.empty()
                            ? std::vector<double>{}
                            : labelShares(drawn ? layers.beforeCounts : countLabels(m_before));
    if (!m_labels.empty()) {
        const QRectF& rect = m_labelRect;
        const QTransform scale =
            QTransform::fromScale(rect.width() / m_labels.cols, rect.height() / m_labels.rows);
        for (LabelLayerItem* item : {m_overlayItem, m_beforeItem}) {
            item->setTransform(scale);
            item->setPos(rect.topLeft());
        }
    }
    if (m_highlighted >= int(m_fractions.size()) || m_highlighted < 0 ||
        (m_highlighted > 0 && m_fractions[std::size_t(m_highlighted)] <= 0.0))
        m_highlighted = 0;
    // The worker drew the overlays with the default colours and nothing
    // highlighted; anything else is drawn here.
    const bool plain = m_highlighted == 0 && !(m_editsOnly && !m_editBase.empty()) &&
                       overlayLut(m_table) == defaultLut();
    if (drawn && plain) {
        ++m_overlayGeneration; // a drawing under way is of another map
        m_overlayPending = false;
        m_overlayDirty.clear();
        m_overlay = layers.overlay;
        m_beforeOverlay = m_before.empty() ? QImage() : layers.beforeOverlay;
        m_overlayItem->setImage(&m_overlay);
        m_beforeItem->setImage(&m_beforeOverlay);
        updateLayers();
    } else {
        // The previous map's overlay must not show over this one while a
        // worker draws it.
        m_overlay = QImage();
        m_beforeOverlay = QImage();
        m_overlayItem->setImage(&m_overlay);
        m_beforeItem->setImage(&m_beforeOverlay);
        rebuildOverlay();
    }
    updateDragMode();
    m_hovered = -2; // force the readout to refresh
    updateHover(viewport()->mapFromGlobal(QCursor::pos()));
}

void CanvasWidget::clear()
{
    m_photo = QImage();
    m_photoItem->setPixmap(QPixmap());
    setLabels(cv::Mat(), QRectF());
    m_scene->setSceneRect(QRectF());
    m_zoomLabel->hide();
    m_placeholder->show();
}

void CanvasWidget::rebuildOverlay()
{
    const std::array<QRgb, 256> lut = overlayLut(m_table);
    const cv::Mat base = m_editsOnly ? m_editBase : cv::Mat();
    // A 12-megapixel map takes 40-90 ms to draw (more under load): a worker draws
    // it, so that the GUI thread never waits for it.
    if (std::max(m_labels.total(), m_before.total()) > kSyncOverlayPixels) {
        startOverlayBuild(lut, base);
        return;
    }
    ++m_overlayGeneration; // a drawing under way is outdated
    m_overlayPending = false;
    m_overlayDirty.clear();
    m_overlay = labelOverlay(m_labels, m_highlighted, lut, base);
    m_beforeOverlay = labelOverlay(m_before, m_highlighted, lut);
    showOverlays();
}

void CanvasWidget::showOverlays()
{
    m_overlayItem->setImage(&m_overlay);
    m_beforeItem->setImage(&m_beforeOverlay);
    updateLayers();
}

void CanvasWidget::redrawOverlayRect(const cv::Rect& rect)
{
    if (m_labels.empty() || rect.empty())
        return;
    // Borders depend on the neighbours, so one pixel more all round.
    const cv::Rect r = cv::Rect(rect.x - 1, rect.y - 1, rect.width + 2, rect.height + 2) &
                       cv::Rect(0, 0, m_labels.cols, m_labels.rows);
    if (m_overlayPending) // the worker's snapshot predates this edit
        m_overlayDirty.push_back(r);
    if (m_overlay.size() != QSize(m_labels.cols, m_labels.rows))
        return;
    drawLabelOverlay(m_overlay, m_labels, r, m_highlighted, overlayLut(m_table),
                     m_editsOnly ? m_editBase : cv::Mat());
    m_overlayItem->update(QRectF(r.x, r.y, r.width, r.height));
}

void CanvasWidget::updateFractions()
{
    m_fractions = labelShares(m_counts);
    if (m_highlighted > 0 && (m_highlighted >= int(m_fractions.size()) ||
                              m_fractions[std::size_t(m_highlighted)] <= 0.0)) {
        m_highlighted = 0;
        rebuildOverlay();
    }
}

void CanvasWidget::countPatch(const LabelPatch& patch)
{
    const LabelCounts removed = countLabels(patch.before);
    const LabelCounts added = countLabels(patch.after);
    for (std::size_t id = 0; id < 256; ++id)
        m_counts[id] += added[id] - removed[id];
}

void CanvasWidget::setLabelTable(const LabelTable& table)
{
    if (table == m_table)
        return;
    m_table = table;
    rebuildOverlay();
    m_hovered = -2;
    updateHover(viewport()->mapFromGlobal(QCursor::pos()));
}

void CanvasWidget::updateLayers()
{
    const bool comparing = isComparing();
    if (comparing) {
        const double splitX = m_labelRect.left() + m_split * m_labelRect.width();
        m_beforeClip->setRect(QRectF(QPointF(m_labelRect.left(), m_labelRect.top()),
                                     QPointF(splitX, m_labelRect.bottom())));
        m_afterClip->setRect(QRectF(QPointF(splitX, m_labelRect.top()), m_labelRect.bottomRight()));
    } else {
        m_afterClip->setRect(m_labelRect);
    }
    m_afterClip->setVisible(m_overlayVisible && !m_labels.empty());
    m_beforeClip->setVisible(m_overlayVisible && comparing);
    viewport()->update();
}

bool CanvasWidget::showsBeforeAt(const QPointF& photoPoint) const
{
    return isComparing() && m_labelRect.contains(photoPoint) &&
           photoPoint.x() < m_labelRect.left() + m_split * m_labelRect.width();
}

int CanvasWidget::maskIdAt(const QPointF& photoPoint) const
{
    const QPoint p = labelPixelAt(photoPoint);
    if (p.x() < 0)
        return -1;
    return showsBeforeAt(photoPoint) ? m_before.at<uchar>(p.y(), p.x())
                                     : m_labels.at<uchar>(p.y(), p.x());
}

double CanvasWidget::zoom() const
{
    return transform().m11();
}

void CanvasWidget::setOverlayOpacity(double opacity)
{
    m_opacity = std::clamp(opacity, 0.0, 1.0);
    m_overlayItem->setOpacity(m_opacity);
    m_beforeItem->setOpacity(m_opacity);
}

void CanvasWidget::setOverlayVisible(bool visible)
{
    m_overlayVisible = visible;
    updateLayers();
}

void CanvasWidget::setCompareMode(bool on)
{
    if (on == m_compare)
        return;
    m_compare = on;
    updateLayers();
    m_hovered = -2;
    updateHover(viewport()->mapFromGlobal(QCursor::pos()));
}

void CanvasWidget::setHighlightedMask(int id)
{
    if (id < 0 || id >= int(m_fractions.size()) || (id > 0 && m_fractions[std::size_t(id)] <= 0))
        id = 0;
    if (id == m_highlighted)
        return;
    m_highlighted = id;
    rebuildOverlay();
}

void CanvasWidget::resizeEvent(QResizeEvent* event)
{
    QGraphicsView::resizeEvent(event);
    if (m_fit)
        fitToWindow();
    placeReadouts();
}

} // namespace primaps
