// SPDX-License-Identifier: MIT
#pragma once

#include <QDir>
#include <QFileInfo>
#include <QStandardPaths>
#include <QString>

namespace primaps {

/// The folder to suggest for results of the image at `imagePath` before the user has
/// chosen one: the image's own folder when it can be written to, else the user's
/// Pictures folder, else the home folder. The installed samples live in read-only
/// /usr/share/primaps-studio/samples, where a save would only fail.
inline QString defaultExportFolder(const QString& imagePath)
{
    const QFileInfo folder(QFileInfo(imagePath).absolutePath());
    if (folder.isDir() && folder.isWritable())
        return folder.absoluteFilePath();
    const QString pictures = QStandardPaths::writableLocation(QStandardPaths::PicturesLocation);
    return !pictures.isEmpty() && QFileInfo(pictures).isDir() ? pictures : QDir::homePath();
}

} // namespace primaps
