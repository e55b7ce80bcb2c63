// SPDX-License-Identifier: MIT
// The reusable widgets and the job runner, offscreen: image conversion, the
// canvas (zoom, overlay, opacity, highlight, before/after split), the legend,
// the step list, the image list's handling of bad files, and DecomposeJob's
// threading contract and feature cache.

#include "explore/canvaswidget.h"
#include "explore/decomposejob.h"
#include "support/error.h"
#include "common/imageconvert.h"
#include "explore/imagelistwidget.h"
#include "explore/legendwidget.h"
#include "image/imageio.h"
#include "common/messagelogwidget.h"
#include "common/transparency.h"
#include "common/messagewidget.h"
#include "image/overlay.h"
#include "pipeline/pipeline.h"
#include "decompose/primaps.h"
#include "explore/stepperwidget.h"
#include "testsupport.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <QFile>
#include <QListWidget>
#include <QPainter>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QToolButton>
#include <random>

using namespace primaps;

namespace {

using primaps::testing::sameMat;

const QString kSample = QStringLiteral(PRIMAPS_SAMPLES_DIR "/chelsea.jpg");
const QString kOtherSample = QStringLiteral(PRIMAPS_SAMPLES_DIR "/coffee.jpg");
constexpr int kJobTimeoutMs = 120000;

// Submits `request` and waits for its result.
DecomposeResult runJob(DecomposeJob& job, const DecomposeRequest& request)
{
    QSignalSpy finished(&job, &DecomposeJob::finished);
    const quint64 generation = job.submit(request);
    if (!QTest::qWaitFor([&] { return !finished.isEmpty(); }, kJobTimeoutMs))
        return {};
    const DecomposeResult result = finished.last().at(0).value<DecomposeResult>();
    return result.generation == generation ? result : DecomposeResult();
}

cv::Mat randomMat(int rows, int cols, int type, unsigned seed)
{
    cv::Mat mat(rows, cols, type);
    cv::RNG rng(seed);
    rng.fill(mat, cv::RNG::UNIFORM, 0, 256);
    return mat;
}

// Renders the canvas scene at photo resolution (no view transform), so pixels
// can be compared with the photo and the label colours.
QImage renderScene(CanvasWidget& canvas)
{
    const QSize size = canvas.photo().size();
    QImage out(size, QImage::Format_RGB32);
    out.fill(Qt::black);
    QPainter painter(&out);
    canvas.scene()->render(&painter, QRectF(QPointF(0, 0), QSizeF(size)),
                           QRectF(QPointF(0, 0), QSizeF(size)));
    return out;
}

QColor labelQColor(int id)
{
    const cv::Vec3b c = labelColor(id);
    return QColor(c[0], c[1], c[2]);
}

bool near(const QColor& a, const QColor& b, int tolerance = 3)
{
    return std::abs(a.red() - b.red()) <= tolerance &&
           std::abs(a.green() - b.green()) <= tolerance &&
           std::abs(a.blue() - b.blue()) <= tolerance;
}

// Three planted regions with distinct feature directions plus a little noise.
FeatureMap plantedFeatures(int h, int w, int channels)
{
    FeatureMap f(channels, h, w);
    std::mt19937 rng(7);
    std::normal_distribution<float> noise(0.0f, 0.05f);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            const int region = x < w / 3 ? 0 : (y < h / 2 ? 1 : 2);
            for (int c = 0; c < channels; ++c)
                f.at(c, y, x) = (c == region ? 1.0f : 0.0f) + noise(rng);
        }
    return f;
}

} // namespace

class TestWidgets : public QObject
{
    Q_OBJECT

private slots:
    void rgbRoundTrip();
    void greyRoundTrip();
    void qimageFormatsConvert();
    void unsupportedMatThrows();
    void canvasZoom();
    void canvasOverlayOpacityAndHighlight();
    void canvasShowsDecompositionWithoutPadding();
    void canvasCompareSplitsBeforeAndAfter();
    void canvasDividerFollowsMouseAndKeys();
    void canvasTakesBeforeMapFromCrfDecomposition();
    void legendChipsAndClicks();
    void stepperFromSyntheticTrace();
    void stepperFromRealDecomposition();
    void messageWidgetAccumulatesAndDismisses();
    void messageLogKeepsEveryMessage();
    void transparentImagesOnACheckerboard();
    void imageListRejectsUnreadableFiles();
    void imageListIgnoresDuplicatesAndExpandsFolders();
    void decomposeJobDeliversResult();
    void decomposeJobReportsErrorNamingFile();
    void decomposeJobDeliversOnlyNewest();
    void decomposeJobReusesFeatures();
    void decomposeJobCrfFlag();
    void decomposeJobNoticesChangedFile();
    void decomposeJobNotesTheProcessingBudget();
    void decomposeJobPreviewsThenRefinesBigPhoto();
};

void TestWidgets::rgbRoundTrip()
{
    // An ROI has a row stride larger than its width: the copy must honour both strides.
    cv::Mat big = randomMat(37, 53, CV_8UC3, 1);
    const cv::Mat roi = big(cv::Rect(3, 2, 31, 29));
    const QImage image = toQImage(roi);
    QCOMPARE(image.format(), QImage::Format_RGB888);
    QCOMPARE(image.size(), QSize(31, 29));
    const cv::Vec3b px = roi.at<cv::Vec3b>(5, 7);
    QCOMPARE(image.pixelColor(7, 5), QColor(px[0], px[1], px[2]));
    const cv::Mat back = toRgbMat(image);
    QVERIFY(sameMat(back, roi));
    // Deep copies: changing the source afterwards leaves the image alone.
    big.setTo(cv::Scalar(0, 0, 0));
    QCOMPARE(image.pixelColor(7, 5), QColor(px[0], px[1], px[2]));
}

void TestWidgets::greyRoundTrip()
{
    const cv::Mat grey = randomMat(17, 23, CV_8UC1, 2);
    const QImage image = toQImage(grey);
    QCOMPARE(image.format(), QImage::Format_Grayscale8);
    QCOMPARE(qGray(image.pixel(4, 3)), int(grey.at<uchar>(3, 4)));
    QVERIFY(sameMat(toGreyMat(image), grey));
    QVERIFY(toQImage(cv::Mat()).isNull());
    QVERIFY(toRgbMat(QImage()).empty());
}

