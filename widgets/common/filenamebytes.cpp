// SPDX-License-Identifier: MIT
#include "common/filenamebytes.h"

#include "support/utf8bytes.h"

#include <QFile>
#include <QtGlobal>
#include <filesystem>
#include <system_error>

namespace primaps {

bool isWellFormedUtf8(const QByteArray& bytes)
{
    return isWellFormedUtf8(std::string_view(bytes.constData(), std::size_t(bytes.size())));
}

QString escapedBytes(const QByteArray& bytes)
{
    return QString::fromStdString(
        escapeMalformedUtf8(std::string_view(bytes.constData(), std::size_t(bytes.size()))));
}

QStringList undecodableEntries(const QString& folder, const QStringList& suffixes)
{
    QStringList names;
#ifndef Q_OS_WIN
    std::error_code ec;
    for (std::filesystem::directory_iterator it(QFile::encodeName(folder).toStdString(), ec), end;
         !ec && it != end; it.increment(ec)) {
        // native(): the name's bytes as the file system holds them.
        const QByteArray name = QByteArray::fromStdString(it->path().filename().native());
        if (isWellFormedUtf8(name))
            continue;
        const QByteArray lower = name.toLower();
        for (const QString& suffix : suffixes)
            if (lower.endsWith(suffix.toUtf8())) {
                names << escapedBytes(name);
                break;
            }
    }
    names.sort();
#else
    Q_UNUSED(folder);
    Q_UNUSED(suffixes);
#endif
    return names;
}

} // namespace primaps
