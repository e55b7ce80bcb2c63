// SPDX-License-Identifier: MIT
#include "runs/datasetjobs.h"

#include "backbones/backbone.h"
#include "crf/densecrf.h"
#include "support/error.h"
#include "image/photometric.h"
#include "pipeline/pipeline.h"
#include "image/preprocess.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <opencv2/core.hpp>

namespace primaps {

namespace {

PreparedImage prepareForBackbone(const cv::Mat& rgb, int patchSize, const FeatureSettings& settings)
{
    PreprocessParams p;
    p.shorterSide = settings.resolution;
    p.patchSize = patchSize;
    p.fit = FitMode::CenterCropSquare;
    return prepareImage(rgb, p);
}

FeatureMap extractFeatures(Backbone& backbone, const PreparedImage& prepared, bool flipAverage)
{
    FeatureMap f = backbone.extract(prepared.rgb);
    if (!flipAverage)
        return f;
    cv::Mat mirrored;
    cv::flip(prepared.rgb, mirrored, 1);
    return averageWithFlipped(f, backbone.extract(mirrored));
}

// Seed of one augmented view: FNV-1a over the fit's seed, the item and the view,
// so that every shard and every re-run draws the same augmentation.
std::uint64_t viewSeed(std::uint64_t seed, const std::string& id, int view)
{
    const std::string text = std::to_string(seed) + "\n" + id + "\n" + std::to_string(view);
    std::uint64_t h = 1469598103934665603ull;
    for (unsigned char c : text) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return h;
}

std::size_t shardSize(const Dataset& dataset, Shard shard)
{
    std::size_t n = 0;
    for (std::size_t i = 0; i < dataset.size(); ++i)
        n += shard.contains(i) ? 1 : 0;
    return n;
}

void reportItem(JobControl& control, const char* stage, std::size_t done, std::size_t total,
                const std::string& id)
{
    JobProgress p;
    p.stage = stage;
    p.step = std::int64_t(done);
    p.totalSteps = std::int64_t(total);
    p.fraction = total ? double(done) / double(total) : 1.0;
    p.message = id;
    control.report(p);
}

} // namespace

int minimumResolution(int patchSize)
{
    return 2 * std::max(1, patchSize);
}

void recordFailure(StageReport& report, bool strict, const std::string& path, const std::string& why)
{
    if (strict)
        throw Error("'" + path + "': " + why + " (stopping: strict)");
    report.failures.push_back({path, why});
}

void recordWarnings(StageReport& report, const DatasetItem& item,
                    const std::vector<std::string>& warnings)
{
    for (const std::string& w : warnings)
        report.warnings.push_back({item.imagePath, w});
}

void forEachShardItem(const Dataset& dataset, Shard shard, StageReport& report, JobControl& control,
                      const char* stage,
                      const std::function<void(std::size_t, const DatasetItem&)>& body)
{
    report = {};
    report.items = shardSize(dataset, shard);
    std::size_t done = 0;
    for (std::size_t i = 0; i < dataset.size(); ++i) {
        if (!shard.contains(i))
            continue;
        if (!control.proceed())
            return;
        const DatasetItem& item = dataset.items()[i];
        body(i, item);
        reportItem(control, stage, ++done, report.items, item.id);
    }
}

std::string studentEntryId(const std::string& id, int view)
{
    return id + "@view" + std::to_string(view);
}

Shard parseShard(const std::string& text)
{
    const std::size_t slash = text.find('/');
    Shard s;
    try {
        if (slash == std::string::npos)
            throw Error("");
        std::size_t used = 0;
        s.index = std::stoi(text.substr(0, slash), &used);
        if (used != slash)
            throw Error("");
        const std::string rest = text.substr(slash + 1);
        s.count = std::stoi(rest, &used);
        if (used != rest.size())
            throw Error("");
    } catch (...) {
        throw Error("shard '" + text + "' is not of the form i/N");
    }
    if (s.count < 1 || s.index < 0 || s.index >= s.count)
        throw Error("shard '" + text + "': need 0 <= i < N");
    return s;
}

CacheKey featureCacheKey(const Dataset& dataset, const std::string& backbone,
                         const std::string& weightsPath, const FeatureSettings& settings)
{
    CacheKey key;
    key.set("dataset", dataset.fingerprint());
    // Both filter bank versions are "filterbank" here. Version 1's key is the key of
    // the caches written before versions existed, so they keep serving the runs that
    // made them; later versions add their number.
    const int version = backboneVersion(backbone);
    key.set("backbone", version > 0 ? std::string("filterbank") : backbone);
    if (version > 1)
        key.set("backbone-version", double(version));
    key.set("weights", weightsPath.empty() ? std::string() : hashFile(weightsPath));
    key.set("resolution", double(settings.resolution));
    key.set("preprocessing", "resize-shorter-side,center-crop-square,imagenet-normalize");
    key.set("flip-average", settings.flipAverage ? "yes" : "no");
    if (settings.studentViews > 0) {
        key.set("student-augmentation", "photometric-v1");
        key.set("student-views", double(settings.studentViews));
        key.set("augmentation-seed", std::to_string(settings.augmentationSeed));
    }
    return key;
}

CacheKey maskCacheKey(const CacheKey& featureKey, const PrimapsParams& params, bool crf)
{
    CacheKey key = featureKey;
    key.set("primaps-threshold", double(params.threshold));
    key.set("primaps-coverage", double(params.coverage));
    key.set("primaps-stall-window", double(params.stallWindow));
    key.set("primaps-max-iterations", double(params.maxIterations));
    key.set("mask-crf", crf ? "reference" : "none");
    return key;
}

FeatureJob::FeatureJob(const Dataset& dataset, Backbone& backbone, const FeatureCache& cache,
                       const FeatureSettings& settings, Shard shard, bool strict)
    : dataset_(dataset), backbone_(backbone), cache_(cache), settings_(settings), shard_(shard),
      strict_(strict)
{
}

void FeatureJob::run(JobControl& control)
{
    forEachShardItem(
        dataset_, shard_, report_, control, "features",
        [&](std::size_t i, const DatasetItem& item) {
            // Plain features have one entry per item, student features one per view.
            std::vector<std::string> missing;
            if (settings_.studentViews > 0) {
                for (int v = 0; v < settings_.studentViews; ++v)
                    if (!cache_.contains(studentEntryId(item.id, v)))
                        missing.push_back(studentEntryId(item.id, v));
            } else if (!cache_.contains(item.id)) {
                missing.push_back(item.id);
            }
            if (missing.empty()) {
                ++report_.reused;
            } else {
                try {
                    const DatasetSample sample = dataset_.load(i, LabelUse::CheckSize);
                    recordWarnings(report_, item, sample.warnings);
                    const PreparedImage prepared =
                        prepareForBackbone(sample.rgb, backbone_.patchSize(), settings_);
                    const std::string small =
                        tooSmallNote(sample.rgb.size(), backbone_.patchSize());
                    if (!small.empty()) {
                        if (strict_)
                            throw Error(small); // recordFailure() stops the stage
                        recordWarnings(report_, item, {small});
                    }
                    for (const std::string& entry : missing) {
                        if (settings_.studentViews > 0) {
                            const int view =
                                std::atoi(entry.substr(entry.rfind("@view") + 5).c_str());
                            PreparedImage augmented = prepared;
                            augmented.rgb = photometricAugment(
                                prepared.rgb, viewSeed(settings_.augmentationSeed, item.id, view));
                            cache_.write(entry, extractFeatures(backbone_, augmented, false));
                        } else {
                            cache_.write(
                                entry, extractFeatures(backbone_, prepared, settings_.flipAverage));
                        }
                    }
                    ++report_.computed;
                } catch (const std::exception& e) {
                    recordFailure(report_, strict_, item.imagePath, e.what());
                }
            }
        });
}

MaskJob::MaskJob(const Dataset& dataset, const FeatureCache& features, const MaskCache& masks,
                 const FeatureSettings& settings, const PrimapsParams& params, bool crf,
                 Shard shard, bool strict)
    : dataset_(dataset), features_(features), masks_(masks), settings_(settings), params_(params),
      crf_(crf), shard_(shard), strict_(strict)
{
}

void MaskJob::run(JobControl& control)
{
    forEachShardItem(
        dataset_, shard_, report_, control, "masks", [&](std::size_t i, const DatasetItem& item) {
            if (masks_.contains(item.id)) {
                ++report_.reused;
            } else {
                try {
                    if (!features_.contains(item.id))
                        throw Error("no cached features (run the features stage first)");
                    ImageDecomposition d;
                    d.features = features_.read(item.id);
                    // The masks live at the prepared image's resolution (the label
                    // resolution); the image itself is only needed for the CRF.
                    const int patch =
                        std::max(1, settings_.resolution / std::max(1, d.features.height));
                    if (crf_) {
                        // The features stage has reported the image's warnings.
                        d.prepared = prepareForBackbone(dataset_.load(i, LabelUse::CheckSize).rgb,
                                                        patch, settings_);
                    } else {
                        d.prepared.rgb =
                            cv::Mat(d.features.height * patch, d.features.width * patch, CV_8UC3,
                                    cv::Scalar::all(0));
                    }
                    if (d.prepared.rgb.rows != d.features.height * patch ||
                        d.prepared.rgb.cols != d.features.width * patch)
                        throw Error("cached features do not match the image's patch grid");
                    redecompose(d, params_, crf_);
                    masks_.write(item.id, d.labels);
                    ++report_.computed;
                } catch (const std::exception& e) {
                    recordFailure(report_, strict_, item.imagePath, e.what());
                }
            }
        });
}

CachedEmData::CachedEmData(const Dataset& dataset, const FeatureCache& features,
                           const MaskCache& masks, const FeatureCache* student, int studentViews)
    : features_(features), masks_(masks), student_(student), views_(student ? studentViews : 0)
{
    if (student && studentViews < 1)
        throw Error("a student feature cache needs at least one view");
    for (const DatasetItem& item : dataset.items()) {
        bool complete = features.contains(item.id) && masks.contains(item.id);
        for (int v = 0; complete && v < views_; ++v)
            complete = student->contains(studentEntryId(item.id, v));
        (complete ? ids_ : missing_).push_back(item.id);
    }
}

FeatureMap CachedEmData::studentFeatures(std::size_t index, std::uint64_t view) const
{
    if (!hasStudentFeatures())
        return EmDataSource::studentFeatures(index, view);
    return student_->read(studentEntryId(ids_.at(index), int(view % std::uint64_t(views_))));
}

FeatureMap CachedEmData::features(std::size_t index) const
{
    return features_.read(ids_.at(index));
}

cv::Mat CachedEmData::masks(std::size_t index) const
{
    return masks_.read(ids_.at(index));
}

ItemPrediction predictItem(const Dataset& dataset, std::size_t index, Backbone& backbone,
                           const FeatureCache& cache, const FeatureSettings& settings,
                           const Prototypes& prototypes, bool crf)
{
    const DatasetItem& item = dataset.items().at(index);
    DatasetSample sample = dataset.load(index);
    ItemPrediction p;
    p.warnings = std::move(sample.warnings);
    p.original = sample.rgb;
    p.prepared = prepareForBackbone(sample.rgb, backbone.patchSize(), settings);
    if (const std::string small = tooSmallNote(sample.rgb.size(), backbone.patchSize());
        !small.empty())
        p.warnings.push_back(small);
    if (!sample.labels.empty())
        p.labels = prepareLabels(sample.labels, p.prepared);
    FeatureMap& features = p.features;
    if (cache.contains(item.id)) {
        features = cache.read(item.id);
        p.featuresReused = true;
    } else {
        features = extractFeatures(backbone, p.prepared, settings.flipAverage);
        cache.write(item.id, features);
        // Predict from what the cache now holds, so the first evaluation of a
        // split gives the same pixels as every later one (fp16 rounding can move
        // a pixel near a decision boundary to another cluster).
        roundToHalf(features.values);
    }
    const cv::Size size = p.prepared.rgb.size();
    if (crf) {
        // denseCrf() takes logits: the reference's log-softmax only shifts each
        // pixel's scores, which its softmax ignores.
        const int k = prototypes.classes;
        if (k > 255)
            throw Error("the CRF refines at most 255 clusters; these prototypes have " +
                        std::to_string(k));
        const std::vector<float> scores = clusterLogits(features, prototypes, size);
        const std::vector<float> q = denseCrf(scores, k, p.prepared.rgb);
        argmaxLabels(q, k, size.height, size.width).convertTo(p.clusters, CV_32S);
    } else {
        p.clusters = predictClusters(features, prototypes, size);
    }
    return p;
}

EvaluationJob::EvaluationJob(const Dataset& dataset, Backbone& backbone, const FeatureCache& cache,
                             const FeatureSettings& settings, const Prototypes& prototypes,
                             bool crf, Shard shard, bool strict)
    : dataset_(dataset), backbone_(backbone), cache_(cache), settings_(settings),
      prototypes_(prototypes), crf_(crf), shard_(shard), strict_(strict),
      confusion_(std::max(1, prototypes.classes), std::max(1, dataset.classCount()))
{
    if (dataset.classCount() < 1)
        throw Error("the dataset has no class list; evaluation needs the number of classes");
}

void EvaluationJob::run(JobControl& control)
{
    forEachShardItem(
        dataset_, shard_, report_, control, "evaluation",
        [&](std::size_t i, const DatasetItem& item) {
            if (item.labelPath.empty()) {
                ++report_.skipped;
            } else {
                try {
                    const ItemPrediction p =
                        predictItem(dataset_, i, backbone_, cache_, settings_, prototypes_, crf_);
                    ++(p.featuresReused ? report_.reused : report_.computed);
                    recordWarnings(report_, item, p.warnings);
                    confusion_.add(p.clusters, p.labels);
                } catch (const std::exception& e) {
                    recordFailure(report_, strict_, item.imagePath, e.what());
                }
            }
        });
}

} // namespace primaps
