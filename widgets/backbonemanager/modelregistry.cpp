// SPDX-License-Identifier: MIT
#include "backbonemanager/modelregistry.h"

#include "backbones/backbone.h"
#include "backbones/checkpoint.h"
#include "support/error.h"
#include "backbones/vit.h"

#include <algorithm>
#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSaveFile>

namespace primaps {

namespace {

constexpr qint64 kHashBlock = qint64(1) << 20;

InstalledModelRecord fromJson(const QJsonObject& o)
{
    InstalledModelRecord r;
    r.fileName = o.value(QStringLiteral("file")).toString();
    r.model = o.value(QStringLiteral("model")).toString();
    r.sha256 = o.value(QStringLiteral("sha256")).toString();
    r.size = qint64(o.value(QStringLiteral("size")).toDouble());
    r.origin = o.value(QStringLiteral("origin")).toString();
    r.description = o.value(QStringLiteral("description")).toString();
    r.installed =
        QDateTime::fromString(o.value(QStringLiteral("installed")).toString(), Qt::ISODate);
    return r;
}

QJsonObject toJson(const InstalledModelRecord& r)
{
    QJsonObject o;
    o.insert(QStringLiteral("file"), r.fileName);
    o.insert(QStringLiteral("model"), r.model);
    o.insert(QStringLiteral("sha256"), r.sha256);
    o.insert(QStringLiteral("size"), double(r.size));
    o.insert(QStringLiteral("origin"), r.origin);
    o.insert(QStringLiteral("description"), r.description);
    o.insert(QStringLiteral("installed"), r.installed.toUTC().toString(Qt::ISODate));
    return o;
}

QString familyOf(VitFamily family)
{
    return family == VitFamily::Dino ? QStringLiteral("dino") : QStringLiteral("dinov2");
}

QString shapeOf(const VitConfig& c)
{
    return QStringLiteral("%1 ViT with %2-d tokens, %3 blocks and %4\u00d7%4 patches")
        .arg(QString::fromUtf8(toString(c.family)))
        .arg(c.embedDim)
        .arg(c.depth)
        .arg(c.patchSize);
}

bool matches(const ModelInfo& m, const VitConfig& c)
{
    return QString::fromStdString(m.family) == familyOf(c.family) && m.dim == c.embedDim &&
           m.patchSize == c.patchSize && (m.depth <= 0 || m.depth == c.depth);
}

// detectVitConfig() needs a head count it cannot read from the file; one head is
// always valid and the head count does not change what the file holds.
VitConfig detectShape(const StateDict& weights)
{
    VitOptions probe;
    probe.numHeads = 1;
    return detectVitConfig(weights, probe);
}

} // namespace

ModelRegistry::ModelRegistry(const QString& directory) : m_directory(directory) {}

QString ModelRegistry::path() const
{
    return QDir(m_directory).filePath(registryFileName());
}

QList<InstalledModelRecord> ModelRegistry::records() const
{
    QList<InstalledModelRecord> list;
    QFile file(path());
    if (!file.open(QIODevice::ReadOnly))
        return list;
    const QJsonDocument doc = QJsonDocument::fromJson(file.readAll());
    const QJsonArray array = doc.object().value(QStringLiteral("files")).toArray();
    for (const QJsonValue& value : array) {
        InstalledModelRecord r = fromJson(value.toObject());
        if (!r.fileName.isEmpty())
            list.append(r);
    }
    return list;
}

std::optional<InstalledModelRecord> ModelRegistry::find(const QString& fileName) const
{
    for (const InstalledModelRecord& r : records())
        if (r.fileName == fileName)
            return r;
    return std::nullopt;
}

bool ModelRegistry::record(const InstalledModelRecord& record, QString* error)
{
    QList<InstalledModelRecord> list = records();
    list.erase(std::remove_if(
                   list.begin(), list.end(),
                   [&](const InstalledModelRecord& r) { return r.fileName == record.fileName; }),
               list.end());
    list.append(record);
    return write(list, error);
}

bool ModelRegistry::forget(const QString& fileName, QString* error)
{
    QList<InstalledModelRecord> list = records();
    const auto end = std::remove_if(list.begin(), list.end(), [&](const InstalledModelRecord& r) {
        return r.fileName == fileName;
    });
    if (end == list.end())
        return true;
    list.erase(end, list.end());
    return write(list, error);
}

bool ModelRegistry::write(const QList<InstalledModelRecord>& records, QString* error)
{
    QJsonArray array;
    for (const InstalledModelRecord& r : records)
        array.append(toJson(r));
    QJsonObject root;
    root.insert(QStringLiteral("comment"),
                QStringLiteral("Backbone files installed by PriMaPs Studio's backbone manager, "
                               "each verified by loading it; check one with: sha256sum FILE"));
    root.insert(QStringLiteral("version"), 1);
    root.insert(QStringLiteral("files"), array);
    QSaveFile file(path());
    if (!QDir().mkpath(m_directory) || !file.open(QIODevice::WriteOnly) ||
        file.write(QJsonDocument(root).toJson(QJsonDocument::Indented)) < 0 || !file.commit()) {
        if (error)
            *error = QStringLiteral("cannot write %1: %2").arg(path(), file.errorString());
        return false;
    }
    return true;
}

QString verifyBackboneFile(const ModelInfo& model, const QString& path)
{
    const std::string file = path.toStdString();
    if (findModel(model.name)) {
        const std::unique_ptr<Backbone> backbone = createBackbone(model.name, {file});
        return QStringLiteral("%1: %2-d features per %3\u00d7%3 patch")
            .arg(QString::fromStdString(model.title))
            .arg(backbone->dim())
            .arg(backbone->patchSize());
    }
    const StateDict weights = readStateDict(file);
    const VitConfig found = detectShape(weights);
    if (!matches(model, found))
        throw Error("checkpoint '" + file + "' holds a " + shapeOf(found).toStdString() + ", not " +
                    model.name);
    VitOptions options;
    options.numHeads = model.heads;
    const VisionTransformer vit(weights, options);
    return QString::fromStdString(vit.config().description());
}

ModelInfo identifyCheckpoint(const QString& path, const std::vector<ModelInfo>& catalog)
{
    const std::string file = path.toStdString();
    StateDict weights;
    try {
        weights = readStateDict(file);
    } catch (const Error& e) {
        // A TorchScript archive's pickle names the module's own classes (__torch__.*);
        // such a file is used as it is, by the 'torchscript' backbone.
        const std::string what = e.what();
        if (what.find("__torch__") != std::string::npos ||
            what.find("TorchScript") != std::string::npos)
            throw Error("'" + file +
                        "' is a TorchScript module, not a checkpoint of a catalogued "
                        "backbone; it needs no import: use the 'torchscript' backbone with "
                        "--weights FILE");
        throw;
    }
    const VitConfig found = detectShape(weights);
    for (const ModelInfo& m : catalog)
        if (matches(m, found))
            return m;
    std::string known;
    for (const ModelInfo& m : catalog)
        known += (known.empty() ? "" : ", ") + m.name;
    throw Error("checkpoint '" + file + "' holds a " + shapeOf(found).toStdString() +
                ", which is none of the catalogued backbones (" + known + ")");
}

QString sha256OfFile(const QString& path, QString* error, const std::atomic<bool>* cancel)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        if (error)
            *error = QStringLiteral("cannot read %1: %2").arg(path, file.errorString());
        return {};
    }
    QCryptographicHash hash(QCryptographicHash::Sha256);
    QByteArray block;
    while (!file.atEnd()) {
        if (cancel && cancel->load()) {
            if (error)
                *error = QStringLiteral("cancelled");
            return {};
        }
        block = file.read(kHashBlock);
        if (block.isEmpty() && file.error() != QFileDevice::NoError) {
            if (error)
                *error = QStringLiteral("cannot read %1: %2").arg(path, file.errorString());
            return {};
        }
        hash.addData(block);
    }
    return QString::fromLatin1(hash.result().toHex());
}

QString displayPath(const QString& path)
{
    QString native = QDir::cleanPath(path);
    const QString home = QDir::cleanPath(QDir::homePath());
    if (!home.isEmpty() && home != QLatin1String("/") &&
        (native == home || native.startsWith(home + QLatin1Char('/'))))
        native = QLatin1Char('~') + native.mid(home.size());
    return QDir::toNativeSeparators(native);
}

} // namespace primaps
