// SPDX-License-Identifier: MIT
// The image pipeline end to end (docs/ARCHITECTURE.md, "Data flow"): filterbank features, PriMaPs, step 5
// with and without the dense CRF, and re-decomposition on cached features.
#include "backbones/backbone.h"
#include "support/error.h"
#include "pipeline/pipeline.h"
#include "support/runtime.h"

#include <opencv2/imgproc.hpp>
#include <QScopeGuard>
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

Scene makeScene(int scale = 1)
{
    const int rows = 181 * scale, cols = 243 * scale;
    Scene s;
    s.truth.create(rows, cols, CV_8U);
    for (int y = 0; y < rows; ++y)
        for (int x = 0; x < cols; ++x) {
            const double dx = double(x) / scale - 151.3, dy = double(y) / scale - 83.7;
            s.truth.at<uchar>(y, x) =
                dx * dx + dy * dy < 47.5 * 47.5 ? 2 : (x + 0.6 * y < 123 * scale ? 0 : 1);
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

    void labelsDoNotDependOnTheImageBefore()
    {
        // Step 5's scores go into a buffer the thread keeps (pipeline.cpp, ScoresBuffer):
        // an image of another size in between, larger and then smaller, must not leave
        // anything in the next one's labels.
        const Scene scene = makeScene();
        auto backbone = createBackbone("filterbank");
        const PipelineParams params;
        const ImageDecomposition first = decomposeImage(scene.rgb, *backbone, params);
        cv::Mat wider;
        cv::resize(scene.rgb, wider, cv::Size(scene.rgb.cols * 3 / 2, scene.rgb.rows));
        const ImageDecomposition between = decomposeImage(wider, *backbone, params);
        QVERIFY(between.labels.size() != first.labels.size());
        ImageDecomposition again = decomposeImage(scene.rgb, *backbone, params);
        QCOMPARE(cv::countNonZero(again.labelsBeforeCrf != first.labelsBeforeCrf), 0);
        QCOMPARE(cv::countNonZero(again.labels != first.labels), 0);
        applyCrf(again); // the CRF on its own, through the same buffer
        QCOMPARE(cv::countNonZero(again.labels != first.labels), 0);
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
        QVERIFY_THROWS_EXCEPTION(Error, applyCrf(empty));
    }

    void crfLatticesAreKeptAcrossThresholds()
    {
        const Scene scene = makeScene();
        auto backbone = createBackbone("filterbank");
        PipelineParams params;
        const ImageDecomposition first = decomposeImage(scene.rgb, *backbone, params);
        QVERIFY(first.crfImage);
        QCOMPARE(first.crfSize, first.prepared.rgb.size());
        QVERIFY(first.fineLabels.empty());

        // Another threshold, first without the CRF (the slider's preview), then
        // the CRF alone: the same lattices, and the labels of a fresh run.
        ImageDecomposition again = first;
        PrimapsParams other;
        other.threshold = 0.35f;
        redecompose(again, other, false);
        QCOMPARE(again.crfImage.get(), first.crfImage.get());
        applyCrf(again);
        QCOMPARE(again.crfImage.get(), first.crfImage.get());
        QVERIFY(again.crfApplied);
        params.useRecommendedThreshold = false;
        params.primaps.threshold = 0.35f;
        const ImageDecomposition fresh = decomposeImage(scene.rgb, *backbone, params);
        QCOMPARE(cv::countNonZero(again.labels != fresh.labels), 0);

        // Other kernels need other lattices; other iterations do not.
        DenseCrfParams iterations;
        iterations.iterations = 3;
        applyCrf(again, iterations);
        QCOMPARE(again.crfImage.get(), first.crfImage.get());
        DenseCrfParams wider;
        wider.bilateralSxy = 40.0f;
        applyCrf(again, wider);
        QVERIFY(again.crfImage.get() != first.crfImage.get());
    }

    void crfLatticesBuiltAlongsideGiveTheSameLabels()
    {
        // The lattices built on their own thread while the features and PriMaPs
        // run (two OpenCV threads), or after them on the calling thread: the
        // same label maps, at the processing resolution and above it.
        configureThreads(2);
        // Back to the default however the case ends (a failed QCOMPARE returns).
        const auto restoreThreads = qScopeGuard([] { configureThreads(); });
        QCOMPARE(cv::getNumThreads(), 2); // else both would build them after
        const Scene scene = makeScene(2); // larger than the processing resolution
        auto backbone = createBackbone("filterbank");
        for (const int crfMaxPixels : {0, 200000}) {
            PipelineParams alongside;
            alongside.crfMaxPixels = crfMaxPixels;
            PipelineParams after = alongside;
            after.crfLatticesAlongside = false;
            const ImageDecomposition a = decomposeImage(scene.rgb, *backbone, alongside);
            const ImageDecomposition b = decomposeImage(scene.rgb, *backbone, after);
            QVERIFY(a.crfApplied && b.crfApplied);
            QVERIFY(a.crfImage && b.crfImage);
            QVERIFY(a.crfImage.get() != b.crfImage.get());
            QCOMPARE(a.crfSize, b.crfSize);
            QCOMPARE(b.timings.crfLatticeWait, 0.0);
            QCOMPARE(cv::countNonZero(a.labels != b.labels), 0);
            QCOMPARE(a.fineLabels.size(), b.fineLabels.size());
            if (crfMaxPixels > 0) {
                QVERIFY(a.crfSize.area() > a.prepared.rgb.size().area());
                QCOMPARE(cv::countNonZero(a.fineLabels != b.fineLabels), 0);
            }
            // The CRF changed something, so equal maps say something.
            QVERIFY(cv::countNonZero(a.labels != a.labelsBeforeCrf) > 0);
            // A later threshold reuses the lattices built alongside.
            ImageDecomposition again = a;
            PrimapsParams other;
            other.threshold = 0.5f;
            redecompose(again, other, true, DenseCrfParams(), crfMaxPixels);
            QCOMPARE(again.crfImage.get(), a.crfImage.get());
        }
        // A CRF setting the lattices refuse fails the decomposition as before.
        PipelineParams bad;
        bad.crfParams.bilateralSxy = -1.0f;
        QVERIFY_THROWS_EXCEPTION(Error, decomposeImage(scene.rgb, *backbone, bad));
    }

    void fineCrfLatticesAreKeptAcrossThresholds()
    {
        // The studio's path on a photo larger than the processing resolution: the
        // CRF at the capped original, a new threshold first without the CRF (the
        // preview), then the CRF alone on the kept lattices. The result must be
        // that of a fresh decomposition at that threshold, to the last label.
        const Scene scene = makeScene(3);
        auto backbone = createBackbone("filterbank");
        PipelineParams params;
        params.crfMaxPixels = 300000;
        const ImageDecomposition first = decomposeImage(scene.rgb, *backbone, params);
        QVERIFY(first.crfApplied);
        QVERIFY(first.crfImage);
        QVERIFY(first.crfSize.area() > first.prepared.rgb.size().area());

        ImageDecomposition again = first;
        PrimapsParams other;
        other.threshold = 0.35f;
        redecompose(again, other, false, DenseCrfParams(), params.crfMaxPixels);
        QVERIFY(!again.crfApplied);
        applyCrf(again, DenseCrfParams(), params.crfMaxPixels);
        QCOMPARE(again.crfImage.get(), first.crfImage.get());
        QCOMPARE(again.crfSize, first.crfSize);

        params.useRecommendedThreshold = false;
        params.primaps.threshold = 0.35f;
        const ImageDecomposition fresh = decomposeImage(scene.rgb, *backbone, params);
        QVERIFY(fresh.crfImage.get() != first.crfImage.get());
        QCOMPARE(again.trace.iterations.size(), fresh.trace.iterations.size());
        QCOMPARE(cv::countNonZero(again.fineLabels != fresh.fineLabels), 0);
        QCOMPARE(cv::countNonZero(again.labels != fresh.labels), 0);
    }

    void crfResolutionIsTheCappedOriginal()
    {
        // What the studio asks for (640 x 480 pixels at most) on photos of several
        // sizes; the CLI's 0 keeps the processing resolution whatever the photo.
        const int cap = 640 * 480;
        auto prepared = [](int width, int height) {
            return prepareImage(cv::Mat(height, width, CV_8UC3, cv::Scalar(90, 120, 150)),
                                PreprocessParams{});
        };
        // A 12-megapixel photo, landscape and portrait: the cap exactly, the aspect
        // ratio kept.
        const PreparedImage big = prepared(4000, 3000);
        QCOMPARE(crfResolution(big, cap), cv::Size(640, 480));
        QCOMPARE(crfResolution(prepared(3000, 4000), cap), cv::Size(480, 640));
        QCOMPARE(crfResolution(big, 0), big.rgb.size());
        // Between the processing resolution and the cap: the original's own size.
        const PreparedImage medium = prepared(600, 450);
        QCOMPARE(crfResolution(medium, cap), cv::Size(600, 450));
        // Rounded down, never above the cap: 1001 x 751 scaled by sqrt(cap / area).
        const cv::Size odd = crfResolution(prepared(1001, 751), cap);
        QVERIFY(odd.area() <= cap);
        QVERIFY(odd.area() > cap * 99 / 100);
        // A photo smaller than the processing resolution (it is enlarged for the
        // features): the CRF at the processing resolution, never below it.
        const PreparedImage small = prepared(200, 150);
        QCOMPARE(crfResolution(small, cap), small.rgb.size());
        // A cap below the processing resolution does not shrink the CRF either.
        QCOMPARE(crfResolution(big, 1000), big.rgb.size());
    }

    void crfAboveTheProcessingResolution()
    {
        // The scene drawn at three times the size: the features at 320 short side,
        // the CRF at up to 300,000 pixels of the original.
        const Scene scene = makeScene(3);
        // The CRF's resolution is under test, on the masks this scene was drawn for:
        // version 1's. Version 2's context features add narrow masks along the edges of
        // these flat regions, whose own boundaries would dominate the distance below.
        auto backbone = createBackbone("filterbank-v1");
        PipelineParams params;
        params.crfMaxPixels = 300000;
        const ImageDecomposition fine = decomposeImage(scene.rgb, *backbone, params);
        params.crfMaxPixels = 0;
        const ImageDecomposition coarse = decomposeImage(scene.rgb, *backbone, params);

        QCOMPARE(coarse.crfSize, coarse.prepared.rgb.size());
        QVERIFY(coarse.fineLabels.empty());
        QVERIFY(fine.crfApplied);
        QVERIFY(fine.crfSize.area() <= 300000);
        QVERIFY(fine.crfSize.area() > 2 * fine.prepared.rgb.size().area());
        QVERIFY(std::abs(double(fine.crfSize.width) / fine.crfSize.height -
                         double(scene.rgb.cols) / scene.rgb.rows) < 0.01);
        QCOMPARE(fine.crfSize, crfResolution(fine.prepared, 300000));
        QCOMPARE(fine.fineLabels.size(), fine.crfSize);
        QCOMPARE(fine.fineLabelsBeforeCrf.size(), fine.crfSize);
        QCOMPARE(fine.labels.size(), fine.prepared.rgb.size());
        QCOMPARE(fine.labelsAtOriginalSize().size(), scene.rgb.size());
        // The same masks (same features and threshold), with sharper edges.
        QCOMPARE(fine.trace.iterations.size(), coarse.trace.iterations.size());
        const double fineDistance = meanBoundaryDistance(fine.labelsAtOriginalSize(), scene.truth);
        const double coarseDistance =
            meanBoundaryDistance(coarse.labelsAtOriginalSize(), scene.truth);
        const double fineAccuracy = matchedAccuracy(fine.labelsAtOriginalSize(), scene.truth);
        const double coarseAccuracy = matchedAccuracy(coarse.labelsAtOriginalSize(), scene.truth);
        qInfo("CRF at %dx%d: boundary %.2f px from the true edge, accuracy %.4f; at the "
              "processing resolution %dx%d: %.2f px, %.4f",
              fine.crfSize.width, fine.crfSize.height, fineDistance, fineAccuracy,
              coarse.crfSize.width, coarse.crfSize.height, coarseDistance, coarseAccuracy);
        QVERIFY(fineDistance < coarseDistance);
        QVERIFY(fineAccuracy >= coarseAccuracy);

        // Cropping loses part of the original: the CRF stays at the processing
        // resolution.
        params.crfMaxPixels = 300000;
        params.preprocess.fit = FitMode::CenterCropSquare;
        const ImageDecomposition cropped = decomposeImage(scene.rgb, *backbone, params);
        QCOMPARE(cropped.crfSize, cropped.prepared.rgb.size());
        QVERIFY(cropped.fineLabels.empty());
    }
};

QTEST_APPLESS_MAIN(TestPipeline)
#include "tst_pipeline.moc"
