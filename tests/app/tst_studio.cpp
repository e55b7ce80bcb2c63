// SPDX-License-Identifier: MIT
// The main window end to end, offscreen: it opens images, decomposes them off
// the GUI thread, shows overlay, legend and step list, follows the threshold
// and opacity controls (live previews without the CRF while the slider is
// dragged, the CRF on release), the CRF toggle and the before/after view,
// exports, and reports a failing image in the window.

#include "explore/canvaswidget.h"
#include "explore/imagelistwidget.h"
#include "explore/legendwidget.h"
#include "mainwindow.h"
#include "perspectives.h"
#include "reviewcontroller.h"
#include "common/messagelogwidget.h"
#include "common/messagewidget.h"
#include "explore/stepperwidget.h"
#include "testsupport.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <QScreen>
#include <QAction>
#include <QToolBar>
#include <QToolButton>
#include <QDir>
#include <QFile>
#include <QLabel>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QSlider>
#include <QStandardPaths>
#include <QStatusBar>
#include <QStyle>
#include <QStyleOptionSlider>
#include <QTemporaryDir>
#include <QTest>
#ifndef _WIN32 // file names as bytes, for names that are not UTF-8
#include <fcntl.h>
#include <unistd.h>
#endif

using namespace primaps;

namespace {

using primaps::testing::sameMat;

using primaps::testing::waitShown;

const int kTimeoutMs = primaps::testing::studioTimeoutMs();
const QString kChelsea = QStringLiteral(PRIMAPS_SAMPLES_DIR "/chelsea.jpg");
const QString kCoffee = QStringLiteral(PRIMAPS_SAMPLES_DIR "/coffee.jpg");

// The labels of a decomposition as the canvas shows them (padding left out).
cv::Mat shownPart(const cv::Mat& labels, const ImageDecomposition& d)
{
    return labels(d.prepared.contentInPrepared);
}

// Everything the status bar says, for checks on its wording.
QString statusText(const MainWindow& window)
{
    QStringList parts;
    for (const QLabel* label : window.statusBar()->findChildren<QLabel*>())
        parts << label->text();
    return parts.join(QStringLiteral(" | "));
}

// Opens `path` in a fresh window and waits for its first decomposition.
bool openAndWait(MainWindow& window, QSignalSpy& shown, const QString& path)
{
    window.setPersistSettings(false);
    window.show();
    window.openInitial({path});
    return waitShown(shown) && window.currentResult().ok();
}

} // namespace

class TestStudio : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void opensImageAndShowsDecomposition();
    void thresholdAndOpacityControls();
    void stepSelectionHighlightsMask();
    void crfToggleChangesShownResult();
    void sliderDragPreviewsWithoutCrfAndRefinesOnRelease();
    void mouseDragOnSliderHandle();
    void releaseDuringPreviewDropsIt();
    void dragWithCrfOffStaysWithoutCrf();
    void thresholdEditsReuseFeatures();
    void beforeAfterViewShowsBothMaps();
    void exportsMasksAndOverlay();
    void startsWithBundledSamples();
    void failingImageIsReportedInTheWindow();
    void settingsSurviveRestart();
    void reviewBannerSaysWhatIsMissing();
    void openFolderNamesUndecodableNames();
    void beforeAfterOnlyWhereExploreShows();
};

void TestStudio::initTestCase()
{
    // Keeps QSettings and the sample cache out of the user's folders.
    QStandardPaths::setTestModeEnabled(true);
    QCoreApplication::setOrganizationName(QStringLiteral("PriMaPs"));
    QCoreApplication::setApplicationName(QStringLiteral("PriMaPs Studio Test"));
}