void TestWidgets::qimageFormatsConvert()
{
    QImage argb(5, 4, QImage::Format_ARGB32);
    argb.fill(QColor(10, 200, 30, 77));
    const cv::Mat rgb = toRgbMat(argb);
    QCOMPARE(rgb.type(), CV_8UC3);
    QCOMPARE(rgb.cols, 5);
    QCOMPARE(rgb.rows, 4);
    // Alpha is dropped, not blended: the colour channels come through unchanged.
    QCOMPARE(rgb.at<cv::Vec3b>(2, 3), cv::Vec3b(10, 200, 30));

    const cv::Mat rgba = randomMat(6, 9, CV_8UC4, 3);
    const QImage fromRgba = toQImage(rgba);
    QCOMPARE(fromRgba.format(), QImage::Format_RGBA8888);
    const cv::Vec4b p = rgba.at<cv::Vec4b>(1, 2);
    QCOMPARE(fromRgba.pixelColor(2, 1), QColor(p[0], p[1], p[2], p[3]));
}

void TestWidgets::unsupportedMatThrows()
{
    QVERIFY_THROWS_EXCEPTION(Error, toQImage(cv::Mat(4, 4, CV_32FC1, cv::Scalar(0.5))));
    QVERIFY_THROWS_EXCEPTION(Error, toQImage(cv::Mat(4, 4, CV_16UC3)));
}

void TestWidgets::canvasZoom()
{
    CanvasWidget canvas;
    canvas.resize(416, 316);
    canvas.show();
    QVERIFY(QTest::qWaitForWindowExposed(&canvas));

    QImage photo(200, 100, QImage::Format_RGB888);
    photo.fill(Qt::darkCyan);
    canvas.setPhoto(photo);
    QVERIFY(canvas.isFitToWindow());
    const QSize view = canvas.viewport()->size();
    const double fit = std::min((view.width() - 16) / 200.0, (view.height() - 16) / 100.0);
    QVERIFY2(std::abs(canvas.zoom() - fit) < 1e-6, qPrintable(QString::number(canvas.zoom())));

    QSignalSpy zoomSpy(&canvas, &CanvasWidget::zoomChanged);
    canvas.zoomIn();
    QVERIFY(std::abs(canvas.zoom() - fit * 1.25) < 1e-6);
    QVERIFY(!canvas.isFitToWindow());
    canvas.zoomOut();
    canvas.zoomOut();
    QVERIFY(std::abs(canvas.zoom() - fit / 1.25) < 1e-6);
    canvas.showActualSize();
    QVERIFY(std::abs(canvas.zoom() - 1.0) < 1e-9);
    QCOMPARE(zoomSpy.count(), 4);

    QTest::keyClick(&canvas, Qt::Key_Plus);
    QVERIFY(std::abs(canvas.zoom() - 1.25) < 1e-6);
    QTest::keyClick(&canvas, Qt::Key_F);
    QVERIFY(canvas.isFitToWindow());
    QVERIFY(std::abs(canvas.zoom() - fit) < 1e-6);

    canvas.setZoom(1000.0);
    QVERIFY(std::abs(canvas.zoom() - 32.0) < 1e-6); // clamped
    canvas.setZoom(0.0001);
    QVERIFY(std::abs(canvas.zoom() - 0.02) < 1e-6);

    // Fit follows the window while it is in fit mode.
    canvas.fitToWindow();
    canvas.resize(816, 316);
    QTRY_VERIFY(canvas.viewport()->width() > 700);
    const QSize wider = canvas.viewport()->size();
    QVERIFY(std::abs(canvas.zoom() -
                     std::min((wider.width() - 16) / 200.0, (wider.height() - 16) / 100.0)) < 1e-6);
}

void TestWidgets::canvasOverlayOpacityAndHighlight()
{
    CanvasWidget canvas;
    canvas.resize(300, 300);
    QImage photo(40, 20, QImage::Format_RGB888);
    const QColor grey(100, 120, 140);
    photo.fill(grey);
    canvas.setPhoto(photo);

    // Left half mask 1, right half mask 2, a background strip on the right.
    cv::Mat labels(10, 20, CV_8U, cv::Scalar(1));
    labels(cv::Rect(10, 0, 10, 10)).setTo(2);
    labels(cv::Rect(18, 0, 2, 10)).setTo(0);
    canvas.setLabels(labels, QRectF(0, 0, 40, 20)); // each label pixel covers 2 x 2 photo pixels
    QVERIFY(canvas.hasLabels());
    QCOMPARE(canvas.maskIdAt(QPointF(5, 9)), 1);
    QCOMPARE(canvas.maskIdAt(QPointF(30, 9)), 2);
    QCOMPARE(canvas.maskIdAt(QPointF(39, 9)), 0);
    QCOMPARE(canvas.maskIdAt(QPointF(41, 9)), -1);
    QCOMPARE(int(canvas.areaFractions().size()), 3);
    QVERIFY(std::abs(canvas.areaFractions()[0] - 0.1) < 1e-9);
    QVERIFY(std::abs(canvas.areaFractions()[1] - 0.5) < 1e-9);

    const QPoint inside1(8, 10), inside2(28, 10), background(38, 10);
    canvas.setOverlayOpacity(1.0);
    QImage shot = renderScene(canvas);
    QVERIFY(near(shot.pixelColor(inside1), labelQColor(1)));
    QVERIFY(near(shot.pixelColor(inside2), labelQColor(2)));
    // Border between the masks is white.
    QVERIFY(near(shot.pixelColor(20, 10), Qt::white));
    // Background is dimmed, not tinted: 55 % darker at full opacity.
    QVERIFY(near(shot.pixelColor(background), QColor(45, 54, 63), 4));

    canvas.setOverlayOpacity(0.0);
    QCOMPARE(canvas.overlayOpacity(), 0.0);
    shot = renderScene(canvas);
    QVERIFY(near(shot.pixelColor(inside1), grey));
    QVERIFY(near(shot.pixelColor(background), grey));

    canvas.setOverlayOpacity(0.5);
    shot = renderScene(canvas);
    const QColor c1 = labelQColor(1);
    QVERIFY(near(shot.pixelColor(inside1),
                 QColor((grey.red() + c1.red()) / 2, (grey.green() + c1.green()) / 2,
                        (grey.blue() + c1.blue()) / 2),
                 4));

    canvas.setOverlayVisible(false);
    QVERIFY(near(renderScene(canvas).pixelColor(inside1), grey));
    canvas.setOverlayVisible(true);

    // Highlighting mask 2 leaves mask 1 looking like background.
    canvas.setOverlayOpacity(1.0);
    canvas.setHighlightedMask(2);
    QCOMPARE(canvas.highlightedMask(), 2);
    shot = renderScene(canvas);
    QVERIFY(near(shot.pixelColor(inside2), labelQColor(2)));
    QVERIFY(near(shot.pixelColor(inside1), QColor(45, 54, 63), 4));
    canvas.setHighlightedMask(7); // not on the map: back to all masks
    QCOMPARE(canvas.highlightedMask(), 0);
    QVERIFY(near(renderScene(canvas).pixelColor(inside1), labelQColor(1)));
}

