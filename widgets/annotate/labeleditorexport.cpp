// SPDX-License-Identifier: MIT
// Saving corrected label maps: the export dialogs, one image or all of them in the
// background, asking before a file is replaced, and the question when the window
// closes with unsaved corrections.
#include "common/backgroundpool.h"
#include "annotate/labeleditor.h"

#include "annotate/labeleditor_p.h"
#include "explore/canvaswidget.h"

#include "common/exportfolder.h"
#include "annotate/labelexportdialog.h"
#include "common/messagewidget.h"

#include <opencv2/core.hpp>
#include <QDialog>
#include <QDir>
#include <QFileInfo>
#include <QFutureWatcher>
#include <QMainWindow>
#include <QSet>
#include <QSettings>
#include <QStatusBar>
#include <QtConcurrent/QtConcurrentRun>

namespace primaps {

namespace {

struct ExportJob
{
    QString path; ///< the image, to find its document again
    int undoIndex = 0;
    LabelExportFiles files;
    cv::Mat labels;
    LabelTable table;
    cv::Mat image;
    std::string imageName;
};
LabelExportOptions savedOptions(float opacity)
{
    QSettings settings;
    LabelExportOptions options;
    options.colorPng = settings.value(QStringLiteral("labels/color"), true).toBool();
    options.overlayPng = settings.value(QStringLiteral("labels/overlay"), false).toBool();
    options.sidecar = settings.value(QStringLiteral("labels/sidecar"), true).toBool();
    options.overlayOpacity = opacity;
    return options;
}

void saveOptions(const LabelExportOptions& options, const QString& folder)
{
    QSettings settings;
    settings.setValue(QStringLiteral("labels/color"), options.colorPng);
    settings.setValue(QStringLiteral("labels/overlay"), options.overlayPng);
    settings.setValue(QStringLiteral("labels/sidecar"), options.sidecar);
    settings.setValue(QStringLiteral("paths/labels"), folder);
}

QStringList toQStrings(const std::vector<std::string>& paths)
{
    QStringList list;
    for (const std::string& path : paths)
        list << QString::fromStdString(path);
    return list;
}

} // namespace
void LabelEditor::openExportDialog()
{
    const QString image = m_shown ? m_shown->path : m_result.request.path;
    if (image.isEmpty())
        return;
    const QFileInfo info(image);
    const QString folder =
        QSettings().value(QStringLiteral("paths/labels"), defaultExportFolder(image)).toString();
    LabelExportDialog dialog(
        LabelExportDialog::Mode::File,
        QDir::toNativeSeparators(QDir(folder).filePath(info.completeBaseName() +
                                                       QStringLiteral("_labels.png"))),
        savedOptions(float(m_canvas->overlayOpacity())),
        [](const QString& target, const LabelExportOptions& options) {
            return toQStrings(labelExportFiles(QDir::fromNativeSeparators(target).toStdString(),
                                               options)
                                  .all());
        },
        m_window);
    if (dialog.exec() != QDialog::Accepted)
        return;
    const QString target = QDir::fromNativeSeparators(dialog.target());
    saveOptions(dialog.options(), QFileInfo(target).absolutePath());
    exportLabels(target, dialog.options());
}

bool LabelEditor::openExportAllDialog()
{
    if (editedImages().isEmpty())
        return false;
    QSettings settings;
    const QString folder =
        settings.value(QStringLiteral("paths/labels"), defaultExportFolder(editedImages().first()))
            .toString();
    LabelExportDialog dialog(
        LabelExportDialog::Mode::Folder, QDir::toNativeSeparators(folder),
        savedOptions(float(m_canvas->overlayOpacity())),
        [this](const QString& target, const LabelExportOptions& options) {
            return exportAllFiles(QDir::fromNativeSeparators(target), options);
        },
        m_window);
    if (dialog.exec() != QDialog::Accepted)
        return false;
    const QString target = QDir::fromNativeSeparators(dialog.target());
    saveOptions(dialog.options(), target);
    return exportAll(target, dialog.options());
}

bool LabelEditor::exportLabels(const QString& labelsPath, const LabelExportOptions& options)
{
    Document* doc = ensureDocument();
    if (!doc || labelsPath.isEmpty())
        return false;
    return runExport({doc}, {labelsPath}, options);
}
namespace {

// <stem>_labels.png per image; images of the same name from different folders
// get -2, -3, ... so that none overwrites another (nor an image named <stem>-2;
// compared without case, for the file systems that ignore it).
QStringList uniqueLabelNames(const QStringList& images, const QString& folder)
{
    QStringList names;
    QSet<QString> used;
    for (const QString& image : images) {
        const QString stem = QFileInfo(image).completeBaseName();
        QString unique = stem;
        for (int n = 2; used.contains(unique.toLower()); ++n)
            unique = QStringLiteral("%1-%2").arg(stem).arg(n);
        used.insert(unique.toLower());
        names << QDir(folder).filePath(unique + QStringLiteral("_labels.png"));
    }
    return names;
}

} // namespace

QStringList LabelEditor::exportAllFiles(const QString& folder,
                                        const LabelExportOptions& options) const
{
    QStringList files;
    if (folder.isEmpty())
        return files;
    for (const QString& path : uniqueLabelNames(editedImages(), folder))
        files << toQStrings(labelExportFiles(path.toStdString(), options).all());
    return files;
}

bool LabelEditor::exportAll(const QString& folder, const LabelExportOptions& options)
{
    const QStringList images = editedImages();
    if (images.isEmpty() || folder.isEmpty())
        return false;
    if (!QDir().mkpath(folder)) {
        if (auto* messages = m_window->findChild<MessageWidget*>())
            messages->showMessage(
                tr("Cannot create the folder '%1'.").arg(QDir::toNativeSeparators(folder)));
        return false;
    }
    std::vector<Document*> docs;
    for (const QString& image : images)
        docs.push_back(find(image));
    return runExport(docs, uniqueLabelNames(images, folder), options);
}

bool LabelEditor::runExport(const std::vector<Document*>& docs, const QStringList& labelPaths,
                            const LabelExportOptions& options)
{
    std::vector<ExportJob> jobs;
    QStringList files, existing;
    for (std::size_t i = 0; i < docs.size(); ++i) {
        ExportJob job;
        job.path = docs[i]->path;
        job.undoIndex = docs[i]->stack->index();
        job.files = labelExportFiles(labelPaths[int(i)].toStdString(), options);
        // Copies: the pool thread must not see later edits.
        job.labels = docs[i]->labels.clone();
        job.table = docs[i]->table;
        job.image = options.overlayPng ? docs[i]->image : cv::Mat();
        job.imageName = QFileInfo(docs[i]->path).fileName().toStdString();
        for (const QString& file : toQStrings(job.files.all())) {
            files << file;
            if (QFileInfo::exists(file))
                existing << file;
        }
        jobs.push_back(std::move(job));
    }
    if (!existing.isEmpty() && !(m_overwriteQuestion && m_overwriteQuestion(existing)))
        return false;

    ++m_exportsRunning;
    const float opacity = options.overlayOpacity;
    auto* watcher = new QFutureWatcher<QString>(this);
    connect(watcher, &QFutureWatcher<QString>::finished, this, [this, watcher, jobs, files] {
        const QString error = watcher->result();
        watcher->deleteLater();
        --m_exportsRunning;
        if (error.isEmpty()) {
            // Exported as they are now: nothing unsaved, unless edited meanwhile.
            for (const ExportJob& job : jobs) {
                Document* doc = find(job.path);
                if (doc && doc->stack->index() == job.undoIndex)
                    doc->stack->setClean();
            }
        }
        updateUnsaved();
        if (auto* window = qobject_cast<QMainWindow*>(m_window)) {
            window->statusBar()->showMessage(
                error.isEmpty()
                    ? (files.size() == 1
                           ? tr("Saved %1").arg(QDir::toNativeSeparators(files.first()))
                           : tr("Saved %1 and %2 more files")
                                 .arg(QDir::toNativeSeparators(files.first()))
                                 .arg(files.size() - 1))
                    : error,
                8000);
        }
        if (!error.isEmpty())
            if (auto* messages = m_window->findChild<MessageWidget*>())
                messages->showMessage(error);
        emit exportFinished(files, error);
        if (m_closeAfterExport) {
            m_closeAfterExport = false;
            if (error.isEmpty() && unsavedImages().isEmpty())
                m_window->close();
        }
    });
    watcher->setFuture(runInBackground([jobs, opacity] {
        try {
            for (const ExportJob& job : jobs)
                writeLabelExport(job.files, job.labels, job.table, job.image, job.imageName,
                                 opacity);
            return QString();
        } catch (const std::exception& e) {
            return QString::fromLocal8Bit(e.what());
        }
    }));
    return true;
}

void LabelEditor::setOverwriteQuestion(std::function<bool(const QStringList&)> question)
{
    m_overwriteQuestion = std::move(question);
}

void LabelEditor::setUnsavedQuestion(std::function<UnsavedChoice(const QStringList&)> question)
{
    m_unsavedQuestion = std::move(question);
}

bool LabelEditor::maybeClose()
{
    m_canvas->finishStroke();
    const QStringList unsaved = unsavedImages();
    if (unsaved.isEmpty())
        return true;
    switch (m_unsavedQuestion ? m_unsavedQuestion(unsaved) : UnsavedChoice::Cancel) {
    case UnsavedChoice::Discard:
        return true;
    case UnsavedChoice::Cancel:
        return false;
    case UnsavedChoice::Export:
        m_closeAfterExport = openExportAllDialog();
        return false;
    }
    return false;
}

} // namespace primaps