void TestStudio::opensImageAndShowsDecomposition()
{
    MainWindow window;
    window.setPersistSettings(false);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QSignalSpy shown(&window, &MainWindow::decompositionShown);

    window.openInitial({kChelsea});
    QCOMPARE(window.imageList()->count(), 1);
    QVERIFY(window.isBusy()); // the work is queued, not done on this thread
    QVERIFY(waitShown(shown));

    const DecomposeResult& result = window.currentResult();
    QVERIFY2(result.ok(), qPrintable(result.error));
    QCOMPARE(QFileInfo(result.request.path).fileName(), QStringLiteral("chelsea.jpg"));

    // The overlay is on the canvas: labels over the photo, with masks in them.
    CanvasWidget* canvas = window.canvas();
    QVERIFY(canvas->hasPhoto());
    QCOMPARE(canvas->photo().size(), QSize(451, 300));
    QVERIFY(canvas->hasLabels());
    QVERIFY(cv::countNonZero(canvas->labels()) > 0);
    QVERIFY(canvas->isOverlayVisible());
    QVERIFY(canvas->overlayOpacity() > 0.0);
    QVERIFY(!canvas->overlayImage().isNull());

    // The step list has one row per iteration of the trace.
    const int iterations = int(result.decomposition->trace.iterations.size());
    QVERIFY(iterations > 0);
    QCOMPARE(window.stepper()->iterationCount(), iterations);
    QVERIFY(window.stepper()->summaryText().startsWith(QStringLiteral("Stopped after")));

    // The legend lists the masks on the label map.
    QVERIFY(window.legend()->maskCount() > 0);
    QVERIFY(window.legend()->maskCount() <= iterations);
    QVERIFY(window.windowTitle().contains(QStringLiteral("chelsea.jpg")));
    QVERIFY(!window.messageWidget()->isVisible());
}

void TestStudio::thresholdAndOpacityControls()
{
    MainWindow window;
    window.setPersistSettings(false);
    window.show();
    QSignalSpy shown(&window, &MainWindow::decompositionShown);
    window.openInitial({kChelsea});
    QVERIFY(waitShown(shown));

    // The controls start at the backbone's recommendation.
    const DecomposeResult first = window.currentResult();
    QCOMPARE(float(window.threshold()), first.recommendedThreshold);
    const int firstArea = first.decomposition->trace.iterations.front().assigned;

    // A higher threshold re-runs the decomposition (debounced) and gives a
    // smaller first mask: the seed does not depend on tau, the cut does.
    const double higher = std::min(0.95, window.threshold() + 0.25);
    window.setThreshold(higher);
    QVERIFY(waitShown(shown));
    const DecomposeResult second = window.currentResult();
    QVERIFY(std::abs(second.threshold - float(higher)) < 1e-4f);
    QCOMPARE(second.decomposition->trace.params.threshold, second.threshold);
    QVERIFY2(second.decomposition->trace.iterations.front().assigned < firstArea,
             qPrintable(QStringLiteral("%1 vs %2")
                            .arg(second.decomposition->trace.iterations.front().assigned)
                            .arg(firstArea)));
    QCOMPARE(window.stepper()->iterationCount(),
             int(second.decomposition->trace.iterations.size()));

    // Several quick changes end in one decomposition with the last value.
    const int before = shown.count();
    window.setThreshold(0.5);
    window.setThreshold(0.55);
    window.setThreshold(0.45);
    QVERIFY(waitShown(shown));
    QTest::qWait(600);
    QCOMPARE(shown.count(), before + 1);
    QVERIFY(std::abs(window.currentResult().threshold - 0.45f) < 1e-4f);

    window.opacitySlider()->setValue(25);
    QCOMPARE(window.canvas()->overlayOpacity(), 0.25);
}

void TestStudio::stepSelectionHighlightsMask()
{
    MainWindow window;
    window.setPersistSettings(false);
    window.show();
    QSignalSpy shown(&window, &MainWindow::decompositionShown);
    window.openInitial({kChelsea});
    QVERIFY(waitShown(shown));

    const std::vector<double>& areas = window.canvas()->areaFractions();
    int id = 0;
    for (std::size_t i = 1; i < areas.size() && id == 0; ++i)
        if (areas[i] > 0.0)
            id = int(i);
    QVERIFY(id > 0);
    window.stepper()->setSelectedIteration(id - 1);
    QCOMPARE(window.canvas()->highlightedMask(), id);
    window.stepper()->setSelectedIteration(-1);
    QCOMPARE(window.canvas()->highlightedMask(), 0);
}

