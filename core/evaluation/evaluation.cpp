// SPDX-License-Identifier: MIT
#include "evaluation/evaluation.h"

#include "support/error.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <opencv2/core.hpp>

namespace primaps {

namespace {

constexpr std::int64_t kMaxWeight = std::int64_t(1) << 52;

template <typename T>
void accumulate(std::vector<std::int64_t>& counts, int clusters, int classes, const T* predictions,
                const cv::Mat& labels, int row, int cols)
{
    auto countRow = [&](auto* lab) {
        for (int x = 0; x < cols; ++x) {
            const long long cls = static_cast<long long>(lab[x]);
            if (cls < 0 || cls >= classes)
                continue;
            const long long cluster = static_cast<long long>(predictions[x]);
            if (cluster < 0 || cluster >= clusters)
                throw Error("prediction " + std::to_string(cluster) + " at row " +
                            std::to_string(row) + ", column " + std::to_string(x) +
                            " is not a cluster id in [0, " + std::to_string(clusters) + ")");
            ++counts[std::size_t(cluster) * std::size_t(classes) + std::size_t(cls)];
        }
    };
    switch (labels.depth()) {
    case CV_8U:
        countRow(labels.ptr<std::uint8_t>(row));
        break;
    case CV_16U:
        countRow(labels.ptr<std::uint16_t>(row));
        break;
    default:
        countRow(labels.ptr<std::int32_t>(row));
        break;
    }
}

bool supportedIdType(int type)
{
    return type == CV_8UC1 || type == CV_16UC1 || type == CV_32SC1;
}

} // namespace

ConfusionMatrix::ConfusionMatrix(int clusters, int classes) : clusters_(clusters), classes_(classes)
{
    if (clusters < 1 || classes < 1)
        throw Error("a confusion matrix needs at least one cluster and one class (got " +
                    std::to_string(clusters) + " x " + std::to_string(classes) + ")");
    counts_.assign(std::size_t(clusters) * std::size_t(classes), 0);
}

void ConfusionMatrix::add(const cv::Mat& predictions, const cv::Mat& labels)
{
    if (counts_.empty())
        throw Error("confusion matrix used before it was given a shape");
    if (predictions.size() != labels.size())
        throw Error("predictions (" + std::to_string(predictions.cols) + "x" +
                    std::to_string(predictions.rows) + ") and labels (" +
                    std::to_string(labels.cols) + "x" + std::to_string(labels.rows) +
                    ") differ in size");
    if (!supportedIdType(predictions.type()) || !supportedIdType(labels.type()))
        throw Error("predictions and labels must be single-channel 8-bit, 16-bit or 32-bit ids");
    std::vector<std::int64_t> updated = counts_;
    for (int y = 0; y < labels.rows; ++y) {
        switch (predictions.depth()) {
        case CV_8U:
            accumulate(updated, clusters_, classes_, predictions.ptr<std::uint8_t>(y), labels, y,
                       labels.cols);
            break;
        case CV_16U:
            accumulate(updated, clusters_, classes_, predictions.ptr<std::uint16_t>(y), labels, y,
                       labels.cols);
            break;
        default:
            accumulate(updated, clusters_, classes_, predictions.ptr<std::int32_t>(y), labels, y,
                       labels.cols);
            break;
        }
    }
    counts_.swap(updated);
}

void ConfusionMatrix::add(const std::int32_t* predictions, const std::uint8_t* labels,
                          std::size_t count)
{
    const cv::Mat p(1, int(count), CV_32SC1, const_cast<std::int32_t*>(predictions));
    const cv::Mat l(1, int(count), CV_8UC1, const_cast<std::uint8_t*>(labels));
    if (count > 0)
        add(p, l);
}

void ConfusionMatrix::merge(const ConfusionMatrix& other)
{
    if (other.clusters_ != clusters_ || other.classes_ != classes_)
        throw Error("cannot merge a " + std::to_string(other.clusters_) + " x " +
                    std::to_string(other.classes_) + " confusion matrix into a " +
                    std::to_string(clusters_) + " x " + std::to_string(classes_) + " one");
    for (std::size_t i = 0; i < counts_.size(); ++i)
        counts_[i] += other.counts_[i];
}

void ConfusionMatrix::setCounts(const std::vector<std::int64_t>& counts)
{
    if (counts.size() != counts_.size())
        throw Error("confusion counts: expected " + std::to_string(counts_.size()) +
                    " values, got " + std::to_string(counts.size()));
    if (std::any_of(counts.begin(), counts.end(), [](std::int64_t c) { return c < 0; }))
        throw Error("confusion counts must not be negative");
    counts_ = counts;
}

std::int64_t ConfusionMatrix::total() const
{
    return std::accumulate(counts_.begin(), counts_.end(), std::int64_t(0));
}

std::vector<int> maxWeightAssignment(const std::vector<std::int64_t>& weights, int rows, int cols)
{
    if (rows < 1 || cols < 1)
        throw Error("assignment needs at least one row and one column");
    if (weights.size() != std::size_t(rows) * std::size_t(cols))
        throw Error("assignment: weight matrix size does not match rows x cols");
    for (std::int64_t w : weights)
        if (w > kMaxWeight || w < -kMaxWeight)
            throw Error("assignment: weight magnitude exceeds 2^52");

    if (rows > cols) {
        // Solve the transposed problem (every column gets a row) and invert it.
        std::vector<std::int64_t> transposed(weights.size());
        for (int r = 0; r < rows; ++r)
            for (int c = 0; c < cols; ++c)
                transposed[std::size_t(c) * std::size_t(rows) + std::size_t(r)] =
                    weights[std::size_t(r) * std::size_t(cols) + std::size_t(c)];
        const std::vector<int> colToRow = maxWeightAssignment(transposed, cols, rows);
        std::vector<int> rowToCol(std::size_t(rows), -1);
        for (int c = 0; c < cols; ++c)
            rowToCol[std::size_t(colToRow[std::size_t(c)])] = c;
        return rowToCol;
    }

    // Minimum-cost assignment of n rows to m >= n columns on cost = -weight, with row
    // potentials u and column potentials v kept feasible (cost - u - v >= 0) and one
    // augmenting path per row (Kuhn-Munkres in the shortest-augmenting-path form).
    // 1-based, column 0 is the virtual start of each path. Integer arithmetic keeps
    // the result exact.
    const int n = rows;
    const int m = cols;
    const std::int64_t inf = std::numeric_limits<std::int64_t>::max() / 4;
    auto cost = [&](int i, int j) {
        return -weights[std::size_t(i - 1) * std::size_t(m) + std::size_t(j - 1)];
    };
    std::vector<std::int64_t> u(std::size_t(n) + 1, 0), v(std::size_t(m) + 1, 0);
    std::vector<int> matchOfColumn(std::size_t(m) + 1, 0), way(std::size_t(m) + 1, 0);
    for (int i = 1; i <= n; ++i) {
        matchOfColumn[0] = i;
        int j0 = 0;
        std::vector<std::int64_t> minv(std::size_t(m) + 1, inf);
        std::vector<char> used(std::size_t(m) + 1, 0);
        do {
            used[std::size_t(j0)] = 1;
            const int i0 = matchOfColumn[std::size_t(j0)];
            std::int64_t delta = inf;
            int j1 = 0;
            for (int j = 1; j <= m; ++j) {
                if (used[std::size_t(j)])
                    continue;
                const std::int64_t reduced = cost(i0, j) - u[std::size_t(i0)] - v[std::size_t(j)];
                if (reduced < minv[std::size_t(j)]) {
                    minv[std::size_t(j)] = reduced;
                    way[std::size_t(j)] = j0;
                }
                if (minv[std::size_t(j)] < delta) {
                    delta = minv[std::size_t(j)];
                    j1 = j;
                }
            }
            for (int j = 0; j <= m; ++j) {
                if (used[std::size_t(j)]) {
                    u[std::size_t(matchOfColumn[std::size_t(j)])] += delta;
                    v[std::size_t(j)] -= delta;
                } else {
                    minv[std::size_t(j)] -= delta;
                }
            }
            j0 = j1;
        } while (matchOfColumn[std::size_t(j0)] != 0);
        do {
            const int j1 = way[std::size_t(j0)];
            matchOfColumn[std::size_t(j0)] = matchOfColumn[std::size_t(j1)];
            j0 = j1;
        } while (j0 != 0);
    }
    std::vector<int> rowToCol(std::size_t(n), -1);
    for (int j = 1; j <= m; ++j)
        if (matchOfColumn[std::size_t(j)] != 0)
            rowToCol[std::size_t(matchOfColumn[std::size_t(j)] - 1)] = j - 1;
    return rowToCol;
}

EvaluationResult evaluate(const ConfusionMatrix& confusion)
{
    const int k = confusion.clusters();
    const int n = confusion.classes();
    if (k < 1 || n < 1)
        throw Error("cannot evaluate an empty confusion matrix");
    const std::vector<std::int64_t>& counts = confusion.counts();

    EvaluationResult result;
    result.clusters = k;
    result.classes = n;
    result.pixels = confusion.total();
    result.clusterToClass.assign(std::size_t(k), -1);
    result.matchKind.assign(std::size_t(k), MatchKind::Hungarian);

    if (k <= n) {
        result.clusterToClass = maxWeightAssignment(counts, k, n);
    } else {
        // Classes choose clusters one-to-one; the clusters nobody chose join the class
        // they overlap most.
        std::vector<std::int64_t> transposed(counts.size());
        for (int c = 0; c < k; ++c)
            for (int j = 0; j < n; ++j)
                transposed[std::size_t(j) * std::size_t(k) + std::size_t(c)] =
                    counts[std::size_t(c) * std::size_t(n) + std::size_t(j)];
        const std::vector<int> classToCluster = maxWeightAssignment(transposed, n, k);
        for (int j = 0; j < n; ++j)
            result.clusterToClass[std::size_t(classToCluster[std::size_t(j)])] = j;
        for (int c = 0; c < k; ++c) {
            if (result.clusterToClass[std::size_t(c)] >= 0)
                continue;
            const auto row = counts.begin() + std::ptrdiff_t(std::size_t(c) * std::size_t(n));
            result.clusterToClass[std::size_t(c)] = int(std::max_element(row, row + n) - row);
            result.matchKind[std::size_t(c)] = MatchKind::Majority;
        }
    }

    // The metrics of the match, exactly as scoreMatch() computes them for any match.
    EvaluationResult scored = scoreMatch(confusion, result.clusterToClass);
    scored.matchKind = std::move(result.matchKind);
    return scored;
}

EvaluationResult scoreMatch(const ConfusionMatrix& confusion, const std::vector<int>& clusterToClass)
{
    const int k = confusion.clusters();
    const int n = confusion.classes();
    if (k < 1 || n < 1)
        throw Error("cannot score an empty confusion matrix");
    if (int(clusterToClass.size()) != k)
        throw Error("the match has " + std::to_string(clusterToClass.size()) +
                    " cluster(s), the confusion matrix " + std::to_string(k));
    EvaluationResult r;
    r.clusters = k;
    r.classes = n;
    r.pixels = confusion.total();
    r.clusterToClass = clusterToClass;
    r.matchKind.assign(std::size_t(k), MatchKind::Hungarian);
    r.matched.assign(std::size_t(n) * std::size_t(n), 0);
    // actual[j]: every valid pixel of class j, also those of ignored clusters
    // (they are false negatives of j).
    std::vector<std::int64_t> actual(std::size_t(n), 0), predicted(std::size_t(n), 0);
    for (int c = 0; c < k; ++c) {
        const int p = clusterToClass[std::size_t(c)];
        if (p < -1 || p >= n)
            throw Error("the match gives cluster " + std::to_string(c) + " class " +
                        std::to_string(p) + "; there are classes 0.." + std::to_string(n - 1));
        for (int j = 0; j < n; ++j) {
            const std::int64_t v = confusion.at(c, j);
            actual[std::size_t(j)] += v;
            if (p >= 0) {
                r.matched[std::size_t(p) * std::size_t(n) + std::size_t(j)] += v;
                predicted[std::size_t(p)] += v;
            }
        }
    }
    const double nan = std::numeric_limits<double>::quiet_NaN();
    std::int64_t correct = 0;
    double iouSum = 0;
    int defined = 0;
    r.classIoU.assign(std::size_t(n), nan);
    for (int j = 0; j < n; ++j) {
        const std::int64_t tp = r.matched[std::size_t(j) * std::size_t(n) + std::size_t(j)];
        correct += tp;
        const std::int64_t unionCount = predicted[std::size_t(j)] + actual[std::size_t(j)] - tp;
        if (unionCount == 0)
            continue;
        const double iou = 100.0 * double(tp) / double(unionCount);
        r.classIoU[std::size_t(j)] = iou;
        iouSum += iou;
        ++defined;
    }
    r.accuracy = r.pixels > 0 ? 100.0 * double(correct) / double(r.pixels) : nan;
    r.meanIoU = defined > 0 ? iouSum / defined : nan;
    return r;
}

cv::Mat mapClusters(const cv::Mat& predictions, const std::vector<int>& clusterToClass, int ignore)
{
    if (!supportedIdType(predictions.type()))
        throw Error("mapClusters: predictions must be single-channel 8-bit, 16-bit or 32-bit ids");
    cv::Mat out(predictions.size(), CV_8UC1);
    const auto lookup = [&](long long id) -> std::uint8_t {
        if (id < 0 || id >= static_cast<long long>(clusterToClass.size()))
            return std::uint8_t(ignore);
        const int cls = clusterToClass[std::size_t(id)];
        return std::uint8_t(cls < 0 ? ignore : cls);
    };
    for (int y = 0; y < predictions.rows; ++y) {
        std::uint8_t* o = out.ptr<std::uint8_t>(y);
        for (int x = 0; x < predictions.cols; ++x) {
            switch (predictions.depth()) {
            case CV_8U:
                o[x] = lookup(predictions.ptr<std::uint8_t>(y)[x]);
                break;
            case CV_16U:
                o[x] = lookup(predictions.ptr<std::uint16_t>(y)[x]);
                break;
            default:
                o[x] = lookup(predictions.ptr<std::int32_t>(y)[x]);
                break;
            }
        }
    }
    return out;
}

const char* matchingKind(const EvaluationResult& result)
{
    if (result.clusters > result.classes)
        return "many-to-one";
    return result.clusters == result.classes ? "one-to-one" : "one-to-one, partial";
}

std::string describeMatching(const EvaluationResult& result)
{
    const std::string counts = std::to_string(result.clusters) + " clusters onto " +
                               std::to_string(result.classes) + " classes";
    if (result.clusters <= result.classes)
        return std::string(matchingKind(result)) + ": " + counts + " (Hungarian matching)";
    const auto majority = std::count(result.matchKind.begin(), result.matchKind.end(),
                                     MatchKind::Majority);
    return std::string(matchingKind(result)) + ": " + counts + " (" +
           std::to_string(result.clusters - int(majority)) + " by Hungarian matching, " +
           std::to_string(majority) + " by majority, marked *)";
}

std::string formatEvaluation(const EvaluationResult& result, const std::vector<std::string>& names)
{
    auto number = [](double v) {
        if (std::isnan(v))
            return std::string("   n/a");
        char buffer[32];
        std::snprintf(buffer, sizeof buffer, "%6.2f", v);
        return std::string(buffer);
    };
    std::string text = "Acc  " + number(result.accuracy) + "\nmIoU " + number(result.meanIoU) +
                       "\n" + "pixels " + std::to_string(result.pixels) + "\n" + "match " +
                       describeMatching(result) + "\n" +
                       "class IoU (clusters matched to the class):\n";
    for (int j = 0; j < result.classes; ++j) {
        const std::string name = std::size_t(j) < names.size() && !names[std::size_t(j)].empty()
                                     ? names[std::size_t(j)]
                                     : "class " + std::to_string(j);
        std::string clusters;
        for (int c = 0; c < result.clusters; ++c)
            if (result.clusterToClass[std::size_t(c)] == j)
                clusters += (clusters.empty() ? "" : ",") + std::to_string(c) +
                            (result.matchKind[std::size_t(c)] == MatchKind::Majority ? "*" : "");
        char id[16];
        std::snprintf(id, sizeof id, "%3d", j);
        text += "  " + std::string(id) + " " + number(result.classIoU[std::size_t(j)]) + "  " +
                name + (clusters.empty() ? "" : "  (" + clusters + ")") + "\n";
    }
    return text;
}

} // namespace primaps
