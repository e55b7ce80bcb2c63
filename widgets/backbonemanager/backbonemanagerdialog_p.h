// SPDX-License-Identifier: MIT
// Private to the backbone manager's files (backbonemanager*.cpp).
#pragma once

#include <QLocale>
#include <QString>

namespace primaps {

/// A size as the manager shows it everywhere: "86.7 MB".
inline QString megabytes(qint64 bytes)
{
    return QLocale().formattedDataSize(bytes, 1, QLocale::DataSizeSIFormat);
}

} // namespace primaps