void TestStudio::crfToggleChangesShownResult()
{
    MainWindow window;
    QSignalSpy shown(&window, &MainWindow::decompositionShown);
    QVERIFY(openAndWait(window, shown, kChelsea));

    // On by default: the result on display went through the CRF, and says so.
    QVERIFY(window.isCrfEnabled());
    const DecomposeResult withCrf = window.currentResult();
    const ImageDecomposition& a = *withCrf.decomposition;
    QVERIFY(a.crfApplied);
    QVERIFY(sameMat(window.canvas()->labels(), shownPart(a.labels, a)));
    QCOMPARE(window.legend()->caption(), QStringLiteral("Labels after CRF"));
    QVERIFY2(statusText(window).contains(QStringLiteral("after CRF")),
             qPrintable(statusText(window)));
    QVERIFY2(statusText(window).contains(QRegularExpression(QStringLiteral("CRF \\d+ ms"))),
             qPrintable(statusText(window)));
    QVERIFY(window.compareAction()->isEnabled());

    // Off: the plain upsampled masks, computed from the same features.
    window.crfAction()->setChecked(false);
    QVERIFY(window.isBusy()); // right away, no debounce
    QVERIFY(waitShown(shown));
    const DecomposeResult without = window.currentResult();
    const ImageDecomposition& b = *without.decomposition;
    QVERIFY(!b.crfApplied);
    QVERIFY(without.featuresReused);
    QCOMPARE(without.threshold, withCrf.threshold);
    QVERIFY(sameMat(b.labels, a.labelsBeforeCrf));
    QVERIFY(!sameMat(b.labels, a.labels)); // the CRF changed the labels
    QVERIFY(sameMat(window.canvas()->labels(), shownPart(b.labels, b)));
    QCOMPARE(window.legend()->caption(), QStringLiteral("Labels without CRF"));
    QVERIFY(statusText(window).contains(QStringLiteral("CRF off")));
    QVERIFY(!window.isShowingPreview());
    QVERIFY(window.canvas()->badgeText().isEmpty());
    QVERIFY(!window.compareAction()->isEnabled()); // nothing to compare without the CRF

    // And on again.
    window.crfAction()->setChecked(true);
    QVERIFY(waitShown(shown));
    QVERIFY(window.currentResult().decomposition->crfApplied);
    QVERIFY(sameMat(window.currentResult().decomposition->labels, a.labels));
    QCOMPARE(window.decomposeJob()->featureExtractions(), 1);
}

void TestStudio::sliderDragPreviewsWithoutCrfAndRefinesOnRelease()
{
    MainWindow window;
    QSignalSpy shown(&window, &MainWindow::decompositionShown);
    QVERIFY(openAndWait(window, shown, kChelsea));
    QVERIFY(window.currentResult().decomposition->crfApplied);

    // Every result shown from here on, as (threshold, CRF applied).
    QList<QPair<float, bool>> seen;
    connect(&window, &MainWindow::decompositionShown, &window, [&](bool ok) {
        // A failure shows as an impossible threshold.
        seen.append({ok ? window.currentResult().threshold : -1.0f,
                     ok && window.currentResult().decomposition->crfApplied});
    });

    QSlider* slider = window.thresholdSlider();
    slider->setSliderDown(true); // sliderPressed()
    slider->setValue(40);
    // A drag value is sent at once (no debounce) and without the CRF.
    QVERIFY(window.isBusy());
    QTRY_COMPARE_WITH_TIMEOUT(seen.size(), 1, kTimeoutMs);
    QVERIFY(std::abs(seen[0].first - 0.40f) < 1e-4f);
    QVERIFY(!seen[0].second);
    QVERIFY(window.isShowingPreview());
    QVERIFY(window.canvas()->badgeText().contains(QStringLiteral("released")));
    QVERIFY(statusText(window).contains(QStringLiteral("preview without CRF")));
    QVERIFY(statusText(window).contains(QStringLiteral("CRF on release")));
    QCOMPARE(window.legend()->caption(), QStringLiteral("Labels without CRF"));

    // Quick moves: one preview at a time, the newest value next; 0.50 is
    // skipped because 0.55 came before the 0.45 preview was done.
    slider->setValue(45);
    slider->setValue(50);
    slider->setValue(55);
    QCOMPARE(window.threshold(), 0.55); // the controls follow the hand
    // Not busy means every result is in: the next preview is sent from the
    // same event that delivers the one before it.
    QTRY_VERIFY_WITH_TIMEOUT(!window.isBusy(), kTimeoutMs);
    QCOMPARE(seen.size(), 3);
    QVERIFY(std::abs(seen[1].first - 0.45f) < 1e-4f);
    QVERIFY(std::abs(seen[2].first - 0.55f) < 1e-4f);
    QVERIFY(!seen[1].second && !seen[2].second);
    QCOMPARE(window.threshold(), 0.55); // a result did not move the slider back
    QCOMPARE(window.currentResult().decomposition->trace.params.threshold,
             window.currentResult().threshold);

    // Release: the same threshold once more, now with the CRF.
    slider->setSliderDown(false); // sliderReleased()
    QVERIFY(window.isBusy());
    QTRY_COMPARE_WITH_TIMEOUT(seen.size(), 4, kTimeoutMs);
    QVERIFY(std::abs(seen[3].first - 0.55f) < 1e-4f);
    QVERIFY(seen[3].second);
    QVERIFY(!window.isShowingPreview());
    QVERIFY(window.canvas()->badgeText().isEmpty());
    QCOMPARE(window.legend()->caption(), QStringLiteral("Labels after CRF"));
    QTest::qWait(300);
    QCOMPARE(seen.size(), 4);

    // Features were extracted once, for the first result.
    QCOMPARE(window.decomposeJob()->featureExtractions(), 1);

    // A press and release without moving computes nothing.
    slider->setSliderDown(true);
    slider->setSliderDown(false);
    QVERIFY(!window.isBusy());
}

