// SPDX-License-Identifier: MIT
// The Explore view's pictures, offscreen: image conversion between cv::Mat and
// QImage, the canvas (zoom, overlay, opacity, highlight, before/after split), the
// legend and the step list.

#include "common/imageconvert.h"
#include "decompose/primaps.h"
#include "explore/canvaswidget.h"
#include "explore/explorepictures.h"
#include "explore/legendwidget.h"
#include "explore/stepperwidget.h"
#include "image/overlay.h"
#include "labels/labelmap.h"
#include "pipeline/pipeline.h"
#include "support/error.h"
#include "widgettestsupport.h"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <QElapsedTimer>
#include <QListWidget>
#include <QPainter>
#include <QSignalSpy>
#include <QTest>
#include <random>

using namespace primaps;

namespace {

using primaps::testing::randomMat;
using primaps::testing::sameMat;

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

// A decomposition of a 100 x 50 original, resized to 200 x 100 and padded to
// 208 x 104 for the patch grid, its labels all `label`.
ImageDecomposition paddedDecomposition(int label)
{
    ImageDecomposition d;
    d.prepared.originalSize = cv::Size(100, 50);
    d.prepared.resizedSize = cv::Size(200, 100);
    d.prepared.regionInResized = cv::Rect(0, 0, 200, 100);
    d.prepared.contentInPrepared = cv::Rect(0, 0, 200, 100);
    d.prepared.rgb = cv::Mat(104, 208, CV_8UC3, cv::Scalar(0, 0, 0));
    d.labels = cv::Mat(104, 208, CV_8U, cv::Scalar(label));
    return d;
}

} // namespace

class TestCanvas : public QObject
{
    Q_OBJECT

private slots:
    void rgbRoundTrip();
    void greyRoundTrip();
    void qimageFormatsConvert();
    void unsupportedMatThrows();
    void largeOverlayIsDrawnOffTheGuiThread();
    void canvasZoom();
    void canvasOverlayOpacityAndHighlight();
    void canvasShowsDecompositionWithoutPadding();
    void canvasCompareSplitsBeforeAndAfter();
    void canvasDividerFollowsMouseAndKeys();
    void canvasTakesBeforeMapFromCrfDecomposition();
    void legendChipsAndClicks();
    void stepperFromSyntheticTrace();
    void stepperFromRealDecomposition();
};

void TestCanvas::rgbRoundTrip()
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

void TestCanvas::greyRoundTrip()
{
    const cv::Mat grey = randomMat(17, 23, CV_8UC1, 2);
    const QImage image = toQImage(grey);
    QCOMPARE(image.format(), QImage::Format_Grayscale8);
    QCOMPARE(qGray(image.pixel(4, 3)), int(grey.at<uchar>(3, 4)));
    QVERIFY(sameMat(toGreyMat(image), grey));
    QVERIFY(toQImage(cv::Mat()).isNull());
    QVERIFY(toRgbMat(QImage()).empty());
}

void TestCanvas::qimageFormatsConvert()
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

void TestCanvas::unsupportedMatThrows()
{
    QVERIFY_THROWS_EXCEPTION(Error, toQImage(cv::Mat(4, 4, CV_32FC1, cv::Scalar(0.5))));
    QVERIFY_THROWS_EXCEPTION(Error, toQImage(cv::Mat(4, 4, CV_16UC3)));
}

