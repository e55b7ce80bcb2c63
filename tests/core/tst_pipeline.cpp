// SPDX-License-Identifier: MIT
// The image pipeline end to end (DESIGN 2): filterbank features, PriMaPs, step 5
// with and without the dense CRF, and re-decomposition on cached features.
#include "backbone.h"
#include "error.h"
#include "pipeline.h"
#include "runtime.h"

#include <opencv2/imgproc.hpp>
#include <QtTest>
#include <random>

using namespace primaps;

namespace {

// Three flat-coloured regions (a disc and a diagonal split) with mild noise; no
// boundary follows the 8-pixel patch grid.
struct Scene
{
    cv::Mat rgb;
    cv::Mat truth; // region ids 0..2
};

Scene makeScene()
{
    const int rows = 181, cols = 243;
    Scene s;
    s.truth.create(rows, cols, CV_8U);
    for (int y = 0; y < rows; ++y)
        for (int x = 0; x < cols; ++x) {
            const double dx = x - 151.3, dy = y - 83.7;
            s.truth.at<uchar>(y, x) =
                dx * dx + dy * dy < 47.5 * 47.5 ? 2 : (x + 0.6 * y < 123 ? 0 : 1);
        }
    const cv::Vec3f colours[3] = {{200, 60, 50}, {40, 150, 70}, {60, 80, 210}};
    std::mt19937 rng(12);
    std::normal_distribution<float> noise(0.0f, 5.0f);
    s.rgb.create(rows, cols, CV_8UC3);
    for (int y = 0; y < rows; ++y)
        for (int x = 0; x < cols; ++x)
            for (int c = 0; c < 3; ++c)
                s.rgb.at<cv::Vec3b>(y, x)[c] =
                    cv::saturate_cast<uchar>(colours[s.truth.at<uchar>(y, x)][c] + noise(rng));
    return s;
}

// Mean distance (pixels) from each label-map boundary pixel to the nearest true edge.
double meanBoundaryDistance(const cv::Mat& labels, const cv::Mat& truth)
{
    auto edges = [](const cv::Mat& m) {
        cv::Mat e = cv::Mat::zeros(m.size(), CV_8U);
        for (int y = 0; y < m.rows; ++y)
            for (int x = 0; x < m.cols; ++x) {
                const uchar v = m.at<uchar>(y, x);
                if ((x + 1 < m.cols && m.at<uchar>(y, x + 1) != v) ||
                    (y + 1 < m.rows && m.at<uchar>(y + 1, x) != v))
                    e.at<uchar>(y, x) = 255;
            }
        return e;
    };
    cv::Mat notTrueEdge = 255 - edges(truth), distance;
    cv::distanceTransform(notTrueEdge, distance, cv::DIST_L2, 3);
    const cv::Mat ours = edges(labels);
    double total = 0;
    int count = 0;
    for (int y = 0; y < ours.rows; ++y)
        for (int x = 0; x < ours.cols; ++x)
            if (ours.at<uchar>(y, x)) {
                total += distance.at<float>(y, x);
                ++count;
            }
    return count ? total / count : 1e9;
}

// Pixel accuracy after mapping each mask id to the region it overlaps most
// (background counts as wrong).
double matchedAccuracy(const cv::Mat& labels, const cv::Mat& truth)
{
    std::vector<std::array<int, 3>> overlap(256, {0, 0, 0});
    for (int i = 0; i < int(labels.total()); ++i)
        ++overlap[labels.data[i]][truth.data[i]];
    int correct = 0;
    for (int id = 1; id < 256; ++id)
        correct +=
            *std::max_element(overlap[std::size_t(id)].begin(), overlap[std::size_t(id)].end());
    return double(correct) / double(labels.total());
}

} // namespace

class TestPipeline : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase() { configureThreads(); }

    void crfAlignsMasksWithImageEdges()
    {
        const Scene scene = makeScene();
        auto backbone = createBackbone("filterbank");
        PipelineParams params;
        params.useRecommendedResize = false;
        params.preprocess.shorterSide = 0; // keep the pixels where the truth is
        const ImageDecomposition result = decomposeImage(scene.rgb, *backbone, params);
        QVERIFY(result.crfApplied);
        QCOMPARE(result.labels.size(), result.prepared.rgb.size());
        const cv::Rect content = result.prepared.contentInPrepared;
        const cv::Mat before = result.labelsBeforeCrf(content), after = result.labels(content);

        const double distanceBefore = meanBoundaryDistance(before, scene.truth);
        const double distanceAfter = meanBoundaryDistance(after, scene.truth);
        const double accuracyBefore = matchedAccuracy(before, scene.truth);
        const double accuracyAfter = matchedAccuracy(after, scene.truth);
        qInfo("mask boundary to true edge: %.2f px before the CRF, %.2f px after; matched "
              "accuracy %.3f before, %.3f after",
              distanceBefore, distanceAfter, accuracyBefore, accuracyAfter);
        QVERIFY(distanceAfter < 0.5 * distanceBefore);
        QVERIFY(distanceAfter < 2.0);
        QVERIFY(accuracyAfter > accuracyBefore);
    }

    void withoutCrfLabelsAreThePlainArgmax()
    {
        const Scene scene = makeScene();
        auto backbone = createBackbone("filterbank");
        PipelineParams params;
        params.crf = false;
        const ImageDecomposition result = decomposeImage(scene.rgb, *backbone, params);
        QVERIFY(!result.crfApplied);
        QCOMPARE(cv::countNonZero(result.labels != result.labelsBeforeCrf), 0);
        QCOMPARE(result.timings.crf, 0.0);
        // labelsAtOriginalSize() maps back through resize and padding.
        QCOMPARE(result.labelsAtOriginalSize().size(), scene.rgb.size());
    }

    void redecomposeMatchesAFreshRun()
    {
        const Scene scene = makeScene();
        auto backbone = createBackbone("filterbank");
        PipelineParams params;
        ImageDecomposition cached = decomposeImage(scene.rgb, *backbone, params);
        PrimapsParams other;
        other.threshold = 0.35f;
        redecompose(cached, other, false);
        params.useRecommendedThreshold = false;
        params.primaps.threshold = 0.35f;
        params.crf = false;
        const ImageDecomposition fresh = decomposeImage(scene.rgb, *backbone, params);
        QCOMPARE(cached.trace.iterations.size(), fresh.trace.iterations.size());
        QCOMPARE(cv::countNonZero(cached.labels != fresh.labels), 0);
        QVERIFY(!cached.crfApplied);

        ImageDecomposition empty;
        QVERIFY_THROWS_EXCEPTION(Error, redecompose(empty, other, true));
    }
};

QTEST_APPLESS_MAIN(TestPipeline)
#include "tst_pipeline.moc"