void TestWidgets::canvasShowsDecompositionWithoutPadding()
{
    // Original 100 x 50, resized to 200 x 100, padded to 208 x 104 for the patch grid.
    ImageDecomposition d;
    d.prepared.originalSize = cv::Size(100, 50);
    d.prepared.resizedSize = cv::Size(200, 100);
    d.prepared.regionInResized = cv::Rect(0, 0, 200, 100);
    d.prepared.contentInPrepared = cv::Rect(0, 0, 200, 100);
    d.prepared.rgb = cv::Mat(104, 208, CV_8UC3, cv::Scalar(0, 0, 0));
    d.labels = cv::Mat(104, 208, CV_8U, cv::Scalar(9)); // padding: must not show
    d.labels(cv::Rect(0, 0, 200, 100)).setTo(1);
    d.labels(cv::Rect(100, 0, 100, 100)).setTo(2);

    CanvasWidget canvas;
    QImage photo(100, 50, QImage::Format_RGB888);
    photo.fill(Qt::gray);
    canvas.setDecomposition(photo, d);
    QCOMPARE(canvas.labels().cols, 200);
    QCOMPARE(canvas.labels().rows, 100);
    QCOMPARE(canvas.maskIdAt(QPointF(10, 25)), 1);
    QCOMPARE(canvas.maskIdAt(QPointF(90, 25)), 2);
    QCOMPARE(canvas.maskIdAt(QPointF(99.5, 49.5)), 2);
    QCOMPARE(int(canvas.areaFractions().size()), 3); // ids 0..2: no 9 from the padding
}

void TestWidgets::canvasCompareSplitsBeforeAndAfter()
{
    CanvasWidget canvas;
    canvas.resize(300, 300);
    QImage photo(40, 20, QImage::Format_RGB888);
    photo.fill(QColor(100, 120, 140));
    canvas.setPhoto(photo);

    // After: mask 1 left, mask 2 right. Before: mask 3 everywhere, so every
    // pixel tells which map it was drawn from.
    cv::Mat after(10, 20, CV_8U, cv::Scalar(1));
    after(cv::Rect(10, 0, 10, 10)).setTo(2);
    const cv::Mat before(10, 20, CV_8U, cv::Scalar(3));
    canvas.setLabels(after, QRectF(0, 0, 40, 20), before);
    QVERIFY(canvas.hasBeforeLabels());
    QVERIFY(sameMat(canvas.beforeLabels(), before));
    QCOMPARE(int(canvas.beforeAreaFractions().size()), 4);
    QCOMPARE(canvas.beforeAreaFractions()[3], 1.0);
    canvas.setOverlayOpacity(1.0);

    // Compare mode off: only the final map, everywhere.
    QVERIFY(!canvas.isComparing());
    QImage shot = renderScene(canvas);
    QVERIFY(near(shot.pixelColor(8, 10), labelQColor(1)));
    QVERIFY(near(shot.pixelColor(28, 10), labelQColor(2)));
    QCOMPARE(canvas.maskIdAt(QPointF(5, 9)), 1);

    // On: "before" left of the divider (default in the middle), "after" right.
    canvas.setCompareMode(true);
    QVERIFY(canvas.isComparing());
    QCOMPARE(canvas.splitPosition(), 0.5);
    shot = renderScene(canvas);
    QVERIFY(near(shot.pixelColor(8, 10), labelQColor(3)));
    QVERIFY(near(shot.pixelColor(28, 10), labelQColor(2)));
    QVERIFY(canvas.showsBeforeAt(QPointF(5, 9)));
    QVERIFY(!canvas.showsBeforeAt(QPointF(30, 9)));
    QCOMPARE(canvas.maskIdAt(QPointF(5, 9)), 3);
    QCOMPARE(canvas.maskIdAt(QPointF(30, 9)), 2);
    // The overlay images are those of the two maps.
    QVERIFY(near(canvas.beforeOverlayImage().pixelColor(3, 5), labelQColor(3)));
    QVERIFY(near(canvas.overlayImage().pixelColor(3, 5), labelQColor(1)));

    // Moving the divider moves the boundary between the two maps.
    QSignalSpy moved(&canvas, &CanvasWidget::splitPositionChanged);
    canvas.setSplitPosition(0.1); // x = 4 in photo pixels
    QCOMPARE(moved.count(), 1);
    shot = renderScene(canvas);
    QVERIFY(near(shot.pixelColor(2, 10), labelQColor(3)));
    QVERIFY(near(shot.pixelColor(8, 10), labelQColor(1)));
    QCOMPARE(canvas.maskIdAt(QPointF(8, 9)), 1);
    canvas.setSplitPosition(7.0);
    QCOMPARE(canvas.splitPosition(), 1.0); // clamped: all "before"
    QVERIFY(near(renderScene(canvas).pixelColor(28, 10), labelQColor(3)));
    canvas.setSplitPosition(0.5);

    // Opacity and highlight apply to both sides.
    canvas.setOverlayOpacity(0.0);
    shot = renderScene(canvas);
    QVERIFY(near(shot.pixelColor(8, 10), QColor(100, 120, 140)));
    QVERIFY(near(shot.pixelColor(28, 10), QColor(100, 120, 140)));
    canvas.setOverlayOpacity(1.0);
    canvas.setHighlightedMask(2);
    shot = renderScene(canvas);
    QVERIFY(near(shot.pixelColor(8, 10), QColor(45, 54, 63), 4)); // mask 3 dimmed like background
    QVERIFY(near(shot.pixelColor(28, 10), labelQColor(2)));
    canvas.setHighlightedMask(0);

    // Without a "before" map there is nothing to split, even in compare mode.
    canvas.setLabels(after, QRectF(0, 0, 40, 20));
    QVERIFY(canvas.isCompareMode());
    QVERIFY(!canvas.isComparing());
    QVERIFY(near(renderScene(canvas).pixelColor(8, 10), labelQColor(1)));
    // Nor with one of another size.
    canvas.setLabels(after, QRectF(0, 0, 40, 20), cv::Mat(5, 5, CV_8U, cv::Scalar(3)));
    QVERIFY(!canvas.hasBeforeLabels());
    QVERIFY(!canvas.isComparing());
}

