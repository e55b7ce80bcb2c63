// SPDX-License-Identifier: MIT
// Confusion matrix, Hungarian matching and the metrics against hand-computed cases.
#include "support/error.h"
#include "evaluation/evaluation.h"
#include "runs/evaluationreport.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <numeric>
#include <opencv2/core.hpp>
#include <QtTest>
#include <random>

using namespace primaps;

namespace {

cv::Mat row8(const std::vector<int>& values)
{
    cv::Mat m(1, int(values.size()), CV_8UC1);
    for (std::size_t i = 0; i < values.size(); ++i)
        m.at<std::uint8_t>(0, int(i)) = std::uint8_t(values[i]);
    return m;
}

ConfusionMatrix confusionOf(int clusters, int classes, const std::vector<int>& predictions,
                            const std::vector<int>& labels)
{
    ConfusionMatrix m(clusters, classes);
    m.add(row8(predictions), row8(labels));
    return m;
}

std::int64_t assignmentWeight(const std::vector<std::int64_t>& w, int cols,
                              const std::vector<int>& rowToCol)
{
    std::int64_t sum = 0;
    for (std::size_t r = 0; r < rowToCol.size(); ++r)
        if (rowToCol[r] >= 0)
            sum += w[r * std::size_t(cols) + std::size_t(rowToCol[r])];
    return sum;
}

// Best total over every injective map of the smaller side into the larger one.
std::int64_t bruteForceBest(const std::vector<std::int64_t>& w, int rows, int cols)
{
    const bool transpose = rows > cols;
    const int n = transpose ? cols : rows;
    const int m = transpose ? rows : cols;
    auto weight = [&](int i, int j) {
        return transpose ? w[std::size_t(j) * std::size_t(cols) + std::size_t(i)]
                         : w[std::size_t(i) * std::size_t(cols) + std::size_t(j)];
    };
    std::vector<int> columns(static_cast<std::size_t>(m));
    std::iota(columns.begin(), columns.end(), 0);
    std::int64_t best = std::numeric_limits<std::int64_t>::min();
    do {
        std::int64_t sum = 0;
        for (int i = 0; i < n; ++i)
            sum += weight(i, columns[std::size_t(i)]);
        best = std::max(best, sum);
    } while (std::next_permutation(columns.begin(), columns.end()));
    return best;
}

} // namespace

class TestEvaluation : public QObject
{
    Q_OBJECT

private slots:
    void greedyIsNotOptimal()
    {
        // Greedy would take 10 then 1 (11); the optimum crosses over (9 + 9 = 18).
        const std::vector<int> a = maxWeightAssignment({10, 9, 9, 1}, 2, 2);
        QCOMPARE(a, (std::vector<int>{1, 0}));
    }

    void hungarianMatchesBruteForce()
    {
        std::mt19937 rng(3);
        for (int trial = 0; trial < 300; ++trial) {
            const int rows = 1 + int(rng() % 6);
            const int cols = 1 + int(rng() % 6);
            std::vector<std::int64_t> w(std::size_t(rows * cols));
            // Small value ranges make ties (several optima) frequent.
            const int range = trial % 2 == 0 ? 4 : 1000;
            for (auto& v : w)
                v = std::int64_t(rng() % unsigned(range)) - (trial % 3 == 0 ? range / 2 : 0);
            const std::vector<int> a = maxWeightAssignment(w, rows, cols);
            QCOMPARE(int(a.size()), rows);
            // Injective, and exactly min(rows, cols) rows matched.
            std::vector<int> used;
            for (int c : a)
                if (c >= 0) {
                    QVERIFY(c < cols);
                    used.push_back(c);
                }
            QCOMPARE(int(used.size()), std::min(rows, cols));
            std::sort(used.begin(), used.end());
            QVERIFY(std::adjacent_find(used.begin(), used.end()) == used.end());
            QCOMPARE(assignmentWeight(w, cols, a), bruteForceBest(w, rows, cols));
        }
    }

    void assignmentRejectsBadInput()
    {
        QVERIFY_THROWS_EXCEPTION(Error, maxWeightAssignment({1, 2, 3}, 2, 2));
        QVERIFY_THROWS_EXCEPTION(Error, maxWeightAssignment({}, 0, 2));
        QVERIFY_THROWS_EXCEPTION(Error, maxWeightAssignment({std::int64_t(1) << 60}, 1, 1));
    }

    void permutedClustersArePerfect()
    {
        const EvaluationResult r = evaluate(confusionOf(2, 2, {1, 1, 0, 0}, {0, 0, 1, 1}));
        QCOMPARE(r.clusterToClass, (std::vector<int>{1, 0}));
        QCOMPARE(r.accuracy, 100.0);
        QCOMPARE(r.meanIoU, 100.0);
        QCOMPARE(r.pixels, std::int64_t(4));
    }

