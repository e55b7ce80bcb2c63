// SPDX-License-Identifier: MIT
// Feature PCA (the studio's PCA-RGB view): agreement with a reference
// eigendecomposition, the sign rule, colours that separate planted regions,
// per-iteration projections and the resampling onto the image.
#include "support/error.h"
#include "decompose/featurepca.h"
#include "decompose/primaps.h"
#include "testsupport.h"

#include <opencv2/core.hpp>

#include <QtTest>

#include <cmath>
#include <random>

using namespace primaps;
using primaps::testing::errorOf;

namespace {

constexpr int kRegions = 4;

// Four quadrants, each its own random direction (scaled differently, so the
// eigenvalues are distinct) plus Gaussian noise: three directions separate four
// centroids, so the top three components carry the structure.
FeatureMap quadrantFeatures(int c, int h, int w, float noise, unsigned seed, float offset = 0.5f)
{
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<std::vector<float>> centres(kRegions, std::vector<float>(std::size_t(c)));
    const float amplitude[kRegions] = {3.0f, 2.2f, 1.6f, 1.0f};
    for (int r = 0; r < kRegions; ++r)
        for (float& v : centres[std::size_t(r)])
            v = amplitude[r] * normal(rng) / std::sqrt(float(c));
    FeatureMap f(c, h, w);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            const int r = (y < h / 2 ? 0 : 2) + (x < w / 2 ? 0 : 1);
            for (int k = 0; k < c; ++k)
                f.at(k, y, x) = offset + centres[std::size_t(r)][std::size_t(k)] +
                                noise * normal(rng) / std::sqrt(float(c));
        }
    return f;
}

int regionOf(int y, int x, int h, int w)
{
    return (y < h / 2 ? 0 : 2) + (x < w / 2 ? 0 : 1);
}

// Rows = positions, columns = channels, as OpenCV's PCA wants them.
cv::Mat samplesOf(const FeatureMap& f)
{
    cv::Mat samples(int(f.positions()), f.channels, CV_64F);
    for (int k = 0; k < f.channels; ++k)
        for (std::size_t i = 0; i < f.positions(); ++i)
            samples.at<double>(int(i), k) = f.channel(k)[i];
    return samples;
}

PreparedImage preparedFor(cv::Size original, cv::Size resized, cv::Size padded,
                          cv::Rect region, cv::Rect content)
{
    PreparedImage p;
    p.rgb = cv::Mat(padded, CV_8UC3, cv::Scalar::all(0));
    p.originalSize = original;
    p.resizedSize = resized;
    p.regionInResized = region;
    p.contentInPrepared = content;
    return p;
}

} // namespace

class TestFeaturePca : public QObject
{
    Q_OBJECT

private slots:
    void matchesReferenceEigendecomposition();
    void signRuleAndFirstPrimapsDirection();
    void colouredRegionsAreDistinct();
    void deterministic();
    void componentChoiceMapsToChannels();
    void percentileInterpolates();
    void iterationProjectionsReplayTheTrace();
    void gridToImageDropsPaddingNearest();
    void gridToImageSmoothInterpolates();
    void gridToImageFillsUncoveredPixels();
    void rejectsBadInput();
    void degenerateMapsStayFinite();
};

