// SPDX-License-Identifier: MIT
// Exporting the Features dock's picture at the image's size (File dialog, PNG
// written atomically on a pool thread).
#include "explore/featureviewwidget.h"

#include "support/atomicfile.h"
#include "common/backgroundpool.h"
#include "explore/featureviewdata.h"
#include "common/imageconvert.h"
#include "decompose/patchsimilarity.h"
#include "pipeline/pipeline.h"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFutureWatcher>
#include <QSettings>
#include <QtConcurrent/QtConcurrentRun>

namespace primaps {

QImage FeatureViewWidget::renderForExport() const
{
    if (!hasResult())
        return {};
    const PreparedImage& prepared = m_data->decomposition->prepared;
    const cv::Mat grid = toRgbMat(gridImage());
    if (prepared.rgb.empty())
        return toQImage(grid);
    const cv::Size size = prepared.originalSize;
    cv::Mat out = gridToImage(grid, prepared, size, isSmooth());
    const double alpha = opacity();
    if (alpha < 1.0) {
        cv::Mat photo = toRgbMat(m_photo);
        if (photo.size() != size)
            photo = cv::Mat(size, CV_8UC3, cv::Scalar::all(0));
        cv::addWeighted(out, alpha, photo, 1.0 - alpha, 0.0, out);
    }
    return toQImage(out);
}

bool FeatureViewWidget::exportImage(const QString& path)
{
    if (!hasResult())
        return false;
    // Everything the pool thread needs, copied: the view may change meanwhile.
    const std::shared_ptr<const FeatureViewData> data = m_data;
    const cv::Mat grid = toRgbMat(gridImage());
    const cv::Mat photo = toRgbMat(m_photo);
    const bool smooth = isSmooth();
    const double alpha = opacity();
    auto* watcher = new QFutureWatcher<QString>(this);
    connect(watcher, &QFutureWatcher<QString>::finished, this, [this, watcher, path] {
        const QString error = watcher->result();
        watcher->deleteLater();
        emit exportFinished(path, error);
    });
    watcher->setFuture(runInBackground([data, grid, photo, smooth, alpha, path] {
        try {
            const PreparedImage& prepared = data->decomposition->prepared;
            cv::Mat out = grid;
            if (!prepared.rgb.empty()) {
                out = gridToImage(grid, prepared, prepared.originalSize, smooth);
                if (alpha < 1.0 && photo.size() == out.size())
                    cv::addWeighted(out, alpha, photo, 1.0 - alpha, 0.0, out);
            }
            cv::Mat bgr;
            cv::cvtColor(out, bgr, cv::COLOR_RGB2BGR);
            writeImageAtomic(path.toStdString(), bgr);
            return QString();
        } catch (const std::exception& e) {
            const QString message = QString::fromLocal8Bit(e.what());
            return message.contains(path) ? message : QStringLiteral("'%1': %2").arg(path, message);
        }
    }));
    return true;
}

void FeatureViewWidget::exportWithDialog()
{
    if (!hasResult())
        return;
    QSettings settings;
    const QFileInfo image(m_imagePath);
    const QString stem = m_imagePath.isEmpty() ? QStringLiteral("features") : image.completeBaseName();
    const QString suffix = m_mode == Mode::Iteration && m_selected >= 0
                               ? QStringLiteral("_step%1_direction.png").arg(m_selected + 1)
                               : QStringLiteral("_pca_%1%2%3.png")
                                     .arg(m_components[0] + 1)
                                     .arg(m_components[1] + 1)
                                     .arg(m_components[2] + 1);
    const QString dir = settings
                            .value(QStringLiteral("paths/export"),
                                   m_imagePath.isEmpty() ? QDir::homePath() : image.absolutePath())
                            .toString();
    const QString suggestion = QDir(dir).filePath(stem + suffix);
    // The dialog object (not the static helper) appends ".png" itself and asks
    // before replacing the final name.
    QFileDialog dialog(this, tr("Export Feature View"), suggestion, tr("PNG images (*.png)"));
    dialog.setAcceptMode(QFileDialog::AcceptSave);
    dialog.setDefaultSuffix(QStringLiteral("png"));
    dialog.setOption(QFileDialog::DontConfirmOverwrite, false);
    dialog.selectFile(suggestion);
    if (dialog.exec() != QDialog::Accepted || dialog.selectedFiles().isEmpty())
        return;
    const QString path = dialog.selectedFiles().first();
    settings.setValue(QStringLiteral("paths/export"), QFileInfo(path).absolutePath());
    exportImage(path);
}

} // namespace primaps
