// SPDX-License-Identifier: MIT
#pragma once

#include "dataset/dataset.h"

#include <QString>

namespace primaps {

/// One sentence for the studio when scores of `evaluated` are on images the run
/// fitted on `fitted` has seen (core's fitOverlap(), the rule the CLI's eval notes
/// follow too); empty when the split is apart from the fit. Any thread.
QString fitOverlapNote(const DatasetOptions& fitted, const Dataset& evaluated);

} // namespace primaps
