// SPDX-License-Identifier: MIT
#include "explore/imagelistwidget.h"

#include "common/threadpriority.h"
#include "common/transparency.h"

#include "common/imageconvert.h"
#include "image/imageio.h"
#include "common/filenamebytes.h"
#include "common/messagewidget.h"

#include <algorithm>
#include <opencv2/imgproc.hpp>
#include <QDir>
#include <QDragEnterEvent>
#include <QFileInfo>
#include <QFutureWatcher>
#include <QListWidget>
#include <QMimeData>
#include <QPainter>
#include <QSet>
#include <QtConcurrent/QtConcurrentMap>
#include <QThread>
#include <QVBoxLayout>

namespace primaps {

namespace {

constexpr int kPathRole = Qt::UserRole;
const QSize kIconSize(88, 66);

QString sizeText(const QSize& size)
{
    return QStringLiteral("%1 \u00d7 %2").arg(size.width()).arg(size.height());
}

/// The list itself; it only adds a hint to an empty list so that a newcomer
/// knows that files can be dropped onto it.
class ThumbnailList : public QListWidget
{
public:
    using QListWidget::QListWidget;

protected:
    void paintEvent(QPaintEvent* event) override
    {
        QListWidget::paintEvent(event);
        if (count() > 0)
            return;
        QPainter painter(viewport());
        painter.setPen(palette().color(QPalette::Disabled, QPalette::Text));
        painter.drawText(viewport()->rect().adjusted(12, 12, -12, -12),
                         Qt::AlignCenter | Qt::TextWordWrap,
                         ImageListWidget::tr("Drop images or folders here, or use File \u25b8 Open "
                                             "Images\u2026"));
    }
};

} // namespace

struct ImageListWidget::Thumbnail
{
    QString path;
    QImage image;
    QSize size;
    QString error;
};

ImageListWidget::Thumbnail ImageListWidget::loadThumbnail(const QString& path)
{
    lowerThisThreadPriority();
    Thumbnail result;
    result.path = path;
    try {
        cv::Mat rgb = loadImageRgb8(path.toStdString());
        compositeTransparency(path.toStdString(), rgb);
        result.size = QSize(rgb.cols, rgb.rows);
        // Twice the icon size keeps thumbnails sharp on high-density screens.
        const double scale = std::min(
            {1.0, 2.0 * kIconSize.width() / rgb.cols, 2.0 * kIconSize.height() / rgb.rows});
        cv::Mat small;
        cv::resize(rgb, small,
                   cv::Size(std::max(1, int(rgb.cols * scale + 0.5)),
                            std::max(1, int(rgb.rows * scale + 0.5))),
                   0, 0, cv::INTER_AREA);
        result.image = toQImage(small);
    } catch (const std::exception& e) {
        result.error = QString::fromLocal8Bit(e.what());
    }
    return result;
}

ImageListWidget::ImageListWidget(QWidget* parent) : QWidget(parent)
{
    // Thumbnails compete with the decomposition for the CPU; the first images
    // matter most, so a small pool that works through them in order is enough.
    m_pool.setMaxThreadCount(std::max(1, QThread::idealThreadCount() / 2));

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(4);

    m_list = new ThumbnailList(this);
    m_list->setViewMode(QListView::ListMode);
    m_list->setIconSize(kIconSize);
    m_list->setSpacing(2);
    m_list->setUniformItemSizes(true);
    m_list->setSelectionMode(QAbstractItemView::SingleSelection);
    m_list->setTextElideMode(Qt::ElideMiddle);
    m_list->setWordWrap(false);
    // Drops go to this widget (which expands folders), not to the view.
    m_list->setDragDropMode(QAbstractItemView::NoDragDrop);
    m_list->setAcceptDrops(false);
    m_list->viewport()->setAcceptDrops(false);
    layout->addWidget(m_list, 1);

    m_ownMessages = new MessageWidget(this);
    m_messages = m_ownMessages;
    layout->addWidget(m_ownMessages);

    setAcceptDrops(true);

    m_placeholder = QImage(kIconSize, QImage::Format_ARGB32_Premultiplied);
    m_placeholder.fill(Qt::transparent);
    {
        QPainter painter(&m_placeholder);
        painter.setRenderHint(QPainter::Antialiasing);
        painter.setPen(Qt::NoPen);
        painter.setBrush(palette().color(QPalette::Mid));
        painter.drawRoundedRect(QRectF(m_placeholder.rect()).adjusted(4, 4, -4, -4), 4, 4);
    }

    connect(m_list, &QListWidget::currentRowChanged, this,
            [this](int row) { emit currentPathChanged(pathAt(row)); });
}

ImageListWidget::~ImageListWidget()
{
    for (QFutureWatcher<Thumbnail>* watcher : std::as_const(m_watchers)) {
        watcher->disconnect(this);
        watcher->cancel();
    }
    for (QFutureWatcher<Thumbnail>* watcher : std::as_const(m_watchers))
        watcher->waitForFinished();
    qDeleteAll(m_watchers);
    m_watchers.clear();
}

void ImageListWidget::setMessageWidget(MessageWidget* banner)
{
    m_ownMessages->dismiss();
    m_messages = banner ? banner : m_ownMessages;
}

QStringList ImageListWidget::nameFilters()
{
    QStringList filters;
    for (const std::string& extension : imageExtensions())
        filters << QStringLiteral("*") + QString::fromStdString(extension);
    return filters;
}

QStringList ImageListWidget::imageSuffixes()
{
    QStringList suffixes;
    for (const std::string& extension : imageExtensions())
        suffixes << QString::fromStdString(extension);
    return suffixes;
}

bool ImageListWidget::hasImageExtension(const QString& path)
{
    const QString suffix = QLatin1Char('.') + QFileInfo(path).suffix().toLower();
    for (const std::string& extension : imageExtensions())
        if (suffix == QLatin1String(extension.c_str()))
            return true;
    return false;
}

QStringList ImageListWidget::localPaths(const QMimeData* mime)
{
    QStringList paths;
    if (!mime || !mime->hasUrls())
        return paths;
    for (const QUrl& url : mime->urls())
        if (url.isLocalFile())
            paths << url.toLocalFile();
    return paths;
}

int ImageListWidget::addPaths(const QStringList& paths)
{
    QSet<QString> known;
    for (int row = 0; row < m_list->count(); ++row)
        known.insert(pathAt(row));

    QStringList files;
    for (const QString& path : paths) {
        const QFileInfo info(path);
        if (!info.exists()) {
            reject(path, tr("'%1': no such file or folder").arg(QDir::toNativeSeparators(path)));
        } else if (info.isDir()) {
            const QFileInfoList entries = QDir(path).entryInfoList(
                nameFilters(), QDir::Files | QDir::Readable, QDir::Name | QDir::IgnoreCase);
            for (const QFileInfo& entry : entries) {
                // A name that is not UTF-8 is listed decoded with U+FFFD (when at
                // all) and names no file: it has no canonical path.
                const QString canonical = entry.canonicalFilePath();
                if (!canonical.isEmpty())
                    files << canonical;
            }
            // Qt cannot name such entries, so the folder is read byte-wise too
            // (names only, no stat) to say which images are left out.
            const QStringList undecodable = undecodableEntries(path, imageSuffixes());
            if (!undecodable.isEmpty()) {
                constexpr int kNamed = 5;
                QString named = undecodable.mid(0, kNamed).join(QStringLiteral(", "));
                if (undecodable.size() > kNamed)
                    named += tr(" and %n more", nullptr, int(undecodable.size()) - kNamed);
                reject(path, tr("'%1': %n image(s) whose names are not UTF-8 cannot be opened "
                                "and were left out (rename them): %2",
                                nullptr, int(undecodable.size()))
                                 .arg(QDir::toNativeSeparators(path), named));
            } else if (entries.isEmpty()) {
                reject(path, tr("'%1': no images in this folder (subfolders are not searched)")
                                 .arg(QDir::toNativeSeparators(path)));
            }
        } else if (!hasImageExtension(path)) {
            reject(path, tr("'%1': not an image type PriMaPs Studio opens (%2)")
                             .arg(info.fileName(), nameFilters().join(QLatin1Char(' '))));
        } else {
            files << info.canonicalFilePath();
        }
    }

    QStringList added;
    QString firstDuplicate;
    for (const QString& file : std::as_const(files)) {
        if (file.isEmpty())
            continue;
        if (known.contains(file)) {
            // Listing the same image twice only makes the list longer; opening it
            // again still means "show me this one".
            if (firstDuplicate.isEmpty())
                firstDuplicate = file;
            continue;
        }
        known.insert(file);
        added << file;
        auto* item = new QListWidgetItem(QIcon(QPixmap::fromImage(m_placeholder)),
                                         QFileInfo(file).fileName() + QLatin1Char('\n') +
                                             tr("loading\u2026"));
        item->setData(kPathRole, file);
        item->setToolTip(QDir::toNativeSeparators(file));
        m_list->addItem(item);
    }
    if (added.isEmpty()) {
        if (QListWidgetItem* existing = itemForPath(firstDuplicate))
            m_list->setCurrentItem(existing);
        return 0;
    }

    auto* watcher = new QFutureWatcher<Thumbnail>(this);
    m_watchers << watcher;
    connect(watcher, &QFutureWatcher<Thumbnail>::resultReadyAt, this,
            [this, watcher](int index) { onThumbnailReady(watcher, index); });
    connect(watcher, &QFutureWatcher<Thumbnail>::finished, this,
            [this, watcher] { onBatchFinished(watcher); });
    watcher->setFuture(QtConcurrent::mapped(&m_pool, added, &ImageListWidget::loadThumbnail));

    if (QListWidgetItem* first = itemForPath(added.first()))
        m_list->setCurrentItem(first);
    return int(added.size());
}

void ImageListWidget::onThumbnailReady(QFutureWatcher<Thumbnail>* watcher, int index)
{
    const Thumbnail thumbnail = watcher->resultAt(index);
    QListWidgetItem* item = itemForPath(thumbnail.path);
    if (!item)
        return;
    if (!thumbnail.error.isEmpty()) {
        delete m_list->takeItem(m_list->row(item));
        reject(thumbnail.path, thumbnail.error);
        return;
    }
    // Centre the thumbnail on an icon-sized canvas so that rows line up
    // whatever the aspect ratio of the image.
    const qreal dpr = 2.0;
    QImage canvas(kIconSize * dpr, QImage::Format_ARGB32_Premultiplied);
    canvas.fill(Qt::transparent);
    {
        QPainter painter(&canvas);
        painter.setRenderHint(QPainter::SmoothPixmapTransform);
        const QSize fitted = thumbnail.image.size().scaled(canvas.size(), Qt::KeepAspectRatio);
        const QRect target(
            QPoint((canvas.width() - fitted.width()) / 2, (canvas.height() - fitted.height()) / 2),
            fitted);
        painter.drawImage(target, thumbnail.image);
    }
    canvas.setDevicePixelRatio(dpr);
    item->setIcon(QIcon(QPixmap::fromImage(canvas)));
    item->setText(QFileInfo(thumbnail.path).fileName() + QLatin1Char('\n') +
                  sizeText(thumbnail.size));
}

void ImageListWidget::onBatchFinished(QFutureWatcher<Thumbnail>* watcher)
{
    m_watchers.removeOne(watcher);
    watcher->deleteLater();
    if (m_watchers.isEmpty())
        emit loadingFinished();
}

void ImageListWidget::reject(const QString& path, const QString& reason)
{
    m_messages->showMessage(reason);
    emit imageRejected(path, reason);
}

QListWidgetItem* ImageListWidget::itemForPath(const QString& canonicalPath) const
{
    for (int row = 0; row < m_list->count(); ++row)
        if (m_list->item(row)->data(kPathRole).toString() == canonicalPath)
            return m_list->item(row);
    return nullptr;
}

int ImageListWidget::count() const
{
    return m_list->count();
}

QString ImageListWidget::pathAt(int row) const
{
    const QListWidgetItem* item = m_list->item(row);
    return item ? item->data(kPathRole).toString() : QString();
}

QStringList ImageListWidget::paths() const
{
    QStringList result;
    for (int row = 0; row < m_list->count(); ++row)
        result << pathAt(row);
    return result;
}

int ImageListWidget::currentRow() const
{
    return m_list->currentRow();
}

QString ImageListWidget::currentPath() const
{
    return pathAt(m_list->currentRow());
}

void ImageListWidget::setCurrentRow(int row)
{
    m_list->setCurrentRow(row);
}

void ImageListWidget::selectNext()
{
    if (m_list->count() > 0)
        m_list->setCurrentRow(std::min(m_list->currentRow() + 1, m_list->count() - 1));
}

void ImageListWidget::selectPrevious()
{
    if (m_list->count() > 0)
        m_list->setCurrentRow(std::max(m_list->currentRow() - 1, 0));
}

void ImageListWidget::dragEnterEvent(QDragEnterEvent* event)
{
    if (!localPaths(event->mimeData()).isEmpty())
        event->acceptProposedAction();
}

void ImageListWidget::dragMoveEvent(QDragMoveEvent* event)
{
    if (!localPaths(event->mimeData()).isEmpty())
        event->acceptProposedAction();
}

void ImageListWidget::dropEvent(QDropEvent* event)
{
    const QStringList paths = localPaths(event->mimeData());
    if (paths.isEmpty())
        return;
    event->acceptProposedAction();
    addPaths(paths);
}

} // namespace primaps
