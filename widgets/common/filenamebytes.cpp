// SPDX-License-Identifier: MIT
#include "common/filenamebytes.h"

#include <QFile>
#include <QtGlobal>
#include <filesystem>
#include <system_error>

namespace primaps {

namespace {

// The length of the well-formed UTF-8 sequence that starts at bytes[i], or 0.
int sequenceAt(const QByteArray& bytes, qsizetype i)
{
    const auto at = [&](qsizetype k) { return unsigned(static_cast<unsigned char>(bytes[k])); };
    const unsigned lead = at(i);
    if (lead < 0x80)
        return 1;
    int length = 0;
    unsigned low = 0x80, high = 0xBF; // the range of the second byte (Unicode table 3-7)
    if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
        if (lead == 0xE0)
            low = 0xA0; // no overlong forms
        else if (lead == 0xED)
            high = 0x9F; // no surrogates
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4;
        if (lead == 0xF0)
            low = 0x90;
        else if (lead == 0xF4)
            high = 0x8F; // nothing above U+10FFFF
    } else {
        return 0;
    }
    if (i + length > bytes.size())
        return 0;
    if (at(i + 1) < low || at(i + 1) > high)
        return 0;
    for (int k = 2; k < length; ++k)
        if (at(i + k) < 0x80 || at(i + k) > 0xBF)
            return 0;
    return length;
}

} // namespace

bool isWellFormedUtf8(const QByteArray& bytes)
{
    for (qsizetype i = 0; i < bytes.size();) {
        const int n = sequenceAt(bytes, i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

QString escapedBytes(const QByteArray& bytes)
{
    QString text;
    for (qsizetype i = 0; i < bytes.size();) {
        const int n = sequenceAt(bytes, i);
        if (n > 0) {
            text += QString::fromUtf8(bytes.mid(i, n));
            i += n;
        } else {
            text += QStringLiteral("\\x%1").arg(unsigned(static_cast<unsigned char>(bytes[i])), 2,
                                                16, QLatin1Char('0'));
            ++i;
        }
    }
    return text;
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