void TestFeaturePca::matchesReferenceEigendecomposition()
{
    const FeatureMap f = quadrantFeatures(24, 18, 22, 0.6f, 7);
    const FeaturePca pca = computeFeaturePca(f, {6, 1.0f, 99.0f});
    QCOMPARE(pca.components, 6);
    QCOMPARE(int(pca.variances.size()), 6);

    // Reference: OpenCV's covariance (scaled by 1/n like ours) and its symmetric
    // eigen solver, all in double.
    const cv::Mat samples = samplesOf(f);
    cv::Mat covariance, mean;
    cv::calcCovarMatrix(samples, covariance, mean,
                        cv::COVAR_NORMAL | cv::COVAR_ROWS | cv::COVAR_SCALE, CV_64F);
    cv::Mat values, vectors;
    QVERIFY(cv::eigen(covariance, values, vectors));
    QVERIFY(std::abs(pca.totalVariance - cv::trace(covariance)[0]) <=
            1e-5 * cv::trace(covariance)[0]);
    for (int k = 0; k < f.channels; ++k)
        QVERIFY(std::abs(pca.mean[std::size_t(k)] - mean.at<double>(0, k)) < 1e-5);
    for (int k = 0; k < pca.components; ++k) {
        const double reference = values.at<double>(k);
        QVERIFY2(std::abs(pca.variances[std::size_t(k)] - reference) <= 1e-4 * reference,
                 qPrintable(QStringLiteral("eigenvalue %1: %2 vs %3")
                                .arg(k)
                                .arg(pca.variances[std::size_t(k)])
                                .arg(reference)));
        double dot = 0;
        for (int j = 0; j < f.channels; ++j)
            dot += double(pca.directions[std::size_t(k) * f.channels + j]) *
                   vectors.at<double>(k, j);
        QVERIFY2(std::abs(std::abs(dot) - 1.0) < 1e-4,
                 qPrintable(QStringLiteral("component %1: |cos| = %2").arg(k).arg(dot)));
    }
    // Same through cv::PCA (a second reference, its own code path).
    cv::PCA reference(samples, cv::noArray(), cv::PCA::DATA_AS_ROW, 3);
    for (int k = 0; k < 3; ++k) {
        double dot = 0;
        for (int j = 0; j < f.channels; ++j)
            dot += double(pca.directions[std::size_t(k) * f.channels + j]) *
                   reference.eigenvectors.at<double>(k, j);
        QVERIFY(std::abs(std::abs(dot) - 1.0) < 1e-4);
    }
    // The projections are the centred features times the directions.
    const std::size_t probe = 37;
    for (int k = 0; k < 3; ++k) {
        double expected = 0;
        for (int j = 0; j < f.channels; ++j)
            expected += (double(f.channel(j)[probe]) - pca.mean[std::size_t(j)]) *
                        pca.directions[std::size_t(k) * f.channels + j];
        QVERIFY(std::abs(pca.projection(k)[probe] - expected) < 1e-4);
    }
}

void TestFeaturePca::signRuleAndFirstPrimapsDirection()
{
    for (unsigned seed : {1u, 2u, 3u, 4u, 5u}) {
        const FeatureMap f = quadrantFeatures(32, 16, 20, 0.8f, seed);
        const FeaturePca pca = computeFeaturePca(f);
        for (int k = 0; k < pca.components; ++k) {
            double side = 0;
            for (int j = 0; j < f.channels; ++j)
                side += (double(f.channel(j)[0]) - pca.mean[std::size_t(j)]) *
                        pca.directions[std::size_t(k) * f.channels + j];
            QVERIFY2(side <= 0.0, qPrintable(QStringLiteral("seed %1, component %2: %3")
                                                 .arg(seed)
                                                 .arg(k)
                                                 .arg(side)));
        }
        // Component 1 is the first PriMaPs direction, sign included.
        const PrimapsTrace trace = decompose(f, PrimapsParams{});
        QVERIFY(!trace.iterations.empty());
        const PrimapsIteration& first = trace.iterations.front();
        double dot = 0;
        for (int j = 0; j < f.channels; ++j)
            dot += double(first.principalDirection[std::size_t(j)]) * pca.directions[std::size_t(j)];
        QVERIFY2(dot > 0.9999, qPrintable(QStringLiteral("seed %1: cos %2").arg(seed).arg(dot)));
        QVERIFY(std::abs(first.explainedVariance - pca.variances[0]) <= 1e-3 * pca.variances[0]);
    }
}

void TestFeaturePca::colouredRegionsAreDistinct()
{
    const int h = 24, w = 28;
    const FeatureMap f = quadrantFeatures(48, h, w, 0.3f, 11);
    const FeaturePca pca = computeFeaturePca(f);
    const cv::Mat rgb = pcaRgb(pca);
    QCOMPARE(rgb.type(), CV_8UC3);
    QCOMPARE(rgb.rows, h);
    QCOMPARE(rgb.cols, w);
    // Mean colour and spread per quadrant.
    cv::Vec3d sum[kRegions] = {}, squares[kRegions] = {};
    int count[kRegions] = {};
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            const int r = regionOf(y, x, h, w);
            const cv::Vec3b p = rgb.at<cv::Vec3b>(y, x);
            for (int c = 0; c < 3; ++c) {
                sum[r][c] += p[c];
                squares[r][c] += double(p[c]) * p[c];
            }
            ++count[r];
        }
    cv::Vec3d centre[kRegions];
    for (int r = 0; r < kRegions; ++r) {
        centre[r] = sum[r] / count[r];
        for (int c = 0; c < 3; ++c) {
            const double spread = std::sqrt(squares[r][c] / count[r] - centre[r][c] * centre[r][c]);
            QVERIFY2(spread < 20.0, qPrintable(QStringLiteral("region %1 channel %2 spread %3")
                                                   .arg(r)
                                                   .arg(c)
                                                   .arg(spread)));
        }
    }
    for (int a = 0; a < kRegions; ++a)
        for (int b = a + 1; b < kRegions; ++b)
            QVERIFY2(cv::norm(centre[a] - centre[b]) > 100.0,
                     qPrintable(QStringLiteral("regions %1 and %2 are %3 apart")
                                    .arg(a)
                                    .arg(b)
                                    .arg(cv::norm(centre[a] - centre[b]))));
    // The robust scale uses the whole 0..255 range.
    double lo = 0, hi = 0;
    cv::minMaxLoc(rgb.reshape(1), &lo, &hi);
    QCOMPARE(lo, 0.0);
    QCOMPARE(hi, 255.0);
}

