// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cv {
class Mat;
}

namespace primaps {

/// Counts of (predicted cluster, ground-truth class) pairs over valid label pixels
/// (docs/ALGORITHM.md, "Evaluation"). Rows are clusters, columns classes. A label pixel is valid when
/// its value is in [0, classes()); everything else (255 = ignore, or any id the
/// dataset does not know) is skipped, as the reference's metric does.
///
/// A plain value type: copy it, merge shards with merge(). Not synchronised; use
/// one instance per thread and merge at the end.
class ConfusionMatrix
{
public:
    ConfusionMatrix() = default;
    /// Throws primaps::Error when clusters < 1 or classes < 1.
    ConfusionMatrix(int clusters, int classes);

    int clusters() const { return clusters_; }
    int classes() const { return classes_; }

    /// Adds one image. `predictions` holds cluster ids (CV_8U, CV_16U or CV_32S),
    /// `labels` class ids (CV_8U, CV_16U or CV_32S), both single-channel and of
    /// the same size. Throws primaps::Error on a size or type mismatch, or when a
    /// prediction at a valid label pixel is outside [0, clusters()); nothing is
    /// added then.
    void add(const cv::Mat& predictions, const cv::Mat& labels);
    /// Raw form of add(): `count` cluster ids and class ids. Throws like add().
    void add(const std::int32_t* predictions, const std::uint8_t* labels, std::size_t count);
    /// Adds another matrix of the same shape (shards of one evaluation).
    /// Throws primaps::Error when the shapes differ.
    void merge(const ConfusionMatrix& other);

    std::int64_t at(int cluster, int cls) const
    {
        return counts_[std::size_t(cluster) * std::size_t(classes_) + std::size_t(cls)];
    }
    /// Row-major clusters() x classes() counts.
    const std::vector<std::int64_t>& counts() const { return counts_; }
    /// Replaces the counts (e.g. read back from a file). Throws primaps::Error when
    /// the size is not clusters() * classes() or a count is negative.
    void setCounts(const std::vector<std::int64_t>& counts);
    /// Number of valid label pixels counted so far.
    std::int64_t total() const;

private:
    int clusters_ = 0;
    int classes_ = 0;
    std::vector<std::int64_t> counts_;
};

/// Maximum-weight assignment (Hungarian algorithm with potentials, O(n^2 m) for
/// an n x m matrix with n <= m). `weights` is row-major rows x cols. Returns, for
/// each row, the column it is matched to: every row is matched when rows <= cols;
/// otherwise exactly `cols` rows are and the rest get -1. No column is used twice.
/// Exact for integer weights (no rounding anywhere); among several optimal
/// assignments an arbitrary but deterministic one is returned.
/// Throws primaps::Error when rows or cols < 1, the size does not match, or a
/// weight's magnitude exceeds 2^52 (the potentials must not overflow).
std::vector<int> maxWeightAssignment(const std::vector<std::int64_t>& weights, int rows, int cols);

/// How each cluster was given a class.
enum class MatchKind
{
    Hungarian, ///< one-to-one part of the matching
    Majority,  ///< an extra cluster (more clusters than classes): the class it overlaps
               ///< most; a cluster without any pixels goes to class 0 like in the reference
};

/// Metrics in percent, as the paper reports them (docs/ALGORITHM.md, "Evaluation").
struct EvaluationResult
{
    int clusters = 0;
    int classes = 0;
    std::int64_t pixels = 0; ///< valid label pixels evaluated
    /// Correctly classified pixels / valid pixels, after matching. NaN when there are
    /// no valid pixels.
    double accuracy = 0;
    /// Mean of the defined per-class IoUs. NaN when none is defined.
    double meanIoU = 0;
    /// Per class: TP / (TP + FP + FN) in percent. NaN ("no pixels") when the class
    /// has neither label pixels nor predicted pixels, so TP + FP + FN = 0; such
    /// classes are left out of the mean. A class with predictions but no label
    /// pixels has IoU 0 and counts, as in the reference metric.
    std::vector<double> classIoU;
    std::vector<int> clusterToClass;  ///< class of each cluster; every cluster gets one
    std::vector<MatchKind> matchKind; ///< how each cluster got its class
    /// classes x classes counts after matching: row = predicted class, column = true class.
    std::vector<std::int64_t> matched;
};

/// Matches clusters to classes and computes the metrics.
///
/// clusters == classes: Hungarian (maximum-weight) one-to-one matching on the
/// confusion counts. clusters > classes: each class takes one cluster by the
/// Hungarian matching of classes to clusters, and every remaining cluster goes to
/// the class it overlaps most (ties to the lower class id), as the reference metric
/// does. clusters < classes: each cluster takes one class; classes left over get
/// no predictions (IoU 0 if they have label pixels).
/// Never throws for a valid matrix; an empty matrix (clusters or classes 0) throws
/// primaps::Error.
EvaluationResult evaluate(const ConfusionMatrix& confusion);

/// Acc, mIoU, per-class IoU and the matched matrix of `confusion` under a given
/// match, computed exactly as evaluate() computes them for its own match.
/// Clusters mapped to -1 (ignored) predict no class: their pixels count as
/// wrong for Acc and as false negatives of their true class, and they are not in
/// `matched`. The result's clusterToClass is `clusterToClass`; matchKind is left
/// as Hungarian. O(clusters x classes): microseconds for any realistic size.
/// Throws primaps::Error when the sizes disagree or a class is out of range.
EvaluationResult scoreMatch(const ConfusionMatrix& confusion,
                            const std::vector<int>& clusterToClass);

/// The kind of matching evaluate() made: "one-to-one" (as many clusters as
/// classes), "many-to-one" (over-clustering: every class takes one cluster by the
/// Hungarian matching, the other clusters join the class they overlap most) or
/// "one-to-one, partial" (fewer clusters than classes: some classes get none).
const char* matchingKind(const EvaluationResult& result);

/// One line for the user: the matching kind with its counts, e.g. "many-to-one:
/// 12 clusters onto 6 classes (6 by Hungarian matching, 6 by majority)".
std::string describeMatching(const EvaluationResult& result);

/// Maps a cluster-id image (CV_8U/CV_16U/CV_32S) to class ids (CV_8U) through
/// `clusterToClass`; clusters without a class (-1) and ids outside the table
/// become `ignore`. Throws primaps::Error on a wrong type.
cv::Mat mapClusters(const cv::Mat& predictions, const std::vector<int>& clusterToClass,
                    int ignore = 255);

/// A human-readable multi-line table: Acc, mIoU, the matching
/// (describeMatching()), then one line per class
/// (`names` may be shorter than the class count; missing names print as "class N").
std::string formatEvaluation(const EvaluationResult& result,
                             const std::vector<std::string>& names = {});

} // namespace primaps
