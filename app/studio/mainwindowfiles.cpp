// SPDX-License-Identifier: MIT
// The main window's files: images in (drag and drop, the open dialogs, the bundled
// samples) and the current image's masks and overlay out (File ▸ Export).
#include "common/backgroundpool.h"
#include "mainwindow.h"
#include "playbackpanel.h"
#include "similaritycontroller.h"

#include "support/atomicfile.h"
#include "backbones/backbone.h"
#include "backbonehint.h"
#include "backbonemanager/backbonemanagerdialog.h"
#include "explore/canvaswidget.h"
#include "support/datadir.h"
#include "evaluate/evaluationwidget.h"
#include "common/exportfolder.h"
#include "explore/featureviewwidget.h"
#include "fit/fitdialog.h"
#include "fit/fitmonitorwidget.h"
#include "explore/imagelistwidget.h"
#include "annotate/labeleditor.h"
#include "explore/legendwidget.h"
#include "messagelog.h"
#include "common/messagewidget.h"
#include "image/overlay.h"
#include "perspectives.h"
#include "projectcontroller.h"
#include "reviewcontroller.h"
#include "support/runtime.h"
#include "explore/stepperwidget.h"

#include <cmath>
#include <opencv2/imgproc.hpp>
#include <QAction>
#include <QApplication>
#include <QCheckBox>
#include <QCloseEvent>
#include <QComboBox>
#include <QDir>
#include <QDockWidget>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFutureWatcher>
#include <QHBoxLayout>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QProgressBar>
#include <QSettings>
#include <QSlider>
#include <QStandardPaths>
#include <QStatusBar>
#include <QtConcurrent/QtConcurrentRun>
#include <QTimer>
#include <QToolBar>
#include <QToolButton>
#include <QVBoxLayout>

