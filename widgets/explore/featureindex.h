// SPDX-License-Identifier: MIT
#pragma once

#include <map>
#include <memory>
#include <QFutureWatcher>
#include <QHash>
#include <QObject>
#include <QString>
#include <QStringList>

namespace primaps {

struct ImageDecomposition;

/// The backbone features of every image loaded in the studio, for what
/// compares images with each other (click-to-similarity across images, the
/// PCA-RGB fitted across all images).
///
/// An entry is an ImageDecomposition holding only `prepared` and `features`
/// (prepared exactly as decomposeImage() prepares for that backbone, so its
/// grid is the one the canvas shows), or a full decomposition the window
/// already has (insert()). At most kMaxEntries images are kept per backbone;
/// request() says how many it left out.
///
/// Threading: GUI thread only. request() extracts the missing features on a
/// pool thread, one image after the other with one backbone instance of its
/// own (backbones are not thread-safe), reporting each through entryReady();
/// a new request replaces the waiting one. The destructor stops after the
/// image in progress and waits for it.
class FeatureIndex : public QObject
{
    Q_OBJECT

public:
    static constexpr int kMaxEntries = 48;

    explicit FeatureIndex(QObject* parent = nullptr);
    ~FeatureIndex() override;

    /// Makes sure the features of `paths` under `backbone` get computed.
    /// Returns how many of them it skips (beyond kMaxEntries).
    int request(const QStringList& paths, const QString& backbone);
    /// Adds a decomposition the window already has.
    void insert(const QString& path, const QString& backbone,
                std::shared_ptr<const ImageDecomposition> decomposition);
    /// The entry of `path` under `backbone`, or nullptr while it is not computed.
    std::shared_ptr<const ImageDecomposition> entry(const QString& path, const QString& backbone) const;
    /// Why `path` has no features (unreadable file), or empty.
    QString errorFor(const QString& path) const { return m_errors.value(path); }
    bool isBusy() const { return m_watcher.isRunning(); }
    /// How many images' features were extracted here (not inserted).
    int extractions() const { return m_extractions; }

signals:
    void entryReady(const QString& path);
    /// The newest request is done (some images may have failed: errorFor()).
    void finished();

private:
    struct Task;
    void startNext();
    void onEntry(const QString& path, const QString& backbone,
                 std::shared_ptr<const ImageDecomposition> entry, const QString& error);

    std::map<std::pair<QString, QString>, std::shared_ptr<const ImageDecomposition>> m_entries;
    QHash<QString, QString> m_errors;
    QStringList m_pendingPaths;
    QString m_pendingBackbone;
    bool m_hasPending = false;
    std::shared_ptr<Task> m_task;
    QFutureWatcher<void> m_watcher;
    int m_extractions = 0;
};

} // namespace primaps
