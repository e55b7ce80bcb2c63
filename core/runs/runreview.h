// SPDX-License-Identifier: MIT
// Reviewing a fitted run image by image: the layers of one dataset item (photo,
// ground truth, PriMaPs masks, the pseudo-label of the E-step with each mask's
// vote, the prediction, the error map), per-image confusion counts and metrics,
// and a job that counts a whole split and keeps the counts in the run folder.
#pragma once

#include "dataset/dataset.h"
#include "runs/datasetjobs.h"
#include "em/emfit.h"
#include "evaluation/evaluation.h"
#include "support/job.h"

#include <cstdint>
#include <memory>
#include <opencv2/core/mat.hpp>
#include <optional>
#include <string>
#include <vector>

namespace primaps {

/// Which prediction a review shows and scores: theta_R ("r", the trained
/// prototypes; the studio's default) or theta_M ("m", the EMA prototypes the
/// fit's E-step and `primaps eval` use by default), with or without the dense CRF.
struct ReviewPrediction
{
    std::string theta = "r";
    bool crf = false;

    bool operator==(const ReviewPrediction& o) const { return theta == o.theta && crf == o.crf; }
    bool operator!=(const ReviewPrediction& o) const { return !(*this == o); }
};

/// Why a mask got its pseudo-label class: the E-step's vote. theta_M predicts a
/// cluster for every pixel of the mask (from the fit's features, at the masks'
/// resolution); the mask takes the cluster with most pixels, ties to the lowest
/// id, exactly as EmFit's E-step does.
struct MaskVote
{
    int mask = 0;                    ///< mask id in ImageReview::masks (1..254)
    std::int64_t pixels = 0;         ///< pixels of the mask
    std::vector<std::int64_t> votes; ///< per cluster: the mask's pixels theta_M gives it
    int cluster = -1;                ///< the winner (the pseudo-label's cluster)
    int runnerUp = -1;               ///< the cluster with the next most votes; -1 when none got any
    std::int64_t margin = 0;         ///< votes[cluster] - votes[runnerUp] (votes[cluster] without one)

    /// votes[cluster] / pixels in [0, 1]; 0 for an empty mask.
    double winnerShare() const;
};

/// What one image contributes to a split's evaluation.
struct ImageCounts
{
    std::string id; ///< the dataset item's id
    /// Clusters x classes counts of the prediction against the ground truth
    /// (ConfusionMatrix's rules); all zero when the image has no labels.
    ConfusionMatrix confusion;
    bool labelled = false;
    /// Pixels of the prepared image per predicted cluster (labelled or not):
    /// with a match, the share of each class in the prediction.
    std::vector<std::int64_t> clusterPixels;

    bool operator==(const ImageCounts& o) const
    {
        return id == o.id && labelled == o.labelled && clusterPixels == o.clusterPixels &&
               confusion.clusters() == o.confusion.clusters() &&
               confusion.counts() == o.confusion.counts();
    }
};

/// Per-image numbers under a match, in percent (NaN as EvaluationResult).
struct ImageMetrics
{
    std::int64_t pixels = 0; ///< valid ground-truth pixels
    double accuracy = 0;
    double meanIoU = 0;
    std::vector<double> classIoU;   ///< per class
    std::vector<double> classShare; ///< per class: share of the image's predicted pixels
};

/// Scores one image under `clusterToClass` (the run's match, edited or not; -1 =
/// ignored cluster), exactly as scoreMatch() scores the image's confusion
/// matrix: the numbers `primaps eval` gives for a split holding only this image
/// when it is scored with that match. Classes come from `counts.confusion`;
/// throws primaps::Error when the match has another cluster count.
ImageMetrics scoreImage(const ImageCounts& counts, const std::vector<int>& clusterToClass);

/// Values of errorMap().
enum ErrorMapValue : std::uint8_t
{
    ErrorCorrect = 0,       ///< predicted class = true class
    ErrorWrong = 1,         ///< another class
    ErrorUnpredicted = 2,   ///< the pixel's cluster is ignored (no class) but it has a true class
    ErrorNoTruth = 255,     ///< no ground truth here (ignore label or unlabelled image)
};

/// CV_8UC1 error map of predicted class ids (CV_8U or CV_32S; values outside
/// [0, classes) mean "no class") against ground truth (CV_8UC1, class ids in
/// [0, classes), anything else = no truth) of the same size. An empty `truth`
/// gives all ErrorNoTruth. Throws primaps::Error on a size or type mismatch.
cv::Mat errorMap(const cv::Mat& predictedClasses, const cv::Mat& truth, int classes);

/// The layers of one dataset item, all at the prepared image's size (the run's
/// evaluation crop: the shorter side resized to the run's resolution, centre
/// cropped), so they overlay pixel for pixel. Class-space layers are made by the
/// caller with mapClusters(layer, clusterToClass), so a changed match needs no
/// new review. A plain value; any thread.
struct ImageReview
{
    std::size_t index = 0; ///< in the dataset
    std::string id;
    cv::Mat photo;       ///< CV_8UC3 RGB, the prepared image
    cv::Mat original;    ///< CV_8UC3 RGB, the decoded image at its own size
    cv::Mat groundTruth; ///< CV_8UC1 class ids, 255 = ignore; empty when unlabelled
    cv::Mat masks;       ///< CV_8UC1 PriMaPs mask ids, 0 = background, as the fit used them
    bool masksFromCache = false; ///< read from the run's mask cache (else decomposed now)
    cv::Mat thetaMClusters; ///< CV_32SC1: theta_M's cluster per pixel from the fit's features
    /// CV_32SC1 pseudo-label in cluster ids: each mask's MaskVote::cluster; -1 on
    /// background (mask 0) and ignored pixels (mask 255), which the E-step leaves unlabelled.
    cv::Mat pseudoLabel;
    std::vector<MaskVote> votes; ///< one per mask id present in `masks`, ascending
    ReviewPrediction predictionKind;
    cv::Mat prediction; ///< CV_32SC1 cluster ids: predictItem()'s, as `primaps eval` predicts
    ImageCounts counts; ///< of `prediction` against `groundTruth`

