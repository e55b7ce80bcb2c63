// SPDX-License-Identifier: MIT
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <QAbstractListModel>
#include <QCache>
#include <QPixmap>
#include <QImage>
#include <QSet>
#include <QSize>
#include <QSortFilterProxyModel>
#include <QString>
#include <QThreadPool>
#include <QVector>
#include <vector>

namespace primaps {

class Dataset;

/// What the list knows about one image's review metrics (from the per-split
/// metrics job). NaN = not known (yet), or undefined for the image.
struct ImageListMetrics
{
    double accuracy = 0;
    double meanIoU = 0;
    /// Share of the image's valid ground-truth pixels per class (0..1).
    std::vector<float> classShares;
    bool known = false;
};

/// The images of a dataset split as a list model, for views over thousands of
/// images: nothing per image is computed up front. The display text is the
/// item id; thumbnails are decoded only when a view asks for one (i.e. when the
/// row is painted), on a private thread pool, newest request first (what was
/// scrolled to last is what the user looks at), and kept in a cache bounded in
/// bytes, so memory does not grow with the dataset.
///
/// Threading: GUI thread only. Decoding runs on the pool from copies of the
/// paths (and a shared, const dataset for files Qt cannot read, e.g. Potsdam's
/// .mat); results come back through queued calls. The destructor drops the
/// queue and waits for running decodes.
class DatasetImageModel : public QAbstractListModel
{
    Q_OBJECT

public:
    enum Role
    {
        IdRole = Qt::UserRole + 1, ///< QString: the item id ("city/name")
        PathRole,                  ///< QString: the image file
        IndexRole,                 ///< int: the item's index in the dataset
        AccuracyRole,              ///< double (percent), NaN when not known
        MeanIoURole,               ///< double (percent), NaN when not known
        LabelledRole,              ///< bool: the item has a ground-truth file
    };

    explicit DatasetImageModel(QObject* parent = nullptr);
    ~DatasetImageModel() override;

    /// Lists `dataset`'s items (shared: the thumbnails of files that are not
    /// plain pictures are decoded through it). nullptr empties the list.
    void setDataset(std::shared_ptr<const Dataset> dataset);
    std::shared_ptr<const Dataset> dataset() const { return m_dataset; }

    /// Per-image metrics, indexed like the dataset's items; a shorter vector
    /// leaves the rest unknown. Views sorted by a metric re-sort.
    void setMetrics(std::vector<ImageListMetrics> metrics);
    const ImageListMetrics* metrics(int row) const;
    /// Names of the classes for tool tips and the "share of class" sort.
    void setClassNames(const QStringList& names) { m_classNames = names; }
    const QStringList& classNames() const { return m_classNames; }

    int rowCount(const QModelIndex& parent = QModelIndex()) const override;
    QVariant data(const QModelIndex& index, int role) const override;

    /// Row of the item with id `id` (or image path relative to the dataset
    /// root, or file stem); -1 when none.
    int findRow(const QString& nameOrPath) const;
    QString idAt(int row) const;
    QString pathAt(int row) const;

    /// Size thumbnails are decoded at (twice the view's icon size keeps them sharp).
    static QSize thumbnailSize();
    /// Thumbnails in the cache and decodes queued or running (tests, benchmark).
    int cachedThumbnails() const { return m_thumbnails.count(); }
    int pendingThumbnails() const;
    /// Blocks until no decode is queued or running (tests, benchmark).
    void waitForThumbnails();

signals:
    void thumbnailsIdle();

private:
    void requestThumbnail(int row) const;
    void decodeNext(quint64 generation);
    void onThumbnailDecoded(quint64 generation, int row, const QImage& image);

    std::shared_ptr<const Dataset> m_dataset;
    std::vector<ImageListMetrics> m_metrics;
    QStringList m_classNames;
    QPixmap m_placeholder;

    // Mutable: data() is const but asks for decodes and fills the cache.
    mutable QCache<int, QPixmap> m_thumbnails;
    mutable QSet<int> m_requested; ///< queued or decoding, GUI thread's view
    mutable std::mutex m_queueMutex;
    mutable std::deque<int> m_queue; ///< rows waiting, newest at the back
    quint64 m_generation = 0;        ///< bumped by setDataset(): stale results are dropped
    mutable QThreadPool m_pool;
};

/// Filter by name and sort by name, a metric or a class's share on top of a
/// DatasetImageModel. Items without a known metric sort last either way.
class DatasetImageFilterModel : public QSortFilterProxyModel
{
    Q_OBJECT

public:
    enum class SortKey
    {
        Name,
        Accuracy,
        MeanIoU,
        ClassShare,
    };

    explicit DatasetImageFilterModel(QObject* parent = nullptr);

    /// Case-insensitive substring of the item id; empty shows all.
    void setNameFilter(const QString& text);
    /// `cls` only for ClassShare. Ascending: worst first for metrics, which is
    /// what a reviewer wants to see; descending puts the largest share first.
    void setSortKey(SortKey key, int cls = -1, Qt::SortOrder order = Qt::AscendingOrder);
    SortKey sortKey() const { return m_key; }
    int sortClass() const { return m_class; }

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const override;
    bool lessThan(const QModelIndex& left, const QModelIndex& right) const override;

private:
    double keyOf(int sourceRow) const;

    QString m_filter;
    SortKey m_key = SortKey::Name;
    int m_class = -1;
};

} // namespace primaps
