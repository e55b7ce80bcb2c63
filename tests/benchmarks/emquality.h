// SPDX-License-Identifier: MIT
#pragma once
// One fit + evaluation of a folder dataset exactly as `primaps fit` and
// `primaps eval` run it (DatasetFitJob, then EvaluationJob on the val split),
// with what the quality benchmark reports: Acc, mIoU, per-class IoU, the pixel
// share of every cluster and the wall time of each stage.

#include "em/emfit.h"

#include <string>
#include <utility>
#include <vector>

namespace primaps::bench {

struct QualityResult
{
    double accuracy = 0, meanIoU = 0;
    std::vector<double> classIoU;
    /// Share of the evaluated pixels predicted as each cluster (0..1).
    std::vector<double> clusterShare;
    double accuracyCrf = -1, meanIoUCrf = -1; ///< with the dense CRF; -1 when not run
    std::vector<double> classIoUCrf;
    /// (stage, seconds): features, masks (both 0 when cached), fit, eval, eval+crf.
    std::vector<std::pair<std::string, double>> seconds;
    /// The smallest entry of clusterShare (a dead cluster has 0).
    double smallestShare() const;
};

/// Fits on ROOT's `train` split into `runDir` (features and masks cached in
/// `cacheDir`, shared between runs) with the filterbank backbone and `em`
/// (classes <= 0: the dataset's), then evaluates theta_M on `val`, and with the
/// CRF too when `crf`. `resolution` 0 is the backbone's (320). Throws
/// primaps::Error when a stage fails.
/// `backboneName` names the feature extractor (the default `filterbank`, or
/// `filterbank-v1`).
QualityResult runQuality(const std::string& root, const std::string& cacheDir,
                         const std::string& runDir, const EmParams& em, bool crf,
                         int resolution = 0, const std::string& backboneName = "filterbank");

/// Writes the training split's cached features and masks, as the fit in
/// `runDir` read them, and the labels to `outDir` as features.npy (N x C x h x w
/// float32), masks.npy and labels.npy (N x H x W uint8), for replaying other
/// implementations on exactly the same data (replay_reference_em.py). Also
/// val_features.npy / val_labels.npy from the evaluation's flip-averaged cache.
/// Throws primaps::Error when the caches are incomplete.
void exportFitData(const std::string& root, const std::string& cacheDir, const std::string& outDir);

} // namespace primaps::bench
