// SPDX-License-Identifier: MIT
#include "emquality.h"

#include "support/atomicfile.h"
#include "backbones/backbone.h"
#include "runs/datasetjobs.h"
#include "support/error.h"
#include "evaluation/evaluation.h"
#include "dataset/featurecache.h"
#include "runs/fitrun.h"
#include "support/npy.h"
#include "decompose/primaps.h"

#include <algorithm>
#include <chrono>

namespace primaps::bench {

namespace {

double secondsSince(std::chrono::steady_clock::time_point start)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void runOrThrow(Job& job, const char* what)
{
    JobControl control;
    const JobState state = runJob(job, control);
    if (state != JobState::Finished)
        throw Error(std::string(what) + " failed: " + control.error());
}

} // namespace

double QualityResult::smallestShare() const
{
    return clusterShare.empty() ? 0.0 : *std::min_element(clusterShare.begin(), clusterShare.end());
}

QualityResult runQuality(const std::string& root, const std::string& cacheDir,
                         const std::string& runDir, const EmParams& em, bool crf,
                         int resolution, const std::string& backboneName)
{
    QualityResult result;
    DatasetOptions train;
    train.root = root;
    train.split = "train";
    FitRunSettings settings;
    settings.runDir = runDir;
    settings.cacheDir = cacheDir;
    settings.em = em;
    settings.restart = true;
    settings.resolution = resolution;
    settings.backbone = backboneName;

    // Stage times from the stage callbacks: each per-image stage ends with one.
    auto start = std::chrono::steady_clock::now();
    DatasetFitJob fit(Dataset::open(train), settings);
    fit.setStageCallback([&](const std::string& stage, const StageReport& report) {
        if (!report.failures.empty())
            throw Error(stage + ": " + report.failures.front().message);
        result.seconds.emplace_back(stage, secondsSince(start));
        start = std::chrono::steady_clock::now();
    });
    runOrThrow(fit, "the fit");
    result.seconds.emplace_back("fit", secondsSince(start));

    DatasetOptions val = train;
    val.split = "val";
    const Dataset valData = Dataset::open(val);
    BackboneOptions options;
    const auto backbone = createBackbone(fit.settings().backbone, options);
    FeatureSettings features;
    features.resolution = fit.settings().resolution;
    features.flipAverage = true;
    const FeatureCache cache(cacheDir,
                             featureCacheKey(valData, backbone->name(), std::string(), features));
    const Prototypes prototypes = prototypesFromJson(readFile(fit.prototypesPath()));

    start = std::chrono::steady_clock::now();
    EvaluationJob plain(valData, *backbone, cache, features, prototypes, false);
    runOrThrow(plain, "the evaluation");
    result.seconds.emplace_back("eval", secondsSince(start));
    const EvaluationResult scored = evaluate(plain.confusion());
    result.accuracy = scored.accuracy;
    result.meanIoU = scored.meanIoU;
    result.classIoU = scored.classIoU;
    const ConfusionMatrix& confusion = plain.confusion();
    const double total = double(std::max<std::int64_t>(1, confusion.total()));
    for (int c = 0; c < confusion.clusters(); ++c) {
        std::int64_t row = 0;
        for (int j = 0; j < confusion.classes(); ++j)
            row += confusion.at(c, j);
        result.clusterShare.push_back(double(row) / total);
    }
    if (crf) {
        start = std::chrono::steady_clock::now();
        EvaluationJob refined(valData, *backbone, cache, features, prototypes, true);
        runOrThrow(refined, "the CRF evaluation");
        result.seconds.emplace_back("eval+crf", secondsSince(start));
        const EvaluationResult r = evaluate(refined.confusion());
        result.accuracyCrf = r.accuracy;
        result.meanIoUCrf = r.meanIoU;
        result.classIoUCrf = r.classIoU;
    }
    return result;
}

void exportFitData(const std::string& root, const std::string& cacheDir, const std::string& outDir)
{
    const auto backbone = createBackbone("filterbank", BackboneOptions());
    for (const char* split : {"train", "val"}) {
        DatasetOptions options;
        options.root = root;
        options.split = split;
        const Dataset data = Dataset::open(options);
        FeatureSettings features;
        features.resolution = backbone->recommendedResize();
        features.flipAverage = std::string(split) == "val";
        const CacheKey featureKey =
            featureCacheKey(data, backbone->name(), std::string(), features);
        const FeatureCache featureCache(cacheDir, featureKey);
        PrimapsParams primaps;
        primaps.threshold = backbone->recommendedThreshold();
        const MaskCache maskCache(cacheDir, maskCacheKey(featureKey, primaps, true));
        std::vector<float> allFeatures;
        std::vector<std::uint8_t> allMasks, allLabels;
        FeatureMap first;
        cv::Size labelSize;
        for (std::size_t i = 0; i < data.size(); ++i) {
            const FeatureMap f = featureCache.read(data.items()[i].id);
            if (i == 0)
                first = f;
            allFeatures.insert(allFeatures.end(), f.values.begin(), f.values.end());
            const cv::Mat labels = data.load(i).labels;
            labelSize = labels.size();
            allLabels.insert(allLabels.end(), labels.datastart, labels.dataend);
            if (features.flipAverage)
                continue;
            const cv::Mat masks = maskCache.read(data.items()[i].id);
            if (masks.size() != labels.size())
                throw Error("masks and labels differ in size: the images must be at the "
                            "backbone's resolution");
            allMasks.insert(allMasks.end(), masks.datastart, masks.dataend);
        }
        const std::int64_t n = std::int64_t(data.size());
        const std::string prefix = outDir + "/" + (features.flipAverage ? "val_" : "");
        writeNpy(prefix + "features.npy", {n, first.channels, first.height, first.width},
                 allFeatures.data());
        writeNpy(prefix + "labels.npy", {n, labelSize.height, labelSize.width}, allLabels.data());
        if (!features.flipAverage)
            writeNpy(prefix + "masks.npy", {n, labelSize.height, labelSize.width},
                     allMasks.data());
    }
}

} // namespace primaps::bench
