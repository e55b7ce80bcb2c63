// SPDX-License-Identifier: MIT
// The Features dock, offscreen: PCA-RGB of a decomposition computed off the GUI
// thread, the explained-variance chart (one bar per step, a click selects the
// step, also in the step list), the step view, component choice, hover
// read-out (own picture and a tracked canvas), reuse of the PCA when only the
// threshold changes, and the PNG export.

#include "backbones/backbone.h"
#include "explore/canvaswidget.h"
#include "decompose/featurepca.h"
#include "explore/featureviewwidget.h"
#include "common/imageconvert.h"
#include "pipeline/pipeline.h"
#include "decompose/primaps.h"
#include "explore/stepperwidget.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <QApplication>
#include <QComboBox>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

using namespace primaps;

namespace {

constexpr int kTimeoutMs = 60000;
constexpr int kWidth = 300, kHeight = 190; // padded to the patch grid

// Four quadrants of clearly different colours with a little texture: the
// filterbank's features separate them, so PCA-RGB must too.
cv::Mat quadrantImage()
{
    cv::Mat rgb(kHeight, kWidth, CV_8UC3);
    const cv::Vec3b colours[4] = {{220, 40, 40}, {40, 200, 60}, {40, 60, 220}, {235, 235, 235}};
    cv::RNG rng(5);
    for (int y = 0; y < kHeight; ++y)
        for (int x = 0; x < kWidth; ++x) {
            const int q = (y < kHeight / 2 ? 0 : 2) + (x < kWidth / 2 ? 0 : 1);
            cv::Vec3b p = colours[q];
            for (int c = 0; c < 3; ++c)
                p[c] = cv::saturate_cast<uchar>(p[c] + rng.uniform(-4, 5));
            rgb.at<cv::Vec3b>(y, x) = p;
        }
    return rgb;
}

std::shared_ptr<const ImageDecomposition> decomposition(const cv::Mat& rgb, float threshold = 0.0f)
{
    auto backbone = createBackbone("filterbank");
    PipelineParams params;
    params.crf = false;
    if (threshold > 0.0f) {
        params.useRecommendedThreshold = false;
        params.primaps.threshold = threshold;
    }
    return std::make_shared<const ImageDecomposition>(decomposeImage(rgb, *backbone, params));
}

// The pipeline's geometry for `rgb` (padding included) with planted features:
// each image quadrant is its own random direction plus noise, so the quadrants
// are what the top three components separate.
std::shared_ptr<const ImageDecomposition> plantedDecomposition(const cv::Mat& rgb)
{
    auto d = std::make_shared<ImageDecomposition>(*decomposition(rgb));
    const int c = 32, h = d->features.height, w = d->features.width;
    cv::RNG rng(11);
    std::vector<std::vector<float>> centres(4, std::vector<float>(std::size_t(c)));
    for (auto& centre : centres)
        for (float& v : centre)
            v = float(rng.gaussian(1.0));
    FeatureMap f(c, h, w);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            // The quadrant of the cell's centre in the original image.
            const double px = (x + 0.5) * d->prepared.rgb.cols / w * rgb.cols / d->prepared.resizedSize.width;
            const double py = (y + 0.5) * d->prepared.rgb.rows / h * rgb.rows / d->prepared.resizedSize.height;
            const int q = (py < rgb.rows / 2.0 ? 0 : 2) + (px < rgb.cols / 2.0 ? 0 : 1);
            for (int k = 0; k < c; ++k)
                f.at(k, y, x) = centres[std::size_t(q)][std::size_t(k)] + float(rng.gaussian(0.3));
        }
    d->features = std::move(f);
    PrimapsParams params;
    params.threshold = 0.5f;
    redecompose(*d, params, false);
    return d;
}

bool waitForResult(FeatureViewWidget& view)
{
    return QTest::qWaitFor([&] { return view.hasResult() && !view.isBusy(); }, kTimeoutMs);
}

double colourDistance(const QColor& a, const QColor& b)
{
    const double dr = a.red() - b.red(), dg = a.green() - b.green(), db = a.blue() - b.blue();
    return std::sqrt(dr * dr + dg * dg + db * db);
}

} // namespace

