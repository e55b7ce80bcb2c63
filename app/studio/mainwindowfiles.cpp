// SPDX-License-Identifier: MIT
// The main window's files in: drag and drop, the open dialogs, the bundled samples.
// (The current image's masks and overlay go out in exploreexport.cpp.)
#include "mainwindow.h"

#include "explore/imagelistwidget.h"
#include "support/datadir.h"

#include <QDir>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QMimeData>
#include <QSettings>
#include <QStandardPaths>

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
        imageList()->addPaths(paths);
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

} // namespace primaps
