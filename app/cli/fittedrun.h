// SPDX-License-Identifier: MIT
// The evaluation JSON that `eval` prints, as Qt JSON over core's
// evaluationreport.h; the run folder it opens is core's FittedRun.
#pragma once

#include "evaluation/evaluation.h"
#include "runs/evaluationreport.h"

#include <QJsonObject>
#include <QString>
#include <string>
#include <vector>

namespace primaps::cli {

/// The evaluation as `primaps eval --json` prints it: acc, miou, per_class_iou,
/// class_names, matching, pixels, clusters, classes, confusion.
QJsonObject evaluationJson(const EvaluationResult& result, const std::vector<std::string>& names,
                           const ConfusionMatrix& confusion);

} // namespace primaps::cli
