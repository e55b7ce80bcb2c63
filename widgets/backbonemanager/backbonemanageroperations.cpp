// SPDX-License-Identifier: MIT
// The backbone manager's operations: download, import (identified in the
// background), remove, cancel, and the progress and results they report.
#include "common/backgroundpool.h"
#include "backbonemanager/backbonemanagerdialog.h"

#include "backbonemanager/backbonemanagerdialog_p.h"
#include "backbones/backbone.h"
#include "common/messagewidget.h"
#include "backbonemanager/modelregistry.h"

#include <QDesktopServices>
#include <QDir>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QtConcurrent/QtConcurrentRun>
#include <QUrl>

namespace primaps {

// ---- operations -------------------------------------------------------------------------

bool BackboneManagerDialog::download(const QString& name)
{
    const ModelInfo* model = catalogEntry(name);
    if (isBusy()) {
        report(false, tr("Another download or import is running; wait for it or cancel it."));
        return false;
    }
    if (!model) {
        report(false, tr("'%1' is not a catalogued backbone with a file to download.").arg(name));
        return false;
    }
    const QString existing = installedPath(name);
    if (!existing.isEmpty()) {
        report(false, tr("%1 is already installed at %2.")
                          .arg(QString::fromStdString(model->title), displayPath(existing)));
        return false;
    }
    DownloadRequest request;
    request.url = QUrl(QString::fromStdString(model->url));
    request.targetPath = QDir(cacheFolder()).filePath(QString::fromStdString(model->fileName));
    request.modelName = name;
    request.expectedSize = model->expectedSize;
    request.sizeTolerance = model->sizeTolerance;
    const ModelInfo entry = *model;
    request.verify = [entry](const QString& path) { return verifyBackboneFile(entry, path); };
    m_activeName = name;
    m_activePercent = -1;
    m_clock.start();
    m_downloader->start(request);
    showProgress(tr("Connecting to %1\u2026").arg(request.url.host()), 0, -1);
    refresh();
    return true;
}

bool BackboneManagerDialog::importFile(const QString& path)
{
    if (isBusy()) {
        report(false, tr("Another download or import is running; wait for it or cancel it."));
        return false;
    }
    m_identifyPath = path;
    m_identifyCancelled = false;
    m_activeName.clear();
    m_identify = new QFutureWatcher<Identified>(this);
    connect(m_identify, &QFutureWatcherBase::finished, this, &BackboneManagerDialog::onIdentified);
    const std::vector<ModelInfo> catalog = m_catalog;
    m_identify->setFuture(runInBackground([path, catalog] {
        Identified found;
        try {
            found.name = QString::fromStdString(identifyCheckpoint(path, catalog).name);
        } catch (const std::exception& e) {
            found.error = QString::fromUtf8(e.what());
        }
        return found;
    }));
    showProgress(
        tr("Reading %1 to find out which backbone it holds\u2026").arg(QFileInfo(path).fileName()),
        0, -1);
    updateButtons();
    return true;
}

void BackboneManagerDialog::onIdentified()
{
    const Identified found = m_identify->result();
    m_identify->deleteLater();
    m_identify = nullptr;
    const QString source = QDir::toNativeSeparators(m_identifyPath);
    if (m_identifyCancelled) {
        hideProgress();
        report(true, tr("Import of %1 cancelled.").arg(source));
        refresh();
        return;
    }
    const ModelInfo* model = catalogEntry(found.name);
    if (!found.error.isEmpty() || !model) {
        hideProgress();
        report(false, tr("Import of %1 failed: %2").arg(source, found.error));
        refresh();
        return;
    }
    const QString existing = installedPath(found.name);
    const QString title = QString::fromStdString(model->title);
    if (!existing.isEmpty()) {
        hideProgress();
        if (QFileInfo(existing).canonicalFilePath() ==
            QFileInfo(m_identifyPath).canonicalFilePath())
            report(true, tr("%1 holds %2, which is already installed: it is the very file the "
                            "backbone loads.")
                             .arg(source, title));
        else
            report(false, tr("%1 holds %2, which is already installed at %3; remove that one "
                             "first to import this file instead.")
                              .arg(source, title, displayPath(existing)));
        refresh();
        return;
    }
    DownloadRequest request;
    request.url = QUrl::fromLocalFile(QFileInfo(m_identifyPath).absoluteFilePath());
    request.targetPath = QDir(cacheFolder()).filePath(QString::fromStdString(model->fileName));
    request.modelName = found.name;
    const ModelInfo entry = *model;
    request.verify = [entry](const QString& path) { return verifyBackboneFile(entry, path); };
    m_activeName = found.name;
    m_activePercent = -1;
    m_clock.start();
    m_downloader->start(request);
    showProgress(
        tr("Copying %1 (%2) into the cache folder\u2026").arg(QFileInfo(source).fileName(), title),
        0, -1);
    selectBackbone(found.name);
    refresh();
}

bool BackboneManagerDialog::removeInstalled(const QString& name)
{
    const ModelInfo* model = catalogEntry(name);
    const QString path = installedPath(name);
    if (isBusy() || !model || path.isEmpty() || !isManaged(path)) {
        report(false, path.isEmpty() || !model
                          ? tr("'%1' is not installed in the cache folder.").arg(name)
                      : isBusy() ? tr("Wait for the running download or import to end.")
                                 : tr("%1 is outside the cache folder; delete it there if "
                                      "you no longer want it.")
                                       .arg(displayPath(path)));
        return false;
    }
    if (!QFile::remove(path)) {
        report(false, tr("Could not delete %1.").arg(displayPath(path)));
        return false;
    }
    QString error;
    ModelRegistry(cacheFolder()).forget(QFileInfo(path).fileName(), &error);
    QString text =
        tr("Removed %1 (%2).").arg(QString::fromStdString(model->title), displayPath(path));
    const QString next = installedPath(name);
    if (!next.isEmpty())
        text += tr(" It is still available from %1.").arg(displayPath(next));
    if (!error.isEmpty())
        text += QLatin1Char(' ') + error;
    report(true, text);
    refresh();
    emit modelsChanged();
    return true;
}

void BackboneManagerDialog::cancel()
{
    if (m_identify) {
        m_identifyCancelled = true;
        m_progressLabel->setText(tr("Cancelling\u2026"));
        return;
    }
    if (m_downloader->isBusy()) {
        m_progressLabel->setText(m_downloader->phase() == ModelDownloader::Phase::Verifying
                                     ? tr("Cancelling after the check that is running\u2026")
                                     : tr("Cancelling\u2026"));
        m_cancelButton->setEnabled(false);
        m_downloader->cancel();
    }
}

void BackboneManagerDialog::openCacheFolder()
{
    const QString dir = cacheFolder();
    if (!QDir().mkpath(dir)) {
        report(false,
               tr("Could not create the cache folder %1.").arg(QDir::toNativeSeparators(dir)));
        return;
    }
    updateFolders();
    if (!QDesktopServices::openUrl(QUrl::fromLocalFile(dir)))
        report(false, tr("No file manager could open %1; the folder is at that path.")
                          .arg(QDir::toNativeSeparators(dir)));
}

void BackboneManagerDialog::reject()
{
    if (isBusy()) {
        const QMessageBox::StandardButton answer = QMessageBox::question(
            this, tr("Stop the Download?"),
            tr("A download or import is still running. Stop it and close? Nothing of it is "
               "kept."),
            QMessageBox::Yes | QMessageBox::No, QMessageBox::No);
        if (answer != QMessageBox::Yes)
            return;
        cancel();
    }
    QDialog::reject();
}

// ---- button handlers --------------------------------------------------------------------

void BackboneManagerDialog::onDownloadClicked()
{
    download(selectedName());
}

void BackboneManagerDialog::onImportClicked()
{
    const QString path = QFileDialog::getOpenFileName(
        this, tr("Import a Backbone Checkpoint"), QDir::homePath(),
        tr("PyTorch checkpoints (*.pth *.pt *.ckpt *.bin);;All files (*)"));
    if (!path.isEmpty())
        importFile(path);
}

void BackboneManagerDialog::onRemoveClicked()
{
    const QString name = selectedName();
    const ModelInfo* model = catalogEntry(name);
    const QString path = installedPath(name);
    if (!model || path.isEmpty())
        return;
    const QMessageBox::StandardButton answer =
        QMessageBox::question(this, tr("Remove %1?").arg(QString::fromStdString(model->title)),
                              tr("Delete %1 (%2)?\nYou can download or import it again later.")
                                  .arg(displayPath(path), megabytes(QFileInfo(path).size())),
                              QMessageBox::Yes | QMessageBox::No, QMessageBox::No);
    if (answer == QMessageBox::Yes)
        removeInstalled(name);
}

// ---- progress and results ---------------------------------------------------------------

void BackboneManagerDialog::onProgress(qint64 received, qint64 total)
{
    if (m_downloader->phase() != ModelDownloader::Phase::Transferring)
        return;
    const ModelInfo* model = catalogEntry(m_activeName);
    const QString title = model ? QString::fromStdString(model->title) : m_activeName;
    const bool local = m_downloader->request().url.isLocalFile();
    QString text =
        (local ? tr("Copying %1: %2") : tr("Downloading %1: %2")).arg(title, megabytes(received));
    if (total > 0)
        text += tr(" of %1").arg(megabytes(total));
    const double seconds = m_clock.elapsed() / 1000.0;
    if (!local && seconds > 1.0 && received > 0)
        text += tr(" \u00b7 %1/s").arg(megabytes(qint64(double(received) / seconds)));
    showProgress(text, received, total);
    const int percent = total > 0 ? int(received * 100 / total) : -1;
    if (percent != m_activePercent) {
        m_activePercent = percent;
        if (QTreeWidgetItem* item = itemOf(m_activeName))
            updateRow(item);
    }
}

void BackboneManagerDialog::onPhaseChanged(ModelDownloader::Phase phase)
{
    if (phase == ModelDownloader::Phase::Verifying) {
        const ModelInfo* model = catalogEntry(m_activeName);
        showProgress(tr("Verifying %1: loading it and computing its SHA-256\u2026")
                         .arg(model ? QString::fromStdString(model->title) : m_activeName),
                     0, -1);
    }
    if (QTreeWidgetItem* item = itemOf(m_activeName))
        updateRow(item);
    updateDetails();
}

void BackboneManagerDialog::onFinished(const DownloadResult& result)
{
    hideProgress();
    const ModelInfo* model = catalogEntry(m_activeName);
    const QString title = model ? QString::fromStdString(model->title) : m_activeName;
    m_activeName.clear();
    if (result.ok()) {
        report(true, tr("Installed %1 at %2. It loads (%3); SHA-256 %4 recorded.")
                         .arg(title, displayPath(result.path), result.description,
                              result.sha256.left(16) + QStringLiteral("\u2026")));
        refresh();
        emit modelsChanged();
        return;
    }
    if (result.cancelled) {
        report(true, result.error + tr(" Nothing was kept."));
    } else {
        report(false, result.error);
    }
    refresh();
}

void BackboneManagerDialog::showProgress(const QString& text, qint64 done, qint64 total)
{
    m_progressLabel->setText(text);
    if (total > 0) {
        m_progressBar->setRange(0, 1000);
        m_progressBar->setValue(int(qBound(qint64(0), done * 1000 / total, qint64(1000))));
        m_progressBar->setFormat(
            QStringLiteral("%1 %").arg(double(done) * 100.0 / double(total), 0, 'f', 0));
    } else {
        m_progressBar->setRange(0, 0); // busy
        m_progressBar->setFormat(QString());
    }
    m_cancelButton->setEnabled(true);
    m_progressRow->show();
}

void BackboneManagerDialog::hideProgress()
{
    m_progressRow->hide();
    m_progressBar->setRange(0, 1000);
    m_progressBar->setValue(0);
}

void BackboneManagerDialog::report(bool ok, const QString& text)
{
    m_banner->dismiss();
    m_banner->showMessage(text, ok ? MessageWidget::Kind::Information : MessageWidget::Kind::Error);
    emit operationFinished(ok, text);
}

} // namespace primaps
