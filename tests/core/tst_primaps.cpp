// SPDX-License-Identifier: MIT
// PriMaPs decomposition (docs/ALGORITHM.md, "PriMaPs decomposition"): fidelity to the reference implementation,
// planted clusters, stop rules, threshold behaviour, mask stack and upsampling.
// LibTorch before Qt: Qt's "slots" macro breaks its headers.
#include <ATen/ATen.h>

#include "decompose/eigen.h"
#include "support/error.h"
#include "decompose/gramproduct_p.h"
#include "decompose/unitcolumns_p.h"
#include "support/npy.h"
#include "decompose/primaps.h"
#include "support/runtime.h"
#include "testsupport.h"

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include <QtTest>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <random>

using namespace primaps;

namespace {

std::vector<float> unitDirection(int c, std::mt19937& rng)
{
    std::normal_distribution<float> normal(0.0f, 1.0f); // a fresh one each time
    return primaps::testing::randomUnitVector(c, rng, normal);
}

// Features whose position (y, x) belongs to region regionOf(y, x): the region's
// direction plus Gaussian noise; region -1 gets all-zero vectors.
template <typename RegionOf>
FeatureMap plantedFeatures(int c, int h, int w, int regions, float noise, unsigned seed,
                           RegionOf regionOf)
{
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<std::vector<float>> directions;
    for (int r = 0; r < regions; ++r)
        directions.push_back(unitDirection(c, rng));
    FeatureMap f(c, h, w);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            const int r = regionOf(y, x);
            for (int k = 0; k < c; ++k)
                f.at(k, y, x) = r < 0 ? 0.0f
                                      : directions[std::size_t(r)][std::size_t(k)] +
                                            noise * normal(rng) / std::sqrt(float(c));
        }
    return f;
}

// IoU of the best-matching mask (at grid resolution) for each ground-truth region.
std::vector<double> bestIoUPerRegion(const cv::Mat& labels, const cv::Mat& truth, int regions)
{
    std::vector<double> best(std::size_t(regions), 0.0);
    double maxLabel;
    cv::minMaxLoc(labels, nullptr, &maxLabel);
    for (int r = 0; r < regions; ++r)
        for (int m = 1; m <= int(maxLabel); ++m) {
            const cv::Mat a = truth == r, b = labels == m;
            const double inter = cv::countNonZero(a & b), uni = cv::countNonZero(a | b);
            if (uni > 0)
                best[std::size_t(r)] = std::max(best[std::size_t(r)], inter / uni);
        }
    return best;
}

QString dataPath(const char* name) { return QString(PRIMAPS_TEST_DATA_DIR) + "/" + name; }

} // namespace

