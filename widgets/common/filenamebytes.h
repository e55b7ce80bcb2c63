// SPDX-License-Identifier: MIT
#pragma once

#include <QByteArray>
#include <QString>
#include <QStringList>

namespace primaps {

/// core's isWellFormedUtf8() (support/utf8bytes.h) for a QByteArray.
bool isWellFormedUtf8(const QByteArray& bytes);

/// core's escapeMalformedUtf8() for a QByteArray: a file name Qt cannot decode is
/// still named, with the bytes escaped as the CLI escapes them.
QString escapedBytes(const QByteArray& bytes);

/// The entries of `folder` with one of `suffixes` (lower case, with the dot)
/// whose names are not UTF-8, escaped (escapedBytes()) and sorted. Qt decodes
/// file names as UTF-8 and lists such an entry under a replacement-character
/// name that opens nothing; here the folder is read byte-wise instead. Always
/// empty on Windows, whose names are UTF-16. Reads the directory; any thread.
QStringList undecodableEntries(const QString& folder, const QStringList& suffixes);

} // namespace primaps
