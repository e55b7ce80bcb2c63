// SPDX-License-Identifier: MIT
// The run folder that `primaps fit` writes, as `eval` and `export` open it, and
// the evaluation JSON they share (eval prints it, export reads its match).
#pragma once

#include "backbone.h"
#include "datasetjobs.h"
#include "emfit.h"
#include "evaluation.h"

#include <memory>
#include <QJsonObject>
#include <QString>
#include <string>
#include <vector>

namespace primaps::cli {

/// A finished fit, ready to predict: its description, prototypes and backbone.
struct FittedRun
{
    QString dir;
    QJsonObject info;     ///< run.json
    QString theta;        ///< "m" or "r"
    QString thetaPath;    ///< theta_m.json or theta_r.json
    Prototypes prototypes;
    std::unique_ptr<Backbone> backbone;
    std::string weights;  ///< the backbone's weights file (the run's unless overridden)
    FeatureSettings settings; ///< the run's resolution, flip-averaged (evaluation)
    QString cacheDir;     ///< the run's feature cache unless overridden
};

/// Opens RUN_DIR: run.json must describe a complete fit; loads theta_M or theta_R
/// ("m" / "r"), creates the backbone (with `weights` when not empty) and checks
/// that it fits the prototypes. `cache` overrides the run's cache folder. Throws
/// primaps::Error with a message for the user.
FittedRun openFittedRun(const QString& dir, const QString& theta, const QString& weights,
                        const QString& cache);

/// Reads a JSON object from a file. Throws primaps::Error naming the file.
QJsonObject readJsonObject(const QString& path);

/// The evaluation as `primaps eval --json` prints it: acc, miou, per_class_iou,
/// class_names, matching, pixels, clusters, classes, confusion.
QJsonObject evaluationJson(const EvaluationResult& result, const std::vector<std::string>& names,
                           const ConfusionMatrix& confusion);

/// The cluster-to-class table of evaluationJson()'s "matching" (one entry per
/// cluster). Throws primaps::Error naming `path` when the object has none, when it
/// is a shard's partial, or when its clusters or classes differ from the expected.
std::vector<int> matchFromJson(const QJsonObject& object, const QString& path, int clusters,
                               int classes);

} // namespace primaps::cli