// A 12-megapixel map's overlay (40-90 ms, more under load) is drawn on a
// worker: setLabels() returns before it exists, the canvas reads and edits the
// labels meanwhile, and the overlay that arrives is the one drawn on the GUI
// thread, edits made while it was drawn included.
void TestCanvas::largeOverlayIsDrawnOffTheGuiThread()
{
    cv::Mat coarse(300, 400, CV_8U);
    cv::randu(coarse, 0, 12);
    cv::Mat labels;
    cv::resize(coarse, labels, cv::Size(4000, 3000), 0, 0, cv::INTER_NEAREST);
    QVERIFY(labels.total() > CanvasWidget::kSyncOverlayPixels);
    const cv::Mat given = labels.clone();
    CanvasWidget canvas;
    QVERIFY(testing::setUpCanvas(canvas, QSize(800, 600), QSize(4000, 3000), Qt::gray));
    QSignalSpy ready(&canvas, &CanvasWidget::overlayReady);
    const std::array<QRgb, 256> lut = overlayLut(LabelTable());

    QElapsedTimer gui;
    gui.start();
    canvas.setLabels(labels, QRectF(0, 0, 4000, 3000));
    const double setLabelsMs = double(gui.nsecsElapsed()) / 1e6;
    QVERIFY(canvas.isOverlayPending());
    QVERIFY(canvas.overlayImage().isNull()); // no other map's overlay meanwhile
    QCOMPARE(canvas.maskIdAt(QPointF(15, 15)), int(labels.at<uchar>(15, 15)));
    QVERIFY(!canvas.areaFractions().empty());

    // An edit while the worker draws: in the labels at once, in the overlay when it arrives.
    LabelPatch patch;
    patch.rect = cv::Rect(100, 100, 300, 200);
    patch.before = labels(patch.rect).clone();
    patch.after = cv::Mat(patch.rect.size(), CV_8U, cv::Scalar(7));
    const uchar* shared = canvas.labels().data; // the buffer the worker reads
    canvas.applyLabelPatch(patch, true);
    QVERIFY(canvas.isOverlayPending());
    // The edit went into a copy of its own, not under the worker's reads.
    QVERIFY(canvas.labels().data != shared);
    QCOMPARE(canvas.maskIdAt(QPointF(150, 150)), 7);
    QVERIFY(ready.wait(testing::scaledTimeout(30000)));
    QVERIFY(!canvas.isOverlayPending());
    cv::Mat edited = labels.clone();
    edited(patch.rect).setTo(7);
    QVERIFY(sameMat(canvas.labels(), edited));
    QVERIFY(sameMat(labels, given)); // the caller's map is not edited under it
    QCOMPARE(canvas.overlayImage(), labelOverlay(edited, 0, lut, cv::Mat()));

    // A highlight keeps the overlay of the same map up until the new one arrives.
    const QImage previous = canvas.overlayImage();
    canvas.setHighlightedMask(3);
    QVERIFY(canvas.isOverlayPending());
    QCOMPARE(canvas.overlayImage(), previous);
    QVERIFY(ready.wait(testing::scaledTimeout(30000)));
    QCOMPARE(canvas.overlayImage(), labelOverlay(edited, 3, lut, cv::Mat()));

    // Requests faster than the worker: only the newest is shown.
    ready.clear();
    canvas.setHighlightedMask(4);
    canvas.setHighlightedMask(0);
    QVERIFY(ready.wait(testing::scaledTimeout(30000)));
    QTest::qWait(50);
    QCOMPARE(ready.count(), 1);
    QCOMPARE(canvas.overlayImage(), labelOverlay(edited, 0, lut, cv::Mat()));

    // A small map is drawn at once, and a drawing under way is dropped.
    canvas.setHighlightedMask(5);
    canvas.setLabels(cv::Mat(10, 20, CV_8U, cv::Scalar(1)), QRectF(0, 0, 40, 20));
    QVERIFY(!canvas.isOverlayPending());
    QCOMPARE(canvas.overlayImage().size(), QSize(20, 10));
    qInfo("setLabels() of a 4000x3000 map: %.1f ms on the GUI thread", setLabelsMs);
}

void TestCanvas::canvasZoom()
{
    CanvasWidget canvas;
    QVERIFY(testing::setUpCanvas(canvas, QSize(416, 316), QSize(200, 100), Qt::darkCyan));
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

void TestCanvas::canvasOverlayOpacityAndHighlight()
{
    CanvasWidget canvas;
    const QColor grey(100, 120, 140);
    testing::setUpCanvas(canvas, QSize(300, 300), QSize(40, 20), grey, false);

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

void TestCanvas::canvasShowsDecompositionWithoutPadding()
{
    ImageDecomposition d = paddedDecomposition(9); // padding: must not show
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

void TestCanvas::canvasCompareSplitsBeforeAndAfter()
{
    CanvasWidget canvas;
    testing::setUpCanvas(canvas, QSize(300, 300), QSize(40, 20), QColor(100, 120, 140), false);

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

void TestCanvas::canvasDividerFollowsMouseAndKeys()
{
    CanvasWidget canvas;
    QVERIFY(testing::setUpCanvas(canvas, QSize(420, 320), QSize(200, 100), Qt::darkCyan));
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

void TestCanvas::canvasTakesBeforeMapFromCrfDecomposition()
{
    ImageDecomposition d = paddedDecomposition(1);
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

void TestCanvas::legendChipsAndClicks()
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

void TestCanvas::stepperFromSyntheticTrace()
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

void TestCanvas::stepperFromRealDecomposition()
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

QTEST_MAIN(TestCanvas)
#include "tst_canvas.moc"