class TestFeatureView : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void showsPcaRgbAtTheImageAspect();
    void chartHasOneBarPerStepAndClickSelectsIt();
    void componentChoiceAndHoverReadout();
    void tracksTheCanvas();
    void noStaleReadoutAfterANewResult();
    void reusesThePcaWhenOnlyTheThresholdChanges();
    void exportWritesThePictureAtImageSize();
    void componentCombosShowTheirTextAtLaptopWidth();

private:
    cv::Mat m_rgb;
    QImage m_photo;
    std::shared_ptr<const ImageDecomposition> m_decomposition; ///< filterbank features
    std::shared_ptr<const ImageDecomposition> m_planted;       ///< planted quadrant features
};

void TestFeatureView::initTestCase()
{
    m_rgb = quadrantImage();
    m_photo = toQImage(m_rgb);
    m_decomposition = decomposition(m_rgb);
    QVERIFY(m_decomposition->trace.iterations.size() >= 3);
    QVERIFY(m_decomposition->prepared.contentInPrepared.size() != m_decomposition->prepared.rgb.size());
    m_planted = plantedDecomposition(m_rgb);
    QVERIFY(m_planted->trace.iterations.size() >= 2);
}

void TestFeatureView::showsPcaRgbAtTheImageAspect()
{
    FeatureViewWidget view;
    view.resize(420, 760);
    view.show();
    QVERIFY(QTest::qWaitForWindowExposed(&view));
    QSignalSpy shown(&view, &FeatureViewWidget::resultShown);
    view.setDecomposition(m_planted, m_photo);
    // Off the GUI thread: the call returns before the result exists.
    QVERIFY(view.isBusy());
    QCOMPARE(shown.count(), 0);
    QVERIFY(!view.hasResult());
    QVERIFY(waitForResult(view));
    QCOMPARE(shown.count(), 1);

    const FeatureMap& f = m_planted->features;
    QCOMPARE(view.pcaImage().width(), f.width);
    QCOMPARE(view.pcaImage().height(), f.height);
    QVERIFY(view.pca() != nullptr);
    QCOMPARE(view.pca()->channels, f.channels);
    QVERIFY(view.captionText().contains(QStringLiteral("PC 1, 2, 3")));

    // Drawn at the photo's aspect (3:2), padding left out.
    const QRectF rect = view.imageRect();
    QVERIFY(rect.width() > 100);
    QVERIFY(std::abs(rect.width() / rect.height() - double(kWidth) / kHeight) < 0.02);

    // The quadrants come out in four clearly different colours on screen.
    const QImage screen = view.imageView()->grab().toImage();
    const double sx = screen.width() / double(view.imageView()->width());
    auto colourAt = [&](double fx, double fy) {
        const QPointF p(rect.left() + fx * rect.width(), rect.top() + fy * rect.height());
        return screen.pixelColor(int(p.x() * sx), int(p.y() * sx));
    };
    const QColor q[4] = {colourAt(0.25, 0.25), colourAt(0.75, 0.25), colourAt(0.25, 0.75),
                         colourAt(0.75, 0.75)};
    for (int a = 0; a < 4; ++a)
        for (int b = a + 1; b < 4; ++b)
            QVERIFY2(colourDistance(q[a], q[b]) > 60.0,
                     qPrintable(QStringLiteral("quadrants %1 and %2: %3 vs %4")
                                    .arg(a)
                                    .arg(b)
                                    .arg(q[a].name(), q[b].name())));

    view.clear();
    QVERIFY(!view.hasResult());
    QCOMPARE(view.barCount(), 0);
    QVERIFY(view.gridImage().isNull());
}

