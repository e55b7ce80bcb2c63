// SPDX-License-Identifier: MIT
// The main window end to end, offscreen: it opens images, decomposes them off
// the GUI thread, shows overlay, legend and step list, follows the threshold
// and opacity controls, exports, and reports a failing image in the window.

#include "canvaswidget.h"
#include "imagelistwidget.h"
#include "legendwidget.h"
#include "mainwindow.h"
#include "messagewidget.h"
#include "stepperwidget.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <QFile>
#include <QSignalSpy>
#include <QSlider>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

using namespace primaps;

namespace {

constexpr int kTimeoutMs = 120000;
const QString kChelsea = QStringLiteral(PRIMAPS_SAMPLES_DIR "/chelsea.jpg");
const QString kCoffee = QStringLiteral(PRIMAPS_SAMPLES_DIR "/coffee.jpg");

// Waits for the next decompositionShown() and returns its `ok` argument.
bool waitShown(QSignalSpy& spy)
{
    const int before = spy.count();
    if (!QTest::qWaitFor([&] { return spy.count() > before; }, kTimeoutMs))
        return false;
    return spy.last().at(0).toBool();
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
    void exportsMasksAndOverlay();
    void startsWithBundledSamples();
    void failingImageIsReportedInTheWindow();
    void settingsSurviveRestart();
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
    {
        MainWindow window;
        window.show();
        window.opacitySlider()->setValue(33);
        window.resize(1000, 700);
        QVERIFY(window.close()); // stores the settings (test-mode location)
    }
    MainWindow fresh;
    QCOMPARE(fresh.opacitySlider()->value(), 60); // the constructor reads nothing
    fresh.restoreSettings();
    QCOMPARE(fresh.opacitySlider()->value(), 33);
    QCOMPARE(fresh.canvas()->overlayOpacity(), 0.33);
    QCOMPARE(fresh.size(), QSize(1000, 700));
}

QTEST_MAIN(TestStudio)
#include "tst_studio.moc"