void TestStudio::mouseDragOnSliderHandle()
{
    MainWindow window;
    QSignalSpy shown(&window, &MainWindow::decompositionShown);
    QVERIFY(openAndWait(window, shown, kChelsea));
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QSlider* slider = window.thresholdSlider();
    QStyleOptionSlider option;
    option.initFrom(slider);
    option.orientation = slider->orientation();
    option.minimum = slider->minimum();
    option.maximum = slider->maximum();
    option.sliderPosition = slider->sliderPosition();
    option.sliderValue = slider->value();
    option.subControls = QStyle::SC_SliderHandle;
    const QPoint handle =
        slider->style()
            ->subControlRect(QStyle::CC_Slider, &option, QStyle::SC_SliderHandle, slider)
            .center();

    // The real widget's signals, from real mouse events: the press grabs the
    // handle, the move previews without the CRF, the release runs it.
    const int start = slider->value();
    QTest::mousePress(slider, Qt::LeftButton, {}, handle);
    QVERIFY(slider->isSliderDown());
    QTest::mouseMove(slider, handle + QPoint(-40, 0));
    QVERIFY(slider->value() < start);
    QVERIFY(waitShown(shown));
    QVERIFY(!window.currentResult().decomposition->crfApplied);
    QVERIFY(window.isShowingPreview());
    QTest::mouseRelease(slider, Qt::LeftButton, {}, handle + QPoint(-40, 0));
    QVERIFY(!slider->isSliderDown());
    QVERIFY(waitShown(shown));
    QVERIFY(window.currentResult().decomposition->crfApplied);
    QVERIFY(std::abs(window.currentResult().threshold - float(slider->value() / 100.0)) < 1e-4f);
    QCOMPARE(window.decomposeJob()->featureExtractions(), 1);
}

void TestStudio::releaseDuringPreviewDropsIt()
{
    MainWindow window;
    QSignalSpy shown(&window, &MainWindow::decompositionShown);
    QVERIFY(openAndWait(window, shown, kChelsea));
    QSlider* slider = window.thresholdSlider();
    const int before = shown.count();
    slider->setSliderDown(true);
    slider->setValue(30);
    slider->setSliderDown(false); // before the preview is back
    QVERIFY(waitShown(shown));
    QTest::qWait(300);
    // The stale preview never showed; the newest request (with the CRF) did.
    QCOMPARE(shown.count(), before + 1);
    QVERIFY(std::abs(window.currentResult().threshold - 0.30f) < 1e-4f);
    QVERIFY(window.currentResult().decomposition->crfApplied);
}