void TestFeaturePca::deterministic()
{
    const FeatureMap f = quadrantFeatures(40, 20, 20, 1.0f, 5);
    const FeaturePca a = computeFeaturePca(f);
    const FeaturePca b = computeFeaturePca(f);
    QVERIFY(a.directions == b.directions);
    QVERIFY(a.projections == b.projections);
    QVERIFY(a.variances == b.variances);
    QVERIFY(a.low == b.low && a.high == b.high);
    const cv::Mat ra = pcaRgb(a), rb = pcaRgb(b);
    QCOMPARE(cv::norm(ra, rb, cv::NORM_INF), 0.0);
}

void TestFeaturePca::componentChoiceMapsToChannels()
{
    const FeatureMap f = quadrantFeatures(20, 10, 12, 0.5f, 3);
    const FeaturePca pca = computeFeaturePca(f, {5, 2.0f, 98.0f});
    const cv::Mat standard = pcaRgb(pca, {0, 1, 2});
    const cv::Mat swapped = pcaRgb(pca, {2, 1, 0});
    const cv::Mat other = pcaRgb(pca, {4, 4, 3});
    std::vector<cv::Mat> s, t, o;
    cv::split(standard, s);
    cv::split(swapped, t);
    cv::split(other, o);
    QCOMPARE(cv::norm(s[0], t[2], cv::NORM_INF), 0.0);
    QCOMPARE(cv::norm(s[2], t[0], cv::NORM_INF), 0.0);
    QCOMPARE(cv::norm(s[1], t[1], cv::NORM_INF), 0.0);
    QCOMPARE(cv::norm(o[0], o[1], cv::NORM_INF), 0.0);
    QVERIFY(cv::norm(o[0], s[0], cv::NORM_INF) > 0.0);
    // The 2nd and 98th percentiles: about 2 % of the positions lie at each end.
    const int n = 120;
    int below = 0, above = 0;
    for (int i = 0; i < n; ++i) {
        below += s[0].data[i] == 0;
        above += s[0].data[i] == 255;
    }
    QVERIFY(below >= 1 && below <= 5);
    QVERIFY(above >= 1 && above <= 5);
}

void TestFeaturePca::percentileInterpolates()
{
    QCOMPARE(percentile({5, 1, 4, 2, 3}, 50.0f), 3.0f);
    QCOMPARE(percentile({5, 1, 4, 2, 3}, 25.0f), 2.0f);
    QCOMPARE(percentile({0, 10}, 10.0f), 1.0f);
    QCOMPARE(percentile({7}, 99.0f), 7.0f);
    QCOMPARE(percentile({3, 1, 2}, 100.0f), 3.0f);
    QCOMPARE(percentile({3, 1, 2}, 0.0f), 1.0f);
    QVERIFY(!errorOf([] { percentile({}, 50.0f); }).empty());
}

