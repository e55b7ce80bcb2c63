// SPDX-License-Identifier: MIT
#pragma once

#include <QImage>
#include <QList>
#include <QSize>
#include <QString>
#include <QStringList>
#include <QThreadPool>
#include <QWidget>

class QListWidget;
class QListWidgetItem;
class QMimeData;
template <typename T> class QFutureWatcher;

namespace primaps {

class MessageWidget;

/// The list of images of a session, with thumbnails.
///
/// Files and folders come in through addPaths() or drag and drop. Thumbnails are
/// decoded on a private thread pool with core's loader, the same one the
/// decomposition uses, so a file that is listed is one the pipeline can read; a
/// file that turns out unreadable is taken out of the list again and reported in
/// the widget's message banner. Duplicates (same file, however it was named) are
/// skipped. The destructor cancels pending thumbnails and waits for running ones.
class ImageListWidget : public QWidget
{
    Q_OBJECT

public:
    explicit ImageListWidget(QWidget* parent = nullptr);
    ~ImageListWidget() override;

    /// Adds image files, and the image files directly inside folders (by name;
    /// subfolders are not searched), in the given order. Paths that do not exist
    /// or are not images are reported. Selects the first image added. Returns the
    /// number of images added.
    int addPaths(const QStringList& paths);

    int count() const;
    QString pathAt(int row) const;
    QStringList paths() const;
    int currentRow() const;
    QString currentPath() const;
    void setCurrentRow(int row);
    /// True while thumbnails are still being decoded.
    bool isLoading() const { return !m_watchers.isEmpty(); }

    /// The banner that reports rejected files: the widget's own (under the
    /// list) unless setMessageWidget() named another.
    MessageWidget* messageWidget() const { return m_messages; }
    /// Reports to `banner` instead of the own one, which is removed; a window
    /// with one banner for all problems uses this. nullptr restores the own one.
    void setMessageWidget(MessageWidget* banner);
    QListWidget* listWidget() const { return m_list; }

    /// Name filters ("*.png", ...) of the image types core reads, for file dialogs.
    static QStringList nameFilters();
    /// True when the file name ends in one of the extensions of nameFilters().
    static bool hasImageExtension(const QString& path);
    /// The extensions of nameFilters(): ".png", ...
    static QStringList imageSuffixes();
    /// Local files and folders carried by a drag, in order; empty when there are none.
    static QStringList localPaths(const QMimeData* mime);

public slots:
    void selectNext();
    void selectPrevious();

signals:
    /// The selected image changed; empty when the list became empty.
    void currentPathChanged(const QString& path);
    /// A path was not added, or was removed because it cannot be read.
    void imageRejected(const QString& path, const QString& reason);
    /// The last pending thumbnail is done.
    void loadingFinished();

protected:
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dragMoveEvent(QDragMoveEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    struct Thumbnail; // a decoded thumbnail, or why there is none

    static Thumbnail loadThumbnail(const QString& path);
    void reject(const QString& path, const QString& reason);
    void onThumbnailReady(QFutureWatcher<Thumbnail>* watcher, int index);
    void onBatchFinished(QFutureWatcher<Thumbnail>* watcher);
    QListWidgetItem* itemForPath(const QString& canonicalPath) const;

    QListWidget* m_list = nullptr;
    MessageWidget* m_messages = nullptr;
    MessageWidget* m_ownMessages = nullptr;
    QThreadPool m_pool;
    QList<QFutureWatcher<Thumbnail>*> m_watchers;
    QImage m_placeholder;
};

} // namespace primaps