void TestWidgets::canvasDividerFollowsMouseAndKeys()
{
    CanvasWidget canvas;
    canvas.resize(420, 320);
    canvas.show();
    QVERIFY(QTest::qWaitForWindowExposed(&canvas));
    QImage photo(200, 100, QImage::Format_RGB888);
    photo.fill(Qt::darkCyan);
    canvas.setPhoto(photo);
    const cv::Mat after(50, 100, CV_8U, cv::Scalar(1));
    const cv::Mat before(50, 100, CV_8U, cv::Scalar(2));
    canvas.setLabels(after, QRectF(0, 0, 200, 100), before);
    canvas.setCompareMode(true);
    QVERIFY(canvas.isComparing());

    // A drag that starts on the divider moves it and does not pan the picture.
    const QPoint centre = canvas.viewport()->rect().center();
    const int x0 = canvas.dividerViewX();
    QVERIFY2(std::abs(x0 - centre.x()) <= 2, qPrintable(QString::number(x0)));
    const QPointF sceneBefore = canvas.mapToScene(centre);
    QTest::mousePress(canvas.viewport(), Qt::LeftButton, {}, QPoint(x0, centre.y()));
    QTest::mouseMove(canvas.viewport(), QPoint(x0 + 60, centre.y()));
    QTest::mouseRelease(canvas.viewport(), Qt::LeftButton, {}, QPoint(x0 + 60, centre.y()));
    QVERIFY2(std::abs(canvas.dividerViewX() - (x0 + 60)) <= 1,
             qPrintable(QString::number(canvas.dividerViewX())));
    QVERIFY(canvas.splitPosition() > 0.6);
    QCOMPARE(canvas.mapToScene(centre), sceneBefore);

    // [ and ] step it by 5 % of the width.
    const double split = canvas.splitPosition();
    QTest::keyClick(&canvas, Qt::Key_BracketLeft);
    QVERIFY(std::abs(canvas.splitPosition() - (split - 0.05)) < 1e-9);
    QTest::keyClick(&canvas, Qt::Key_BracketRight);
    QTest::keyClick(&canvas, Qt::Key_BracketRight);
    QVERIFY(std::abs(canvas.splitPosition() - (split + 0.05)) < 1e-9);

    // The split follows the photo under zoom: same photo fraction, new screen place.
    canvas.zoomIn();
    QCOMPARE(canvas.splitPosition(), split + 0.05);

    // The badge is a separate notice and does not disturb the split.
    canvas.setBadgeText(QStringLiteral("Preview"));
    QCOMPARE(canvas.badgeText(), QStringLiteral("Preview"));
    QVERIFY(!canvas.grab().isNull());
    canvas.setBadgeText(QString());
}

void TestWidgets::canvasTakesBeforeMapFromCrfDecomposition()
{
    ImageDecomposition d;
    d.prepared.originalSize = cv::Size(100, 50);
    d.prepared.resizedSize = cv::Size(200, 100);
    d.prepared.regionInResized = cv::Rect(0, 0, 200, 100);
    d.prepared.contentInPrepared = cv::Rect(0, 0, 200, 100);
    d.prepared.rgb = cv::Mat(104, 208, CV_8UC3, cv::Scalar(0, 0, 0));
    d.labels = cv::Mat(104, 208, CV_8U, cv::Scalar(1));
    d.labelsBeforeCrf = cv::Mat(104, 208, CV_8U, cv::Scalar(2));
    d.crfApplied = true;

    CanvasWidget canvas;
    QImage photo(100, 50, QImage::Format_RGB888);
    photo.fill(Qt::gray);
    canvas.setDecomposition(photo, d);
    QVERIFY(canvas.hasBeforeLabels());
    QCOMPARE(canvas.beforeLabels().cols, 200); // padding left out, as for the labels
    QCOMPARE(canvas.beforeLabels().at<uchar>(0, 0), uchar(2));
    canvas.setCompareMode(true);
    QCOMPARE(canvas.maskIdAt(QPointF(10, 25)), 2);
    QCOMPARE(canvas.maskIdAt(QPointF(90, 25)), 1);

    // Without the CRF, labelsBeforeCrf is the result itself: nothing to compare.
    d.crfApplied = false;
    canvas.setDecomposition(photo, d);
    QVERIFY(!canvas.hasBeforeLabels());
    QVERIFY(!canvas.isComparing());
    QCOMPARE(canvas.maskIdAt(QPointF(10, 25)), 1);
}

void TestWidgets::legendChipsAndClicks()
{
    LegendWidget legend;
    legend.resize(600, 40);
    legend.show();
    QVERIFY(QTest::qWaitForWindowExposed(&legend));
    legend.setAreas({0.1, 0.5, 0.0, 0.4});
    QCOMPARE(legend.maskCount(), 2);
    QCOMPARE(legend.fraction(3), 0.4);
    QCOMPARE(legend.fraction(2), 0.0);

    QSignalSpy spy(&legend, &LegendWidget::maskClicked);
    // The first chip (mask 1) sits right after the caption; find it by scanning.
    int clickedId = -1;
    for (int x = 0; x < legend.width() && clickedId < 0; x += 4) {
        QTest::mouseClick(&legend, Qt::LeftButton, {}, QPoint(x, legend.height() / 2));
        if (!spy.isEmpty())
            clickedId = spy.takeFirst().at(0).toInt();
    }
    QCOMPARE(clickedId, 1);
    // Narrow widths wrap the chips onto more rows.
    QVERIFY(legend.heightForWidth(90) > legend.heightForWidth(600));

    // The caption says which map the chips describe; a longer one moves them.
    QCOMPARE(legend.caption(), QStringLiteral("Masks"));
    const int plain = legend.heightForWidth(400);
    legend.setCaption(QStringLiteral("Masks after a very long CRF caption"));
    QCOMPARE(legend.caption(), QStringLiteral("Masks after a very long CRF caption"));
    QVERIFY(legend.heightForWidth(400) > plain);
    legend.setCaption(QString());
    QCOMPARE(legend.caption(), QStringLiteral("Masks"));
    legend.clear();
    QCOMPARE(legend.caption(), QStringLiteral("No masks yet"));
}

