// SPDX-License-Identifier: MIT
#include "pipeline/pipeline.h"

#include "support/error.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <future>
#include <opencv2/core/utility.hpp>
#include <opencv2/imgproc.hpp>

namespace primaps {

namespace {

bool sameKernels(const DenseCrfParams& a, const DenseCrfParams& b)
{
    return a.gaussianSxy == b.gaussianSxy && a.gaussianWeight == b.gaussianWeight &&
           a.bilateralSxy == b.bilateralSxy && a.bilateralSrgb == b.bilateralSrgb &&
           a.bilateralWeight == b.bilateralWeight;
}

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

// True when `kept` holds the lattices for an image of `size` with `params`' kernels
// (the image itself is the same: a decomposition never changes its picture).
bool fits(const std::shared_ptr<const DenseCrfImage>& kept, cv::Size size,
          const DenseCrfParams& params)
{
    return kept && kept->height() == size.height && kept->width() == size.width &&
           sameKernels(kept->params(), params);
}

// The marginals after `iterations` steps on kept lattices (whose own parameters
// may name another iteration count: it is not part of the image).
std::vector<float> runCrf(const std::shared_ptr<const DenseCrfImage>& image,
                          const std::vector<float>& scores, int labels, int iterations)
{
    DenseCrf crf(image);
    crf.setScores(scores, labels);
    for (int i = 0; i < iterations; ++i)
        crf.step();
    return crf.marginals();
}

// Where step 5 runs for `result` and with which kernels: at the processing
// resolution with `params`, or (crfMaxPixels) at a finer one with the kernels'
// extents scaled with the image.
struct CrfSetup
{
    cv::Size target;
    DenseCrfParams params;
    bool atProcessingResolution = true;
};

CrfSetup crfSetup(const ImageDecomposition& result, const DenseCrfParams& params,
                  int crfMaxPixels)
{
    CrfSetup setup;
    const cv::Size processing = result.prepared.rgb.size();
    setup.target =
        result.original.empty() ? processing : crfResolution(result.prepared, crfMaxPixels);
    setup.params = params;
    setup.atProcessingResolution = setup.target == processing;
    if (!setup.atProcessingResolution) {
        // The kernels' extents are pixels of the processing resolution (the
        // reference's parameters are for it): scaled with the image, the CRF
        // behaves the same, only with finer pixels.
        const double scale =
            double(setup.target.width) / double(result.prepared.resizedSize.width);
        setup.params.gaussianSxy = float(params.gaussianSxy * scale);
        setup.params.bilateralSxy = float(params.bilateralSxy * scale);
    }
    return setup;
}

// The lattices for `setup`: of the prepared image, or of the original resized to
// the target. Reads only the two images (shared, never written).
std::shared_ptr<const DenseCrfImage> buildCrfImage(const cv::Mat& prepared, const cv::Mat& original,
                                                   const CrfSetup& setup)
{
    if (setup.atProcessingResolution)
        return std::make_shared<const DenseCrfImage>(prepared, setup.params);
    cv::Mat image;
    cv::resize(original, image, setup.target, 0, 0, cv::INTER_AREA);
    return std::make_shared<const DenseCrfImage>(image, setup.params);
}

// Step 5's CRF on `scores` (K x the prepared image's size, the upsampled
// log-probabilities) at the resolution crfMaxPixels chooses; sets the labels,
// the CRF fields and timings.crf. Builds the lattices unless result.crfImage
// holds them.
void refine(ImageDecomposition& result, const std::vector<float>& scores,
            const DenseCrfParams& params, int crfMaxPixels)
{
    Stopwatch clock;
    const int channels = result.masks.count + 1;
    const cv::Size processing = result.prepared.rgb.size();
    const CrfSetup setup = crfSetup(result, params, crfMaxPixels);
    const cv::Size target = setup.target;
    if (!fits(result.crfImage, target, setup.params))
        result.crfImage = buildCrfImage(result.prepared.rgb, result.original, setup);
    if (setup.atProcessingResolution) {
        const std::vector<float> q = runCrf(result.crfImage, scores, channels, params.iterations);
        result.labels = argmaxLabels(q, channels, target.height, target.width);
    } else {
        // The content (the whole original, resized) scaled to the target size,
        // scores plane by plane.
        const cv::Rect content = result.prepared.contentInPrepared;
        const std::size_t planeSize = std::size_t(target.area());
        std::vector<float> fine(std::size_t(channels) * planeSize);
        for (int k = 0; k < channels; ++k) {
            const cv::Mat plane(processing, CV_32F,
                                const_cast<float*>(scores.data()) + std::size_t(k) * processing.area());
            cv::Mat dst(target, CV_32F, fine.data() + std::size_t(k) * planeSize);
            cv::resize(plane(content), dst, target, 0, 0, cv::INTER_LINEAR);
        }
        const std::vector<float> q = runCrf(result.crfImage, fine, channels, params.iterations);
        result.fineLabels = argmaxLabels(q, channels, target.height, target.width);
        result.fineLabelsBeforeCrf = argmaxLabels(fine, channels, target.height, target.width);
        // The prepared-size map follows: the fine labels sampled down over the
        // content, the padding as before the CRF.
        result.labels = result.labelsBeforeCrf.clone();
        cv::Mat inside = result.labels(content);
        cv::resize(result.fineLabels, inside, content.size(), 0, 0, cv::INTER_NEAREST);
    }
    result.crfApplied = true;
    result.crfParams = params;
    result.crfSize = target;
    result.timings.crf = clock.lap();
}

// The upsampled scores of step 5 (K x H x W floats) live in a buffer each thread
// keeps for its next image, up to this size: a fresh vector is zeroed and
// page-faulted on one thread before the upsampling overwrites it (10.6 MB, about
// 2,600 pages, on chelsea), while decompositions of one size reuse it as it is.
constexpr std::size_t kKeptScoresBytes = std::size_t(32) << 20;

class ScoresBuffer
{
public:
    ScoresBuffer() : values_(kept()) {}
    ~ScoresBuffer()
    {
        if (values_.capacity() * sizeof(float) > kKeptScoresBytes)
            std::vector<float>().swap(values_);
    }
    ScoresBuffer(const ScoresBuffer&) = delete;
    ScoresBuffer& operator=(const ScoresBuffer&) = delete;
    std::vector<float>& values() { return values_; }

private:
    static std::vector<float>& kept()
    {
        thread_local std::vector<float> buffer;
        return buffer;
    }
    std::vector<float>& values_;
};

// redecompose() with, optionally, the lattices being built elsewhere: waited
// for right before step 5's CRF.
void decomposeAndRefine(ImageDecomposition& result, const PrimapsParams& params, bool crf,
                        const DenseCrfParams& crfParams, int crfMaxPixels,
                        std::future<std::shared_ptr<const DenseCrfImage>>* lattices)
{
    if (result.features.empty() || result.prepared.rgb.empty())
        throw Error("redecompose needs the features and image of an earlier decomposition");
    Stopwatch clock;
    result.trace = decompose(result.features, params);
    result.masks = buildMaskStack(result.trace);
    result.timings.decompose = clock.lap();

    // Step 5 without the CRF: log-softmax, bilinear upsampling to the image, argmax.
    const int channels = result.masks.count + 1;
    const cv::Size size = result.prepared.rgb.size();
    ScoresBuffer buffer;
    std::vector<float>& scores = buffer.values();
    upsampleBilinear(result.masks.logProbabilities(), channels, result.masks.height,
                     result.masks.width, size, scores);
    result.labelsBeforeCrf = argmaxLabels(scores, channels, size.height, size.width);
    result.labels = result.labelsBeforeCrf;
    result.fineLabels = cv::Mat();
    result.fineLabelsBeforeCrf = cv::Mat();
    result.crfApplied = false;
    result.crfSize = cv::Size();
    result.timings.labels = clock.lap();
    result.timings.crf = 0.0;
    result.timings.crfLatticeWait = 0.0;
    if (!crf)
        return;
    if (lattices) {
        result.crfImage = lattices->get();
        result.timings.crfLatticeWait = clock.lap();
    }
    refine(result, scores, crfParams, crfMaxPixels);
}

} // namespace

cv::Mat ImageDecomposition::labelsAtOriginalSize() const
{
    if (fineLabels.empty())
        return labelsToOriginal(labels, prepared);
    if (fineLabels.size() == prepared.originalSize)
        return fineLabels.clone();
    cv::Mat out;
    cv::resize(fineLabels, out, prepared.originalSize, 0, 0, cv::INTER_NEAREST);
    return out;
}

cv::Size crfResolution(const PreparedImage& prepared, int crfMaxPixels)
{
    const cv::Size processing = prepared.rgb.size();
    const cv::Size original = prepared.originalSize;
    // Finer labels need the whole original inside the prepared image, at its top
    // left: padding, not cropping.
    const bool wholeImage =
        prepared.regionInResized == cv::Rect(cv::Point(0, 0), prepared.resizedSize) &&
        prepared.contentInPrepared.tl() == cv::Point(0, 0) &&
        prepared.contentInPrepared.size() == prepared.resizedSize;
    if (crfMaxPixels <= 0 || !wholeImage || original.area() <= 0)
        return processing;
    const double scale =
        std::min(1.0, std::sqrt(double(crfMaxPixels) / double(original.area())));
    // Rounded down: at most crfMaxPixels.
    const cv::Size fine(std::max(1, int(original.width * scale)),
                        std::max(1, int(original.height * scale)));
    if (fine.area() <= prepared.resizedSize.area())
        return processing;
    return fine;
}

ImageDecomposition decomposeImage(const cv::Mat& rgb, Backbone& backbone, const PipelineParams& params)
{
    ImageDecomposition out;
    Stopwatch clock;

    PreprocessParams pre = params.preprocess;
    pre.patchSize = backbone.patchSize();
    if (params.useRecommendedResize)
        pre.shorterSide = backbone.recommendedResize();
    out.prepared = prepareImage(rgb, pre);
    out.original = rgb;
    out.timings.preprocess = clock.lap();

    // The CRF's lattices depend on the image alone: with a second core they are
    // built on a thread of their own while the features and PriMaPs run, whose
    // stages leave a core idle part of the time (PriMaPs and the argmax run on
    // one; so does much of the lattices' own building). The same lattices either
    // way. Declared after `out`, so that an exception waits for the thread before
    // the images it reads go away.
    std::future<std::shared_ptr<const DenseCrfImage>> lattices;
    if (params.crf && params.crfLatticesAlongside && cv::getNumThreads() > 1) {
        const CrfSetup setup = crfSetup(out, params.crfParams, params.crfMaxPixels);
        lattices = std::async(std::launch::async,
                              [prepared = out.prepared.rgb, original = out.original, setup] {
                                  return buildCrfImage(prepared, original, setup);
                              });
    }

    out.features = backbone.extract(out.prepared.rgb);
    out.timings.features = clock.lap();

    PrimapsParams primapsParams = params.primaps;
    if (params.useRecommendedThreshold)
        primapsParams.threshold = backbone.recommendedThreshold();
    decomposeAndRefine(out, primapsParams, params.crf, params.crfParams, params.crfMaxPixels,
                       lattices.valid() ? &lattices : nullptr);
    return out;
}

void redecompose(ImageDecomposition& result, const PrimapsParams& params, bool crf,
                 const DenseCrfParams& crfParams, int crfMaxPixels)
{
    decomposeAndRefine(result, params, crf, crfParams, crfMaxPixels, nullptr);
}

void applyCrf(ImageDecomposition& result, const DenseCrfParams& crfParams, int crfMaxPixels)
{
    if (result.masks.count < 0 || result.labelsBeforeCrf.empty() || result.prepared.rgb.empty())
        throw Error("applyCrf needs the masks of an earlier decomposition");
    const int channels = result.masks.count + 1;
    const cv::Size size = result.prepared.rgb.size();
    ScoresBuffer buffer;
    upsampleBilinear(result.masks.logProbabilities(), channels, result.masks.height,
                     result.masks.width, size, buffer.values());
    refine(result, buffer.values(), crfParams, crfMaxPixels);
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
