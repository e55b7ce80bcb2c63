// SPDX-License-Identifier: MIT
#pragma once

#include "backbones/modelcatalog.h"

#include <atomic>
#include <functional>
#include <optional>
#include <QDateTime>
#include <QList>
#include <QString>
#include <vector>

namespace primaps {

/// What the backbone manager knows about a file it installed (downloaded or imported)
/// into a models folder.
struct InstalledModelRecord
{
    QString fileName;    ///< name of the file in the folder; the key
    QString model;       ///< catalogue name, e.g. "dino_vits8"
    QString sha256;      ///< lower-case hex digest of the file's bytes
    qint64 size = 0;     ///< bytes
    QString origin;      ///< the URL it was downloaded from, or the file it was imported from
    QString description; ///< what loading it found, e.g. "DINO ViT-S/8 (384-d, 12 blocks, 6 heads)"
    QDateTime installed; ///< UTC
};

/// The small JSON file ("installed.json") in which the backbone manager records the
/// SHA-256 and origin of every file it installs in a folder, so that a user (or
/// `sha256sum`) can check later that a file is still the one that was verified.
///
/// Reads and writes happen on the calling thread (the file is tiny); writes are atomic
/// (QSaveFile). A missing or unreadable registry reads as empty. Not thread-safe: use one
/// thread (the GUI thread) for writes.
class ModelRegistry
{
public:
    explicit ModelRegistry(const QString& directory);

    static QString registryFileName() { return QStringLiteral("installed.json"); }
    QString directory() const { return m_directory; }
    QString path() const;

    QList<InstalledModelRecord> records() const;
    std::optional<InstalledModelRecord> find(const QString& fileName) const;
    /// Adds or replaces the record of `record.fileName`. On failure returns false and sets
    /// `error` to a line naming the registry file.
    bool record(const InstalledModelRecord& record, QString* error = nullptr);
    /// Removes the record of `fileName` (true when there was none).
    bool forget(const QString& fileName, QString* error = nullptr);

private:
    bool write(const QList<InstalledModelRecord>& records, QString* error);

    QString m_directory;
};

/// Checks that `path` is a usable file for backbone `model` by loading it, and returns a
/// one-line description of what it holds. Slow (reads the whole checkpoint and builds the
/// network: seconds for a ViT-B): call it on a worker thread. Throws std::exception (a
/// primaps::Error) whose message names the file and the problem.
///
/// A backbone of the built-in catalogue is constructed exactly as the application will:
/// createBackbone(model.name, {path}). An entry of another catalogue (tests) is loaded as a
/// VisionTransformer whose detected configuration must match the entry.
QString verifyBackboneFile(const ModelInfo& model, const QString& path);

/// Reads `path` as a checkpoint, detects the ViT it holds, and returns the entry of
/// `catalog` with that family, width, depth and patch size. Slow (reads the file): call it
/// on a worker thread. Throws primaps::Error naming the file and what it holds when it is
/// not a readable ViT checkpoint or no entry matches.
ModelInfo identifyCheckpoint(const QString& path, const std::vector<ModelInfo>& catalog);

/// Lower-case hex SHA-256 of the file at `path`, read in 1 MiB blocks. Returns an empty
/// string and sets `error` when the file cannot be read, or when `cancel` becomes true.
QString sha256OfFile(const QString& path, QString* error = nullptr,
                     const std::atomic<bool>* cancel = nullptr);

/// "~/.local/share/..." for paths inside the home folder, native separators.
QString displayPath(const QString& path);

} // namespace primaps
