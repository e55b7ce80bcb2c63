// SPDX-License-Identifier: MIT
// The evaluation JSON that `primaps eval --json` prints and the studio reads,
// and opening a finished fit's run folder for evaluation. Shared by the CLI and
// the studio so that both read and write the same files.
#pragma once

#include "runs/datasetjobs.h"
#include "em/emfit.h"
#include "evaluation/evaluation.h"
#include "runs/fitrun.h"

#include <memory>
#include <string>
#include <vector>

namespace primaps {

class Backbone;

/// What an evaluation was computed from, as far as its file says: empty strings
/// (and crfKnown false) for what it does not record. `primaps eval --json`
/// writes crf, theta and split; the studio's evaluations of a run also the run
/// folder and the dataset.
struct EvaluationProvenance
{
    std::string run;     ///< the run folder
    std::string dataset; ///< the dataset's root
    std::string split;   ///< "val", ...; "all" for a dataset without splits
    std::string theta;   ///< "m" (theta_M, the EMA) or "r" (theta_R)
    bool crfKnown = false;
    bool crf = false; ///< the predictions were refined with the dense CRF

    bool empty() const
    {
        return run.empty() && dataset.empty() && split.empty() && theta.empty() && !crfKnown;
    }
};

/// An evaluation as a file holds it: the metrics, the counts they come from and
/// the class names. A plain value; any thread.
struct EvaluationReport
{
    EvaluationResult result;
    ConfusionMatrix confusion;           ///< rows clusters, columns classes
    std::vector<std::string> classNames; ///< one per class
    std::string shard; ///< set when the file is one shard's partial ("i/N")
    EvaluationProvenance provenance;
};

/// The evaluation as `primaps eval --json` prints it (pretty-printed JSON): acc,
/// miou, per_class_iou (null = class without pixels), class_names (missing names
/// become "class N"), matching (cluster, class, kind), pixels, clusters, classes,
/// confusion (row-major clusters x classes). NaN metrics are written as null.
std::string evaluationToJson(const EvaluationResult& result, const std::vector<std::string>& names,
                             const ConfusionMatrix& confusion);
/// The same with what was evaluated (its non-empty fields as run, dataset,
/// split, theta and crf), which parseEvaluationJson() reads back.
std::string evaluationToJson(const EvaluationResult& result, const std::vector<std::string>& names,
                             const ConfusionMatrix& confusion,
                             const EvaluationProvenance& provenance);

/// Reads evaluationToJson() text (extra keys such as crf or theta are ignored).
/// The metrics and the matching are taken as written; the confusion counts must
/// agree with them in shape. Throws primaps::Error naming `source` when the text
/// is not JSON, a field is missing or of the wrong type, or the sizes disagree.
EvaluationReport parseEvaluationJson(const std::string& text, const std::string& source);

/// Reads and parses an evaluation file; throws primaps::Error naming the file.
EvaluationReport readEvaluationFile(const std::string& path);

/// A finished fit, ready to predict: its description, prototypes and backbone.
/// Owns the backbone; move it to the thread that evaluates.
struct FittedRun
{
    std::string dir;
    FitRunFolder folder;   ///< run.json
    std::string theta;     ///< "m" or "r"
    std::string thetaPath; ///< theta_m.json or theta_r.json
    Prototypes prototypes;
    std::unique_ptr<Backbone> backbone;
    std::string weights;      ///< the backbone's weights file (the run's unless overridden)
    FeatureSettings settings; ///< the run's resolution, flip-averaged (evaluation)
    std::string cacheDir;     ///< the run's feature cache unless overridden
};

/// Opens RUN_DIR: run.json must describe a complete fit; loads theta_M or theta_R
/// ("m" / "r"), creates the backbone (with `weights` when not empty; may load a
/// checkpoint, so slow) and checks that it fits the prototypes. `cache` overrides
/// the run's cache folder. Throws primaps::Error with a message for the user.
/// Any thread.
FittedRun openFittedRun(const std::string& dir, const std::string& theta,
                        const std::string& weights = {}, const std::string& cache = {});

} // namespace primaps
