// SPDX-License-Identifier: MIT
#include "canvaswidget.h"

#include "overlay.h"
#include "pipeline.h"

#include <algorithm>
#include <cmath>
#include <QGraphicsPixmapItem>
#include <QGraphicsScene>
#include <QKeyEvent>
#include <QLabel>
#include <QWheelEvent>

namespace primaps {

namespace {

constexpr double kMinZoom = 0.02;
constexpr double kMaxZoom = 32.0;
constexpr double kStep = 1.25;

// Background pixels are darkened by this share of the opacity, as in core's
// overlayLabels(), so the masks stand out without hiding what they left out.
constexpr double kBackgroundDim = 0.55;

QString colorName(int id)
{
    const cv::Vec3b c = labelColor(id);
    return QColor(c[0], c[1], c[2]).name();
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
    m_overlayItem = m_scene->addPixmap(QPixmap());
    m_overlayItem->setTransformationMode(Qt::FastTransformation);
    m_overlayItem->setOpacity(m_opacity);
    m_overlayItem->setZValue(1);

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
    setPhoto(photo);
    setLabels(content, rect);
}

void CanvasWidget::setLabels(const cv::Mat& labels, const QRectF& rectInPhoto)
{
    m_labels = labels.empty() ? cv::Mat() : labels.clone();
    m_labelRect = rectInPhoto;
    m_fractions.clear();
    if (!m_labels.empty()) {
        std::vector<double> counts(256, 0.0);
        for (int y = 0; y < m_labels.rows; ++y) {
            const uchar* row = m_labels.ptr<uchar>(y);
            for (int x = 0; x < m_labels.cols; ++x)
                counts[row[x]] += 1.0;
        }
        int last = 0;
        for (int id = 0; id < 256; ++id)
            if (counts[id] > 0)
                last = id;
        const double total = double(m_labels.total());
        m_fractions.resize(std::size_t(last) + 1);
        for (int id = 0; id <= last; ++id)
            m_fractions[std::size_t(id)] = counts[std::size_t(id)] / total;
        m_overlayItem->setTransform(QTransform::fromScale(rectInPhoto.width() / m_labels.cols,
                                                          rectInPhoto.height() / m_labels.rows));
        m_overlayItem->setPos(rectInPhoto.topLeft());
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
    if (m_labels.empty()) {
        m_overlay = QImage();
        m_overlayItem->setPixmap(QPixmap());
        return;
    }
    QRgb lut[256];
    for (int id = 0; id < 256; ++id) {
        const cv::Vec3b c = labelColor(id);
        lut[id] = qRgb(c[0], c[1], c[2]);
    }
    const QRgb dim = qPremultiply(qRgba(0, 0, 0, int(std::lround(255 * kBackgroundDim))));
    const QRgb border = qRgb(255, 255, 255);

    const int rows = m_labels.rows;
    const int cols = m_labels.cols;
    QImage image(cols, rows, QImage::Format_ARGB32_Premultiplied);
    for (int y = 0; y < rows; ++y) {
        const uchar* lab = m_labels.ptr<uchar>(y);
        const uchar* up = m_labels.ptr<uchar>(std::max(0, y - 1));
        const uchar* down = m_labels.ptr<uchar>(std::min(rows - 1, y + 1));
        auto* out = reinterpret_cast<QRgb*>(image.scanLine(y));
        for (int x = 0; x < cols; ++x) {
            const int id = lab[x];
            // With a highlight, every other mask reads as background.
            const bool shown = id != 0 && (m_highlighted == 0 || id == m_highlighted);
            if (!shown) {
                out[x] = dim;
                continue;
            }
            const bool edge = (x > 0 && lab[x - 1] != id) || (x + 1 < cols && lab[x + 1] != id) ||
                              up[x] != id || down[x] != id;
            out[x] = edge ? border : lut[id];
        }
    }
    m_overlay = image;
    m_overlayItem->setPixmap(QPixmap::fromImage(image));
    m_overlayItem->setVisible(m_overlayVisible);
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
    return m_labels.at<uchar>(y, x);
}

double CanvasWidget::zoom() const
{
    return transform().m11();
}

void CanvasWidget::setOverlayOpacity(double opacity)
{
    m_opacity = std::clamp(opacity, 0.0, 1.0);
    m_overlayItem->setOpacity(m_opacity);
}

void CanvasWidget::setOverlayVisible(bool visible)
{
    m_overlayVisible = visible;
    m_overlayItem->setVisible(visible);
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

void CanvasWidget::mouseMoveEvent(QMouseEvent* event)
{
    QGraphicsView::mouseMoveEvent(event);
    updateHover(event->position().toPoint());
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
    default:
        QGraphicsView::keyPressEvent(event);
    }
}

void CanvasWidget::updateHover(const QPoint& viewPos)
{
    const bool inside = viewport()->rect().contains(viewPos) && underMouse();
    const QPointF photoPoint = mapToScene(viewPos);
    const int id = inside ? maskIdAt(photoPoint) : -1;
    if (id >= 0) {
        const double share = id < int(m_fractions.size()) ? m_fractions[std::size_t(id)] : 0.0;
        const QString name = id == 0 ? tr("background") : tr("mask %1").arg(id);
        m_hoverLabel->setText(
            QStringLiteral("<span style=\"color:%1\">\u25a0</span> <b>%2</b> &nbsp;%3 % of the "
                           "image &nbsp;<span style=\"color:#aab\">x %4, y %5</span>")
                .arg(colorName(id), name)
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
    const QRect area = viewport()->geometry();
    m_placeholder->setGeometry(area.adjusted(40, 40, -40, -40));
    m_hoverLabel->move(area.left() + 10, area.top() + 10);
    m_zoomLabel->move(area.right() - m_zoomLabel->width() - 10,
                      area.bottom() - m_zoomLabel->height() - 10);
}

} // namespace primaps
