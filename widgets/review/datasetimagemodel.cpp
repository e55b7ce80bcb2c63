// SPDX-License-Identifier: MIT
#include "review/datasetimagemodel.h"

#include "common/imageconvert.h"
#include "common/threadpriority.h"
#include "dataset/dataset.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <opencv2/imgproc.hpp>
#include <QDir>
#include <QFileInfo>
#include <QImageReader>
#include <QPainter>
#include <QThread>

namespace primaps {

namespace {

// The view shows 88 x 66 icons; decoding at twice that keeps them sharp on
// high-density screens.
const QSize kThumbnailSize(176, 132);
// About 350 thumbnails of that size: several screens of a scrolled list,
// whatever the dataset's size.
constexpr int kThumbnailCacheBytes = 32 * 1024 * 1024;
// Rows scrolled past quickly need no thumbnail any more; keep only the newest
// requests (a view asks again when it paints a row).
constexpr std::size_t kMaxQueued = 96;

double nan()
{
    return std::numeric_limits<double>::quiet_NaN();
}

QImage scaledToFit(const QImage& image)
{
    if (image.isNull())
        return image;
    return image.scaled(kThumbnailSize, Qt::KeepAspectRatio, Qt::SmoothTransformation);
}

/// Decodes a thumbnail: through Qt's reader for the formats it knows (which
/// can scale while decoding JPEGs), through the dataset's own loader for the
/// rest (e.g. Potsdam's .mat files). A null image when the file is unreadable.
QImage decodeThumbnail(const Dataset* dataset, int index, const QString& path)
{
    QImageReader reader(path);
    if (reader.canRead()) {
        const QSize size = reader.size();
        if (size.isValid())
            reader.setScaledSize(size.scaled(kThumbnailSize, Qt::KeepAspectRatio));
        const QImage image = reader.read();
        if (!image.isNull())
            return image.convertToFormat(QImage::Format_RGB32);
    }
    if (dataset == nullptr)
        return {};
    try {
        const cv::Mat rgb = dataset->load(std::size_t(index)).rgb;
        const double scale = std::min({1.0, double(kThumbnailSize.width()) / rgb.cols,
                                       double(kThumbnailSize.height()) / rgb.rows});
        cv::Mat small;
        cv::resize(rgb, small,
                   cv::Size(std::max(1, int(rgb.cols * scale + 0.5)),
                            std::max(1, int(rgb.rows * scale + 0.5))),
                   0, 0, cv::INTER_AREA);
        return scaledToFit(toQImage(small));
    } catch (const std::exception&) {
        return {};
    }
}

/// A pixmap at twice the view's icon size, marked as such: the view draws it at
/// the icon size (sharp on high-density screens) without scaling it (an icon
/// would keep scaled copies besides, and memory would no longer be the cache's).
QPixmap thumbnailPixmap(const QImage& image)
{
    QPixmap pixmap = QPixmap::fromImage(image);
    pixmap.setDevicePixelRatio(2.0);
    return pixmap;
}

} // namespace

DatasetImageModel::DatasetImageModel(QObject* parent) : QAbstractListModel(parent)
{
    m_thumbnails.setMaxCost(kThumbnailCacheBytes);
    // Thumbnails compete with the review layers for the two cores.
    m_pool.setMaxThreadCount(std::max(1, QThread::idealThreadCount() / 2));
    QImage placeholder(kThumbnailSize, QImage::Format_ARGB32_Premultiplied);
    placeholder.fill(Qt::transparent);
    {
        QPainter painter(&placeholder);
        painter.setPen(Qt::NoPen);
        painter.setBrush(QColor(128, 128, 128, 60));
        painter.drawRoundedRect(placeholder.rect().adjusted(4, 4, -4, -4), 8, 8);
    }
    m_placeholder = thumbnailPixmap(placeholder);
}

DatasetImageModel::~DatasetImageModel()
{
    {
        std::lock_guard<std::mutex> lock(m_queueMutex);
        m_queue.clear();
    }
    m_pool.clear();
    m_pool.waitForDone();
}

QSize DatasetImageModel::thumbnailSize()
{
    return kThumbnailSize;
}

void DatasetImageModel::setDataset(std::shared_ptr<const Dataset> dataset)
{
    beginResetModel();
    ++m_generation;
    {
        std::lock_guard<std::mutex> lock(m_queueMutex);
        m_queue.clear();
        m_dataset = std::move(dataset);
    }
    m_requested.clear();
    m_thumbnails.clear();
    m_metrics.clear();
    m_classNames.clear();
    if (m_dataset)
        for (const std::string& name : m_dataset->classNames())
            m_classNames << QString::fromStdString(name);
    endResetModel();
}

void DatasetImageModel::setMetrics(std::vector<ImageListMetrics> metrics)
{
    m_metrics = std::move(metrics);
    if (rowCount() > 0)
        emit dataChanged(index(0), index(rowCount() - 1),
                         {Qt::DisplayRole, Qt::ToolTipRole, AccuracyRole, MeanIoURole});
}

const ImageListMetrics* DatasetImageModel::metrics(int row) const
{
    if (row < 0 || std::size_t(row) >= m_metrics.size() || !m_metrics[std::size_t(row)].known)
        return nullptr;
    return &m_metrics[std::size_t(row)];
}

int DatasetImageModel::rowCount(const QModelIndex& parent) const
{
    if (parent.isValid() || !m_dataset)
        return 0;
    return int(m_dataset->size());
}

QString DatasetImageModel::idAt(int row) const
{
    if (!m_dataset || row < 0 || std::size_t(row) >= m_dataset->size())
        return {};
    return QString::fromStdString(m_dataset->items()[std::size_t(row)].id);
}

QString DatasetImageModel::pathAt(int row) const
{
    if (!m_dataset || row < 0 || std::size_t(row) >= m_dataset->size())
        return {};
    return QString::fromStdString(m_dataset->items()[std::size_t(row)].imagePath);
}

int DatasetImageModel::findRow(const QString& nameOrPath) const
{
    if (!m_dataset || nameOrPath.isEmpty())
        return -1;
    const std::string wanted = QDir::fromNativeSeparators(nameOrPath).toStdString();
    const QDir root(QString::fromStdString(m_dataset->root()));
    const auto& items = m_dataset->items();
    // Exact id first, then the path relative to the root, then the file stem
    // (which may be ambiguous in a Cityscapes split: the first one wins).
    for (std::size_t i = 0; i < items.size(); ++i)
        if (items[i].id == wanted)
            return int(i);
    for (std::size_t i = 0; i < items.size(); ++i)
        if (root.relativeFilePath(QString::fromStdString(items[i].imagePath)).toStdString() ==
            wanted)
            return int(i);
    const QString stem = QFileInfo(nameOrPath).completeBaseName();
    for (std::size_t i = 0; i < items.size(); ++i)
        if (QFileInfo(QString::fromStdString(items[i].imagePath)).completeBaseName() == stem)
            return int(i);
    return -1;
}

QVariant DatasetImageModel::data(const QModelIndex& index, int role) const
{
    if (!index.isValid() || !m_dataset || std::size_t(index.row()) >= m_dataset->size())
        return {};
    const int row = index.row();
    const DatasetItem& item = m_dataset->items()[std::size_t(row)];
    const ImageListMetrics* m = metrics(row);
    switch (role) {
    case Qt::DisplayRole:
    case IdRole: {
        const QString id = QString::fromStdString(item.id);
        if (role == IdRole || m == nullptr)
            return id;
        return tr("%1\nAcc %2 \u00b7 mIoU %3")
            .arg(id)
            .arg(m->accuracy, 0, 'f', 1)
            .arg(m->meanIoU, 0, 'f', 1);
    }
    case Qt::ToolTipRole: {
        QString tip = QDir::toNativeSeparators(QString::fromStdString(item.imagePath));
        if (item.labelPath.empty())
            tip += tr("\nno ground truth");
        if (m != nullptr)
            tip += tr("\nAcc %1 %, mIoU %2 % (\u03b8 prediction against the ground truth)")
                       .arg(m->accuracy, 0, 'f', 1)
                       .arg(m->meanIoU, 0, 'f', 1);
        return tip;
    }
    case Qt::DecorationRole: {
        if (QPixmap* cached = m_thumbnails.object(row))
            return *cached;
        requestThumbnail(row);
        return m_placeholder;
    }
    case PathRole:
        return QString::fromStdString(item.imagePath);
    case IndexRole:
        return row;
    case AccuracyRole:
        return m ? m->accuracy : nan();
    case MeanIoURole:
        return m ? m->meanIoU : nan();
    case LabelledRole:
        return !item.labelPath.empty();
    default:
        return {};
    }
}

int DatasetImageModel::pendingThumbnails() const
{
    return m_requested.size();
}

void DatasetImageModel::waitForThumbnails()
{
    while (!m_requested.isEmpty()) {
        m_pool.waitForDone();
        QCoreApplication::sendPostedEvents(this);
    }
}

void DatasetImageModel::requestThumbnail(int row) const
{
    if (m_requested.contains(row))
        return;
    m_requested.insert(row);
    std::vector<int> dropped;
    {
        std::lock_guard<std::mutex> lock(m_queueMutex);
        m_queue.push_back(row);
        while (m_queue.size() > kMaxQueued) {
            dropped.push_back(m_queue.front());
            m_queue.pop_front();
        }
    }
    for (int r : dropped)
        m_requested.remove(r);
    const quint64 generation = m_generation;
    auto* self = const_cast<DatasetImageModel*>(this);
    m_pool.start([self, generation] {
        lowerThisThreadPriority();
        self->decodeNext(generation);
    });
}

void DatasetImageModel::decodeNext(quint64 generation)
{
    // Pool thread. Each runnable decodes the newest waiting row (or nothing,
    // when the queue was trimmed or cleared after it was started).
    int row = -1;
    {
        std::lock_guard<std::mutex> lock(m_queueMutex);
        if (m_queue.empty())
            return;
        row = m_queue.back();
        m_queue.pop_back();
    }
    // The dataset pointer is only replaced on the GUI thread after the queue is
    // cleared; a copy keeps it alive while decoding.
    std::shared_ptr<const Dataset> dataset;
    QString path;
    {
        std::lock_guard<std::mutex> lock(m_queueMutex);
        dataset = m_dataset;
    }
    if (dataset && std::size_t(row) < dataset->size())
        path = QString::fromStdString(dataset->items()[std::size_t(row)].imagePath);
    QImage image = decodeThumbnail(dataset.get(), row, path);
    QMetaObject::invokeMethod(
        this, [this, generation, row, image] { onThumbnailDecoded(generation, row, image); },
        Qt::QueuedConnection);
}

void DatasetImageModel::onThumbnailDecoded(quint64 generation, int row, const QImage& image)
{
    if (generation != m_generation)
        return;
    m_requested.remove(row);
    if (!image.isNull()) {
        const int bytes = int(std::min<qsizetype>(image.sizeInBytes(), kThumbnailCacheBytes));
        m_thumbnails.insert(row, new QPixmap(thumbnailPixmap(image)), std::max(1, bytes));
        const QModelIndex i = index(row);
        emit dataChanged(i, i, {Qt::DecorationRole});
    }
    if (m_requested.isEmpty())
        emit thumbnailsIdle();
}

// --- DatasetImageFilterModel -----------------------------------------------

DatasetImageFilterModel::DatasetImageFilterModel(QObject* parent) : QSortFilterProxyModel(parent)
{
    setDynamicSortFilter(false); // metrics arrive in one go; re-sorted explicitly
}

void DatasetImageFilterModel::setNameFilter(const QString& text)
{
    if (text == m_filter)
        return;
    m_filter = text;
    invalidateFilter();
}

void DatasetImageFilterModel::setSortKey(SortKey key, int cls, Qt::SortOrder order)
{
    m_key = key;
    m_class = cls;
    invalidate();
    sort(0, order);
}

bool DatasetImageFilterModel::filterAcceptsRow(int sourceRow, const QModelIndex&) const
{
    if (m_filter.isEmpty())
        return true;
    const auto* model = qobject_cast<const DatasetImageModel*>(sourceModel());
    return model && model->idAt(sourceRow).contains(m_filter, Qt::CaseInsensitive);
}

double DatasetImageFilterModel::keyOf(int sourceRow) const
{
    const auto* model = qobject_cast<const DatasetImageModel*>(sourceModel());
    const ImageListMetrics* m = model ? model->metrics(sourceRow) : nullptr;
    if (m == nullptr)
        return nan();
    switch (m_key) {
    case SortKey::Accuracy:
        return m->accuracy;
    case SortKey::MeanIoU:
        return m->meanIoU;
    case SortKey::ClassShare:
        return m_class >= 0 && std::size_t(m_class) < m->classShares.size()
                   ? double(m->classShares[std::size_t(m_class)])
                   : 0.0;
    case SortKey::Name:
        break;
    }
    return nan();
}

bool DatasetImageFilterModel::lessThan(const QModelIndex& left, const QModelIndex& right) const
{
    const auto* model = qobject_cast<const DatasetImageModel*>(sourceModel());
    if (model == nullptr)
        return left.row() < right.row();
    if (m_key != SortKey::Name) {
        const double a = keyOf(left.row()), b = keyOf(right.row());
        // Unknown values last in either order: the proxy flips lessThan for a
        // descending sort, so "last" depends on the order.
        const bool descending = sortOrder() == Qt::DescendingOrder;
        if (std::isnan(a) != std::isnan(b))
            return descending ? std::isnan(a) : std::isnan(b);
        if (!std::isnan(a) && a != b)
            return a < b;
    }
    // Dataset order is sorted by id, so the row is the name order and a stable tie-break.
    return left.row() < right.row();
}

} // namespace primaps