void TestStudio::dragWithCrfOffStaysWithoutCrf()
{
    MainWindow window;
    window.crfAction()->setChecked(false);
    QSignalSpy shown(&window, &MainWindow::decompositionShown);
    QVERIFY(openAndWait(window, shown, kChelsea));
    QVERIFY(!window.currentResult().decomposition->crfApplied);

    QSlider* slider = window.thresholdSlider();
    slider->setSliderDown(true);
    slider->setValue(35);
    QVERIFY(waitShown(shown));
    // Without the CRF a drag result is final, not a preview.
    QVERIFY(!window.isShowingPreview());
    QVERIFY(window.canvas()->badgeText().isEmpty());
    // Quick moves are still taken one at a time, so results keep coming
    // during the drag: 0.40 runs, 0.45 is skipped, 0.50 follows.
    const int before = shown.count();
    slider->setValue(40);
    slider->setValue(45);
    slider->setValue(50);
    QTRY_VERIFY_WITH_TIMEOUT(!window.isBusy(), kTimeoutMs);
    QCOMPARE(shown.count(), before + 2);
    QVERIFY(std::abs(window.currentResult().threshold - 0.50f) < 1e-4f);
    slider->setSliderDown(false);
    QVERIFY(waitShown(shown));
    QVERIFY(!window.currentResult().decomposition->crfApplied);
    QVERIFY(std::abs(window.currentResult().threshold - 0.50f) < 1e-4f);
}

void TestStudio::thresholdEditsReuseFeatures()
{
    MainWindow window;
    QSignalSpy shown(&window, &MainWindow::decompositionShown);
    QVERIFY(openAndWait(window, shown, kChelsea));
    QCOMPARE(window.decomposeJob()->featureExtractions(), 1);
    QVERIFY(!window.currentResult().featuresReused);

    // Spin box edits and key presses on the slider are edits, not drags: each
    // is computed with the CRF, and none extracts features again.
    for (double tau : {0.3, 0.5, 0.7}) {
        window.setThreshold(tau);
        QVERIFY(waitShown(shown));
        QVERIFY(std::abs(window.currentResult().threshold - float(tau)) < 1e-4f);
        QVERIFY(window.currentResult().featuresReused);
        QVERIFY(window.currentResult().decomposition->crfApplied);
    }
    QTest::keyClick(window.thresholdSlider(), Qt::Key_Right);
    QVERIFY(waitShown(shown));
    QVERIFY(std::abs(window.currentResult().threshold - 0.71f) < 1e-4f);
    QVERIFY(window.currentResult().decomposition->crfApplied);
    QVERIFY2(statusText(window).contains(QStringLiteral("features cached")),
             qPrintable(statusText(window)));
    QCOMPARE(window.decomposeJob()->featureExtractions(), 1);

    // Another image needs its own features; coming back does not.
    window.openPaths({kCoffee});
    QVERIFY(waitShown(shown));
    QCOMPARE(window.decomposeJob()->featureExtractions(), 2);
    window.imageList()->setCurrentRow(0);
    QVERIFY(waitShown(shown));
    QVERIFY(window.currentResult().featuresReused);
    QCOMPARE(window.decomposeJob()->featureExtractions(), 2);
}