void TestWidgets::stepperFromSyntheticTrace()
{
    PrimapsTrace trace;
    trace.params.threshold = 0.4f;
    trace.channels = 8;
    trace.height = 4;
    trace.width = 5;
    const int n = trace.height * trace.width;
    for (int k = 0; k < 3; ++k) {
        PrimapsIteration it;
        it.similarity.assign(std::size_t(n), 0.1f * float(k + 1));
        it.refinedSimilarity.assign(std::size_t(n), 0.2f);
        it.mask.assign(std::size_t(n), 0.0f);
        for (int i = k * 6; i < std::min(n, (k + 1) * 6); ++i)
            it.mask[std::size_t(i)] = 1.0f;
        it.seedIndex = k * 6 + 1;
        it.assigned = 6;
        it.remainingBefore = n - 6 * k;
        it.remainingAfter = n - 6 * (k + 1);
        it.coverageBefore = float(6 * k) / float(n);
        trace.iterations.push_back(it);
    }
    trace.stopReason = StopReason::NothingPositive;
    trace.finalCoverage = 18.0f / 20.0f;

    StepperWidget stepper;
    stepper.resize(380, 600);
    stepper.show();
    QVERIFY(QTest::qWaitForWindowExposed(&stepper));
    QCOMPARE(stepper.iterationCount(), 0);
    stepper.setTrace(trace);
    QCOMPARE(stepper.iterationCount(), 3);
    QVERIFY2(stepper.summaryText().contains(QStringLiteral("3 steps")),
             qPrintable(stepper.summaryText()));
    QVERIFY(stepper.summaryText().contains(QStringLiteral("90.0 %")));
    QVERIFY(stepper.headerText().contains(QStringLiteral("0.40")));
    QVERIFY(stepper.headerText().contains(QStringLiteral("5 \u00d7 4")));

    QSignalSpy spy(&stepper, &StepperWidget::iterationSelected);
    stepper.setSelectedIteration(1);
    QCOMPARE(stepper.selectedIteration(), 1);
    QCOMPARE(spy.count(), 1);
    QCOMPARE(spy.takeFirst().at(0).toInt(), 1);
    stepper.setSelectedIteration(-1);
    QCOMPARE(spy.takeFirst().at(0).toInt(), -1);

    // A click on the second row selects it.
    QListWidget* list = stepper.findChild<QListWidget*>();
    QVERIFY(list);
    const QRect second = list->visualItemRect(list->item(1));
    QVERIFY(second.isValid());
    QTest::mouseClick(list->viewport(), Qt::LeftButton, {}, second.center());
    QCOMPARE(stepper.selectedIteration(), 1);

    // Rows follow the width: the maps keep their aspect ratio, so a wider list
    // gives taller rows, up to a size at which three cards still fit a dock.
    stepper.resize(240, 600);
    QTest::qWait(100);
    const int rowHeight = list->visualItemRect(list->item(0)).height();
    stepper.resize(600, 600);
    QTRY_VERIFY(list->visualItemRect(list->item(0)).height() > rowHeight);
    const int wideHeight = list->visualItemRect(list->item(0)).height();
    stepper.resize(1200, 600);
    QTest::qWait(50);
    QCOMPARE(list->visualItemRect(list->item(0)).height(), wideHeight);

    // Rows are painted without crashing at a very narrow width too.
    stepper.resize(120, 300);
    QVERIFY(!stepper.grab().isNull());

    stepper.clear();
    QCOMPARE(stepper.iterationCount(), 0);
    QCOMPARE(spy.last().at(0).toInt(), -1);
}

void TestWidgets::stepperFromRealDecomposition()
{
    const FeatureMap features = plantedFeatures(12, 18, 6);
    PrimapsParams params;
    params.threshold = 0.5f;
    const PrimapsTrace trace = decompose(features, params);
    QVERIFY(trace.iterations.size() >= 3);

    StepperWidget stepper;
    stepper.setTrace(trace);
    QCOMPARE(stepper.iterationCount(), int(trace.iterations.size()));
    QVERIFY(stepper.summaryText().startsWith(QStringLiteral("Stopped after")));
}

void TestWidgets::messageWidgetAccumulatesAndDismisses()
{
    QWidget parent;
    MessageWidget* messages = new MessageWidget(&parent);
    parent.show();
    QVERIFY(!messages->isVisible());
    messages->showMessage(QStringLiteral("first"));
    messages->showMessage(QStringLiteral("second"));
    QVERIFY(messages->isVisible());
    QCOMPARE(messages->text(), QStringLiteral("second"));
    QCOMPARE(messages->messages().size(), 2);
    QVERIFY(messages->hasError());
    // Earlier messages are one click away (the log), not behind a hover.
    QVERIFY(messages->toolTip().isEmpty());
    QToolButton* more = nullptr;
    const QList<QToolButton*> buttons = messages->findChildren<QToolButton*>();
    for (QToolButton* b : buttons)
        if (b->text().contains(QStringLiteral("1 more")))
            more = b;
    QVERIFY(more);
    QSignalSpy logRequests(messages, &MessageWidget::logRequested);
    more->click();
    QCOMPARE(logRequests.count(), 1);
    messages->showMessage(QStringLiteral("first")); // again: moves to the end, no duplicate
    QCOMPARE(messages->messages(),
             QStringList({QStringLiteral("second"), QStringLiteral("first")}));
    QSignalSpy spy(messages, &MessageWidget::dismissed);
    messages->dismiss();
    QVERIFY(!messages->isVisible());
    QCOMPARE(spy.count(), 1);
    QVERIFY(messages->messages().isEmpty());
}

// A PNG whose right half is fully transparent (its colour black) shows a grey
// checkerboard there, not black; opaque and half-transparent pixels blend as
// straight alpha says; an opaque PNG is left as decoded.
void TestWidgets::transparentImagesOnACheckerboard()
{
    QTemporaryDir dir;
    const std::string path = dir.filePath(QStringLiteral("clear.png")).toStdString();
    cv::Mat bgra(16, 32, CV_8UC4, cv::Scalar(0, 0, 255, 255)); // opaque red
    bgra(cv::Rect(16, 0, 16, 16)).setTo(cv::Scalar(0, 0, 0, 0));
    bgra.at<cv::Vec4b>(3, 3) = cv::Vec4b(255, 0, 0, 128); // half-transparent blue
    QVERIFY(cv::imwrite(path, bgra));
    cv::Mat rgb = loadImageRgb8(path);
    QCOMPARE(rgb.at<cv::Vec3b>(8, 24), cv::Vec3b(0, 0, 0)); // what core decodes
    QVERIFY(compositeTransparency(path, rgb));
    QCOMPARE(rgb.at<cv::Vec3b>(8, 4), cv::Vec3b(255, 0, 0));
    for (const cv::Point p : {cv::Point(16, 0), cv::Point(24, 0), cv::Point(24, 8), cv::Point(31, 15)})
        QCOMPARE(rgb.at<cv::Vec3b>(p), cv::Vec3b::all(checkerGrey(p.x, p.y)));
    QVERIFY(checkerGrey(16, 0) != checkerGrey(24, 0)); // a checkerboard, not a flat grey
    const cv::Vec3b half = rgb.at<cv::Vec3b>(3, 3);
    const double a = 128.0 / 255.0;
    QVERIFY(std::abs(half[0] - checkerGrey(3, 3) * (1 - a)) <= 1.0);
    QVERIFY(std::abs(half[2] - (255 * a + checkerGrey(3, 3) * (1 - a))) <= 1.0);

    const std::string opaque = dir.filePath(QStringLiteral("opaque.png")).toStdString();
    QVERIFY(cv::imwrite(opaque, cv::Mat(8, 8, CV_8UC3, cv::Scalar(10, 20, 30))));
    cv::Mat plain = loadImageRgb8(opaque);
    const cv::Mat before = plain.clone();
    QVERIFY(!compositeTransparency(opaque, plain));
    QCOMPARE(cv::norm(plain, before, cv::NORM_INF), 0.0);
}

