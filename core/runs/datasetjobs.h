// SPDX-License-Identifier: MIT
#pragma once

#include "dataset/dataset.h"
#include "em/emfit.h"
#include "evaluation/evaluation.h"
#include "dataset/featurecache.h"
#include "support/job.h"
#include "image/preprocess.h"
#include "decompose/primaps.h"

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace primaps {

class Backbone;

/// Which part of a dataset one process handles: items whose index modulo
/// `count` is `index` (a cluster job array runs shard i of N in task i).
struct Shard
{
    int index = 0;
    int count = 1;
    bool contains(std::size_t item) const { return int(item % std::size_t(count)) == index; }
};

/// Parses "i/N" (0 <= i < N). Throws primaps::Error on anything else.
Shard parseShard(const std::string& text);

/// How images become features for the dataset-level stages (as the paper evaluates):
/// shorter side resized to `resolution`, centre-cropped square.
struct FeatureSettings
{
    int resolution = 320;
    /// Average the features of the image and of its mirror image (evaluation).
    bool flipAverage = false;
    /// > 0: this cache holds student features instead, of `studentViews`
    /// photometrically augmented versions of each image (photometricAugment(),
    /// seeded by augmentationSeed, the item and the view), under
    /// studentEntryId(). The fit draws one view per image and epoch.
    int studentViews = 0;
    std::uint64_t augmentationSeed = 0;
};

/// The smallest FeatureSettings::resolution for a backbone of `patchSize`: two
/// patches, so that each image's centre-cropped square gives a feature map of at
/// least 2 x 2 positions. At one position an image has nothing for PriMaPs to
/// divide (one mask, the whole image), and the per-image normalisation of a
/// backbone's features leaves every image the same vector, so the fit fails
/// late ("no variance to whiten") after caching everything.
int minimumResolution(int patchSize);

/// Cache entry name of view `view` of item `id` in a student feature cache.
std::string studentEntryId(const std::string& id, int view);

/// The cache key of a dataset's features: dataset fingerprint, backbone name,
/// checkpoint hash (empty without weights), resolution, preprocessing and flip
/// averaging. Throws primaps::Error when the weights file cannot be read.
CacheKey featureCacheKey(const Dataset& dataset, const std::string& backbone,
                         const std::string& weightsPath, const FeatureSettings& settings);

/// The cache key of PriMaPs masks made from features with `featureKey`.
CacheKey maskCacheKey(const CacheKey& featureKey, const PrimapsParams& params, bool crf);

/// What a per-image stage did. Every item of the shard is in exactly one count.
struct StageReport
{
    std::size_t items = 0;                ///< items of the shard
    std::size_t computed = 0;             ///< newly computed
    std::size_t reused = 0;               ///< already in the cache (resumed)
    std::size_t skipped = 0;              ///< no label map (evaluation only)
    std::vector<DatasetProblem> failures; ///< could not be processed, with the reason
    /// Processed, but with a problem the user should know of (a partly decoded
    /// image, label ids outside the class range, a label of another size), one
    /// message each naming the file.
    std::vector<DatasetProblem> warnings;
};

/// Runs `body(index, item)` for each item of the shard in dataset order, the one
/// loop of every per-image stage: resets `report` and sets its item count, checks
/// control.proceed() before each item (returns early, the report partial, when
/// canceled) and reports progress after it under `stage`. Exceptions from `body`
/// propagate. Thread: the job's.
void forEachShardItem(const Dataset& dataset, Shard shard, StageReport& report, JobControl& control,
                      const char* stage,
                      const std::function<void(std::size_t, const DatasetItem&)>& body);

/// Records a failed item (path and reason) in `report`, or with `strict` throws
/// primaps::Error naming it instead.
void recordFailure(StageReport& report, bool strict, const std::string& path, const std::string& why);

/// Records a loaded item's warnings (DatasetSample::warnings) in `report`.
void recordWarnings(StageReport& report, const DatasetItem& item,
                    const std::vector<std::string>& warnings);

/// Decodes, prepares and runs the backbone on every shard item that the cache
/// lacks, writing each entry atomically. An image smaller than one patch is a
/// warning (tooSmallNote(); with `strict` a failure). A failing item is recorded in the report
/// and skipped, or (strict) stops the job with primaps::Error naming it.
/// Checks control.proceed() between items; reports progress per item.
class FeatureJob : public Job
{
public:
    FeatureJob(const Dataset& dataset, Backbone& backbone, const FeatureCache& cache,
               const FeatureSettings& settings, Shard shard = {}, bool strict = false);
    void run(JobControl& control) override;
    const StageReport& report() const { return report_; }

private:
    const Dataset& dataset_;
    Backbone& backbone_;
    const FeatureCache& cache_;
    FeatureSettings settings_;
    Shard shard_;
    bool strict_;
    StageReport report_;
};

/// Computes PriMaPs mask ids (at the prepared image's resolution, the label
/// resolution of the fit) from cached features for every shard item the mask
/// cache lacks. With `crf`, the image is decoded again for the dense CRF (the
/// reference refines its masks so). Failures as FeatureJob.
class MaskJob : public Job
{
public:
    MaskJob(const Dataset& dataset, const FeatureCache& features, const MaskCache& masks,
            const FeatureSettings& settings, const PrimapsParams& params, bool crf,
            Shard shard = {}, bool strict = false);
    void run(JobControl& control) override;
    const StageReport& report() const { return report_; }

private:
    const Dataset& dataset_;
    const FeatureCache& features_;
    const MaskCache& masks_;
    FeatureSettings settings_;
    PrimapsParams params_;
    bool crf_;
    Shard shard_;
    bool strict_;
    StageReport report_;
};

/// EM training data read from the caches: the items whose features and masks are
/// both present (the others are listed by missing()). Features are memory-mapped
/// and converted per call, so memory stays bounded whatever the dataset size.
class CachedEmData : public EmDataSource
{
public:
    /// With a `student` cache (FeatureSettings::studentViews = `studentViews`), items
    /// also need all their student views to take part.
    CachedEmData(const Dataset& dataset, const FeatureCache& features, const MaskCache& masks,
                 const FeatureCache* student = nullptr, int studentViews = 0);
    std::size_t size() const override { return ids_.size(); }
    FeatureMap features(std::size_t index) const override;
    cv::Mat masks(std::size_t index) const override;
    bool hasStudentFeatures() const override { return student_ != nullptr && views_ > 0; }
    FeatureMap studentFeatures(std::size_t index, std::uint64_t view) const override;
    const std::vector<std::string>& ids() const { return ids_; }
    /// Ids of dataset items lacking features or masks.
    const std::vector<std::string>& missing() const { return missing_; }

private:
    const FeatureCache& features_;
    const MaskCache& masks_;
    const FeatureCache* student_ = nullptr;
    int views_ = 0;
    std::vector<std::string> ids_;
    std::vector<std::string> missing_;
};

/// One dataset item's cluster prediction, made as evaluation makes it.
struct ItemPrediction
{
    cv::Mat original;       ///< the decoded image, CV_8UC3 RGB at its own size
    PreparedImage prepared; ///< what the backbone saw (the evaluation crop)
    cv::Mat clusters;       ///< CV_32SC1 cluster ids at prepared.rgb's size
    cv::Mat labels; ///< CV_8UC1 ground truth prepared like the image; empty without a label file
    FeatureMap features; ///< the features predicted from, as the cache holds them (fp16 values)
    bool featuresReused = false; ///< the features came from the cache
    /// The loaded sample's (DatasetSample::warnings), and tooSmallNote() for an
    /// image smaller than one patch.
    std::vector<std::string> warnings;
};

/// Decodes item `index`, takes its features from `cache` (computing and storing
/// them when missing), and predicts a cluster per pixel of the prepared image:
/// the argmax of the prototypes' logits, or with `crf` the argmax of the dense
/// CRF's marginals on those logits. This is the one prediction path of
/// EvaluationJob and of the label export. Throws primaps::Error (naming the file
/// when it cannot be decoded) on any failure. Thread: `backbone` must not be used
/// by another thread meanwhile.
ItemPrediction predictItem(const Dataset& dataset, std::size_t index, Backbone& backbone,
                           const FeatureCache& cache, const FeatureSettings& settings,
                           const Prototypes& prototypes, bool crf);

/// Evaluates prototypes on the labelled shard items: flip-averaged features (from
/// `cache`, computed and stored when missing), predictions at the prepared
/// image's resolution, optionally refined by the dense CRF, against the labels
/// prepared the same way. Accumulates into confusion(). Items without labels are
/// counted as skipped; failures as FeatureJob.
class EvaluationJob : public Job
{
public:
    EvaluationJob(const Dataset& dataset, Backbone& backbone, const FeatureCache& cache,
                  const FeatureSettings& settings, const Prototypes& prototypes, bool crf,
                  Shard shard = {}, bool strict = false);
    void run(JobControl& control) override;
    const StageReport& report() const { return report_; }
    const ConfusionMatrix& confusion() const { return confusion_; }

private:
    const Dataset& dataset_;
    Backbone& backbone_;
    const FeatureCache& cache_;
    FeatureSettings settings_;
    Prototypes prototypes_;
    bool crf_;
    Shard shard_;
    bool strict_;
    StageReport report_;
    ConfusionMatrix confusion_;
};

} // namespace primaps
