// SPDX-License-Identifier: MIT
#include "canvaswidget.h"

#include "overlay.h"
#include "pipeline.h"

#include <algorithm>
#include <cmath>
#include <QGraphicsPixmapItem>
#include <QGraphicsRectItem>
#include <QGraphicsScene>
#include <QKeyEvent>
#include <QLabel>
#include <QPainter>
#include <QPainterPath>
#include <QWheelEvent>

namespace primaps {

namespace {

constexpr double kMinZoom = 0.02;
constexpr double kMaxZoom = 32.0;
constexpr double kStep = 1.25;

// Background pixels are darkened by this share of the opacity, as in core's
// overlayLabels(), so the masks stand out without hiding what they left out.
constexpr double kBackgroundDim = 0.55;

// How close (screen pixels) a press must be to the divider to grab it.
constexpr int kDividerGrab = 9;
// The divider moves by this share of the labelled width per [ or ] key press.
constexpr double kSplitKeyStep = 0.05;

QString colorName(int id)
{
    const cv::Vec3b c = labelColor(id);
    return QColor(c[0], c[1], c[2]).name();
}

std::vector<double> areaShares(const cv::Mat& labels)
{
    if (labels.empty())
        return {};
    std::vector<double> counts(256, 0.0);
    for (int y = 0; y < labels.rows; ++y) {
        const uchar* row = labels.ptr<uchar>(y);
        for (int x = 0; x < labels.cols; ++x)
            counts[row[x]] += 1.0;
    }
    int last = 0;
    for (int id = 0; id < 256; ++id)
        if (counts[std::size_t(id)] > 0)
            last = id;
    const double total = double(labels.total());
    std::vector<double> shares(std::size_t(last) + 1);
    for (int id = 0; id <= last; ++id)
        shares[std::size_t(id)] = counts[std::size_t(id)] / total;
    return shares;
}

// The overlay of one label map, as core's overlayLabels() draws it: mask
// colours, white borders between masks, background dimmed. With a highlight,
// every other mask reads as background.
QImage overlayFor(const cv::Mat& labels, int highlighted)
{
    if (labels.empty())
        return QImage();
    QRgb lut[256];
    for (int id = 0; id < 256; ++id) {
        const cv::Vec3b c = labelColor(id);
        lut[id] = qRgb(c[0], c[1], c[2]);
    }
    const QRgb dim = qPremultiply(qRgba(0, 0, 0, int(std::lround(255 * kBackgroundDim))));
    const QRgb border = qRgb(255, 255, 255);

    const int rows = labels.rows;
    const int cols = labels.cols;
    QImage image(cols, rows, QImage::Format_ARGB32_Premultiplied);
    for (int y = 0; y < rows; ++y) {
        const uchar* lab = labels.ptr<uchar>(y);
        const uchar* up = labels.ptr<uchar>(std::max(0, y - 1));
        const uchar* down = labels.ptr<uchar>(std::min(rows - 1, y + 1));
        auto* out = reinterpret_cast<QRgb*>(image.scanLine(y));
        for (int x = 0; x < cols; ++x) {
            const int id = lab[x];
            const bool shown = id != 0 && (highlighted == 0 || id == highlighted);
            if (!shown) {
                out[x] = dim;
                continue;
            }
            const bool edge = (x > 0 && lab[x - 1] != id) || (x + 1 < cols && lab[x + 1] != id) ||
                              up[x] != id || down[x] != id;
            out[x] = edge ? border : lut[id];
        }
    }
    return image;
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
    m_overlayItem = new QGraphicsPixmapItem(m_afterClip);
    m_beforeItem = new QGraphicsPixmapItem(m_beforeClip);
    for (QGraphicsPixmapItem* item : {m_overlayItem, m_beforeItem}) {
        item->setTransformationMode(Qt::FastTransformation);
        item->setOpacity(m_opacity);
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
    setLabels(content, rect, before);
}

void CanvasWidget::setLabels(const cv::Mat& labels, const QRectF& rectInPhoto,
                             const cv::Mat& before)
{
    m_labels = labels.empty() ? cv::Mat() : labels.clone();
    // A "before" map that does not line up with the labels cannot be compared.
    m_before = labels.empty() || before.size() != labels.size() || before.type() != labels.type()
                   ? cv::Mat()
                   : before.clone();
    m_labelRect = rectInPhoto;
    m_fractions = areaShares(m_labels);
    m_beforeFractions = areaShares(m_before);
    if (!m_labels.empty()) {
        const QTransform scale = QTransform::fromScale(rectInPhoto.width() / m_labels.cols,
                                                       rectInPhoto.height() / m_labels.rows);
        for (QGraphicsPixmapItem* item : {m_overlayItem, m_beforeItem}) {
            item->setTransform(scale);
            item->setPos(rectInPhoto.topLeft());
        }
    }
    if (m_highlighted >= int(m_fractions.size()) || m_highlighted < 0 ||
        (m_highlighted > 0 && m_fractions[std::size_t(m_highlighted)] <= 0.0))
        m_highlighted = 0;
    rebuildOverlay();
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
    m_overlay = overlayFor(m_labels, m_highlighted);
    m_beforeOverlay = overlayFor(m_before, m_highlighted);
    m_overlayItem->setPixmap(m_overlay.isNull() ? QPixmap() : QPixmap::fromImage(m_overlay));
    m_beforeItem->setPixmap(m_beforeOverlay.isNull() ? QPixmap()
                                                     : QPixmap::fromImage(m_beforeOverlay));
    updateLayers();
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
    if (m_labels.empty() || !m_labelRect.contains(photoPoint))
        return -1;
    const int x =
        std::clamp(int((photoPoint.x() - m_labelRect.left()) / m_labelRect.width() * m_labels.cols),
                   0, m_labels.cols - 1);
    const int y =
        std::clamp(int((photoPoint.y() - m_labelRect.top()) / m_labelRect.height() * m_labels.rows),
                   0, m_labels.rows - 1);
    return showsBeforeAt(photoPoint) ? m_before.at<uchar>(y, x) : m_labels.at<uchar>(y, x);
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
    const bool onDivider = m_draggingSplit || nearDivider(viewPos);
    if (onDivider == m_cursorOnDivider)
        return;
    m_cursorOnDivider = onDivider;
    // Elsewhere the hand of the scroll drag mode applies.
    viewport()->setCursor(onDivider ? Qt::SplitHCursor : Qt::OpenHandCursor);
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

void CanvasWidget::zoomIn()
{
    applyZoom(zoom() * kStep, false);
}

void CanvasWidget::zoomOut()
{
    applyZoom(zoom() / kStep, false);
}

void CanvasWidget::setZoom(double zoom)
{
    applyZoom(zoom, false);
}

void CanvasWidget::showActualSize()
{
    applyZoom(1.0, false);
}

void CanvasWidget::fitToWindow()
{
    m_fit = true;
    if (m_photo.isNull()) {
        resetTransform();
        return;
    }
    // A small margin keeps the photo's edge visible against the background.
    const QRectF target = QRectF(viewport()->rect()).adjusted(8, 8, -8, -8);
    const double scale =
        std::clamp(std::min(target.width() / m_photo.width(), target.height() / m_photo.height()),
                   kMinZoom, kMaxZoom);
    setTransform(QTransform::fromScale(scale, scale));
    centerOn(m_scene->sceneRect().center());
    updateZoomLabel();
    emit zoomChanged(scale);
}

void CanvasWidget::applyZoom(double target, bool underMouse)
{
    const double clamped = std::clamp(target, kMinZoom, kMaxZoom);
    const double factor = clamped / zoom();
    if (std::abs(factor - 1.0) < 1e-9)
        return;
    m_fit = false;
    setTransformationAnchor(underMouse ? QGraphicsView::AnchorUnderMouse
                                       : QGraphicsView::AnchorViewCenter);
    scale(factor, factor);
    setTransformationAnchor(QGraphicsView::AnchorUnderMouse);
    updateZoomLabel();
    emit zoomChanged(zoom());
}

void CanvasWidget::wheelEvent(QWheelEvent* event)
{
    const int delta = event->angleDelta().y();
    if (delta == 0 || m_photo.isNull())
        return QGraphicsView::wheelEvent(event);
    // 120 units are one notch of a mouse wheel; touchpads send smaller steps.
    applyZoom(zoom() * std::pow(kStep, delta / 120.0), true);
    event->accept();
}

void CanvasWidget::resizeEvent(QResizeEvent* event)
{
    QGraphicsView::resizeEvent(event);
    if (m_fit)
        fitToWindow();
    placeReadouts();
}

void CanvasWidget::mousePressEvent(QMouseEvent* event)
{
    const QPoint pos = event->position().toPoint();
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

void CanvasWidget::updateHover(const QPoint& viewPos)
{
    const bool inside = viewport()->rect().contains(viewPos) && underMouse();
    const QPointF photoPoint = mapToScene(viewPos);
    const int id = inside ? maskIdAt(photoPoint) : -1;
    if (id >= 0) {
        const bool before = showsBeforeAt(photoPoint);
        const std::vector<double>& fractions = before ? m_beforeFractions : m_fractions;
        const double share = id < int(fractions.size()) ? fractions[std::size_t(id)] : 0.0;
        const QString name = id == 0 ? tr("background") : tr("mask %1").arg(id);
        // While comparing, say which map the readout comes from.
        const QString side =
            isComparing() ? QStringLiteral("<span style=\"color:#aab\">%1</span> &nbsp;")
                                .arg((before ? m_beforeCaption : m_afterCaption).toHtmlEscaped())
                          : QString();
        m_hoverLabel->setText(
            QStringLiteral("%1<span style=\"color:%2\">\u25a0</span> <b>%3</b> &nbsp;%4 % of the "
                           "image &nbsp;<span style=\"color:#aab\">x %5, y %6</span>")
                .arg(side, colorName(id), name)
                .arg(100.0 * share, 0, 'f', 1)
                .arg(int(photoPoint.x()))
                .arg(int(photoPoint.y())));
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

void CanvasWidget::updateZoomLabel()
{
    if (m_photo.isNull()) {
        m_zoomLabel->hide();
        return;
    }
    const QString percent = QStringLiteral("%1 %").arg(std::lround(zoom() * 100.0));
    m_zoomLabel->setText(m_fit ? tr("Fit \u00b7 %1").arg(percent) : percent);
    m_zoomLabel->adjustSize();
    placeReadouts();
    m_zoomLabel->show();
}

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
