// SPDX-License-Identifier: MIT
#include "explore/featureindex.h"
#include "common/backgroundpool.h"

#include "backbones/backbone.h"
#include "image/imageio.h"
#include "pipeline/pipeline.h"
#include "image/preprocess.h"

#include <atomic>
#include <QPointer>
#include <QtConcurrent>

namespace primaps {

/// What the pool thread works on; shared so that the GUI can cancel it.
struct FeatureIndex::Task
{
    QStringList paths;
    QString backbone;
    std::atomic<bool> cancelled{false};
};

FeatureIndex::FeatureIndex(QObject* parent) : QObject(parent)
{
    connect(&m_watcher, &QFutureWatcherBase::finished, this, [this] {
        m_task.reset();
        if (m_hasPending)
            startNext();
        else
            emit finished();
    });
}

FeatureIndex::~FeatureIndex()
{
    if (m_task)
        m_task->cancelled = true;
    m_watcher.waitForFinished();
}

int FeatureIndex::request(const QStringList& paths, const QString& backbone)
{
    QStringList missing;
    int known = 0;
    for (const auto& [key, value] : m_entries)
        known += key.second == backbone ? 1 : 0;
    int skipped = 0;
    for (const QString& path : paths) {
        if (m_entries.count({path, backbone}) || m_errors.contains(path))
            continue;
        if (known + missing.size() >= kMaxEntries) {
            ++skipped;
            continue;
        }
        missing << path;
    }
    m_pendingPaths = missing;
    m_pendingBackbone = backbone;
    m_hasPending = true;
    if (m_task) {
        m_task->cancelled = true; // the newer request replaces it after the current image
        return skipped;
    }
    startNext();
    return skipped;
}

void FeatureIndex::startNext()
{
    m_hasPending = false;
    if (m_pendingPaths.isEmpty()) {
        emit finished();
        return;
    }
    m_task = std::make_shared<Task>();
    m_task->paths = m_pendingPaths;
    m_task->backbone = m_pendingBackbone;
    m_pendingPaths.clear();
    const std::shared_ptr<Task> task = m_task;
    const QPointer<FeatureIndex> self(this);
    m_watcher.setFuture(runInBackground([task, self] {
        std::unique_ptr<Backbone> backbone;
        for (const QString& path : task->paths) {
            if (task->cancelled)
                return;
            auto entry = std::make_shared<ImageDecomposition>();
            QString error;
            try {
                if (!backbone)
                    backbone = createBackbone(task->backbone.toStdString());
                const cv::Mat rgb = loadImageRgb8(path.toStdString());
                // As decomposeImage() prepares it for this backbone: the same grid.
                PreprocessParams pre;
                pre.patchSize = backbone->patchSize();
                pre.shorterSide = backbone->recommendedResize();
                entry->prepared = prepareImage(rgb, pre);
                entry->features = backbone->extract(entry->prepared.rgb);
            } catch (const std::exception& e) {
                error = QString::fromLocal8Bit(e.what());
            }
            const std::shared_ptr<const ImageDecomposition> done =
                error.isEmpty() ? std::shared_ptr<const ImageDecomposition>(entry) : nullptr;
            QMetaObject::invokeMethod(
                self.data(),
                [self, path, name = task->backbone, done, error] {
                    if (self)
                        self->onEntry(path, name, done, error);
                },
                Qt::QueuedConnection);
        }
    }));
}

void FeatureIndex::onEntry(const QString& path, const QString& backbone,
                           std::shared_ptr<const ImageDecomposition> entry, const QString& error)
{
    if (!error.isEmpty()) {
        m_errors.insert(path, error);
        return;
    }
    ++m_extractions;
    m_entries[{path, backbone}] = std::move(entry);
    emit entryReady(path);
}

void FeatureIndex::insert(const QString& path, const QString& backbone,
                          std::shared_ptr<const ImageDecomposition> decomposition)
{
    if (!decomposition || decomposition->features.empty())
        return;
    m_errors.remove(path);
    m_entries[{path, backbone}] = std::move(decomposition);
}

std::shared_ptr<const ImageDecomposition> FeatureIndex::entry(const QString& path,
                                                              const QString& backbone) const
{
    const auto it = m_entries.find({path, backbone});
    return it == m_entries.end() ? nullptr : it->second;
}

} // namespace primaps
