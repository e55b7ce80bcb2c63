// SPDX-License-Identifier: MIT
#include "pipeline/tracejson.h"

#include "backbones/backbone.h"
#include "support/runtime.h"

#include <nlohmann/json.hpp>

namespace primaps {

std::string traceToJson(const PrimapsTrace& trace, const TraceContext& context, bool includeMaps)
{
    using json = nlohmann::ordered_json;
    const int positions = trace.height * trace.width;
    json root;
    root["generator"] = "PriMaPs Studio " + versionString();
    root["source"] = context.source;
    root["backbone"] = context.backbone;
    if (const int version = backboneVersion(context.backbone); version > 0)
        root["backbone_version"] = version;
    root["threshold"] = trace.params.threshold;
    root["coverage_target"] = trace.params.coverage;
    root["stall_window"] = trace.params.stallWindow;
    root["max_iterations"] = trace.params.maxIterations;
    root["grid"] = {{"channels", trace.channels}, {"height", trace.height}, {"width", trace.width}};
    root["label_map"] = {{"width", context.imageWidth},
                         {"height", context.imageHeight},
                         {"background", 0},
                         {"crf", context.crf}};
    if (context.labelIdsKept >= 0) {
        root["label_map"]["ids_kept"] = context.labelIdsKept;
        root["label_map"]["unassigned_share"] = context.unassignedShare;
    }
    if (context.crf) {
        const DenseCrfParams& p = context.crfParams;
        root["crf"] = {{"iterations", p.iterations},
                       {"gaussian_sxy", p.gaussianSxy},
                       {"gaussian_weight", p.gaussianWeight},
                       {"bilateral_sxy", p.bilateralSxy},
                       {"bilateral_srgb", p.bilateralSrgb},
                       {"bilateral_weight", p.bilateralWeight},
                       {"colour_order", "BGR, as the reference binding"}};
    } else {
        root["crf"] = nullptr;
    }
    root["masks"] = trace.iterations.size();
    root["stop_reason"] = toString(trace.stopReason);
    root["final_coverage"] = trace.finalCoverage;
    json iterations = json::array();
    for (std::size_t i = 0; i < trace.iterations.size(); ++i) {
        const PrimapsIteration& it = trace.iterations[i];
        json entry;
        entry["iteration"] = i + 1;
        entry["remaining_before"] = it.remainingBefore;
        entry["coverage_before"] = it.coverageBefore;
        entry["seed_index"] = it.seedIndex;
        entry["seed_yx"] = {it.seedIndex / trace.width, it.seedIndex % trace.width};
        entry["explained_variance"] = it.explainedVariance;
        entry["refined_max"] = it.refinedMax;
        entry["area"] = it.assigned;
        entry["area_fraction"] = positions ? double(it.assigned) / positions : 0.0;
        entry["remaining_after"] = it.remainingAfter;
        entry["coverage_after"] = positions ? double(positions - it.remainingAfter) / positions : 0.0;
        if (includeMaps) {
            entry["principal_direction"] = it.principalDirection;
            entry["similarity"] = it.similarity;
            entry["refined_similarity"] = it.refinedSimilarity;
            entry["mask"] = it.mask;
        }
        iterations.push_back(std::move(entry));
    }
    root["iterations"] = std::move(iterations);
    return root.dump(2) + "\n";
}

} // namespace primaps