void TestFeatureView::chartHasOneBarPerStepAndClickSelectsIt()
{
    FeatureViewWidget view;
    StepperWidget stepper;
    connect(&view, &FeatureViewWidget::iterationClicked, &stepper,
            &StepperWidget::setSelectedIteration);
    connect(&stepper, &StepperWidget::iterationSelected, &view,
            &FeatureViewWidget::setSelectedIteration);
    view.resize(420, 760);
    view.show();
    stepper.show();
    QVERIFY(QTest::qWaitForWindowExposed(&view));
    stepper.setTrace(m_decomposition->trace);
    view.setDecomposition(m_decomposition, m_photo);
    const int steps = int(m_decomposition->trace.iterations.size());
    QCOMPARE(view.barCount(), steps); // before the PCA is done: the trace has the values
    QVERIFY(waitForResult(view));
    QCOMPARE(view.barCount(), steps);
    QCOMPARE(view.mode(), FeatureViewWidget::Mode::PcaRgb);

    QSignalSpy clicked(&view, &FeatureViewWidget::iterationClicked);
    const QPoint bar = view.barPosition(1);
    QVERIFY(bar.x() > 0);
    QTest::mouseClick(view.chartWidget(), Qt::LeftButton, {}, bar);
    QCOMPARE(clicked.count(), 1);
    QCOMPARE(clicked.first().at(0).toInt(), 1);
    QCOMPARE(stepper.selectedIteration(), 1);
    QCOMPARE(view.selectedIteration(), 1);
    QCOMPARE(view.mode(), FeatureViewWidget::Mode::Iteration);
    QVERIFY(view.captionText().contains(QStringLiteral("Step 2")));
    QVERIFY(view.gridImage() != view.pcaImage());
    QCOMPARE(view.gridImage().size(), view.pcaImage().size());

    // The last bar, then a click beside every bar changes nothing.
    QTest::mouseClick(view.chartWidget(), Qt::LeftButton, {}, view.barPosition(steps - 1));
    QCOMPARE(stepper.selectedIteration(), steps - 1);
    const QPoint beyond(view.barPosition(steps - 1).x() + 400, bar.y());
    QTest::mouseClick(view.chartWidget(), Qt::LeftButton, {}, beyond);
    QCOMPARE(clicked.count(), 2);

    // Selecting in the step list drives the view; clearing returns to PCA-RGB.
    stepper.setSelectedIteration(0);
    QCOMPARE(view.selectedIteration(), 0);
    QVERIFY(view.captionText().contains(QStringLiteral("Step 1")));
    view.setMode(FeatureViewWidget::Mode::PcaRgb);
    QCOMPARE(view.gridImage(), view.pcaImage());
    stepper.setSelectedIteration(-1);
    QCOMPARE(view.selectedIteration(), -1);
    QCOMPARE(view.mode(), FeatureViewWidget::Mode::PcaRgb);
    // Without a selection the step view cannot be chosen.
    view.setMode(FeatureViewWidget::Mode::Iteration);
    QCOMPARE(view.mode(), FeatureViewWidget::Mode::PcaRgb);
}

void TestFeatureView::componentChoiceAndHoverReadout()
{
    FeatureViewWidget view;
    view.resize(420, 760);
    view.show();
    QVERIFY(QTest::qWaitForWindowExposed(&view));
    view.setDecomposition(m_decomposition, m_photo);
    QVERIFY(waitForResult(view));
    const QImage standard = view.pcaImage().convertToFormat(QImage::Format_RGB888);
    view.setComponents({2, 1, 0});
    const QImage swapped = view.pcaImage().convertToFormat(QImage::Format_RGB888);
    for (int y = 0; y < standard.height(); y += 3)
        for (int x = 0; x < standard.width(); x += 3) {
            QCOMPARE(swapped.pixelColor(x, y).red(), standard.pixelColor(x, y).blue());
            QCOMPARE(swapped.pixelColor(x, y).blue(), standard.pixelColor(x, y).red());
        }
    QVERIFY(view.captionText().contains(QStringLiteral("PC 3, 2, 1")));
    // Out-of-range choices are clamped to the components computed.
    view.setComponents({99, 1, 0});
    QCOMPARE(view.components()[0], view.pca()->components - 1);

    // Hover: the patch under the cursor and its component values.
    const QRectF rect = view.imageRect();
    const QPoint centre(int(rect.left() + 0.3 * rect.width()), int(rect.top() + 0.3 * rect.height()));
    QTest::mouseMove(view.imageView(), centre);
    QTRY_VERIFY(view.readoutText().contains(QStringLiteral("patch x")));
    QVERIFY(view.readoutText().contains(QStringLiteral("PC 2")));

    // Photo coordinates map to the patch the backbone saw there.
    const FeaturePca& pca = *view.pca();
    const cv::Point2d g = imageToGrid({150.0, 50.0}, m_decomposition->prepared, pca.height, pca.width);
    view.showImagePoint(QPointF(150.0, 50.0));
    QVERIFY2(view.readoutText().contains(
                 QStringLiteral("patch x %1, y %2").arg(int(g.x)).arg(int(g.y))),
             qPrintable(view.readoutText()));
    view.showImagePoint(QPointF(-1, -1));
    QVERIFY(!view.readoutText().contains(QStringLiteral("patch x")));

    // In the step view the read-out gives the step's projection and the patch's fate.
    view.setSelectedIteration(0);
    view.showImagePoint(QPointF(150.0, 50.0));
    QVERIFY(view.readoutText().contains(QStringLiteral("step 1")));
}

