// SPDX-License-Identifier: MIT
// How the review layers are drawn: class-space maps become "display ids" for
// the canvas and the label editor (class c shows as c + 1, so that 0 can mean
// "no class" and be dimmed like the decomposition's background), with the
// class table's names and colours. Pure functions of their arguments; any thread.
#pragma once

#include "runs/classtable.h"
#include "labels/labelmap.h"

#include <opencv2/core/mat.hpp>
#include <vector>

namespace primaps {

/// Display ids of a cluster map (CV_32S; negative = none): with a match, the
/// cluster's class + 1 (0 for an ignored cluster); without one (empty `match`),
/// cluster + 1. A non-empty `correction` (a CorrectionStore map of the same
/// size) replaces the classes where the user corrected them.
cv::Mat clusterDisplay(const cv::Mat& clusters, const std::vector<int>& match,
                       const cv::Mat& correction = cv::Mat(), int classes = 0);
/// Display ids of a class map (CV_8U class ids, 254/255 = none): class + 1, 0.
cv::Mat classDisplay(const cv::Mat& classIds);
/// Class ids (CV_8U, 255 = ignore) of a display map: the inverse of classDisplay().
cv::Mat classesFromDisplay(const cv::Mat& display);
/// Display ids of core's errorMap(): 1 correct, 2 wrong, 3 ignored cluster, 0 no truth.
cv::Mat errorDisplay(const cv::Mat& errors);

/// Names and colours of a class layer's display ids; `zeroName` says what 0 means.
LabelTable classLayerTable(const ClassTable& classes, const std::string& zeroName);
/// Names and colours of errorDisplay()'s ids.
LabelTable errorLayerTable();

} // namespace primaps
