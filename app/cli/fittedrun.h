// SPDX-License-Identifier: MIT
// The evaluation JSON that `eval` and `export` share (eval prints it, export
// reads its match), as Qt JSON over core's evaluationreport.h; the run folder
// they open is core's FittedRun.
#pragma once

#include "evaluation.h"
#include "evaluationreport.h"

#include <QJsonObject>
#include <QString>
#include <string>
#include <vector>

namespace primaps::cli {

/// Reads a JSON object from a file. Throws primaps::Error naming the file.
QJsonObject readJsonObject(const QString& path);

/// The evaluation as `primaps eval --json` prints it: acc, miou, per_class_iou,
/// class_names, matching, pixels, clusters, classes, confusion.
QJsonObject evaluationJson(const EvaluationResult& result, const std::vector<std::string>& names,
                           const ConfusionMatrix& confusion);

/// The cluster-to-class table of evaluationJson()'s "matching" (one entry per
/// cluster), read by core's parseEvaluationJson(). Throws primaps::Error naming
/// `path` when the object is not such an evaluation, when it is a shard's
/// partial, or when its clusters or classes differ from the expected.
std::vector<int> matchFromJson(const QJsonObject& object, const QString& path, int clusters,
                               int classes);

} // namespace primaps::cli
