// SPDX-License-Identifier: MIT
#pragma once

#include "backbones/modelcatalog.h"
#include "backbonemanager/modeldownloader.h"

#include <QDialog>
#include <QElapsedTimer>
#include <QFutureWatcher>
#include <QStringList>
#include <vector>

class QLabel;
class QProgressBar;
class QPushButton;
class QTreeWidget;
class QTreeWidgetItem;

namespace primaps {

class MessageWidget;

/// The backbone manager: lists the backbones (the built-in filter bank, the catalogued
/// DINO/DINOv2 ViTs with their install status, TorchScript), and lets the user download a
/// catalogued checkpoint (progress bar, Cancel), import a local file (its architecture is
/// detected, it is verified by loading it and copied into the cache folder under its
/// official name), remove a file the manager installed, and open the cache folder. It
/// shows the folders searched for checkpoints, in order.
///
/// Nothing is downloaded unless download() is called, which only the Download button
/// does. Everything slow (identifying, copying, loading, hashing) runs on worker threads;
/// one operation runs at a time.
///
/// Threading contract: GUI thread only. Destroying the dialog cancels a running operation
/// and leaves no partial file behind.
class BackboneManagerDialog : public QDialog
{
    Q_OBJECT

public:
    /// Lists the built-in catalogue.
    explicit BackboneManagerDialog(QWidget* parent = nullptr);
    /// Lists `catalog` instead (tests; a catalogue of one's own).
    explicit BackboneManagerDialog(std::vector<ModelInfo> catalog, QWidget* parent = nullptr);
    ~BackboneManagerDialog() override;

    /// Registry names of the rows, in display order: "filterbank", "filterbank-v1"
    /// (the previous version), the catalogue, "torchscript".
    QStringList backboneNames() const;
    /// The Status column of the row `name` (e.g. "installed at ~/...", "not installed").
    QString statusText(const QString& name) const;
    /// The file backbone `name` loads, or "" when it is not installed.
    QString installedPath(const QString& name) const;
    /// Where downloads and imports go (modelDownloadDirectory()).
    QString cacheFolder() const;
    bool isBusy() const;
    /// The newest message shown in the banner ("" when none).
    QString message() const;

    QTreeWidget* table() const { return m_table; }
    ModelDownloader* downloader() const { return m_downloader; }
    /// Selects the row of `name`; false when there is none.
    bool selectBackbone(const QString& name);

public slots:
    /// Re-reads what is installed where.
    void refresh();
    /// Downloads the catalogued backbone `name` into the cache folder. Returns false (and
    /// says why in the banner) when busy, unknown, or already installed.
    bool download(const QString& name);
    /// Identifies the checkpoint at `path`, then copies it into the cache folder under its
    /// catalogue file name, verified. Returns false when busy.
    bool importFile(const QString& path);
    /// Deletes the file of `name` from the cache folder and forgets its record, without
    /// asking (the Remove button asks first). Files elsewhere are never touched.
    bool removeInstalled(const QString& name);
    /// Stops the running operation; nothing is left behind.
    void cancel();
    /// Opens the cache folder in the file manager, creating it first.
    void openCacheFolder();

signals:
    /// A file was installed or removed.
    void modelsChanged();
    /// An operation (download, import, remove) ended; `message` is what the banner shows.
    void operationFinished(bool ok, const QString& message);

protected:
    void reject() override;

private:
    /// What the import's first step found: the catalogue entry, or why there is none.
    struct Identified
    {
        QString name;
        QString error;
    };
    void build();
    void fillTable();
    void updateRow(QTreeWidgetItem* item);
    void updateDetails();
    void updateButtons();
    void updateFolders();
    void showProgress(const QString& text, qint64 done, qint64 total);
    void hideProgress();
    void report(bool ok, const QString& text);
    const ModelInfo* catalogEntry(const QString& name) const;
    QString selectedName() const;
    QTreeWidgetItem* itemOf(const QString& name) const;
    bool isManaged(const QString& path) const;

    void onDownloadClicked();
    void onImportClicked();
    void onRemoveClicked();
    void onProgress(qint64 received, qint64 total);
    void onPhaseChanged(ModelDownloader::Phase phase);
    void onFinished(const DownloadResult& result);
    void onIdentified();

    std::vector<ModelInfo> m_catalog;
    ModelDownloader* m_downloader = nullptr;
    QFutureWatcher<Identified>* m_identify = nullptr; ///< import: which entry the file holds
    QString m_identifyPath;
    bool m_identifyCancelled = false;
    QString m_activeName;     ///< the row being downloaded or imported
    int m_activePercent = -1; ///< its progress, -1 while unknown
    QElapsedTimer m_clock;

    MessageWidget* m_banner = nullptr;
    QTreeWidget* m_table = nullptr;
    QLabel* m_details = nullptr;
    QWidget* m_progressRow = nullptr;
    QLabel* m_progressLabel = nullptr;
    QProgressBar* m_progressBar = nullptr;
    QPushButton* m_cancelButton = nullptr;
    QPushButton* m_downloadButton = nullptr;
    QPushButton* m_importButton = nullptr;
    QPushButton* m_removeButton = nullptr;
    QPushButton* m_openFolderButton = nullptr;
    QLabel* m_folders = nullptr;
};

} // namespace primaps
