// SPDX-License-Identifier: MIT
#pragma once

#include "dataset/dataset.h"

#include <string>

namespace primaps {

/// The split a dataset is read with when the user names none, for a split role
/// `named` ("train" for features, masks and fit; "val" for evaluation; a run's
/// own split name for its export). The benchmark layouts and a folder with a
/// hold-out always have it; a plain folder has it when ROOT/<named>.txt exists,
/// and is otherwise read whole (the empty string). The CLI, the studio's New Fit
/// dialog, Evaluate and Review all take their default from here, so that one
/// folder gives one answer everywhere. Reads only the directory entry; never
/// throws (an unreadable root counts as having no list). Any thread.
std::string defaultSplit(const DatasetOptions& options, const std::string& named);

/// Why an evaluation of `evaluated` scores images the run fitted on `fitted` has
/// seen, as far as the split names tell: the images of two different lists, or
/// of hold-outs of two different fractions, are not compared one by one.
enum class FitOverlap
{
    None,          ///< another dataset, or a split apart from the fitted one
    EvaluatedWhole, ///< a folder evaluated whole (no val.txt, no hold-out)
    FittedWhole,    ///< the run was fitted on the whole folder (no train.txt, no hold-out)
    SameSplit,      ///< evaluated on the very split the run was fitted on
};

/// See FitOverlap. Compares the kind, the root (the same directory, however it
/// is spelled), the hold-out and the split. Never throws. Any thread.
FitOverlap fitOverlap(const DatasetOptions& fitted, const Dataset& evaluated);

} // namespace primaps
