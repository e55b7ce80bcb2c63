// SPDX-License-Identifier: MIT
// The canvas's picture: the photo, the label layers and their overlay images, the
// label table, the area shares, and the settings that change what is drawn.
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

// Background pixels are darkened by this share of the opacity, as in core's
// overlayLabels(), so the masks stand out without hiding what they left out.
constexpr double kBackgroundDim = 0.55;

std::vector<double> sharesFrom(const LabelCounts& counts)
{
    std::int64_t total = 0;
    int last = -1;
    for (int id = 0; id < 256; ++id) {
        total += counts[std::size_t(id)];
        if (counts[std::size_t(id)] > 0)
            last = id;
    }
    if (total == 0)
        return {};
    std::vector<double> shares(std::size_t(last) + 1);
    for (int id = 0; id <= last; ++id)
        shares[std::size_t(id)] = double(counts[std::size_t(id)]) / double(total);
    return shares;
}

// Draws rectangle `r` of the overlay of `labels` into `image`, as core's
// overlayLabels() draws it: label colours, white borders between labels,
// background dimmed. With a highlight, every other label reads as background.
// With an edit base, pixels whose label equals the base are left transparent.
void drawOverlay(QImage& image, const cv::Mat& labels, const cv::Rect& r, int highlighted,
                 const std::array<QRgb, 256>& lut, const cv::Mat& base)
{
    const QRgb dim = qPremultiply(qRgba(0, 0, 0, int(std::lround(255 * kBackgroundDim))));
    const QRgb border = qRgb(255, 255, 255);
    const int rows = labels.rows;
    const int cols = labels.cols;
    for (int y = r.y; y < r.y + r.height; ++y) {
        const uchar* lab = labels.ptr<uchar>(y);
        const uchar* up = labels.ptr<uchar>(std::max(0, y - 1));
        const uchar* down = labels.ptr<uchar>(std::min(rows - 1, y + 1));
        const uchar* was = base.empty() ? nullptr : base.ptr<uchar>(y);
        auto* out = reinterpret_cast<QRgb*>(image.scanLine(y));
        for (int x = r.x; x < r.x + r.width; ++x) {
            const int id = lab[x];
            if (was && was[x] == id) {
                out[x] = 0;
                continue;
            }
            const bool shown = id != 0 && (highlighted == 0 || id == highlighted);
            if (!shown) {
                out[x] = dim;
                continue;
            }
            const bool edge = (x > 0 && lab[x - 1] != id) || (x + 1 < cols && lab[x + 1] != id) ||
                              up[x] != id || down[x] != id;
            out[x] = edge ? border : lut[std::size_t(id)];
        }
    }
}

QImage overlayFor(const cv::Mat& labels, int highlighted, const std::array<QRgb, 256>& lut,
                  const cv::Mat& base = cv::Mat())
{
    if (labels.empty())
        return QImage();
    QImage image(labels.cols, labels.rows, QImage::Format_ARGB32_Premultiplied);
    drawOverlay(image, labels, cv::Rect(0, 0, labels.cols, labels.rows), highlighted, lut, base);
    return image;
}