void TestFeaturePca::iterationProjectionsReplayTheTrace()
{
    // Without a common offset the quadrants are dissimilar: several masks.
    const FeatureMap f = quadrantFeatures(32, 16, 16, 0.4f, 9, 0.0f);
    const PrimapsTrace trace = decompose(f, PrimapsParams{});
    QVERIFY(trace.iterations.size() >= 2);
    const std::vector<IterationProjection> views = iterationProjections(f, trace);
    QCOMPARE(views.size(), trace.iterations.size());
    const FeaturePca pca = computeFeaturePca(f);

    // The first iteration sees every position: its projection is PC 1's.
    const IterationProjection& first = views.front();
    QVERIFY(std::all_of(first.remaining.begin(), first.remaining.end(),
                        [](unsigned char r) { return r == 1; }));
    QVERIFY(std::abs(first.remainingVariance - pca.totalVariance) <= 1e-5 * pca.totalVariance);
    for (std::size_t i = 0; i < f.positions(); ++i)
        QVERIFY(std::abs(first.values[i] - pca.projection(0)[i]) < 1e-3f);
    QVERIFY(first.scale > 0.0f);

    // Later iterations: `remaining` is what the earlier masks left, and the
    // direction explains at most the remaining features' whole variance.
    std::vector<unsigned char> expected(f.positions(), 1);
    for (std::size_t k = 0; k < views.size(); ++k) {
        QVERIFY(views[k].remaining == expected);
        int free = 0;
        for (unsigned char r : expected)
            free += r;
        QCOMPARE(free, trace.iterations[k].remainingBefore);
        QVERIFY(views[k].explainedRatio() > 0.0 && views[k].explainedRatio() <= 1.0 + 1e-6);
        for (std::size_t i = 0; i < expected.size(); ++i)
            if (trace.iterations[k].mask[i] > 0.0f)
                expected[i] = 0;
    }
    // Deliberately wrong trace sizes are refused.
    PrimapsTrace other = trace;
    other.width += 1;
    QVERIFY(!errorOf([&] { iterationProjections(f, other); }).empty());
}

void TestFeaturePca::gridToImageDropsPaddingNearest()
{
    // 30 x 20 image, padded to 32 x 24 for patch 8: a 4 x 3 grid.
    const PreparedImage prepared =
        preparedFor({30, 20}, {30, 20}, {32, 24}, {0, 0, 30, 20}, {0, 0, 30, 20});
    cv::Mat grid(3, 4, CV_32F);
    for (int y = 0; y < 3; ++y)
        for (int x = 0; x < 4; ++x)
            grid.at<float>(y, x) = float(x + 10 * y);
    const cv::Mat image = gridToImage(grid, prepared, {30, 20}, false);
    QCOMPARE(image.cols, 30);
    QCOMPARE(image.rows, 20);
    QCOMPARE(image.at<float>(0, 0), 0.0f);
    QCOMPARE(image.at<float>(7, 7), 0.0f);
    QCOMPARE(image.at<float>(0, 8), 1.0f);
    QCOMPARE(image.at<float>(8, 0), 10.0f);
    QCOMPARE(image.at<float>(19, 29), 23.0f); // the last cells, partly padding
    // Half the size: one value per 2 x 2 pixels, the same cells.
    const cv::Mat half = gridToImage(grid, prepared, {15, 10}, false);
    QCOMPARE(half.at<float>(9, 14), 23.0f);
    QCOMPARE(half.at<float>(3, 3), 0.0f);
    QCOMPARE(half.at<float>(4, 4), 11.0f);

    const cv::Point2d cell = imageToGrid({29.5, 19.5}, prepared, 3, 4);
    QCOMPARE(cell.x, 29.5 / 8.0);
    QCOMPARE(cell.y, 19.5 / 8.0);
    // A resized image: original pixels map through the resize.
    const PreparedImage scaled =
        preparedFor({60, 40}, {30, 20}, {32, 24}, {0, 0, 30, 20}, {0, 0, 30, 20});
    QCOMPARE(imageToGrid({20.0, 20.0}, scaled, 3, 4).x, 10.0 / 8.0);
    const cv::Mat big = gridToImage(grid, scaled, {60, 40}, false);
    QCOMPARE(big.at<float>(39, 59), 23.0f);
    QCOMPARE(big.at<float>(16, 16), 11.0f);

    // Colour grids take the same path.
    cv::Mat colours(3, 4, CV_8UC3, cv::Scalar(10, 20, 30));
    colours.at<cv::Vec3b>(2, 3) = cv::Vec3b(200, 100, 50);
    const cv::Mat rgb = gridToImage(colours, prepared, {30, 20}, false);
    QCOMPARE(rgb.type(), CV_8UC3);
    QCOMPARE(rgb.at<cv::Vec3b>(19, 29), cv::Vec3b(200, 100, 50));
    QCOMPARE(rgb.at<cv::Vec3b>(0, 0), cv::Vec3b(10, 20, 30));
}