    void classAbsentFromLabelsButPredicted()
    {
        // counts[cluster][class]: c0 = (1, 1, 0), c1 = (0, 2, 0), c2 = (2, 0, 0).
        // Best matching c2->0, c1->1, c0->2 (weight 4). Class 2 has no label pixels
        // but receives c0's two pixels: IoU 0, and it counts in the mean.
        const EvaluationResult r =
            evaluate(confusionOf(3, 3, {2, 2, 0, 1, 1, 0}, {0, 0, 0, 1, 1, 1}));
        QCOMPARE(r.clusterToClass, (std::vector<int>{2, 1, 0}));
        QCOMPARE(r.accuracy, 100.0 * 4 / 6);
        QCOMPARE(r.classIoU[0], 100.0 * 2 / 3);
        QCOMPARE(r.classIoU[1], 100.0 * 2 / 3);
        QCOMPARE(r.classIoU[2], 0.0);
        QCOMPARE(r.meanIoU, (200.0 / 3 + 200.0 / 3 + 0.0) / 3);
        QCOMPARE(r.matched, (std::vector<std::int64_t>{2, 0, 0, 0, 2, 0, 1, 1, 0}));
    }

    void classWithoutAnyPixelsIsSkipped()
    {
        // Class 2 has no label pixels and cluster 2 (matched to it) predicts nothing.
        // Pixels labelled 255 are ignored whatever is predicted there, even an id that
        // is no cluster.
        const EvaluationResult r = evaluate(confusionOf(3, 3, {0, 0, 1, 1, 7}, {0, 0, 1, 1, 255}));
        QCOMPARE(r.pixels, std::int64_t(4));
        QVERIFY(std::isnan(r.classIoU[2]));
        QCOMPARE(r.classIoU[0], 100.0);
        QCOMPARE(r.classIoU[1], 100.0);
        QCOMPARE(r.meanIoU, 100.0);
        QCOMPARE(r.accuracy, 100.0);
    }

    void moreClustersThanClasses()
    {
        // counts: c0 = (3, 0), c1 = (0, 3), c2 = (1, 1), c3 = (0, 2).
        // Hungarian: class 0 <- c0, class 1 <- c1. Extras by majority: c2 ties, goes to
        // the lower class 0; c3 goes to class 1. Matched rows: (4, 1), (0, 5).
        const EvaluationResult r = evaluate(
            confusionOf(4, 2, {0, 0, 0, 2, 1, 1, 1, 3, 3, 2}, {0, 0, 0, 0, 1, 1, 1, 1, 1, 1}));
        QCOMPARE(r.clusterToClass, (std::vector<int>{0, 1, 0, 1}));
        QCOMPARE(r.matchKind[0], MatchKind::Hungarian);
        QCOMPARE(r.matchKind[1], MatchKind::Hungarian);
        QCOMPARE(r.matchKind[2], MatchKind::Majority);
        QCOMPARE(r.matchKind[3], MatchKind::Majority);
        QCOMPARE(r.matched, (std::vector<std::int64_t>{4, 1, 0, 5}));
        QCOMPARE(r.accuracy, 90.0);
        QCOMPARE(r.classIoU[0], 80.0);
        QCOMPARE(r.classIoU[1], 100.0 * 5 / 6);
        QCOMPARE(r.meanIoU, (80.0 + 500.0 / 6) / 2);
    }

    void manyToOneTakesTheHungarianMatchFirst()
    {
        // counts: c0 = (5, 4), c1 = (6, 0), c2 = (0, 1). Majority alone would send c0
        // and c1 to class 0 (Acc 75 %); the reference first matches one cluster per
        // class by the Hungarian algorithm: class 0 <- c1, class 1 <- c0 (6 + 4 =
        // 10, the best one-to-one total), then the extra c2 joins its majority class 1.
        // Matched rows: class 0 = (6, 0), class 1 = c0 + c2 = (5, 5).
        std::vector<int> predictions, labels;
        auto add = [&](int cluster, int cls, int n) {
            predictions.insert(predictions.end(), std::size_t(n), cluster);
            labels.insert(labels.end(), std::size_t(n), cls);
        };
        add(0, 0, 5);
        add(0, 1, 4);
        add(1, 0, 6);
        add(2, 1, 1);
        const EvaluationResult r = evaluate(confusionOf(3, 2, predictions, labels));
        QCOMPARE(r.clusterToClass, (std::vector<int>{1, 0, 1}));
        QCOMPARE(r.matchKind[2], MatchKind::Majority);
        QCOMPARE(r.matched, (std::vector<std::int64_t>{6, 0, 5, 5}));
        QCOMPARE(r.accuracy, 100.0 * 11 / 16);
        QCOMPARE(r.classIoU[0], 100.0 * 6 / 11);
        QCOMPARE(r.classIoU[1], 50.0);
        QCOMPARE(std::string(matchingKind(r)), std::string("many-to-one"));
        QCOMPARE(describeMatching(r), std::string("many-to-one: 3 clusters onto 2 classes (2 by "
                                                  "Hungarian matching, 1 by majority, marked *)"));
        QVERIFY(formatEvaluation(r).find("match many-to-one") != std::string::npos);
        QVERIFY(formatEvaluation(r).find("(0,2*)") != std::string::npos); // class 1: c0, c2 (majority)
        const nlohmann::json j =
            nlohmann::json::parse(evaluationToJson(r, {}, confusionOf(3, 2, predictions, labels)));
        QCOMPARE(j["match"], "many-to-one");
        const EvaluationResult square = evaluate(confusionOf(2, 2, {0, 1}, {0, 1}));
        QCOMPARE(std::string(matchingKind(square)), std::string("one-to-one"));
    }

