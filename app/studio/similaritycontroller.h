// SPDX-License-Identifier: MIT
#pragma once

#include <memory>
#include <QFutureWatcher>
#include <QHash>
#include <QIcon>
#include <QImage>
#include <QObject>
#include <QPoint>
#include <vector>

class QAction;

namespace primaps {

class CanvasImageLayer;
class FeatureIndex;
class MainWindow;
struct FeaturePca;
struct ImageDecomposition;

/// Click-to-similarity and the PCA-RGB fitted across images (Explore).
///
/// Ctrl+click on a patch of the canvas: the cosine similarity of that patch's
/// feature to every patch of the image is laid over the canvas as a heat map
/// (blue −1, white 0, red +1; the clicked patch ringed), and to every patch of
/// the other loaded images, whose thumbnails are tinted the same way. Ctrl+click
/// on the same patch again, another image or View ▸ Clear Patch Similarity
/// removes it. The other images' features come from a FeatureIndex (extracted in
/// the background with the same backbone and preparation as the decomposition).
///
/// The same index feeds the Features dock's "All images" option: one PCA basis
/// fitted to the features of every loaded image (computeJointFeaturePca()).
///
/// Threading: GUI thread only; the similarity maps, the heat maps and the joint
/// PCA are computed on pool threads, the newest request replacing a waiting one.
class SimilarityController : public QObject
{
    Q_OBJECT

public:
    explicit SimilarityController(MainWindow* window);
    ~SimilarityController() override;

    /// Shows the similarity to the patch at grid cell `cell` (x = column) of
    /// the image on display. Returns false when there is no decomposition or
    /// the cell lies outside its grid.
    bool showSimilarity(const QPoint& cell);
    /// The same for a point of the photo, in its pixels (what Ctrl+click calls).
    bool showSimilarityAt(const QPointF& photoPoint);
    void clearSimilarity();

    /// The clicked cell, or (-1, -1).
    QPoint queryCell() const { return m_cell; }
    /// The similarity map of the image on display (h x w, row-major), once computed.
    const std::vector<float>& currentSimilarity() const { return m_currentMap; }
    /// The similarity map of another loaded image, once computed (empty otherwise).
    std::vector<float> similarityFor(const QString& path) const { return m_maps.value(path); }
    /// How many thumbnails are tinted now.
    int tintedThumbnails() const { return m_originalIcons.size(); }
    bool isBusy() const;
    const CanvasImageLayer* layer() const { return m_layer; }
    FeatureIndex* featureIndex() const { return m_index; }
    QAction* clearAction() const { return m_clearAction; }

signals:
    /// The heat map of the image on display is on the canvas.
    void similarityShown();
    /// Every loaded image with features has its similarity map and tinted thumbnail.
    void thumbnailsTinted();
    /// A PCA basis across the images went to the Features dock (or was taken back).
    void pcaBasisApplied();

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    struct Result;
    void start();
    void onComputed();
    void onEntryReady(const QString& path);
    void restoreThumbnails();
    void requestIndex();
    void updateJointPca();
    void onJointPcaComputed();
    QString backbone() const;

    MainWindow* m_window;
    FeatureIndex* m_index = nullptr;
    CanvasImageLayer* m_layer = nullptr;
    QAction* m_clearAction = nullptr;

    std::shared_ptr<const ImageDecomposition> m_source; ///< where the query patch comes from
    QString m_sourcePath;
    QPoint m_cell{-1, -1};
    std::vector<float> m_query;
    std::vector<float> m_currentMap;
    QHash<QString, std::vector<float>> m_maps;
    QHash<QString, QIcon> m_originalIcons;

    QFutureWatcher<std::shared_ptr<const Result>> m_watcher;
    bool m_restart = false;
    quint64 m_generation = 0;

    QFutureWatcher<std::shared_ptr<const FeaturePca>> m_pcaWatcher;
    bool m_pcaRestart = false;
    int m_pcaImages = 0;
};

} // namespace primaps