void TestWidgets::messageLogKeepsEveryMessage()
{
    QWidget parent;
    auto* banner = new MessageWidget(&parent);
    auto* log = new MessageLogWidget(&parent);
    connect(banner, &MessageWidget::messageAdded, log, &MessageLogWidget::addMessage);
    banner->showMessage(QStringLiteral("'a.png': truncated"));
    banner->showMessage(QStringLiteral("Autosaved"), MessageWidget::Kind::Information);
    banner->dismiss(); // the banner forgets, the log does not
    banner->showMessage(QStringLiteral("'b.jpg': not an image"));
    QCOMPARE(log->count(), 3);
    QVERIFY(log->entries()[0].error);
    QVERIFY(!log->entries()[1].error);
    const QStringList lines = log->toPlainText().split(QLatin1Char('\n'));
    QCOMPARE(lines.size(), 3);
    QVERIFY(lines[0].endsWith(QStringLiteral("error: 'a.png': truncated")));
    QVERIFY(lines[1].endsWith(QStringLiteral("  Autosaved")));
    for (int i = 0; i < MessageLogWidget::kCapacity + 5; ++i)
        log->addMessage(QString::number(i), false);
    QCOMPARE(log->count(), MessageLogWidget::kCapacity);
    QCOMPARE(log->entries().last().text, QString::number(MessageLogWidget::kCapacity + 4));
    log->clear();
    QCOMPARE(log->count(), 0);
}

void TestWidgets::imageListRejectsUnreadableFiles()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString good = dir.filePath(QStringLiteral("good.png"));
    QImage image(24, 16, QImage::Format_RGB888);
    image.fill(Qt::red);
    QVERIFY(image.save(good));
    // A file with an image's name whose content is not an image.
    const QString corrupt = dir.filePath(QStringLiteral("corrupt.jpg"));
    {
        QFile file(corrupt);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write(QByteArray("\xff\xd8\xff\xe0 this is not really a JPEG"));
    }
    const QString text = dir.filePath(QStringLiteral("notes.txt"));
    {
        QFile file(text);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write("hello");
    }
    const QString missing = dir.filePath(QStringLiteral("missing.png"));

    ImageListWidget list;
    list.resize(260, 400);
    list.show();
    QVERIFY(QTest::qWaitForWindowExposed(&list));
    QSignalSpy rejected(&list, &ImageListWidget::imageRejected);
    QSignalSpy current(&list, &ImageListWidget::currentPathChanged);

    QCOMPARE(list.addPaths({corrupt, good, text, missing}), 2);
    // The text file and the missing one are turned away at once.
    QCOMPARE(rejected.count(), 2);
    QVERIFY(list.messageWidget()->isVisible());
    QTRY_VERIFY_WITH_TIMEOUT(!list.isLoading(), 30000);

    // The corrupt file is found out by decoding and taken out again.
    QCOMPARE(list.count(), 1);
    QCOMPARE(QFileInfo(list.pathAt(0)).fileName(), QStringLiteral("good.png"));
    QCOMPARE(rejected.count(), 3);
    QStringList names;
    for (const QList<QVariant>& args : std::as_const(rejected))
        names << QFileInfo(args.at(0).toString()).fileName();
    QVERIFY(names.contains(QStringLiteral("corrupt.jpg")));
    QVERIFY(names.contains(QStringLiteral("notes.txt")));
    QVERIFY(names.contains(QStringLiteral("missing.png")));

    // The banner is visible and names the corrupt file.
    QVERIFY(list.messageWidget()->isVisible());
    QVERIFY(list.messageWidget()->messages().join('\n').contains(QStringLiteral("corrupt.jpg")));
    // The corrupt file was selected first; its removal moved the selection on.
    QCOMPARE(QFileInfo(list.currentPath()).fileName(), QStringLiteral("good.png"));
    QCOMPARE(QFileInfo(current.last().at(0).toString()).fileName(), QStringLiteral("good.png"));
    QVERIFY(list.listWidget()->item(0)->text().contains(QStringLiteral("24 \u00d7 16")));
}

void TestWidgets::imageListIgnoresDuplicatesAndExpandsFolders()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    QImage image(8, 8, QImage::Format_RGB888);
    image.fill(Qt::blue);
    QVERIFY(image.save(dir.filePath(QStringLiteral("b.png"))));
    QVERIFY(image.save(dir.filePath(QStringLiteral("a.png"))));
    QVERIFY(QDir(dir.path()).mkdir(QStringLiteral("sub")));
    QVERIFY(image.save(dir.filePath(QStringLiteral("sub/c.png"))));

    ImageListWidget list;
    QCOMPARE(list.addPaths({dir.path()}), 2); // subfolders are not searched
    QCOMPARE(QFileInfo(list.pathAt(0)).fileName(), QStringLiteral("a.png"));
    QCOMPARE(QFileInfo(list.pathAt(1)).fileName(), QStringLiteral("b.png"));
    QCOMPARE(list.currentRow(), 0);

    // The same file by another name is still the same file.
    list.setCurrentRow(0);
    QCOMPARE(list.addPaths({dir.filePath(QStringLiteral("sub/../b.png")), dir.path()}), 0);
    QCOMPARE(list.count(), 2);
    QCOMPARE(list.currentRow(), 1); // re-opening an image shows it

    QCOMPARE(list.addPaths({dir.filePath(QStringLiteral("sub"))}), 1);
    QCOMPARE(list.count(), 3);
    QCOMPARE(list.currentRow(), 2);
    QTRY_VERIFY_WITH_TIMEOUT(!list.isLoading(), 30000);
    QVERIFY(!list.messageWidget()->hasError());

    // With an outside banner, reports go there and the own one stays away.
    MessageWidget outside;
    list.setMessageWidget(&outside);
    QCOMPARE(list.messageWidget(), &outside);
    QCOMPARE(list.addPaths({dir.filePath(QStringLiteral("nothing-here.png"))}), 0);
    QCOMPARE(outside.messages().size(), 1);
    QVERIFY(outside.text().contains(QStringLiteral("nothing-here.png")));
}

