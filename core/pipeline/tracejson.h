// SPDX-License-Identifier: MIT
#pragma once

#include "crf/densecrf.h"
#include "decompose/primaps.h"

#include <string>

namespace primaps {

/// What the trace file says about where the trace came from.
struct TraceContext
{
    std::string source;   ///< input file
    std::string backbone; ///< backbone name, or "features" for a .npy input
    int imageWidth = 0;   ///< size of the label map written beside the trace
    int imageHeight = 0;
    /// What the label map holds (written when labelIdsKept >= 0): the number of
    /// proposal ids present (the CRF and the background channel remove some) and
    /// the share of pixels left at 0.
    int labelIdsKept = -1;
    double unassignedShare = 0.0;
    bool crf = false;         ///< whether step 5 ran the dense CRF
    DenseCrfParams crfParams; ///< its settings, written when crf is true
};

/// The trace as pretty-printed JSON: parameters, grid, stop reason, final
/// coverage and per iteration the remaining area, coverage, seed and mask area.
/// With `includeMaps` it also holds the principal direction and the maps, for
/// tools that replay a decomposition.
std::string traceToJson(const PrimapsTrace& trace, const TraceContext& context,
                        bool includeMaps = false);

} // namespace primaps