void TestStudio::beforeAfterViewShowsBothMaps()
{
    MainWindow window;
    QSignalSpy shown(&window, &MainWindow::decompositionShown);
    QVERIFY(openAndWait(window, shown, kChelsea));
    CanvasWidget* canvas = window.canvas();
    const ImageDecomposition& d = *window.currentResult().decomposition;
    QVERIFY(d.crfApplied);
    QVERIFY(!canvas->isComparing());

    window.compareAction()->setChecked(true);
    QVERIFY(canvas->isComparing());
    // Both maps are on the canvas: the CRF's input and its output.
    QVERIFY(sameMat(canvas->beforeLabels(), shownPart(d.labelsBeforeCrf, d)));
    QVERIFY(sameMat(canvas->labels(), shownPart(d.labels, d)));
    QVERIFY(!canvas->beforeOverlayImage().isNull());
    QVERIFY(statusText(window).contains(QStringLiteral("before | after CRF")));

    // Find a label pixel where the CRF changed the mask, then read it from
    // either side of the divider.
    const cv::Mat before = canvas->beforeLabels();
    const cv::Mat after = canvas->labels();
    cv::Mat differs;
    cv::compare(before, after, differs, cv::CMP_NE);
    std::vector<cv::Point> changed;
    cv::findNonZero(differs, changed);
    QVERIFY(!changed.empty());
    const cv::Point p = changed[changed.size() / 2];
    const QSizeF photo = canvas->photo().size();
    const QPointF at((p.x + 0.5) * photo.width() / after.cols,
                     (p.y + 0.5) * photo.height() / after.rows);
    canvas->setSplitPosition(1.0); // all "before"
    QCOMPARE(canvas->maskIdAt(at), int(before.at<uchar>(p)));
    canvas->setSplitPosition(0.0); // all "after"
    QCOMPARE(canvas->maskIdAt(at), int(after.at<uchar>(p)));
    canvas->setSplitPosition(0.5);

    // The split stays through threshold changes; a drag preview has no CRF,
    // so it shows alone, and the split is back after the release.
    QSlider* slider = window.thresholdSlider();
    slider->setSliderDown(true);
    slider->setValue(slider->value() - 10);
    QVERIFY(waitShown(shown));
    QVERIFY(!canvas->isComparing());
    QVERIFY(canvas->isCompareMode());
    slider->setSliderDown(false);
    QVERIFY(waitShown(shown));
    QVERIFY(canvas->isComparing());
    const ImageDecomposition& e = *window.currentResult().decomposition;
    QVERIFY(sameMat(canvas->beforeLabels(), shownPart(e.labelsBeforeCrf, e)));

    // The CRF off: nothing to compare and the button says so by being disabled.
    window.crfAction()->setChecked(false);
    QVERIFY(waitShown(shown));
    QVERIFY(!canvas->isComparing());
    QVERIFY(!window.compareAction()->isEnabled());
    window.crfAction()->setChecked(true);
    QVERIFY(waitShown(shown));
    QVERIFY(canvas->isComparing());

    window.compareAction()->setChecked(false);
    QVERIFY(!canvas->isComparing());
    QVERIFY(statusText(window).contains(QStringLiteral("after CRF")));
    QVERIFY(!statusText(window).contains(QStringLiteral("before |")));
}

void TestStudio::exportsMasksAndOverlay()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    MainWindow window;
    window.setPersistSettings(false);
    QSignalSpy shown(&window, &MainWindow::decompositionShown);
    QSignalSpy exported(&window, &MainWindow::exportFinished);
    QVERIFY(!window.exportCurrent(dir.filePath(QStringLiteral("none.png")),
                                  MainWindow::ExportKind::Masks));
    window.openInitial({kCoffee});
    QVERIFY(waitShown(shown));

    const QString masks = dir.filePath(QStringLiteral("coffee_masks.png"));
    const QString overlay = dir.filePath(QStringLiteral("coffee_overlay.png"));
    QVERIFY(window.exportCurrent(masks, MainWindow::ExportKind::Masks));
    QVERIFY(window.exportCurrent(overlay, MainWindow::ExportKind::Overlay));
    QTRY_COMPARE_WITH_TIMEOUT(exported.count(), 2, kTimeoutMs);
    for (const QList<QVariant>& args : std::as_const(exported))
        QVERIFY2(args.at(1).toString().isEmpty(), qPrintable(args.at(1).toString()));

    const cv::Mat ids = cv::imread(masks.toStdString(), cv::IMREAD_UNCHANGED);
    QCOMPARE(ids.type(), CV_8UC1);
    QCOMPARE(ids.cols, 600);
    QCOMPARE(ids.rows, 400);
    double maxId = 0;
    cv::minMaxLoc(ids, nullptr, &maxId);
    QVERIFY(maxId >= 1);
    QVERIFY(maxId <= double(window.currentResult().decomposition->trace.iterations.size()));
    const cv::Mat picture = cv::imread(overlay.toStdString(), cv::IMREAD_UNCHANGED);
    QCOMPARE(picture.type(), CV_8UC3);
    QCOMPARE(picture.cols, 600);

    // An unwritable target is reported, not swallowed.
    QVERIFY(window.exportCurrent(dir.filePath(QStringLiteral("no/such/folder/x.png")),
                                 MainWindow::ExportKind::Masks));
    QTRY_COMPARE_WITH_TIMEOUT(exported.count(), 3, kTimeoutMs);
    QVERIFY(!exported.last().at(1).toString().isEmpty());
    QVERIFY(window.messageWidget()->isVisibleTo(&window));
}

