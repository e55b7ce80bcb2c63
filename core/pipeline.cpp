// SPDX-License-Identifier: MIT
#include "pipeline.h"

#include <chrono>

namespace primaps {

namespace {

class Stopwatch
{
public:
    double lap()
    {
        const auto now = std::chrono::steady_clock::now();
        const double ms = std::chrono::duration<double, std::milli>(now - last_).count();
        last_ = now;
        return ms;
    }

private:
    std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

} // namespace

ImageDecomposition decomposeImage(const cv::Mat& rgb, Backbone& backbone, const PipelineParams& params)
{
    ImageDecomposition out;
    Stopwatch clock;

    PreprocessParams pre = params.preprocess;
    pre.patchSize = backbone.patchSize();
    if (params.useRecommendedResize)
        pre.shorterSide = backbone.recommendedResize();
    out.prepared = prepareImage(rgb, pre);
    out.timings.preprocess = clock.lap();

    out.features = backbone.extract(out.prepared.rgb);
    out.timings.features = clock.lap();

    PrimapsParams primapsParams = params.primaps;
    if (params.useRecommendedThreshold)
        primapsParams.threshold = backbone.recommendedThreshold();
    out.trace = decompose(out.features, primapsParams);
    out.masks = buildMaskStack(out.trace);
    out.timings.decompose = clock.lap();

    out.labels = labelsAtSize(out.masks, out.prepared.rgb.size());
    out.timings.labels = clock.lap();
    return out;
}

ImageDecomposition decomposeFeatures(const FeatureMap& features, const PrimapsParams& params)
{
    ImageDecomposition out;
    Stopwatch clock;
    out.features = features;
    out.trace = decompose(features, params);
    out.masks = buildMaskStack(out.trace);
    out.timings.decompose = clock.lap();
    out.labels = labelsAtGrid(out.masks);
    out.timings.labels = clock.lap();
    return out;
}

} // namespace primaps