    /// The vote of mask `maskId`; nullptr when the image has no such mask.
    const MaskVote* voteOf(int maskId) const;
};

/// A fitted run opened for review on one split of its dataset (or another
/// dataset with the same classes): both prototypes, the backbone and the run's
/// caches. The features of the E-step (the fit's: not flip-averaged) and of the
/// prediction (flip-averaged, as `primaps eval`) come from the run's feature
/// cache when present; missing ones are computed and stored there, and missing
/// masks are decomposed with the run's threshold and mask CRF setting (and
/// stored in its mask cache), so later reviews and `primaps eval` reuse them.
///
/// Threading: construct anywhere (slow: may load a checkpoint); the object then
/// belongs to one worker thread at a time (the backbone is not thread-safe).
/// The accessors are const and cheap.
class RunReview
{
public:
    /// Opens RUN_DIR (complete fit: run.json, theta_m.json, theta_r.json) for
    /// `dataset`. `weights` / `cache` override the run's backbone weights and
    /// cache folder. Throws primaps::Error with a message for the user (naming
    /// the run folder or file) when the run is incomplete or unreadable, or the
    /// backbone does not fit the prototypes.
    RunReview(const std::string& runDir, Dataset dataset, const std::string& weights = {},
              const std::string& cache = {});
    ~RunReview();
    RunReview(const RunReview&) = delete;
    RunReview& operator=(const RunReview&) = delete;

    const std::string& runDir() const;
    const Dataset& dataset() const;
    const Prototypes& thetaM() const;
    const Prototypes& thetaR() const;
    int clusters() const;
    /// The dataset's class count (0 when it has no class list).
    int classes() const;
    /// The run's resolution (shorter side before the crop).
    int resolution() const;
    /// The backbone's name (e.g. "filterbank").
    std::string backboneName() const;
    /// hashFile() of theta_m.json / theta_r.json: identifies the prototypes.
    std::string prototypesDigest(const std::string& theta) const;

    /// All layers of item `index`. Throws primaps::Error naming the file when
    /// the image cannot be decoded or a cache entry is damaged, or when `index`
    /// is out of range. Thread: the object's.
    ImageReview review(std::size_t index, const ReviewPrediction& prediction);

    /// Only the prediction's counts of item `index` (no masks, no vote): what
    /// ReviewCountsJob stores. Throws like review().
    ImageCounts counts(std::size_t index, const ReviewPrediction& prediction);

private:
    struct Impl;
    std::unique_ptr<Impl> d;
};

/// The stored counts of a split: RUN_DIR/review/counts-<split>-theta_<m|r>[-crf].json.
/// Each image's confusion is stored sparsely, so 5,000 images of 27 classes stay
/// a few megabytes.
struct SplitCounts
{
    std::string split;
    std::string datasetFingerprint; ///< Dataset::fingerprint()
    ReviewPrediction prediction;
    std::string prototypesDigest; ///< of the prototypes the counts were made with
    int resolution = 0;
    int clusters = 0;
    int classes = 0;
    std::vector<ImageCounts> images;      ///< counted items, in dataset order
    std::vector<DatasetProblem> failures; ///< items that could not be counted

    /// Sum of the images' confusion matrices: what `primaps eval` gives for the
    /// split (with the same theta and CRF). clusters x classes (at least 1 x 1).
    ConfusionMatrix total() const;
    /// The counts of item `id`; nullptr when not counted.
    const ImageCounts* find(const std::string& id) const;
    /// True when these counts were made for `review`'s dataset and prototypes
    /// with `prediction` (so they may be used and resumed).
    bool matches(const RunReview& review, const ReviewPrediction& prediction) const;
};

/// Where a split's counts live in RUN_DIR (folder review/; an empty split is "all").
std::string splitCountsPath(const std::string& runDir, const std::string& split,
                            const ReviewPrediction& prediction);
/// JSON text of the counts and back. parse throws primaps::Error naming `source`
/// and the field when the text is malformed or inconsistent.
std::string splitCountsToJson(const SplitCounts& counts);
SplitCounts parseSplitCounts(const std::string& text, const std::string& source);
/// The stored counts of `review`'s split with `prediction`, when the file exists
/// and matches (SplitCounts::matches()); std::nullopt otherwise (also when it is
/// damaged: it is then recounted). Any thread; reads only.
std::optional<SplitCounts> loadSplitCounts(const RunReview& review,
                                           const ReviewPrediction& prediction);

/// Counts every item of the review's split (ImageCounts per item) and keeps the
/// result in splitCountsPath(): items already stored with the same prototypes are
/// reused (resume), the file is written atomically every 50 items, on cancel and
/// at the end, so a reopened run has the counts at once. Progress per item
/// (stage "review"); control.proceed() between items. A failing item is
/// recorded in failures and skipped. Thread: the review's (run() uses its backbone).
class ReviewCountsJob : public Job
{
public:
    /// `review` must outlive the job and not be used elsewhere while it runs.
    ReviewCountsJob(RunReview& review, ReviewPrediction prediction);
    void run(JobControl& control) override;
    /// After run(): all counts so far (also when canceled).
    const SplitCounts& counts() const { return counts_; }
    const StageReport& report() const { return report_; }
    /// Where the counts were stored.
    std::string path() const;

private:
    RunReview& review_;
    ReviewPrediction prediction_;
    SplitCounts counts_;
    StageReport report_;
};

} // namespace primaps