std::array<QRgb, 256> lutOf(const LabelTable& table)
{
    std::array<QRgb, 256> lut;
    const std::array<cv::Vec3b, 256> palette = table.palette();
    for (std::size_t id = 0; id < 256; ++id)
        lut[id] = qRgb(palette[id][0], palette[id][1], palette[id][2]);
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
    m_afterClip = addClip(m_scene);
    m_beforeClip = addClip(m_scene);
    m_overlayItem = new LabelLayerItem(m_afterClip);
    m_beforeItem = new LabelLayerItem(m_beforeClip);
    for (LabelLayerItem* item : {m_overlayItem, m_beforeItem})
        item->setOpacity(m_opacity);
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

void CanvasWidget::setDecomposition(const QImage& photo, const ImageDecomposition& decomposition)
{
    const PreparedImage& prepared = decomposition.prepared;
    const cv::Mat content = decomposition.labels(prepared.contentInPrepared);
    // The content is regionInResized of the resized image; scaling that region
    // back to the original's size gives where the labels lie on the photo.
    const double sx = double(prepared.originalSize.width) / prepared.resizedSize.width;
    const double sy = double(prepared.originalSize.height) / prepared.resizedSize.height;
    const cv::Rect& region = prepared.regionInResized;
    const QRectF rect(region.x * sx, region.y * sy, region.width * sx, region.height * sy);
    cv::Mat before;
    if (decomposition.crfApplied &&
        decomposition.labelsBeforeCrf.size() == decomposition.labels.size())
        before = decomposition.labelsBeforeCrf(prepared.contentInPrepared);
    setPhoto(photo);
    // A CRF above the processing resolution left finer maps that cover the
    // whole photo.
    if (!decomposition.fineLabels.empty())
        setLabels(decomposition.fineLabels,
                  QRectF(0, 0, prepared.originalSize.width, prepared.originalSize.height),
                  decomposition.fineLabelsBeforeCrf);
    else
        setLabels(content, rect, before);
}

void CanvasWidget::setLabels(const cv::Mat& labels, const QRectF& rectInPhoto,
                             const cv::Mat& before)
{
    // A stroke in progress belongs to the map it was painted on: report it first.
    finishStroke();
    m_labels = labels.empty() ? cv::Mat() : labels.clone();
    if (m_editBase.size() != m_labels.size())
        m_editBase = cv::Mat();
    // A "before" map that does not line up with the labels cannot be compared.
    m_before = labels.empty() || before.size() != labels.size() || before.type() != labels.type()
                   ? cv::Mat()
                   : before.clone();
    m_labelRect = rectInPhoto;
    m_counts = countLabels(m_labels);
    m_fractions = sharesFrom(m_counts);
    m_beforeFractions = m_before.empty() ? std::vector<double>{} : sharesFrom(countLabels(m_before));
    if (!m_labels.empty()) {
        const QTransform scale = QTransform::fromScale(rectInPhoto.width() / m_labels.cols,
                                                       rectInPhoto.height() / m_labels.rows);
        for (LabelLayerItem* item : {m_overlayItem, m_beforeItem}) {
            item->setTransform(scale);
            item->setPos(rectInPhoto.topLeft());
        }
    }
    if (m_highlighted >= int(m_fractions.size()) || m_highlighted < 0 ||
        (m_highlighted > 0 && m_fractions[std::size_t(m_highlighted)] <= 0.0))
        m_highlighted = 0;
    rebuildOverlay();
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
    const std::array<QRgb, 256> lut = lutOf(m_table);
    m_overlay = overlayFor(m_labels, m_highlighted, lut, m_editsOnly ? m_editBase : cv::Mat());
    m_beforeOverlay = overlayFor(m_before, m_highlighted, lut);
    m_overlayItem->setImage(&m_overlay);
    m_beforeItem->setImage(&m_beforeOverlay);
    updateLayers();
}

void CanvasWidget::redrawOverlayRect(const cv::Rect& rect)
{
    if (m_labels.empty() || m_overlay.isNull() || rect.empty())
        return;
    // Borders depend on the neighbours, so one pixel more all round.
    const cv::Rect r = cv::Rect(rect.x - 1, rect.y - 1, rect.width + 2, rect.height + 2) &
                       cv::Rect(0, 0, m_labels.cols, m_labels.rows);
    drawOverlay(m_overlay, m_labels, r, m_highlighted, lutOf(m_table),
                m_editsOnly ? m_editBase : cv::Mat());
    m_overlayItem->update(QRectF(r.x, r.y, r.width, r.height));
}

void CanvasWidget::updateFractions()
{
    m_fractions = sharesFrom(m_counts);
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