void TestFeaturePca::gridToImageSmoothInterpolates()
{
    const PreparedImage prepared =
        preparedFor({30, 20}, {30, 20}, {32, 24}, {0, 0, 30, 20}, {0, 0, 30, 20});
    cv::Mat grid(3, 4, CV_32F);
    for (int y = 0; y < 3; ++y)
        for (int x = 0; x < 4; ++x)
            grid.at<float>(y, x) = float(x + 10 * y);
    const cv::Mat image = gridToImage(grid, prepared, {30, 20}, true);
    // Pixel x = 11: grid coordinate 11.5 / 8 = 1.4375, 0.9375 of the way from
    // cell centre 0 to cell centre 1. Row 3 lies above the first cell centre.
    QVERIFY(std::abs(image.at<float>(3, 11) - 0.9375f) < 1e-6f);
    // Row 11: 11.5 / 8 - 0.5 = 0.9375 between rows 0 and 1.
    QVERIFY(std::abs(image.at<float>(11, 11) - (0.9375f + 9.375f)) < 1e-5f);
    // Monotone along a row, and never beyond the grid's range.
    for (int x = 1; x < 30; ++x)
        QVERIFY(image.at<float>(10, x) >= image.at<float>(10, x - 1));
    double lo = 0, hi = 0;
    cv::minMaxLoc(image, &lo, &hi);
    QVERIFY(lo >= 0.0 && hi <= 23.0);
}

void TestFeaturePca::gridToImageFillsUncoveredPixels()
{
    // Centre crop: the grid covers resized columns 7..23 and rows 2..18 only.
    const PreparedImage prepared =
        preparedFor({30, 20}, {30, 20}, {16, 16}, {7, 2, 16, 16}, {0, 0, 16, 16});
    const cv::Mat grid(2, 2, CV_8UC3, cv::Scalar(255, 0, 0));
    const cv::Mat image = gridToImage(grid, prepared, {30, 20}, true, cv::Scalar(1, 2, 3));
    QCOMPARE(image.at<cv::Vec3b>(10, 2), cv::Vec3b(1, 2, 3));
    QCOMPARE(image.at<cv::Vec3b>(10, 28), cv::Vec3b(1, 2, 3));
    QCOMPARE(image.at<cv::Vec3b>(0, 15), cv::Vec3b(1, 2, 3));
    QCOMPARE(image.at<cv::Vec3b>(10, 15), cv::Vec3b(255, 0, 0));
}

void TestFeaturePca::rejectsBadInput()
{
    QVERIFY(!errorOf([] { computeFeaturePca(FeatureMap()); }).empty());
    FeatureMap bad = quadrantFeatures(8, 6, 6, 0.5f, 1);
    bad.at(3, 2, 2) = std::nanf("");
    QVERIFY(errorOf([&] { computeFeaturePca(bad); }).find("NaN") != std::string::npos);
    const FeatureMap good = quadrantFeatures(8, 6, 6, 0.5f, 1);
    QVERIFY(!errorOf([&] { computeFeaturePca(good, {3, 50.0f, 50.0f}); }).empty());
    QVERIFY(!errorOf([&] { computeFeaturePca(good, {3, -1.0f, 99.0f}); }).empty());
    const FeaturePca pca = computeFeaturePca(good, {3, 1.0f, 99.0f});
    QVERIFY(!errorOf([&] { pcaRgb(pca, {0, 1, 3}); }).empty());
    QVERIFY(!errorOf([&] { gridToImage(cv::Mat(), PreparedImage(), {4, 4}, false); }).empty());
}

void TestFeaturePca::degenerateMapsStayFinite()
{
    // Constant features: no variance at all; every colour is mid-grey.
    FeatureMap flat(6, 5, 7);
    std::fill(flat.values.begin(), flat.values.end(), 0.25f);
    const FeaturePca pca = computeFeaturePca(flat);
    QCOMPARE(pca.components, 6);
    QCOMPARE(pca.totalVariance, 0.0);
    QCOMPARE(pca.explainedRatio(0), 0.0);
    const cv::Mat rgb = pcaRgb(pca);
    QCOMPARE(cv::norm(rgb, cv::Mat(rgb.size(), CV_8UC3, cv::Scalar::all(128)), cv::NORM_INF), 0.0);
    // One position: the components are clamped to what exists.
    FeatureMap single(4, 1, 1);
    single.values = {1, 2, 3, 4};
    const FeaturePca one = computeFeaturePca(single);
    QCOMPARE(one.components, 1);
    QVERIFY(std::isfinite(one.projections[0]));
}

QTEST_GUILESS_MAIN(TestFeaturePca)
#include "tst_featurepca.moc"