void TestStudio::startsWithBundledSamples()
{
    MainWindow window;
    window.setPersistSettings(false);
    window.show();
    QSignalSpy shown(&window, &MainWindow::decompositionShown);
    window.openInitial({});
    QCOMPARE(window.imageList()->count(), 4);
    QCOMPARE(window.imageList()->currentRow(), 0);
    QVERIFY(waitShown(shown));
    QVERIFY(window.currentResult().ok());
    QCOMPARE(QFileInfo(window.currentResult().request.path).fileName(),
             QStringLiteral("astronaut.jpg"));
    QVERIFY(window.stepper()->iterationCount() > 0);
}

void TestStudio::failingImageIsReportedInTheWindow()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString doomed = dir.filePath(QStringLiteral("vanishing.jpg"));
    QVERIFY(QFile::copy(kCoffee, doomed));

    MainWindow window;
    window.setPersistSettings(false);
    window.show();
    QSignalSpy shown(&window, &MainWindow::decompositionShown);
    window.openInitial({kChelsea, doomed});
    QVERIFY(waitShown(shown));
    QTRY_VERIFY_WITH_TIMEOUT(!window.imageList()->isLoading(), kTimeoutMs);
    QCOMPARE(window.imageList()->count(), 2);

    // The file disappears after it was listed; decomposing it must fail visibly.
    QVERIFY(QFile::remove(doomed));
    window.imageList()->setCurrentRow(1);
    QVERIFY(!waitShown(shown));
    QVERIFY(!window.currentResult().ok());
    QVERIFY(window.messageWidget()->isVisible());
    QVERIFY2(window.messageWidget()->text().contains(QStringLiteral("vanishing.jpg")),
             qPrintable(window.messageWidget()->text()));
    QVERIFY(!window.canvas()->hasLabels());
    QCOMPARE(window.stepper()->iterationCount(), 0);

    // The window goes on working: the other image still decomposes.
    window.imageList()->setCurrentRow(0);
    QVERIFY(waitShown(shown));
    QVERIFY(window.canvas()->hasLabels());
}

void TestStudio::settingsSurviveRestart()
{
    QSize stored;
    {
        MainWindow window;
        window.show();
        window.opacitySlider()->setValue(33);
        window.crfAction()->setChecked(false);
        window.compareAction()->setChecked(true);
        // Inside the screen (the offscreen platform's is 800x600): the window
        // never grows past it.
        window.resize(720, 520);
        stored = window.size();
        QVERIFY(window.close()); // stores the settings (test-mode location)
    }
    MainWindow fresh;
    QCOMPARE(fresh.opacitySlider()->value(), 60); // the constructor reads nothing
    QVERIFY(fresh.isCrfEnabled());
    QVERIFY(!fresh.compareAction()->isChecked());
    fresh.restoreSettings();
    QCOMPARE(fresh.opacitySlider()->value(), 33);
    QVERIFY(!fresh.isCrfEnabled());
    QVERIFY(!fresh.crfAction()->isChecked());
    QVERIFY(fresh.compareAction()->isChecked());
    QVERIFY(fresh.canvas()->isCompareMode());
    QCOMPARE(fresh.canvas()->overlayOpacity(), 0.33);
    // The stored height; the width may grow to the screen's when the restored
    // dock arrangement needs more room than the stored width gives.
    QCOMPARE(fresh.height(), stored.height());
    QVERIFY(fresh.width() >= stored.width());
    QVERIFY(fresh.width() <= fresh.screen()->availableGeometry().width());
}

// A dataset opened for review whose label files are partly missing: the banner
// says that label files are missing and what that costs (no ground truth for
// those images), with the count, instead of "listed file(s) are missing and were
// left out" (the images were not left out). Missing images are told apart.
void TestStudio::reviewBannerSaysWhatIsMissing()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString root = dir.filePath(QStringLiteral("ds"));
    primaps::testing::writeDiscAndBoxDataset(root, 8, 3);
    for (int i = 0; i < 6; ++i)
        QVERIFY(QFile::remove(root + QStringLiteral("/labels/im%1.png").arg(i)));

    MainWindow window;
    window.setPersistSettings(false);
    window.show();
    ReviewController* review = window.reviewController();
    QSignalSpy opened(review, &ReviewController::opened);
    DatasetOptions options;
    options.kind = DatasetKind::Folder;
    options.root = root.toStdString();
    review->openDataset(options);
    QVERIFY(opened.wait(kTimeoutMs));
    QVERIFY(opened.first().at(0).toBool());
    const QString text = window.messageWidget()->text();
    QVERIFY2(text.contains(QLatin1String("6 label file(s) are missing")), qPrintable(text));
    QVERIFY2(text.contains(QLatin1String("without ground truth")), qPrintable(text));
    QVERIFY2(!text.contains(QLatin1String("left out")), qPrintable(text));

    // A split list naming an image that is not there: that image is left out.
    QFile list(root + QStringLiteral("/some.txt"));
    QVERIFY(list.open(QIODevice::WriteOnly));
    list.write("im6\nim7\nghost\n");
    list.close();
    window.messageWidget()->dismiss();
    options.split = "some";
    opened.clear();
    review->openDataset(options);
    QVERIFY(opened.wait(kTimeoutMs));
    const QString listed = window.messageWidget()->text();
    QVERIFY2(listed.contains(QLatin1String("1 listed image(s) are missing and were left out")),
             qPrintable(listed));
    QVERIFY2(listed.contains(QLatin1String("ghost")), qPrintable(listed));
    QVERIFY2(!listed.contains(QLatin1String("label file")), qPrintable(listed));
}