void TestWidgets::decomposeJobDeliversResult()
{
    DecomposeJob job;
    QSignalSpy finished(&job, &DecomposeJob::finished);
    QSignalSpy busy(&job, &DecomposeJob::busyChanged);
    DecomposeRequest request;
    request.path = kSample;
    const quint64 generation = job.submit(request);
    QVERIFY(job.isBusy());
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 120000);
    QVERIFY(!job.isBusy());
    QCOMPARE(busy.count(), 2);
    const DecomposeResult result = finished.at(0).at(0).value<DecomposeResult>();
    QCOMPARE(result.generation, generation);
    QVERIFY2(result.ok(), qPrintable(result.error));
    QCOMPARE(result.photo.size(), QSize(451, 300));
    QCOMPARE(result.image.cols, 451);
    QVERIFY(result.threshold > 0.0f);
    QCOMPARE(result.threshold, result.recommendedThreshold);
    QVERIFY(!result.decomposition->trace.iterations.empty());

    // An explicit threshold is used as given, and the image comes from the cache.
    request.threshold = 0.8f;
    job.submit(request);
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 2, 120000);
    const DecomposeResult second = finished.at(1).at(0).value<DecomposeResult>();
    QVERIFY(second.ok());
    QCOMPARE(second.threshold, 0.8f);
    QCOMPARE(second.decomposition->trace.params.threshold, 0.8f);
    QCOMPARE(second.loadMs, 0.0);
}

void TestWidgets::decomposeJobReportsErrorNamingFile()
{
    QTemporaryDir dir;
    const QString bad = dir.filePath(QStringLiteral("broken-image.png"));
    {
        QFile file(bad);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write("\x89PNG\r\n\x1a\n truncated");
    }
    DecomposeJob job;
    QSignalSpy finished(&job, &DecomposeJob::finished);
    DecomposeRequest request;
    request.path = bad;
    job.submit(request);
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 60000);
    const DecomposeResult result = finished.at(0).at(0).value<DecomposeResult>();
    QVERIFY(!result.ok());
    QVERIFY(!result.decomposition);
    QVERIFY2(result.error.contains(QStringLiteral("broken-image.png")), qPrintable(result.error));

    request.path = kSample;
    request.backbone = QStringLiteral("no-such-backbone");
    job.submit(request);
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 2, 60000);
    const DecomposeResult unknown = finished.at(1).at(0).value<DecomposeResult>();
    QVERIFY(!unknown.ok());
    QVERIFY2(unknown.error.contains(QStringLiteral("no-such-backbone")), qPrintable(unknown.error));
    QVERIFY2(unknown.error.contains(QStringLiteral("chelsea.jpg")), qPrintable(unknown.error));
}

// A thin image the processing budget shrinks: the result says so in its
// warning (the message banner), naming the file, on every re-run too.
void TestWidgets::decomposeJobNotesTheProcessingBudget()
{
    // Restored however the test ends: the other tests need the default budget.
    struct Restore
    {
        PixelBudget saved = pixelBudget();
        ~Restore() { setPixelBudget(saved); }
    } restore;
    PixelBudget small = restore.saved;
    small.maxProcessingPixels = 64 * 1024;
    setPixelBudget(small);
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("strip.png"));
    QVERIFY(cv::imwrite(path.toStdString(), randomMat(10, 500, CV_8UC3, 7)));
    DecomposeJob job;
    DecomposeRequest request;
    request.path = path;
    request.crf = false;
    const DecomposeResult first = runJob(job, request);
    QVERIFY2(first.ok(), qPrintable(first.error));
    QVERIFY2(first.warning.startsWith(QStringLiteral("strip.png: processed at")) &&
                 first.warning.contains(QStringLiteral("instead of 16000x320")),
             qPrintable(first.warning));
    QVERIFY(first.decomposition->prepared.rgb.total() <= std::size_t(small.maxProcessingPixels));
    request.threshold = 0.6f; // the cached features: the same note, once
    const DecomposeResult again = runJob(job, request);
    QVERIFY(again.ok());
    QCOMPARE(again.warning, first.warning);
    setPixelBudget(restore.saved);
    // Within the budget: no note.
    request.path = kSample;
    const DecomposeResult photo = runJob(job, request);
    QVERIFY(photo.ok());
    QVERIFY2(photo.warning.isEmpty(), qPrintable(photo.warning));
}

void TestWidgets::decomposeJobDeliversOnlyNewest()
{
    DecomposeJob job;
    QSignalSpy finished(&job, &DecomposeJob::finished);
    DecomposeRequest request;
    request.path = kSample;
    quint64 last = 0;
    for (float tau : {0.3f, 0.5f, 0.7f, 0.9f}) {
        request.threshold = tau;
        last = job.submit(request);
    }
    QCOMPARE(last, quint64(4));
    QTRY_VERIFY_WITH_TIMEOUT(!job.isBusy(), 120000);
    // Let any straggler arrive before counting.
    QTest::qWait(200);
    QCOMPARE(finished.count(), 1);
    const DecomposeResult result = finished.at(0).at(0).value<DecomposeResult>();
    QCOMPARE(result.generation, last);
    QCOMPARE(result.threshold, 0.9f);
}

void TestWidgets::decomposeJobReusesFeatures()
{
    DecomposeJob job;
    QCOMPARE(job.featureExtractions(), 0);
    DecomposeRequest request;
    request.path = kSample;
    request.crf = false;
    request.threshold = 0.3f;
    const DecomposeResult first = runJob(job, request);
    QVERIFY2(first.ok(), qPrintable(first.error));
    QVERIFY(!first.featuresReused);
    QVERIFY(first.loadMs > 0.0);
    QCOMPARE(job.featureExtractions(), 1);

    // Several threshold changes: PriMaPs runs each time, the backbone once.
    std::vector<DecomposeResult> results;
    for (float tau : {0.5f, 0.7f, 0.45f, 0.3f}) {
        request.threshold = tau;
        results.push_back(runJob(job, request));
        const DecomposeResult& r = results.back();
        QVERIFY2(r.ok(), qPrintable(r.error));
        QVERIFY(r.featuresReused);
        QCOMPARE(r.loadMs, 0.0);
        QCOMPARE(r.threshold, tau);
        QCOMPARE(r.decomposition->trace.params.threshold, tau);
        QCOMPARE(r.photo.cacheKey(), first.photo.cacheKey()); // not converted again
    }
    QCOMPARE(job.featureExtractions(), 1);
    QVERIFY(results[0].decomposition->trace.iterations.size() !=
                results[1].decomposition->trace.iterations.size() ||
            !sameMat(results[0].decomposition->labels, results[1].decomposition->labels));

    // Reused features give exactly what a fresh extraction gave.
    const ImageDecomposition& again = *results.back().decomposition;
    QVERIFY(sameMat(again.labels, first.decomposition->labels));
    QCOMPARE(again.trace.iterations.size(), first.decomposition->trace.iterations.size());
    // Delivered results are never changed afterwards.
    QCOMPARE(first.decomposition->trace.params.threshold, 0.3f);
    QCOMPARE(results[1].decomposition->trace.params.threshold, 0.7f);

    // The recommended threshold (0) reuses them too.
    request.threshold = 0.0f;
    const DecomposeResult recommended = runJob(job, request);
    QVERIFY(recommended.ok());
    QCOMPARE(recommended.threshold, recommended.recommendedThreshold);
    QCOMPARE(job.featureExtractions(), 1);

    // Another image is extracted; going back to the first one is not.
    request.path = kOtherSample;
    const DecomposeResult other = runJob(job, request);
    QVERIFY(other.ok());
    QVERIFY(!other.featuresReused);
    QCOMPARE(other.image.cols, 600);
    QCOMPARE(job.featureExtractions(), 2);
    request.path = kSample;
    const DecomposeResult back = runJob(job, request);
    QVERIFY(back.ok());
    QVERIFY(back.featuresReused);
    QCOMPARE(back.image.cols, 451);
    QCOMPARE(job.featureExtractions(), 2);
}

