// SPDX-License-Identifier: MIT
#include "fittedrun.h"

#include "atomicfile.h"
#include "error.h"

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
    const EvaluationReport report =
        parseEvaluationJson(QJsonDocument(o).toJson().toStdString(), path.toStdString());
    if (!report.shard.empty())
        throw Error(file + " is the partial of shard " + report.shard +
                    "; merge the partials first ('primaps eval --merge ... --json')");
    if (report.result.clusters != clusters || report.result.classes != classes)
        throw Error(file + " matches " + std::to_string(report.result.clusters) +
                    " clusters to " + std::to_string(report.result.classes) +
                    " classes; this run has " + std::to_string(clusters) +
                    " clusters and the dataset " + std::to_string(classes) + " classes");
    return report.result.clusterToClass;
}

} // namespace primaps::cli
