// SPDX-License-Identifier: MIT
#pragma once

#include <QByteArray>
#include <QString>
#include <QStringList>

namespace primaps {

/// True when `bytes` is well-formed UTF-8 (no overlong forms, no surrogates,
/// nothing above U+10FFFF, no sequence cut off at the end).
bool isWellFormedUtf8(const QByteArray& bytes);

/// `bytes` for a message: its well-formed UTF-8 sequences as they are, every
/// other byte as \xHH, so that a file name Qt cannot decode is still named.
QString escapedBytes(const QByteArray& bytes);

/// The entries of `folder` with one of `suffixes` (lower case, with the dot)
/// whose names are not UTF-8, escaped (escapedBytes()) and sorted. Qt decodes
/// file names as UTF-8 and lists such an entry under a replacement-character
/// name that opens nothing; here the folder is read byte-wise instead. Always
/// empty on Windows, whose names are UTF-16. Reads the directory; any thread.
QStringList undecodableEntries(const QString& folder, const QStringList& suffixes);

} // namespace primaps