void TestFeatureView::tracksTheCanvas()
{
    CanvasWidget canvas;
    canvas.resize(600, 400);
    canvas.show();
    QVERIFY(QTest::qWaitForWindowExposed(&canvas));
    canvas.setDecomposition(m_photo, *m_decomposition);
    canvas.fitToWindow();
    FeatureViewWidget view;
    view.resize(420, 700);
    view.show();
    view.trackCanvas(&canvas);
    view.setDecomposition(m_decomposition, m_photo);
    QVERIFY(waitForResult(view));
    const QPoint inside = canvas.mapFromScene(QPointF(kWidth * 0.8, kHeight * 0.8));
    QTest::mouseMove(canvas.viewport(), inside);
    QTRY_VERIFY(view.readoutText().contains(QStringLiteral("patch x")));
}

void TestFeatureView::noStaleReadoutAfterANewResult()
{
    // A point was shown (its last hover stays when no Leave arrives, as when a
    // window appears under a resting pointer), then the next image's result
    // arrives while the cursor is on neither the picture nor the canvas: the
    // read-out must not show a patch nobody points at. Neither widget is on
    // screen yet, so the pointer cannot be over them.
    CanvasWidget canvas;
    canvas.resize(600, 400);
    canvas.setDecomposition(m_photo, *m_decomposition);
    FeatureViewWidget view;
    view.resize(420, 700);
    view.trackCanvas(&canvas);
    view.setDecomposition(m_decomposition, m_photo);
    QVERIFY(waitForResult(view));
    view.showImagePoint(QPointF(150.0, 50.0));
    QVERIFY(view.readoutText().contains(QStringLiteral("patch x")));
    QVERIFY(!canvas.viewport()->underMouse() && !view.imageView()->underMouse());

    view.setDecomposition(std::make_shared<ImageDecomposition>(*m_decomposition), m_photo);
    QVERIFY(waitForResult(view));
    QVERIFY2(!view.readoutText().contains(QStringLiteral("patch x")), qPrintable(view.readoutText()));
    QVERIFY(view.readoutText().contains(QStringLiteral("Hover")));

    // A cursor resting on the canvas keeps its read-out, for the new result's features.
    canvas.show();
    QVERIFY(QTest::qWaitForWindowExposed(&canvas));
    canvas.fitToWindow();
    const QPoint inside = canvas.mapFromScene(QPointF(kWidth * 0.7, kHeight * 0.7));
    QTest::mouseMove(canvas.viewport(), inside - QPoint(5, 5)); // a move, wherever it was
    QTest::mouseMove(canvas.viewport(), inside);
    QTRY_VERIFY(view.readoutText().contains(QStringLiteral("patch x")));
    QTRY_VERIFY(canvas.viewport()->underMouse());
    view.setDecomposition(std::make_shared<ImageDecomposition>(*m_decomposition), m_photo);
    QVERIFY(waitForResult(view));
    QVERIFY2(view.readoutText().contains(QStringLiteral("patch x")), qPrintable(view.readoutText()));
}

void TestFeatureView::reusesThePcaWhenOnlyTheThresholdChanges()
{
    FeatureViewWidget view;
    view.setDecomposition(m_decomposition, m_photo);
    QVERIFY(waitForResult(view));
    QCOMPARE(view.pcaComputations(), 1);
    const std::vector<float> directions = view.pca()->directions;

    // Another threshold on the same features (a copy, as the studio's job makes).
    auto rerun = std::make_shared<ImageDecomposition>(*m_decomposition);
    PrimapsParams params;
    params.threshold = 0.85f;
    redecompose(*rerun, params, false);
    view.setDecomposition(rerun, m_photo);
    QCOMPARE(view.barCount(), int(rerun->trace.iterations.size()));
    QVERIFY(waitForResult(view));
    QCOMPARE(view.pcaComputations(), 1);
    QVERIFY(view.pca()->directions == directions);

    // Other features: computed again.
    cv::Mat flipped;
    cv::flip(m_rgb, flipped, 1);
    view.setDecomposition(decomposition(flipped), toQImage(flipped));
    QVERIFY(waitForResult(view));
    QCOMPARE(view.pcaComputations(), 2);
}