void TestWidgets::decomposeJobCrfFlag()
{
    DecomposeJob job;
    DecomposeRequest request;
    request.path = kSample;
    request.threshold = 0.5f;
    request.crf = true; // the default
    const DecomposeResult withCrf = runJob(job, request);
    QVERIFY2(withCrf.ok(), qPrintable(withCrf.error));
    const ImageDecomposition& a = *withCrf.decomposition;
    QVERIFY(a.crfApplied);
    QVERIFY(a.timings.crf > 0.0);
    QCOMPARE(a.labelsBeforeCrf.size(), a.labels.size());
    // The CRF moves boundaries: the two maps differ somewhere.
    QVERIFY(!sameMat(a.labels, a.labelsBeforeCrf));

    request.crf = false;
    const DecomposeResult without = runJob(job, request);
    QVERIFY(without.ok());
    const ImageDecomposition& b = *without.decomposition;
    QVERIFY(!b.crfApplied);
    QCOMPARE(b.timings.crf, 0.0);
    QVERIFY(sameMat(b.labels, b.labelsBeforeCrf));
    // The map without the CRF is the CRF's input of the same threshold.
    QVERIFY(sameMat(b.labels, a.labelsBeforeCrf));

    request.crf = true;
    const DecomposeResult again = runJob(job, request);
    QVERIFY(again.ok());
    QVERIFY(again.decomposition->crfApplied);
    QVERIFY(sameMat(again.decomposition->labels, a.labels));
    QCOMPARE(job.featureExtractions(), 1);
}

void TestWidgets::decomposeJobNoticesChangedFile()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("changing.png"));
    QVERIFY(cv::imwrite(path.toStdString(), cv::imread(kSample.toStdString())));

    DecomposeJob job;
    DecomposeRequest request;
    request.path = path;
    request.crf = false;
    const DecomposeResult first = runJob(job, request);
    QVERIFY2(first.ok(), qPrintable(first.error));
    QCOMPARE(first.image.cols, 451);

    // New pixels under the same name: the cached features must not be used.
    QVERIFY(cv::imwrite(path.toStdString(), cv::imread(kOtherSample.toStdString())));
    const DecomposeResult second = runJob(job, request);
    QVERIFY2(second.ok(), qPrintable(second.error));
    QVERIFY(!second.featuresReused);
    QCOMPARE(second.image.cols, 600);
    QCOMPARE(job.featureExtractions(), 2);

    // A file that is gone is an error, not a stale cached result.
    QVERIFY(QFile::remove(path));
    const DecomposeResult gone = runJob(job, request);
    QVERIFY(!gone.ok());
    QVERIFY2(gone.error.contains(QStringLiteral("changing.png")), qPrintable(gone.error));
}

QTEST_MAIN(TestWidgets)
void TestWidgets::decomposeJobPreviewsThenRefinesBigPhoto()
{
    // A 3-megapixel photo: the features at 320 short side, the CRF at the
    // studio's resolution, the masks before it delivered first.
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("big.jpg"));
    cv::Mat big;
    cv::resize(cv::imread(kOtherSample.toStdString()), big, cv::Size(2000, 1500), 0, 0,
               cv::INTER_CUBIC);
    QVERIFY(cv::imwrite(path.toStdString(), big));

    DecomposeJob job;
    QSignalSpy previews(&job, &DecomposeJob::preview);
    DecomposeRequest request;
    request.path = path;
    QCOMPARE(request.crfMaxPixels, DecomposeRequest::kStudioCrfMaxPixels);
    const DecomposeResult refined = runJob(job, request);
    QVERIFY2(refined.ok(), qPrintable(refined.error));
    QVERIFY(!refined.preview);
    QCOMPARE(previews.count(), 1);
    const DecomposeResult preview = previews.first().at(0).value<DecomposeResult>();
    QVERIFY(preview.preview);
    QCOMPARE(preview.generation, refined.generation);
    QVERIFY(!preview.decomposition->crfApplied);

    const ImageDecomposition& d = *refined.decomposition;
    QVERIFY(d.crfApplied);
    QVERIFY(d.crfSize.area() <= DecomposeRequest::kStudioCrfMaxPixels);
    QVERIFY(d.crfSize.area() > 2 * d.prepared.rgb.size().area());
    QCOMPARE(d.fineLabels.size(), d.crfSize);
    // The preview is the CRF's input at the processing resolution.
    QVERIFY(sameMat(preview.decomposition->labels, d.labelsBeforeCrf));
    QCOMPARE(d.labelsAtOriginalSize().size(), big.size());

    // The canvas shows the finer maps over the whole photo.
    CanvasWidget canvas;
    canvas.setDecomposition(refined.photo, d);
    QVERIFY(sameMat(canvas.labels(), d.fineLabels));
    QVERIFY(sameMat(canvas.beforeLabels(), d.fineLabelsBeforeCrf));

    // Another threshold on the same photo: the lattices are not built again.
    request.threshold = 0.45f;
    const DecomposeResult next = runJob(job, request);
    QVERIFY2(next.ok(), qPrintable(next.error));
    QVERIFY(next.featuresReused);
    QVERIFY(next.decomposition->crfApplied);
    QCOMPARE(next.decomposition->crfImage.get(), d.crfImage.get());
    qInfo("CRF at %dx%d: %.0f ms with the lattices built, %.0f ms with them kept",
          d.crfSize.width, d.crfSize.height, d.timings.crf, next.decomposition->timings.crf);

    // The CLI's choice: the processing resolution.
    request.crfMaxPixels = 0;
    const DecomposeResult reference = runJob(job, request);
    QVERIFY(reference.ok());
    QCOMPARE(reference.decomposition->crfSize, reference.decomposition->prepared.rgb.size());
    QVERIFY(reference.decomposition->fineLabels.empty());
}

#include "tst_widgets.moc"
