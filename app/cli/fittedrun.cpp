// SPDX-License-Identifier: MIT
#include "fittedrun.h"

#include "atomicfile.h"
#include "error.h"
#include "evaluationreport.h"

#include <QDir>
#include <QJsonArray>
#include <QJsonDocument>

namespace primaps::cli {

QJsonObject readJsonObject(const QString& path)
{
    const std::string text = readFile(path.toStdString());
    QJsonParseError error;
    const QJsonDocument doc = QJsonDocument::fromJson(QByteArray::fromStdString(text), &error);
    if (!doc.isObject())
        throw Error("'" + path.toStdString() + "': not a JSON object (" +
                    error.errorString().toStdString() + ")");
    return doc.object();
}

FittedRun openFittedRun(const QString& dir, const QString& theta, const QString& weights,
                        const QString& cache)
{
    if (theta != "m" && theta != "r")
        throw Error("--theta must be m or r");
    // Opening is core's (the studio evaluates run folders the same way); the CLI
    // keeps run.json as JSON for the options it reads beyond the fit settings.
    primaps::FittedRun opened = primaps::openFittedRun(
        dir.toStdString(), theta.toStdString(), weights.toStdString(), cache.toStdString());
    FittedRun r;
    r.dir = dir;
    r.theta = theta;
    r.info = readJsonObject(QDir(dir).filePath("run.json"));
    r.thetaPath = QString::fromStdString(opened.thetaPath);
    r.prototypes = std::move(opened.prototypes);
    r.backbone = std::move(opened.backbone);
    r.weights = opened.weights;
    r.settings = opened.settings;
    r.cacheDir = QString::fromStdString(opened.cacheDir);
    return r;
}

QJsonObject evaluationJson(const EvaluationResult& r, const std::vector<std::string>& names,
                           const ConfusionMatrix& confusion)
{
    return QJsonDocument::fromJson(QByteArray::fromStdString(evaluationToJson(r, names, confusion)))
        .object();
}

std::vector<int> matchFromJson(const QJsonObject& o, const QString& path, int clusters,
                               int classes)
{
    const std::string file = "'" + path.toStdString() + "'";
    if (o.contains("shard"))
        throw Error(file + " is the partial of shard " + o.value("shard").toString().toStdString() +
                    "; merge the partials first ('primaps eval --merge ... --json')");
    if (!o.value("matching").isArray())
        throw Error(file + " has no cluster-to-class matching (write it with 'primaps eval --json')");
    if (o.value("clusters").toInt() != clusters || o.value("classes").toInt() != classes)
        throw Error(file + " matches " + std::to_string(o.value("clusters").toInt()) +
                    " clusters to " + std::to_string(o.value("classes").toInt()) +
                    " classes; this run has " + std::to_string(clusters) +
                    " clusters and the dataset " + std::to_string(classes) + " classes");
    std::vector<int> table(std::size_t(clusters), -2);
    for (const QJsonValue& v : o.value("matching").toArray()) {
        const int cluster = v.toObject().value("cluster").toInt(-1);
        const int cls = v.toObject().value("class").toInt(-2);
        if (cluster < 0 || cluster >= clusters || cls < -1 || cls >= classes)
            throw Error(file + ": a matching entry is out of range");
        table[std::size_t(cluster)] = cls;
    }
    for (int c : table)
        if (c == -2)
            throw Error(file + ": the matching does not name every cluster");
    return table;
}

} // namespace primaps::cli