class TestPrimaps : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase() { configureThreads(); }

    void reproducesReferenceLabelMap()
    {
        const FeatureMap features =
            readFeaturesNpy(dataPath("primaps_16x16/features.npy").toStdString());
        QCOMPARE(features.channels, 384);
        QCOMPARE(features.height, 16);
        QCOMPARE(features.width, 16);

        std::ifstream summaryFile(dataPath("primaps_16x16/summary.json").toStdString());
        const nlohmann::json summary = nlohmann::json::parse(summaryFile);

        PrimapsParams params;
        params.threshold = summary["threshold"].get<float>();
        const PrimapsTrace trace = decompose(features, params);
        QCOMPARE(int(trace.iterations.size()), summary["masks"].get<int>());
        QCOMPARE(trace.stopReason, StopReason::Coverage);
        for (std::size_t i = 0; i < trace.iterations.size(); ++i) {
            const auto& expected = summary["iterations"][i];
            const PrimapsIteration& it = trace.iterations[i];
            QCOMPARE(it.remainingBefore, expected["available_before"].get<int>());
            QCOMPARE(it.coverageBefore, expected["coverage_before"].get<float>());
            QCOMPARE(it.seedIndex, expected["nn_seed_index"].get<int>());
        }

        const NpyArray reference = readNpy(dataPath("primaps_16x16/labels.npy").toStdString());
        const std::vector<std::uint8_t> expected = reference.toUint8();
        const cv::Mat labels = labelsAtGrid(buildMaskStack(trace));
        int mismatches = 0;
        for (int i = 0; i < 256; ++i) {
            const int ours = labels.data[i] == 0 ? 255 : labels.data[i];
            mismatches += ours != expected[std::size_t(i)];
        }
        qInfo() << "reference label map: mismatching positions =" << mismatches;
        QCOMPARE(mismatches, 0);
    }

    void principalDirectionFollowsSignRuleAndIsTopEigenvector()
    {
        const FeatureMap f = readFeaturesNpy(dataPath("primaps_16x16/features.npy").toStdString());
        const PrimapsTrace trace = decompose(f, PrimapsParams{});
        const int n = int(f.positions()), c = f.channels;
        std::vector<bool> remaining(std::size_t(n), true);
        for (const PrimapsIteration& it : trace.iterations) {
            // Mean and covariance of the remaining raw features, computed plainly.
            std::vector<double> mean(std::size_t(c), 0.0);
            int count = 0, first = -1;
            for (int i = 0; i < n; ++i)
                if (remaining[std::size_t(i)]) {
                    first = first < 0 ? i : first;
                    ++count;
                    for (int k = 0; k < c; ++k)
                        mean[std::size_t(k)] += f.values[std::size_t(k) * n + i];
                }
            for (double& m : mean)
                m /= count;
            double side = 0;
            for (int k = 0; k < c; ++k)
                side += (f.values[std::size_t(k) * n + first] - mean[std::size_t(k)]) *
                        it.principalDirection[std::size_t(k)];
            QVERIFY2(side < 0, "sign rule: (x0 - mean) . v must be negative");

            // v maximises the variance: compare with 50 random directions and
            // check the eigen-residual.
            auto variance = [&](const std::vector<double>& v) {
                double total = 0;
                for (int i = 0; i < n; ++i) {
                    if (!remaining[std::size_t(i)])
                        continue;
                    double p = 0;
                    for (int k = 0; k < c; ++k)
                        p += (f.values[std::size_t(k) * n + i] - mean[std::size_t(k)]) * v[std::size_t(k)];
                    total += p * p;
                }
                return total / count;
            };
            const std::vector<double> v(it.principalDirection.begin(), it.principalDirection.end());
            const double top = variance(v);
            QVERIFY(std::abs(top - it.explainedVariance) <= 1e-3 * top);
            std::mt19937 rng(11);
            for (int trial = 0; trial < 50; ++trial) {
                const std::vector<float> u = unitDirection(c, rng);
                QVERIFY(variance(std::vector<double>(u.begin(), u.end())) <= top);
            }
            for (int i = 0; i < n; ++i)
                if (it.mask[std::size_t(i)] > 0)
                    remaining[std::size_t(i)] = false;
        }
    }

    void recoversPlantedClusters()
    {
        const int h = 30, w = 30;
        auto region = [](int y, int x) { return x < 10 ? 0 : (y < 15 ? 1 : 2); };
        const FeatureMap f = plantedFeatures(64, h, w, 3, 0.5f, 3, region);
        const PrimapsTrace trace = decompose(f, PrimapsParams{});
        QCOMPARE(trace.stopReason, StopReason::Coverage);
        QCOMPARE(int(trace.iterations.size()), 3);
        QVERIFY(trace.finalCoverage >= 0.95f);
        // Coverage grows strictly with each iteration.
        for (std::size_t i = 1; i < trace.iterations.size(); ++i)
            QVERIFY(trace.iterations[i].coverageBefore > trace.iterations[i - 1].coverageBefore);

        cv::Mat truth(h, w, CV_8U);
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x)
                truth.at<uchar>(y, x) = uchar(region(y, x));
        const std::vector<double> iou = bestIoUPerRegion(labelsAtGrid(buildMaskStack(trace)), truth, 3);
        for (double v : iou)
            QVERIFY2(v >= 0.95, qPrintable(QString("region IoU %1 < 0.95").arg(v)));
    }

    void stopsCleanlyWhenNothingPositiveIsLeft()
    {
        // Two feature regions and a band of all-zero vectors: the zeros can never
        // be assigned (their similarity is 0), coverage stays below 0.95, and the
        // reference would divide 0 by 0. We must stop, keep both masks and say why.
        const int h = 20, w = 20;
        auto region = [](int y, int x) { return y >= 18 ? -1 : (x < 12 ? 0 : 1); };
        const FeatureMap f = plantedFeatures(32, h, w, 2, 0.3f, 5, region);
        const PrimapsTrace trace = decompose(f, PrimapsParams{});
        QCOMPARE(trace.stopReason, StopReason::NothingPositive);
        // Both regions are taken (a few noisy leftovers may need a third mask),
        // the zero band never is: coverage ends at exactly 18 of 20 rows.
        QVERIFY(trace.iterations.size() >= 2 && trace.iterations.size() <= 4);
        QCOMPARE(trace.finalCoverage, 0.9f);
        const MaskStack stack = buildMaskStack(trace);
        for (float v : stack.proposals)
            QVERIFY(std::isfinite(v));
        for (float v : stack.background)
            QVERIFY(std::isfinite(v));
        const cv::Mat labels = labelsAtGrid(stack);
        QCOMPARE(cv::countNonZero(labels.rowRange(18, 20)), 0); // zeros stay background
        QCOMPARE(std::string(toString(trace.stopReason)), std::string("nothing_positive"));
    }

    void higherThresholdGivesSmallerFirstMask()
    {
        // Directions that rotate smoothly along x: the similarity to any seed falls
        // off gradually, so the threshold decides how far the first mask reaches.
        const int c = 16, h = 12, w = 40;
        FeatureMap f(c, h, w);
        std::mt19937 rng(9);
        std::normal_distribution<float> normal(0.0f, 0.02f);
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x) {
                const float angle = float(M_PI) * x / (w - 1);
                for (int k = 0; k < c; ++k)
                    f.at(k, y, x) = normal(rng);
                f.at(0, y, x) += std::cos(angle);
                f.at(1, y, x) += std::sin(angle);
            }
        int previous = std::numeric_limits<int>::max();
        for (float tau : {0.2f, 0.4f, 0.6f, 0.8f}) {
            PrimapsParams params;
            params.threshold = tau;
            PrimapsDecomposer decomposer(f, params);
            const PrimapsIteration* first = decomposer.step();
            QVERIFY(first);
            QVERIFY2(first->assigned < previous,
                     qPrintable(QString("tau %1: first mask %2 not smaller than %3")
                                    .arg(tau).arg(first->assigned).arg(previous)));
            previous = first->assigned;
        }
    }

    void steppingMatchesRunAndRecordsEverything()
    {
        const FeatureMap f = readFeaturesNpy(dataPath("primaps_16x16/features.npy").toStdString());
        PrimapsDecomposer stepper(f, PrimapsParams{});
        int steps = 0;
        while (!stepper.done()) {
            const PrimapsIteration* it = stepper.step();
            if (!it)
                break;
            ++steps;
            QCOMPARE(int(it->principalDirection.size()), f.channels);
            QCOMPARE(it->similarity.size(), f.positions());
            QCOMPARE(it->refinedSimilarity.size(), f.positions());
            QCOMPARE(it->mask.size(), f.positions());
            QCOMPARE(it->remainingAfter, it->remainingBefore - it->assigned);
            // The soft mask is s'/max(s') where kept, 0 elsewhere; its maximum is 1.
            QCOMPARE(*std::max_element(it->mask.begin(), it->mask.end()), 1.0f);
        }
        QVERIFY(stepper.done());
        QVERIFY_THROWS_EXCEPTION(Error, stepper.step());
        const PrimapsTrace whole = decompose(f, PrimapsParams{});
        QCOMPARE(steps, int(whole.iterations.size()));
        for (int i = 0; i < steps; ++i)
            QCOMPARE(stepper.trace().iterations[std::size_t(i)].mask, whole.iterations[std::size_t(i)].mask);
    }

    void iterationCapStops()
    {
        const FeatureMap f = readFeaturesNpy(dataPath("primaps_16x16/features.npy").toStdString());
        PrimapsParams params;
        params.maxIterations = 2;
        const PrimapsTrace trace = decompose(f, params);
        QCOMPARE(int(trace.iterations.size()), 2);
        QCOMPARE(trace.stopReason, StopReason::IterationCap);
    }

    void rejectsBadInput()
    {
        QVERIFY_THROWS_EXCEPTION(Error, decompose(FeatureMap(), PrimapsParams{}));
        FeatureMap nan(4, 2, 2);
        nan.values[3] = std::nanf("");
        QVERIFY_THROWS_EXCEPTION(Error, decompose(nan, PrimapsParams{}));
        FeatureMap ok(4, 2, 2);
        PrimapsParams bad;
        bad.threshold = 0.0f;
        QVERIFY_THROWS_EXCEPTION(Error, decompose(ok, bad));
        bad = PrimapsParams{};
        bad.maxIterations = 300;
        QVERIFY_THROWS_EXCEPTION(Error, decompose(ok, bad));
    }

    void maskStackFiltersScalesAndBuildsBackground()
    {
        // One proposal, 5x5: a lone speck (removed by the median), a 3x3 block of
        // 0.05 (kept, scaled x10 to 0.5) -> background = mean(nonzero) - sum.
        PrimapsTrace trace;
        trace.height = trace.width = 5;
        PrimapsIteration it;
        it.mask.assign(25, 0.0f);
        it.mask[0] = 1.0f; // speck in a corner
        for (int y = 2; y < 5; ++y)
            for (int x = 2; x < 5; ++x)
                it.mask[std::size_t(y * 5 + x)] = 0.05f;
        trace.iterations.push_back(it);
        const MaskStack stack = buildMaskStack(trace);
        QCOMPARE(stack.count, 1);
        QCOMPARE(stack.proposals[0], 0.0f);                         // speck gone
        QCOMPARE(stack.proposals[std::size_t(3 * 5 + 3)], 0.5f);    // 0.05 * 10
        QCOMPARE(stack.proposals[std::size_t(4 * 5 + 4)], 0.5f);    // reflect padding keeps corner
        // Every non-zero value is 0.5, so the background level is 0.5.
        QCOMPARE(stack.background[0], 0.5f);
        QCOMPARE(stack.background[std::size_t(3 * 5 + 3)], 0.0f);
        // Ties (0.5 vs 0.5 never happen here; 0 vs 0 would) go to the lower channel.
        const cv::Mat labels = labelsAtGrid(stack);
        QCOMPARE(int(labels.at<uchar>(0, 0)), 0);
        QCOMPARE(int(labels.at<uchar>(3, 3)), 1);

        // No proposal at all: everything is background, nothing is NaN.
        PrimapsTrace empty;
        empty.height = 3;
        empty.width = 4;
        const MaskStack none = buildMaskStack(empty);
        QCOMPARE(none.count, 0);
        QCOMPARE(cv::countNonZero(labelsAtGrid(none)), 0);
        QCOMPARE(cv::countNonZero(labelsAtSize(none, cv::Size(16, 12))), 0);
    }

    void gramProductMatchesDoublePrecision()
    {
        // Both kernels against a double-precision X^T (X v), on sizes that hit the
        // 8-row blocks, the leftover rows and channel counts that are not a
        // multiple of the vector width.
        using primaps::detail::GramKernel;
        std::mt19937 rng(5);
        std::normal_distribution<float> normal(0.0f, 1.0f);
        for (const int c : {1, 7, 8, 13, 384, 390})
            for (const int count : {0, 1, 7, 8, 9, 33}) {
                std::vector<float> rows(std::size_t(count) * c), v(static_cast<std::size_t>(c));
                for (float& x : rows)
                    x = normal(rng);
                for (float& x : v)
                    x = normal(rng);
                std::vector<double> expected(std::size_t(c), 0.0);
                double scaleOfTerms = 0;
                for (int r = 0; r < count; ++r) {
                    double t = 0;
                    for (int k = 0; k < c; ++k)
                        t += double(rows[std::size_t(r) * c + k]) * v[std::size_t(k)];
                    for (int k = 0; k < c; ++k)
                        expected[std::size_t(k)] += 0.5 * t * rows[std::size_t(r) * c + k];
                    scaleOfTerms += std::abs(t);
                }
                for (const GramKernel kernel : {GramKernel::Best, GramKernel::Portable}) {
                    std::vector<float> out(static_cast<std::size_t>(c), 123.0f); // overwritten, not added to
                    primaps::detail::gramProduct(rows.data(), count, c, v.data(), 0.5f,
                                                 out.data(), kernel);
                    for (int k = 0; k < c; ++k)
                        QVERIFY2(std::abs(out[std::size_t(k)] - expected[std::size_t(k)]) <=
                                     1e-5 * (scaleOfTerms + 1.0),
                                 qPrintable(QString("c %1, rows %2, channel %3: %4 vs %5")
                                                .arg(c)
                                                .arg(count)
                                                .arg(k)
                                                .arg(out[std::size_t(k)])
                                                .arg(expected[std::size_t(k)])));
                }
            }
        qInfo("vector kernel on this processor: %s",
              primaps::detail::gramKernelVectorised() ? "yes" : "no");
    }

    void vectorKernelsGiveTheSameBits()
    {
        // The 512-bit Gram kernel must round exactly as the AVX2 one (the principal
        // directions, and so the seeds, must not depend on the processor's register
        // width), and so must the similarity kernels among themselves; on sizes that
        // hit the 8-row blocks, the leftover rows, a last group of eight channels and
        // a scalar channel tail, and included blocks in odd numbers.
        if (!primaps::detail::gramKernelVectorised())
            QSKIP("no vector kernels on this processor");
        using primaps::detail::GramKernel;
        using primaps::detail::SimilarityKernel;
        std::mt19937 rng(6);
        std::normal_distribution<float> normal(0.0f, 1.0f);
        std::bernoulli_distribution keep(0.4);
        for (const int c : {1, 7, 8, 13, 16, 24, 384, 390})
            for (const int count : {0, 1, 7, 8, 9, 33, 200, 1600}) {
                std::vector<float> rows(std::size_t(count) * c), v(static_cast<std::size_t>(c));
                for (float& x : rows)
                    x = normal(rng);
                for (float& x : v)
                    x = normal(rng);
                std::vector<float> best(static_cast<std::size_t>(c)), avx2(best);
                primaps::detail::gramProduct(rows.data(), count, c, v.data(), 0.25f, best.data());
                primaps::detail::gramProduct(rows.data(), count, c, v.data(), 0.25f, avx2.data(),
                                             GramKernel::Avx2);
                QVERIFY2(std::memcmp(best.data(), avx2.data(), best.size() * sizeof(float)) == 0,
                         qPrintable(QString("Gram, c %1, rows %2").arg(c).arg(count)));
                // Either order of the halves, the same bits.
                std::vector<float> forward(best), backward(best), second(best);
                primaps::detail::gramProductInHalves(rows.data(), count, c, v.data(), 0.25f,
                                                     forward.data(), second.data(), false);
                primaps::detail::gramProductInHalves(rows.data(), count, c, v.data(), 0.25f,
                                                     backward.data(), second.data(), true);
                QCOMPARE(backward, forward);
                if (count == 0)
                    continue;
                // The rows as the columns of a c x count matrix for the similarities.
                const std::vector<float> blocks =
                    primaps::detail::toColumnBlocks(rows.data(), c, count);
                std::vector<unsigned char> include(static_cast<std::size_t>(count));
                for (int i = 0; i < count; ++i)
                    include[std::size_t(i)] = (i / 32) % 4 != 2 && keep(rng);
                std::vector<float> one(static_cast<std::size_t>(count)), two(one), wide(one);
                primaps::detail::similarityToColumns(blocks.data(), c, count, v.data(),
                                                     include.data(), one.data(),
                                                     SimilarityKernel::OneBlock);
                primaps::detail::similarityToColumns(blocks.data(), c, count, v.data(),
                                                     include.data(), two.data(),
                                                     SimilarityKernel::TwoBlocks);
                primaps::detail::similarityToColumns(blocks.data(), c, count, v.data(),
                                                     include.data(), wide.data());
                QVERIFY2(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)) == 0 &&
                             std::memcmp(one.data(), wide.data(), one.size() * sizeof(float)) == 0,
                         qPrintable(QString("similarity, c %1, columns %2").arg(c).arg(count)));
            }
        // Without AVX-512 the "wide" kernels above are the AVX2 ones, compared with
        // themselves: say so instead of passing as if the 512-bit bits were checked.
        if (!primaps::detail::gramKernelWide())
            QSKIP("no AVX-512 here: the 512-bit kernels were not compared (the AVX2 ones were)");
    }

    void unitColumnsMatchLibTorchBits()
    {
        // The decomposition's normalisation must round as LibTorch's
        // x / x.norm(2, {0}, true).clamp_min(1e-12) does (the reference's
        // similarities), on shapes that hit the 64- and 8-column blocks and the scalar
        // tail, with wide value ranges and all-zero columns.
        if (!primaps::detail::unitColumnsVectorised())
            QSKIP("no vector kernel here: the decomposition uses LibTorch itself");
        std::mt19937 rng(11);
        std::normal_distribution<float> normal(0.0f, 1.0f);
        std::uniform_real_distribution<float> exponent(-20.0f, 20.0f);
        std::size_t compared = 0;
        for (const int c : {1, 3, 64, 384, 768})
            for (const int n : {1, 7, 8, 9, 63, 64, 65, 200, 1600}) {
                std::vector<float> values(std::size_t(c) * n);
                for (float& v : values)
                    v = normal(rng) * std::exp2(exponent(rng));
                for (int k = 0; k < c; ++k) // column 0 all zero: the clamp
                    values[std::size_t(k) * n] = 0.0f;
                const at::Tensor raw = at::from_blob(values.data(), {c, n}, at::kFloat);
                const at::Tensor expected =
                    (raw / raw.norm(2, {0}, true).clamp_min(1e-12)).contiguous();
                std::vector<float> out(values.size());
                primaps::detail::unitColumns(values.data(), c, n, out.data());
                QVERIFY2(std::memcmp(out.data(), expected.data_ptr<float>(),
                                     out.size() * sizeof(float)) == 0,
                         qPrintable(QString("c %1, n %2: not LibTorch's bits").arg(c).arg(n)));
                // The same values in column blocks; the padding is left alone, and then
                // zeroed as the decomposition does (its buffers are not zeroed first).
                std::vector<float> blocks(primaps::detail::columnBlocksSize(c, n), 7.0f);
                primaps::detail::unitColumns(values.data(), c, n, blocks.data(), true);
                primaps::detail::zeroColumnBlockPadding(blocks.data(), c, n);
                QVERIFY(blocks == primaps::detail::toColumnBlocks(out.data(), c, n));
                compared += out.size();
            }
        qInfo("%zu values bit for bit", compared);
    }

    void similarityToColumnsSkipsExcludedAndIsAccurate()
    {
        if (!primaps::detail::unitColumnsVectorised())
            QSKIP("no vector kernel here: the decomposition uses LibTorch itself");
        std::mt19937 rng(13);
        std::normal_distribution<float> normal(0.0f, 1.0f);
        std::bernoulli_distribution keep(0.3);
        for (const int c : {1, 16, 384})
            for (const int n : {1, 9, 31, 32, 100, 1600}) {
                std::vector<float> columns(std::size_t(c) * n), v(static_cast<std::size_t>(c));
                for (float& x : columns)
                    x = normal(rng);
                for (float& x : v)
                    x = normal(rng);
                std::vector<unsigned char> include(static_cast<std::size_t>(n));
                for (int i = 0; i < n; ++i) // whole 32-column blocks left out too
                    include[std::size_t(i)] = (i / 32) % 3 != 1 && keep(rng);
                std::vector<float> out(static_cast<std::size_t>(n), 7.0f);
                primaps::detail::similarityToColumns(
                    primaps::detail::toColumnBlocks(columns.data(), c, n).data(), c, n, v.data(),
                    include.data(), out.data());
                for (int i = 0; i < n; ++i) {
                    if (!include[std::size_t(i)]) {
                        QCOMPARE(out[std::size_t(i)], 0.0f);
                        continue;
                    }
                    double exact = 0, scale = 0;
                    for (int k = 0; k < c; ++k) {
                        const double term = double(v[std::size_t(k)]) * columns[std::size_t(k) * n + i];
                        exact += term;
                        scale += std::abs(term);
                    }
                    QVERIFY(std::abs(out[std::size_t(i)] - exact) <= 1e-6 * scale + 1e-30);
                }
            }
        // On whole blocks of 32 columns the kernel's order is OpenBLAS's on this
        // processor (the decomposition checks that once at run time and otherwise
        // uses LibTorch's product); say whether this BLAS agrees at the grid's size.
        const int c = 384, n = 1600;
        std::vector<float> columns(std::size_t(c) * n), v(static_cast<std::size_t>(c));
        for (float& x : columns)
            x = normal(rng);
        for (float& x : v)
            x = normal(rng);
        const std::vector<unsigned char> all(static_cast<std::size_t>(n), 1);
        std::vector<float> out(static_cast<std::size_t>(n));
        primaps::detail::similarityToColumns(primaps::detail::toColumnBlocks(columns.data(), c, n).data(),
                                             c, n, v.data(), all.data(), out.data());
        const at::Tensor blas = at::mm(at::from_blob(v.data(), {1, c}, at::kFloat),
                                       at::from_blob(columns.data(), {c, n}, at::kFloat))
                                    .contiguous();
        int differing = 0;
        for (int i = 0; i < n; ++i)
            differing += out[std::size_t(i)] != blas.data_ptr<float>()[i];
        qInfo("40x40 grid, 384 channels: %d of %d similarities differ from the BLAS's bits",
              differing, n);
    }

    void columnSumsMatchSequentialSums()
    {
        // The transposition with the channel sums, and the centring with the centred
        // sums: the bits of plain sequential loops, on shapes that hit the 8 x 16 tiles
        // and both tails.
        std::mt19937 rng(12);
        std::normal_distribution<float> normal(0.0f, 1.0f);
        for (const int c : {1, 5, 16, 37, 384})
            for (const int n : {0, 1, 8, 17, 1600}) {
                std::vector<float> values(std::size_t(c) * n);
                for (float& v : values)
                    v = normal(rng) * 1e3f;
                std::vector<float> rows(values.size(), -1.0f);
                std::vector<double> sums(static_cast<std::size_t>(c), -1.0);
                primaps::detail::transposeWithColumnSums(values.data(), c, n, rows.data(),
                                                         sums.data());
                for (int k = 0; k < c; ++k) {
                    double expected = 0;
                    for (int i = 0; i < n; ++i) {
                        const float x = values[std::size_t(k) * n + i];
                        QCOMPARE(rows[std::size_t(i) * c + k], x);
                        expected += x;
                    }
                    QVERIFY2(sums[std::size_t(k)] == expected, // exactly
                             qPrintable(QString("c %1, n %2, channel %3").arg(c).arg(n).arg(k)));
                }
                // Centring and summing in one pass: the bits of the two passes.
                std::vector<float> mean(static_cast<std::size_t>(c));
                for (float& m : mean)
                    m = normal(rng) * 1e2f;
                std::vector<float> centred(rows);
                std::vector<double> expectedSums(static_cast<std::size_t>(c), 0.0);
                for (int i = 0; i < n; ++i)
                    for (int k = 0; k < c; ++k) {
                        centred[std::size_t(i) * c + k] -= mean[std::size_t(k)];
                        expectedSums[std::size_t(k)] += centred[std::size_t(i) * c + k];
                    }
                primaps::detail::centreColumns(rows.data(), n, c, mean.data(), sums.data());
                QVERIFY(rows == centred);
                QVERIFY(sums == expectedSums);
            }
    }

    void maskStackMedianMatchesBruteForce()
    {
        // Random masks with many ties, on shapes that exercise every border case
        // (1-wide dimensions replicate, others reflect): the median filter must
        // equal the 5th smallest of each reflected 3x3 window.
        std::mt19937 rng(11);
        std::uniform_int_distribution<int> level(0, 6);
        const std::vector<std::pair<int, int>> shapes = {{1, 1}, {1, 7}, {6, 1}, {2, 2},
                                                         {3, 5}, {9, 4}, {17, 23}};
        for (const auto& [h, w] : shapes) {
            PrimapsTrace trace;
            trace.height = h;
            trace.width = w;
            for (int m = 0; m < 3; ++m) {
                PrimapsIteration it;
                it.mask.resize(std::size_t(h) * w);
                for (float& v : it.mask)
                    v = 0.015f * float(level(rng)); // x10 stays within [0, 1]
                trace.iterations.push_back(it);
            }
            const MaskStack stack = buildMaskStack(trace);
            auto reflect = [](int i, int size) {
                return size == 1 ? 0 : i < 0 ? -i : i >= size ? 2 * size - 2 - i : i;
            };
            for (int m = 0; m < 3; ++m)
                for (int y = 0; y < h; ++y)
                    for (int x = 0; x < w; ++x) {
                        std::vector<float> window;
                        for (int dy = -1; dy <= 1; ++dy)
                            for (int dx = -1; dx <= 1; ++dx)
                                window.push_back(trace.iterations[std::size_t(m)].mask[std::size_t(
                                    reflect(y + dy, h) * w + reflect(x + dx, w))]);
                        std::sort(window.begin(), window.end());
                        const float expected = std::clamp(window[4] * 10.0f, 0.0f, 1.0f);
                        QCOMPARE(stack.proposals[std::size_t(m) * h * w + std::size_t(y) * w + x],
                                 expected);
                    }
        }
    }

    void bilinearUpsamplingMatchesPyTorch()
    {
        // F.interpolate([[0, 1], [2, 3]], size=4, mode='bilinear', align_corners=False)
        const std::vector<float> in = {0, 1, 2, 3};
        const std::vector<float> expected = {0,   0.25, 0.75, 1,   0.5, 0.75, 1.25, 1.5,
                                             1.5, 1.75, 2.25, 2.5, 2,   2.25, 2.75, 3};
        const std::vector<float> out = upsampleBilinear(in, 1, 2, 2, cv::Size(4, 4));
        QCOMPARE(out.size(), expected.size());
        for (std::size_t i = 0; i < out.size(); ++i)
            QVERIFY(std::abs(out[i] - expected[i]) < 1e-6f);
        QVERIFY_THROWS_EXCEPTION(Error, upsampleBilinear(in, 2, 2, 2, cv::Size(4, 4)));
    }

    void logProbabilitiesAreNormalised()
    {
        const FeatureMap f = readFeaturesNpy(dataPath("primaps_16x16/features.npy").toStdString());
        const MaskStack stack = buildMaskStack(decompose(f, PrimapsParams{}));
        const std::vector<float> logp = stack.logProbabilities();
        const std::size_t plane = 256;
        for (std::size_t i = 0; i < plane; ++i) {
            double total = 0;
            for (int k = 0; k <= stack.count; ++k)
                total += std::exp(double(logp[std::size_t(k) * plane + i]));
            QVERIFY(std::abs(total - 1.0) < 1e-5);
        }
        // Upsampling by an integer factor keeps the grid argmax at patch centres.
        const cv::Mat grid = labelsAtGrid(stack);
        const cv::Mat up = labelsAtSize(stack, cv::Size(16 * 8, 16 * 8));
        int agree = 0;
        for (int y = 0; y < 16; ++y)
            for (int x = 0; x < 16; ++x)
                agree += grid.at<uchar>(y, x) == up.at<uchar>(y * 8 + 4, x * 8 + 4);
        QVERIFY2(agree >= 240, qPrintable(QString("only %1 of 256 patch centres agree").arg(agree)));
    }

    void lanczosFindsTopEigenpair()
    {
        // A = Q diag(lambda) Q^T with a known, nearly degenerate top pair.
        const int n = 50;
        std::mt19937 rng(1);
        std::normal_distribution<double> normal(0.0, 1.0);
        cv::Mat random(n, n, CV_64F);
        for (int i = 0; i < n * n; ++i)
            random.at<double>(i / n, i % n) = normal(rng);
        cv::Mat q, r;
        cv::SVD svd(random);
        q = svd.u;
        cv::Mat lambda = cv::Mat::zeros(n, n, CV_64F);
        for (int i = 0; i < n; ++i)
            lambda.at<double>(i, i) = i == 0 ? 10.0 : (i == 1 ? 9.99 : 5.0 * double(n - i) / n);
        const cv::Mat a = q * lambda * q.t();
        const SymmetricEigen top = topEigenvector(a.ptr<double>(), n);
        QVERIFY(std::abs(top.value - 10.0) < 1e-8);
        double overlap = 0;
        for (int i = 0; i < n; ++i)
            overlap += top.vector[std::size_t(i)] * q.at<double>(i, 0);
        QVERIFY(std::abs(std::abs(overlap) - 1.0) < 1e-6);

        std::vector<double> zero(std::size_t(n * n), 0.0);
        const SymmetricEigen none = topEigenvector(zero.data(), n);
        QCOMPARE(none.value, 0.0);
        QCOMPARE(int(none.vector.size()), n);
    }
};

QTEST_APPLESS_MAIN(TestPrimaps)
#include "tst_primaps.moc"
