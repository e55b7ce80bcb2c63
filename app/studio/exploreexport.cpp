// SPDX-License-Identifier: MIT
// Explore's File ▸ Export: the current image's mask ids and its overlay, written
// on a pool thread.
#include "exploreperspective.h"
#include "mainwindow.h"

#include "common/backgroundpool.h"
#include "common/exportfolder.h"
#include "image/overlay.h"
#include "support/atomicfile.h"

#include <opencv2/imgproc.hpp>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFutureWatcher>
#include <QSettings>
#include <QSlider>
#include <QtConcurrent/QtConcurrentRun>

namespace primaps {

void ExplorePerspective::askAndExport(ExportKind kind)
{
    if (!m_current.ok())
        return;
    const bool masks = kind == ExportKind::Masks;
    const QFileInfo image(m_current.request.path);
    const QString dir = QSettings()
                            .value(QStringLiteral("paths/export"),
                                   defaultExportFolder(image.filePath()))
                            .toString();
    const QString suggestion = QDir(dir).filePath(
        image.completeBaseName() +
        (masks ? QStringLiteral("_masks.png") : QStringLiteral("_overlay.png")));
    // A dialog object rather than the static helper: with a default suffix the
    // dialog appends ".png" itself and asks before overwriting the final name.
    QFileDialog dialog(m_window, masks ? tr("Export Masks") : tr("Export Overlay"), suggestion,
                       tr("PNG images (*.png)"));
    dialog.setAcceptMode(QFileDialog::AcceptSave);
    dialog.setDefaultSuffix(QStringLiteral("png"));
    dialog.selectFile(suggestion);
    if (dialog.exec() == QDialog::Accepted && !dialog.selectedFiles().isEmpty())
        exportCurrent(dialog.selectedFiles().first(), kind);
}

bool ExplorePerspective::exportCurrent(const QString& path, ExportKind kind)
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
        if (error.isEmpty())
            m_window->showStatus(tr("Saved %1").arg(QDir::toNativeSeparators(path)));
        else
            m_window->showError(error);
        emit exportFinished(path, error);
    });
    m_window->showStatus(tr("Saving %1\u2026").arg(QDir::toNativeSeparators(path)));
    watcher->setFuture(runInBackground([decomposition, image, opacity, overlay, path] {
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