namespace primaps {

void MainWindow::dragEnterEvent(QDragEnterEvent* event)
{
    if (!ImageListWidget::localPaths(event->mimeData()).isEmpty())
        event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event)
{
    const QStringList paths = ImageListWidget::localPaths(event->mimeData());
    if (paths.isEmpty())
        return;
    event->acceptProposedAction();
    openPaths(paths);
}

QStringList MainWindow::bundledSamples()
{
    // Installed (or in the build tree): open the sample files where they are.
    const QString installed = QString::fromStdString(dataPath("samples"));
    if (!installed.isEmpty()) {
        const QDir dir(installed);
        QStringList paths;
        for (const QString& name :
             dir.entryList(ImageListWidget::nameFilters(), QDir::Files, QDir::Name))
            paths << dir.filePath(name);
        if (!paths.isEmpty())
            return paths;
    }
    // A lone executable: copy the compiled-in samples out of the resource.
    QString base = QStandardPaths::writableLocation(QStandardPaths::CacheLocation);
    if (base.isEmpty())
        base = QDir::temp().filePath(QStringLiteral("primaps-studio"));
    const QDir target(QDir(base).filePath(QStringLiteral("samples")));
    if (!QDir().mkpath(target.path())) {
        showError(tr("Cannot create the folder '%1' for the bundled samples.")
                      .arg(QDir::toNativeSeparators(target.path())));
        return {};
    }
    const QDir source(QStringLiteral(":/primaps/samples"));
    QStringList paths;
    for (const QString& name :
         source.entryList(ImageListWidget::nameFilters(), QDir::Files, QDir::Name)) {
        const QString from = source.filePath(name);
        const QString to = target.filePath(name);
        const QFileInfo existing(to);
        // Copies out of the resource are read-only; make a stale one writable
        // before replacing it.
        if (existing.exists() && existing.size() != QFileInfo(from).size()) {
            QFile::setPermissions(to, QFile::ReadOwner | QFile::WriteOwner);
            QFile::remove(to);
        }
        if (!QFileInfo::exists(to)) {
            if (!QFile::copy(from, to)) {
                showError(tr("Cannot copy the bundled sample '%1' to '%2'.")
                              .arg(name, QDir::toNativeSeparators(target.path())));
                continue;
            }
            QFile::setPermissions(to, QFile::ReadOwner | QFile::WriteOwner | QFile::ReadGroup |
                                          QFile::ReadOther);
        }
        paths << to;
    }
    return paths;
}

void MainWindow::openInitial(const QStringList& paths)
{
    openPaths(paths.isEmpty() ? bundledSamples() : paths);
}

void MainWindow::openPaths(const QStringList& paths)
{
    if (!paths.isEmpty())
        m_images->addPaths(paths);
}

void MainWindow::openImagesDialog()
{
    QSettings settings;
    const QString dir = settings.value(QStringLiteral("paths/open")).toString();
    const QString filter = tr("Images (%1)").arg(ImageListWidget::nameFilters().join(' ')) +
                           QStringLiteral(";;") + tr("All files (*)");
    const QStringList files = QFileDialog::getOpenFileNames(this, tr("Open Images"), dir, filter);
    if (files.isEmpty())
        return;
    settings.setValue(QStringLiteral("paths/open"), QFileInfo(files.first()).absolutePath());
    openPaths(files);
}

void MainWindow::openFolderDialog()
{
    QSettings settings;
    const QString dir = QFileDialog::getExistingDirectory(
        this, tr("Open Folder"), settings.value(QStringLiteral("paths/open")).toString());
    if (dir.isEmpty())
        return;
    settings.setValue(QStringLiteral("paths/open"), dir);
    openPaths({dir});
}

QString MainWindow::exportSuggestion(const QString& suffix) const
{
    QSettings settings;
    const QFileInfo image(m_current.request.path);
    const QString dir =
        settings.value(QStringLiteral("paths/export"), defaultExportFolder(image.filePath()))
            .toString();
    return QDir(dir).filePath(image.completeBaseName() + suffix);
}

QString MainWindow::askSavePath(const QString& title, const QString& suggestion)
{
    // A dialog object rather than the static helper: with a default suffix the
    // dialog appends ".png" itself and asks before overwriting the final name.
    QFileDialog dialog(this, title, suggestion, tr("PNG images (*.png)"));
    dialog.setAcceptMode(QFileDialog::AcceptSave);
    dialog.setDefaultSuffix(QStringLiteral("png"));
    dialog.selectFile(suggestion);
    if (dialog.exec() != QDialog::Accepted || dialog.selectedFiles().isEmpty())
        return {};
    return dialog.selectedFiles().first();
}

void MainWindow::exportMasks()
{
    if (!m_current.ok())
        return;
    const QString path =
        askSavePath(tr("Export Masks"), exportSuggestion(QStringLiteral("_masks.png")));
    if (!path.isEmpty())
        exportCurrent(path, ExportKind::Masks);
}

void MainWindow::exportOverlay()
{
    if (!m_current.ok())
        return;
    const QString path =
        askSavePath(tr("Export Overlay"), exportSuggestion(QStringLiteral("_overlay.png")));
    if (!path.isEmpty())
        exportCurrent(path, ExportKind::Overlay);
}

bool MainWindow::exportCurrent(const QString& path, ExportKind kind)
{
    if (!m_current.ok())
        return false;
    const bool overlay = kind == ExportKind::Overlay;
    QSettings().setValue(QStringLiteral("paths/export"), QFileInfo(path).absolutePath());

    // Copies for the pool thread: the window may show another image before it is done.
    const std::shared_ptr<const ImageDecomposition> decomposition = m_current.decomposition;
    const cv::Mat image = m_current.image;
    const float opacity = float(m_opacitySlider->value() / 100.0);
    auto* watcher = new QFutureWatcher<QString>(this);
    connect(watcher, &QFutureWatcher<QString>::finished, this, [this, watcher, path] {
        const QString error = watcher->result();
        watcher->deleteLater();
        if (error.isEmpty()) {
            m_statusMessage->setStyleSheet(QString());
            m_statusMessage->setText(tr("Saved %1").arg(QDir::toNativeSeparators(path)));
        } else {
            showError(error);
        }
        emit exportFinished(path, error);
    });
    m_statusMessage->setStyleSheet(QString());
    m_statusMessage->setText(tr("Saving %1\u2026").arg(QDir::toNativeSeparators(path)));
    watcher->setFuture(QtConcurrent::run(backgroundPool(), [decomposition, image, opacity, overlay, path] {
        try {
            const cv::Mat labels = decomposition->labelsAtOriginalSize();
            cv::Mat out;
            if (overlay)
                cv::cvtColor(overlayLabels(image, labels, opacity), out, cv::COLOR_RGB2BGR);
            else
                out = labels;
            writeImageAtomic(path.toStdString(), out);
            return QString();
        } catch (const std::exception& e) {
            const QString message = QString::fromLocal8Bit(e.what());
            return message.contains(path) ? message : QStringLiteral("'%1': %2").arg(path, message);
        }
    }));
    return true;
}

} // namespace primaps
