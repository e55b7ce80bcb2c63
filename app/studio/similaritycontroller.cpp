// SPDX-License-Identifier: MIT
#include "similaritycontroller.h"
#include "common/backgroundpool.h"

#include "explore/canvasimagelayer.h"
#include "explore/canvaswidget.h"
#include "explore/featureindex.h"
#include "decompose/featurepca.h"
#include "explore/featureviewwidget.h"
#include "common/imageconvert.h"
#include "explore/imagelistwidget.h"
#include "mainwindow.h"
#include "image/overlay.h"
#include "decompose/patchsimilarity.h"
#include "pipeline/pipeline.h"
#include "reviewcontroller.h"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <QAction>
#include <QGraphicsView>
#include <QListWidget>
#include <QMenu>
#include <QMenuBar>
#include <QMouseEvent>
#include <QPainter>
#include <QStatusBar>
#include <QtConcurrent>

namespace primaps {

namespace {

// Under the playback's frames (z 5), over the photo and labels (z 0..1).
constexpr double kSimilarityLayerZ = 4.0;
constexpr double kHeatOpacity = 0.7;
// The canvas's heat map is drawn between these sizes (smoothly interpolated
// between patch centres: more pixels add nothing but time; a small photo's
// map is drawn larger so that the ring around the patch stays thin when zoomed).
constexpr int kHeatMinLongSide = 720;
constexpr int kHeatLongSide = 1280;
constexpr int kThumbnailLongSide = 160;

cv::Size fitted(cv::Size original, int longSide, int minLongSide = 0)
{
    const int side = std::max(original.width, original.height);
    const double scale = std::clamp(1.0, double(minLongSide) / side, double(longSide) / side);
    return {std::max(1, int(std::lround(original.width * scale))),
            std::max(1, int(std::lround(original.height * scale)))};
}

// Similarities -1..1 in the diverging colours of the studio's other maps, over
// the image's extent (padding dropped), interpolated between patch centres.
cv::Mat heatOverImage(const std::vector<float>& map, const ImageDecomposition& d, int longSide,
                      int minLongSide = 0)
{
    const cv::Mat grid = heatmap(map, d.features.height, d.features.width, -1.0f, 1.0f);
    return gridToImage(grid, d.prepared, fitted(d.prepared.originalSize, longSide, minLongSide), true);
}

} // namespace

struct SimilarityController::Result
{
    quint64 generation = 0;
    QString currentPath;
    std::vector<float> currentMap;
    QImage currentHeat;
    QHash<QString, std::vector<float>> maps;
    QHash<QString, QImage> thumbnails; ///< heat maps at thumbnail size, the image's aspect
    QString error;
};

SimilarityController::SimilarityController(MainWindow* window) : QObject(window), m_window(window)
{
    m_index = new FeatureIndex(this);
    m_layer = new CanvasImageLayer(window->canvas(), kSimilarityLayerZ, this);
    window->canvas()->viewport()->installEventFilter(this);

    m_clearAction = new QAction(tr("Clear Patch &Similarity"), this);
    m_clearAction->setToolTip(tr("Remove the similarity heat map and the tinted thumbnails "
                                 "(Ctrl+click a patch to show them)"));
    m_clearAction->setEnabled(false);
    connect(m_clearAction, &QAction::triggered, this, &SimilarityController::clearSimilarity);
    window->viewMenu()->addAction(m_clearAction);

    connect(&m_watcher, &QFutureWatcherBase::finished, this, &SimilarityController::onComputed);
    connect(&m_pcaWatcher, &QFutureWatcherBase::finished, this,
            &SimilarityController::onJointPcaComputed);
    connect(m_index, &FeatureIndex::finished, this, [this] {
        if (!m_query.empty())
            start();
        if (m_window->featureView()->isPcaAcrossImages())
            updateJointPca();
    });
    connect(window, &MainWindow::decompositionShown, this, [this](bool ok) {
        const DecomposeResult& r = m_window->currentResult();
        if (!ok)
            return;
        m_index->insert(r.request.path, r.request.backbone, r.decomposition);
        // Another image, or the same with a new threshold: its canvas shows the
        // similarity to the query patch too.
        if (!m_query.empty())
            start();
        if (m_window->featureView()->isPcaAcrossImages())
            requestIndex();
    });
    connect(window->imageList(), &ImageListWidget::loadingFinished, this, [this] {
        if (!m_query.empty() || m_window->featureView()->isPcaAcrossImages())
            requestIndex();
    });
    connect(window->reviewController(), &ReviewController::layerShown, this,
            &SimilarityController::clearSimilarity);
    connect(window->featureView(), &FeatureViewWidget::pcaAcrossImagesToggled, this, [this](bool on) {
        if (on) {
            requestIndex();
            updateJointPca();
        } else {
            m_window->featureView()->setPcaBasis(nullptr);
            emit pcaBasisApplied();
        }
    });
}

SimilarityController::~SimilarityController()
{
    m_watcher.waitForFinished();
    m_pcaWatcher.waitForFinished();
    // No restoreThumbnails(): the window is being destroyed, its list may be gone already.
}

QString SimilarityController::backbone() const
{
    return m_window->currentResult().request.backbone;
}

bool SimilarityController::isBusy() const
{
    return m_watcher.isRunning() || m_index->isBusy() || m_pcaWatcher.isRunning();
}

bool SimilarityController::eventFilter(QObject* watched, QEvent* event)
{
    if (event->type() == QEvent::MouseButtonPress) {
        auto* mouse = static_cast<QMouseEvent*>(event);
        CanvasWidget* canvas = m_window->canvas();
        if (mouse->button() == Qt::LeftButton && mouse->modifiers() == Qt::ControlModifier &&
            !canvas->isEditing() && canvas->hasPhoto()) {
            const QPointF scene = canvas->mapToScene(mouse->position().toPoint());
            if (showSimilarityAt(scene))
                return true; // the click was ours: no pan starts
        }
    }
    return QObject::eventFilter(watched, event);
}

bool SimilarityController::showSimilarityAt(const QPointF& photoPoint)
{
    const DecomposeResult& r = m_window->currentResult();
    if (!r.ok())
        return false;
    const ImageDecomposition& d = *r.decomposition;
    const cv::Point2d g = imageToGrid({photoPoint.x(), photoPoint.y()}, d.prepared,
                                      d.features.height, d.features.width);
    return showSimilarity(QPoint(int(std::floor(g.x)), int(std::floor(g.y))));
}

bool SimilarityController::showSimilarity(const QPoint& cell)
{
    const DecomposeResult& r = m_window->currentResult();
    if (!r.ok())
        return false;
    const FeatureMap& f = r.decomposition->features;
    if (cell.x() < 0 || cell.y() < 0 || cell.x() >= f.width || cell.y() >= f.height)
        return false;
    if (cell == m_cell && r.request.path == m_sourcePath) {
        clearSimilarity(); // the same patch again: off
        return true;
    }
    m_source = r.decomposition;
    m_sourcePath = r.request.path;
    m_cell = cell;
    m_query = patchFeature(f, cell.x(), cell.y());
    m_clearAction->setEnabled(true);
    m_window->statusBar()->showMessage(
        tr("Similarity to patch (%1, %2) of %3: Ctrl+click it again to remove")
            .arg(cell.x() + 1)
            .arg(cell.y() + 1)
            .arg(QFileInfo(m_sourcePath).fileName()),
        6000);
    start();
    requestIndex();
    return true;
}

void SimilarityController::clearSimilarity()
{
    ++m_generation; // a running computation's result is dropped
    m_query.clear();
    m_source.reset();
    m_sourcePath.clear();
    m_cell = QPoint(-1, -1);
    m_currentMap.clear();
    m_maps.clear();
    m_layer->hide();
    restoreThumbnails();
    m_clearAction->setEnabled(false);
}

void SimilarityController::requestIndex()
{
    if (!backbone().isEmpty())
        m_index->request(m_window->imageList()->paths(), backbone());
}

void SimilarityController::start()
{
    if (m_watcher.isRunning()) {
        m_restart = true;
        return;
    }
    m_restart = false;
    const DecomposeResult& r = m_window->currentResult();
    if (m_query.empty())
        return;
    const std::shared_ptr<const ImageDecomposition> current = r.ok() ? r.decomposition : nullptr;
    const QString currentPath = r.request.path;
    const bool ringed = currentPath == m_sourcePath;
    std::vector<std::pair<QString, std::shared_ptr<const ImageDecomposition>>> others;
    for (const QString& path : m_window->imageList()->paths())
        if (auto entry = m_index->entry(path, r.request.backbone))
            others.emplace_back(path, entry);
    const std::vector<float> query = m_query;
    const QPoint cell = m_cell;
    const quint64 generation = ++m_generation;
    m_watcher.setFuture(runInBackground([=]() -> std::shared_ptr<const Result> {
        auto out = std::make_shared<Result>();
        out->generation = generation;
        out->currentPath = currentPath;
        try {
            if (current && current->features.channels == int(query.size())) {
                out->currentMap = cosineSimilarityMap(current->features, query);
                cv::Mat heat = heatOverImage(out->currentMap, *current, kHeatLongSide, kHeatMinLongSide);
                if (ringed) {
                    // Ring the clicked patch: the centre of its cell, in heat-map pixels.
                    const PreparedImage& p = current->prepared;
                    const double patchX = double(p.rgb.cols) / current->features.width;
                    const double patchY = double(p.rgb.rows) / current->features.height;
                    const double sx = double(heat.cols) / p.resizedSize.width;
                    const double sy = double(heat.rows) / p.resizedSize.height;
                    const cv::Point centre(
                        int(((cell.x() + 0.5) * patchX - p.contentInPrepared.x + p.regionInResized.x) * sx),
                        int(((cell.y() + 0.5) * patchY - p.contentInPrepared.y + p.regionInResized.y) * sy));
                    const int radius = std::max(4, int(std::lround(0.9 * patchX * sx)));
                    const int line = std::max(1, radius / 5);
                    cv::circle(heat, centre, radius + line, cv::Scalar(0, 0, 0), line + 1, cv::LINE_AA);
                    cv::circle(heat, centre, radius, cv::Scalar(255, 255, 255), line, cv::LINE_AA);
                }
                out->currentHeat = toQImage(heat);
            }
            for (const auto& [path, entry] : others) {
                if (entry->features.channels != int(query.size()))
                    continue;
                std::vector<float> map = cosineSimilarityMap(entry->features, query);
                out->thumbnails.insert(path, toQImage(heatOverImage(map, *entry, kThumbnailLongSide)));
                out->maps.insert(path, std::move(map));
            }
        } catch (const std::exception& e) {
            out->error = QString::fromLocal8Bit(e.what());
        }
        return out;
    }));
}

void SimilarityController::onComputed()
{
    const std::shared_ptr<const Result> result = m_watcher.result();
    if (m_restart) {
        start();
        return;
    }
    if (!result || result->generation != m_generation || m_query.empty())
        return;
    if (!result->error.isEmpty()) {
        m_window->statusBar()->showMessage(result->error, 8000);
        return;
    }
    if (result->currentPath == m_window->currentResult().request.path && !result->currentHeat.isNull()) {
        m_currentMap = result->currentMap;
        m_layer->show(result->currentHeat, kHeatOpacity, true);
        emit similarityShown();
    }
    m_maps = result->maps;
    QListWidget* list = m_window->imageList()->listWidget();
    for (int row = 0; row < list->count(); ++row) {
        const QString path = m_window->imageList()->pathAt(row);
        const QImage heat = result->thumbnails.value(path);
        if (heat.isNull())
            continue;
        QListWidgetItem* item = list->item(row);
        if (!m_originalIcons.contains(path))
            m_originalIcons.insert(path, item->icon());
        const QIcon original = m_originalIcons.value(path);
        const QList<QSize> sizes = original.availableSizes();
        if (sizes.isEmpty())
            continue;
        QImage thumb = original.pixmap(sizes.front()).toImage();
        const qreal dpr = thumb.devicePixelRatio();
        {
            // The thumbnail sits centred on its icon at the image's aspect, like the heat map.
            QPainter painter(&thumb);
            painter.setRenderHint(QPainter::SmoothPixmapTransform);
            const QSizeF canvas = QSizeF(thumb.size()) / dpr;
            const QSizeF fit = QSizeF(heat.size()).scaled(canvas, Qt::KeepAspectRatio);
            painter.setOpacity(kHeatOpacity);
            painter.drawImage(QRectF(QPointF((canvas.width() - fit.width()) / 2,
                                             (canvas.height() - fit.height()) / 2),
                                     fit),
                              heat);
        }
        item->setIcon(QIcon(QPixmap::fromImage(thumb)));
        const std::vector<float>& map = result->maps.value(path);
        if (!map.empty())
            item->setToolTip(tr("Most similar patch: %1 (cosine similarity to the clicked patch)")
                                 .arg(*std::max_element(map.begin(), map.end()), 0, 'f', 2));
    }
    emit thumbnailsTinted();
}

void SimilarityController::restoreThumbnails()
{
    QListWidget* list = m_window->imageList() ? m_window->imageList()->listWidget() : nullptr;
    if (list)
        for (int row = 0; row < list->count(); ++row) {
            const QString path = m_window->imageList()->pathAt(row);
            if (m_originalIcons.contains(path)) {
                list->item(row)->setIcon(m_originalIcons.value(path));
                list->item(row)->setToolTip(QString());
            }
        }
    m_originalIcons.clear();
}

void SimilarityController::updateJointPca()
{
    if (m_pcaWatcher.isRunning()) {
        m_pcaRestart = true;
        return;
    }
    m_pcaRestart = false;
    std::vector<std::shared_ptr<const ImageDecomposition>> entries;
    for (const QString& path : m_window->imageList()->paths())
        if (auto entry = m_index->entry(path, backbone()))
            entries.push_back(entry);
    if (entries.empty())
        return;
    m_pcaImages = int(entries.size());
    m_pcaWatcher.setFuture(runInBackground([entries]() -> std::shared_ptr<const FeaturePca> {
        try {
            std::vector<const FeatureMap*> maps;
            for (const auto& e : entries)
                if (e->features.channels == entries.front()->features.channels)
                    maps.push_back(&e->features);
            FeaturePcaParams params;
            return std::make_shared<const FeaturePca>(computeJointFeaturePca(maps, params));
        } catch (const std::exception&) {
            return nullptr; // the dock keeps each image's own PCA
        }
    }));
}

void SimilarityController::onJointPcaComputed()
{
    const std::shared_ptr<const FeaturePca> basis = m_pcaWatcher.result();
    if (m_pcaRestart) {
        updateJointPca();
        return;
    }
    if (!m_window->featureView()->isPcaAcrossImages())
        return;
    if (basis)
        m_window->featureView()->setPcaBasis(basis, m_pcaImages);
    emit pcaBasisApplied();
}

} // namespace primaps