void TestFeatureView::exportWritesThePictureAtImageSize()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    FeatureViewWidget view;
    const QString path = dir.filePath(QStringLiteral("pca.png"));
    QVERIFY(!view.exportImage(path)); // nothing to write yet
    view.setDecomposition(m_decomposition, m_photo);
    QVERIFY(waitForResult(view));

    QSignalSpy finished(&view, &FeatureViewWidget::exportFinished);
    QVERIFY(view.exportImage(path));
    QVERIFY(finished.wait(kTimeoutMs));
    QCOMPARE(finished.first().at(1).toString(), QString());
    const cv::Mat written = cv::imread(path.toStdString(), cv::IMREAD_COLOR);
    QCOMPARE(written.cols, kWidth);
    QCOMPARE(written.rows, kHeight);
    cv::Mat writtenRgb;
    cv::cvtColor(written, writtenRgb, cv::COLOR_BGR2RGB);
    const cv::Mat expected = toRgbMat(view.renderForExport());
    QCOMPARE(cv::norm(writtenRgb, expected, cv::NORM_INF), 0.0);
    // Nearest neighbour: the pixels are exactly the grid's colours.
    const cv::Mat grid = toRgbMat(view.pcaImage());
    const cv::Point2d g = imageToGrid({10.5, 10.5}, m_decomposition->prepared, grid.rows, grid.cols);
    QCOMPARE(writtenRgb.at<cv::Vec3b>(10, 10), grid.at<cv::Vec3b>(int(g.y), int(g.x)));

    // Opacity 0 exports the photo itself; replacing the file is atomic.
    view.setOpacity(0.0);
    finished.clear();
    QVERIFY(view.exportImage(path));
    QVERIFY(finished.wait(kTimeoutMs));
    QCOMPARE(finished.first().at(1).toString(), QString());
    const cv::Mat photo = cv::imread(path.toStdString(), cv::IMREAD_COLOR);
    cv::Mat photoRgb;
    cv::cvtColor(photo, photoRgb, cv::COLOR_BGR2RGB);
    QCOMPARE(cv::norm(photoRgb, m_rgb, cv::NORM_INF), 0.0);

    // A folder that does not exist: an error that names the path.
    finished.clear();
    const QString bad = dir.filePath(QStringLiteral("missing/pca.png"));
    QVERIFY(view.exportImage(bad));
    QVERIFY(finished.wait(kTimeoutMs));
    QVERIFY(!finished.first().at(1).toString().isEmpty());
}

// The dock at 1366x768 is about 290 pixels wide: each component combo gets the
// room for the text it shows when closed, and its list keeps each share.
void TestFeatureView::componentCombosShowTheirTextAtLaptopWidth()
{
    FeatureViewWidget view;
    view.resize(290, 600);
    view.show();
    QVERIFY(QTest::qWaitForWindowExposed(&view));
    view.setDecomposition(m_decomposition, m_photo);
    QVERIFY(waitForResult(view));
    QApplication::processEvents();
    const QList<QComboBox*> combos = view.findChildren<QComboBox*>();
    int checked = 0;
    for (QComboBox* combo : combos) {
        if (!combo->isVisible())
            continue;
        ++checked;
        const QVariant shortText = combo->currentData(FeatureViewWidget::ComponentShortTextRole);
        const QString shown = shortText.isValid() ? shortText.toString() : combo->currentText();
        QVERIFY2(combo->width() >= combo->sizeHint().width(),
                 qPrintable(QStringLiteral("'%1' needs %2 px, has %3")
                                .arg(shown)
                                .arg(combo->sizeHint().width())
                                .arg(combo->width())));
        QVERIFY(combo->sizeHint().width() >=
                combo->fontMetrics().horizontalAdvance(shown) + 8);
        // The list still gives each component's share of the variance.
        QVERIFY2(combo->itemText(0).contains(QLatin1Char('%')), qPrintable(combo->itemText(0)));
    }
    QCOMPARE(checked, 3);
    QVERIFY(view.minimumSizeHint().width() <= 290);
}

QTEST_MAIN(TestFeatureView)
#include "tst_featureview.moc"
