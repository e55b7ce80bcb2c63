// SPDX-License-Identifier: MIT
#include "pipeline.h"

#include "error.h"

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
    redecompose(out, primapsParams, params.crf, params.crfParams);
    return out;
}

void redecompose(ImageDecomposition& result, const PrimapsParams& params, bool crf,
                 const DenseCrfParams& crfParams)
{
    if (result.features.empty() || result.prepared.rgb.empty())
        throw Error("redecompose needs the features and image of an earlier decomposition");
    Stopwatch clock;
    result.trace = decompose(result.features, params);
    result.masks = buildMaskStack(result.trace);
    result.timings.decompose = clock.lap();

    // Step 5: log-softmax, bilinear upsampling to the image, then CRF + argmax.
    const int channels = result.masks.count + 1;
    const cv::Size size = result.prepared.rgb.size();
    const std::vector<float> scores = upsampleBilinear(
        result.masks.logProbabilities(), channels, result.masks.height, result.masks.width, size);
    result.labelsBeforeCrf = argmaxLabels(scores, channels, size.height, size.width);
    result.timings.labels = clock.lap();

    result.crfApplied = crf;
    result.crfParams = crfParams;
    if (crf) {
        const std::vector<float> q = denseCrf(scores, channels, result.prepared.rgb, crfParams);
        result.labels = argmaxLabels(q, channels, size.height, size.width);
    } else {
        result.labels = result.labelsBeforeCrf;
    }
    result.timings.crf = crf ? clock.lap() : 0.0;
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
    out.labelsBeforeCrf = out.labels;
    out.timings.labels = clock.lap();
    return out;
}

} // namespace primaps