    void fewerClustersThanClasses()
    {
        // counts: c0 = (1, 0, 0), c1 = (0, 1, 2); c0->0, c1->2; class 1 gets nothing.
        const EvaluationResult r = evaluate(confusionOf(2, 3, {0, 1, 1, 1}, {0, 1, 2, 2}));
        QCOMPARE(r.clusterToClass, (std::vector<int>{0, 2}));
        QCOMPARE(r.accuracy, 75.0);
        QCOMPARE(r.classIoU[0], 100.0);
        QCOMPARE(r.classIoU[1], 0.0);
        QCOMPARE(r.classIoU[2], 100.0 * 2 / 3);
        QCOMPARE(r.meanIoU, (100.0 + 0.0 + 200.0 / 3) / 3);
    }

    void emptyLabelMap()
    {
        ConfusionMatrix m(3, 3);
        m.add(cv::Mat(0, 0, CV_8UC1), cv::Mat(0, 0, CV_8UC1));
        m.add(row8({1, 2}), row8({255, 255}));
        const EvaluationResult r = evaluate(m);
        QCOMPARE(r.pixels, std::int64_t(0));
        QVERIFY(std::isnan(r.accuracy));
        QVERIFY(std::isnan(r.meanIoU));
        for (double iou : r.classIoU)
            QVERIFY(std::isnan(iou));
        QVERIFY(formatEvaluation(r).find("n/a") != std::string::npos);
    }

    void badPredictionLeavesMatrixUntouched()
    {
        ConfusionMatrix m = confusionOf(2, 2, {0, 1}, {0, 1});
        QVERIFY_THROWS_EXCEPTION(Error, m.add(row8({0, 5}), row8({0, 1})));
        QCOMPARE(m.total(), std::int64_t(2));
        QVERIFY_THROWS_EXCEPTION(Error, m.add(row8({0}), row8({0, 1})));
        ConfusionMatrix other(3, 2);
        QVERIFY_THROWS_EXCEPTION(Error, m.merge(other));
        QVERIFY_THROWS_EXCEPTION(Error, ConfusionMatrix(0, 2));
    }

    void mergeEqualsOnePass()
    {
        ConfusionMatrix a = confusionOf(3, 2, {0, 1, 2}, {0, 1, 1});
        a.merge(confusionOf(3, 2, {2, 2, 0}, {0, 1, 0}));
        const ConfusionMatrix whole = confusionOf(3, 2, {0, 1, 2, 2, 2, 0}, {0, 1, 1, 0, 1, 0});
        QCOMPARE(a.counts(), whole.counts());
    }

    void wideIdTypes()
    {
        cv::Mat p(1, 3, CV_32SC1), l(1, 3, CV_16UC1);
        p.at<std::int32_t>(0, 0) = 300;
        p.at<std::int32_t>(0, 1) = 1;
        p.at<std::int32_t>(0, 2) = 0;
        l.at<std::uint16_t>(0, 0) = 1;
        l.at<std::uint16_t>(0, 1) = 0;
        l.at<std::uint16_t>(0, 2) = 1000; // unknown class id: ignored
        ConfusionMatrix m(301, 2);
        m.add(p, l);
        QCOMPARE(m.at(300, 1), std::int64_t(1));
        QCOMPARE(m.at(1, 0), std::int64_t(1));
        QCOMPARE(m.total(), std::int64_t(2));
    }

    void mapClustersUsesTheMatching()
    {
        const cv::Mat mapped = mapClusters(row8({0, 1, 2, 9}), {1, 0, -1});
        QCOMPARE(int(mapped.at<std::uint8_t>(0, 0)), 1);
        QCOMPARE(int(mapped.at<std::uint8_t>(0, 1)), 0);
        QCOMPARE(int(mapped.at<std::uint8_t>(0, 2)), 255);
        QCOMPARE(int(mapped.at<std::uint8_t>(0, 3)), 255);
    }
};

QTEST_APPLESS_MAIN(TestEvaluation)
#include "tst_evaluation.moc"