// File ▸ Open Folder on a folder with an image whose name is not UTF-8: the
// banner and the message log name it with its bytes escaped; the others open.
void TestStudio::openFolderNamesUndecodableNames()
{
#ifdef Q_OS_WIN
    QSKIP("Windows file names are UTF-16");
#else
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    QVERIFY(QFile::copy(kChelsea, dir.filePath(QStringLiteral("chelsea.jpg"))));
    QFile source(kCoffee);
    QVERIFY(source.open(QIODevice::ReadOnly));
    const QByteArray bytes = source.readAll();
    const QByteArray name = QFile::encodeName(dir.path()) + "/caf\xe9.jpg";
    const int fd = ::open(name.constData(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    QVERIFY(fd >= 0);
    QCOMPARE(::write(fd, bytes.constData(), size_t(bytes.size())), ssize_t(bytes.size()));
    ::close(fd);

    MainWindow window;
    window.setPersistSettings(false);
    window.show();
    QSignalSpy shown(&window, &MainWindow::decompositionShown);
    window.openPaths({dir.path()});
    QVERIFY(waitShown(shown));
    QTRY_VERIFY_WITH_TIMEOUT(!window.imageList()->isLoading(), kTimeoutMs);
    QCOMPARE(window.imageList()->count(), 1);
    const QString text = window.messageWidget()->text();
    QVERIFY2(text.contains(QLatin1String("caf\\xe9.jpg")), qPrintable(text));
    QVERIFY2(text.contains(QLatin1String("not UTF-8")), qPrintable(text));
    const auto* log = window.findChild<MessageLogWidget*>();
    QVERIFY(log);
    QVERIFY2(log->toPlainText().contains(QLatin1String("caf\\xe9.jpg")),
             qPrintable(log->toPlainText()));
#endif
}

// "Before | After" compares Explore's masks before and after its CRF. Review
// puts another image on the canvas, and the button stayed in the tool bar there
// (it toggled an empty mode, and read as a before/after of the review's layers);
// it shows in Explore and Annotate only.
void TestStudio::beforeAfterOnlyWhereExploreShows()
{
    using Perspective = PerspectiveController::Perspective;
    MainWindow window;
    window.setPersistSettings(false);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    // In a shown tool bar, and visible (a tool bar shows no button for a hidden
    // action; whether the button fits or overflows depends on the screen).
    const auto compareButtonShown = [&] {
        for (const QToolBar* bar : window.findChildren<QToolBar*>())
            if (bar->isVisible() && bar->actions().contains(window.compareAction()) &&
                window.compareAction()->isVisible())
                return true;
        return false;
    };
    QTRY_VERIFY(compareButtonShown()); // once the tool bar is laid out
    window.perspectives()->setCurrent(Perspective::Review);
    QTest::qWait(50);
    QVERIFY(!compareButtonShown());
    QVERIFY(!window.compareAction()->isVisible()); // nor in the View menu, nor Ctrl+B
    window.perspectives()->setCurrent(Perspective::Annotate);
    QTRY_VERIFY(compareButtonShown());
    window.perspectives()->setCurrent(Perspective::Explore);
    QTRY_VERIFY(compareButtonShown());
}

QTEST_MAIN(TestStudio)
#include "tst_studio.moc"
