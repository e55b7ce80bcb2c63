// SPDX-License-Identifier: MIT
// The EM fit in the studio, offscreen, on a small folder dataset written here:
// FitController's threading (progress in order, pause, cancel, joins on
// destruction), the fit monitor's plots (one point per step, resumed history,
// read-out, log axis, PNG export) and messages, the fit dialog's defaults,
// validation and run-folder detection, interoperation with the `primaps` CLI
// in both directions, and the main window closing during a fit.

#include "evaluate/evaluationwidget.h"
#include "fit/fitcontroller.h"
#include "fit/fitdialog.h"
#include "common/emptyplotcover.h"
#include "fit/fitmonitorwidget.h"
#include "runs/fitrun.h"
#include "annotate/labeleditor.h"
#include "mainwindow.h"
#include "common/messagewidget.h"
#include "testsupport.h"

#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <qcustomplot.h>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <random>

using namespace primaps;

namespace {

const int kTimeoutMs = primaps::testing::scaledTimeout(240000);

// A folder-dataset sample (images/<stem>.png + labels/<stem>.png).
int csvRows(const QString& path)
{
    std::ifstream in(path.toStdString());
    std::string line;
    int rows = -1; // the header
    while (std::getline(in, line))
        if (!line.empty())
            ++rows;
    return rows;
}

// Rows of history.csv whose phase is k-means or em (the plotted steps).
int plottedRows(const QString& historyCsv)
{
    std::ifstream in(historyCsv.toStdString());
    std::string line;
    int rows = 0;
    while (std::getline(in, line))
        if (line.find(",k-means,") != std::string::npos || line.find(",em,") != std::string::npos)
            ++rows;
    return rows;
}

bool isFitStep(const JobProgress& p)
{
    return p.stage == "k-means" || p.stage == "em";
}

QList<JobProgress> progressOf(const QSignalSpy& spy)
{
    QList<JobProgress> out;
    for (const QList<QVariant>& args : spy)
        out << args.at(0).value<JobProgress>();
    return out;
}

} // namespace

class TestFitMonitor : public QObject
{
    Q_OBJECT

    QTemporaryDir tmp;
    QString ds;
    DatasetOptions dataset;

    FitRunSettings settings(const QString& run, int epochs, int batch) const
    {
        FitRunSettings s;
        s.runDir = QDir(tmp.path()).filePath(run).toStdString();
        s.cacheDir = QDir(tmp.path()).filePath("cache").toStdString();
        s.resolution = 64;
        s.maskCrf = false;
        s.em.classes = 0; // the dataset's 3
        s.em.epochs = epochs;
        s.em.initEpochs = 1;
        s.em.batchSize = batch;
        s.em.pcaImages = 10;
        s.em.emaEvery = 2;
        s.checkpointEvery = 5;
        return s;
    }

    // Waits for the first progress report that satisfies `accept`.
    static bool waitForProgress(const QSignalSpy& spy,
                                const std::function<bool(const JobProgress&)>& accept)
    {
        return QTest::qWaitFor(
            [&] {
                for (const JobProgress& p : progressOf(spy))
                    if (accept(p))
                        return true;
                return false;
            },
            kTimeoutMs);
    }

private slots:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true); // the dialog's recent settings
        // The fits here run thousands of steps against QtTest's 300 s limit; on a
        // machine shared with other builds a fit thread below the test's own
        // priority (the studio's default) got too small a share to finish.
        qputenv("PRIMAPS_WORKER_NICE", "0");
        QVERIFY(tmp.isValid());
        QDir root(tmp.path());
        ds = root.filePath("ds");
        primaps::testing::writeDiscAndBoxDataset(ds, 10, 1);
        dataset.kind = DatasetKind::Folder;
        dataset.root = ds.toStdString();
    }

    void fitRunsToCompletionAndPlotsEveryStep()
    {
        FitMonitorWidget monitor;
        monitor.resize(900, 700);
        monitor.show();
        QSignalSpy progress(monitor.controller(), &FitController::progressed);
        QSignalSpy finished(&monitor, &FitMonitorWidget::fitFinished);
        FitRunSettings s = settings("complete", 3, 4);
        s.em.emaDecay = 0.9f; // not the default, so the cap line must come from the settings
        s.validationSplit = "all";
        s.validationEvery = 2;
        QVERIFY(monitor.startFit(dataset, s));
        QVERIFY(monitor.controller()->isRunning());
        QVERIFY(!monitor.startFit(dataset, s)); // one fit at a time
        QVERIFY(QTest::qWaitFor([&] { return !finished.isEmpty(); }, kTimeoutMs));

        const FitOutcome outcome = finished.first().at(0).value<FitOutcome>();
        QCOMPARE(int(outcome.state), int(JobState::Finished));
        QVERIFY2(outcome.error.isEmpty(), qPrintable(outcome.error));
        // 10 images, batch 4: 2 steps per epoch; PCA + 1 warm-start + 3 EM epochs.
        QCOMPARE(outcome.stepsDone, qint64(9));
        QCOMPARE(outcome.images, 10);
        QVERIFY(!monitor.controller()->isRunning());

        // Per-image stages came first, and every fit step was reported once, in order.
        const QList<JobProgress> reports = progressOf(progress);
        QCOMPARE(reports.first().stage, std::string("features"));
        qint64 lastStep = 0;
        int fitSteps = 0;
        for (const JobProgress& p : reports)
            if (isFitStep(p)) {
                QVERIFY(p.step > lastStep);
                lastStep = p.step;
                ++fitSteps;
            }
        QCOMPARE(fitSteps, 8);
        QCOMPARE(monitor.pointCount(FitMonitorWidget::Series::KMeansLoss) +
                     monitor.pointCount(FitMonitorWidget::Series::EmLoss),
                 fitSteps);
        QCOMPARE(monitor.pointCount(FitMonitorWidget::Series::KMeansLoss), 2);
        QCOMPARE(monitor.pointCount(FitMonitorWidget::Series::Labelled), 6);

        const QDir run(QString::fromStdString(s.runDir));
        for (const char* name : {"run.json", "state.json", "theta_m.json", "theta_r.json",
                                 "history.csv", "metrics.csv"})
            QVERIFY2(run.exists(name), name);
        QCOMPARE(plottedRows(run.filePath("history.csv")), fitSteps);
        // Validation every 2 steps (2, 4, 6, 8) and after the last (9).
        QCOMPARE(csvRows(run.filePath("metrics.csv")), 5);
        QCOMPARE(monitor.pointCount(FitMonitorWidget::Series::ValMiou), 5);
        QCOMPARE(monitor.pointCount(FitMonitorWidget::Series::ValAcc), 5);
        const double miou = monitor.valueAt(FitMonitorWidget::Series::ValMiou, 9);
        QVERIFY(miou > 0 && miou <= 100);
        // EMA updates every 2 EM steps: 6 EM steps give 3.
        QCOMPARE(monitor.pointCount(FitMonitorWidget::Series::EmaDecay), 3);
        // The decay row says what it shows: 0 to 1 (and a margin) whatever the values, so the
        // warm-up from 0 shows, and the fit's cap drawn and explained.
        QCOMPARE(monitor.emaCap(), double(0.9f));
        const QCPRange decayRange = monitor.plot()->axisRect(2)->axis(QCPAxis::atLeft)->range();
        QVERIFY(decayRange.lower < 0.0 && decayRange.lower > -0.1);
        QVERIFY(decayRange.upper > 1.0 && decayRange.upper < 1.1);
        QVERIFY(monitor.plot()->axisRect(2)->axis(QCPAxis::atLeft)->label().contains("β"));
        QVERIFY2(monitor.emaExplanation().contains("β = 0"), qPrintable(monitor.emaExplanation()));
        QVERIFY2(monitor.emaExplanation().contains("cap of this fit (0.9"),
                 qPrintable(monitor.emaExplanation()));
        const FitRunFolder folder = readFitRunFolder(s.runDir);
        QVERIFY(folder.complete);
        QCOMPARE(folder.steps, std::int64_t(9));
        QCOMPARE(folder.settings.validationSplit, std::string("all"));

        QCOMPARE(monitor.progressBar()->value(), monitor.progressBar()->maximum());
        QVERIFY(monitor.summaryText().contains("Finished"));
        QVERIFY(monitor.summaryText().contains(QDir::toNativeSeparators(run.path())));
        QVERIFY(monitor.summaryText().contains("mIoU"));
        QVERIFY(!monitor.pauseButton()->isEnabled());
        QVERIFY(!monitor.cancelButton()->isEnabled());
        QVERIFY(monitor.continueButton()->isHidden());
        QVERIFY(!monitor.messageWidget()->hasError());

        // Read-out at a step, the log axis, the PNG.
        monitor.showValuesAt(5);
        QVERIFY(monitor.hoverText().startsWith("step 5"));
        QVERIFY(monitor.hoverText().contains("EM loss"));
        QVERIFY(monitor.hoverText().contains("mIoU"));
        monitor.showValuesAt(-1);
        QVERIFY(monitor.hoverText().isEmpty());
        monitor.setLogScale(true);
        QCOMPARE(monitor.plot()->axisRect(0)->axis(QCPAxis::atLeft)->scaleType(),
                 QCPAxis::stLogarithmic);
        monitor.setLogScale(false);
        QCOMPARE(monitor.plot()->axisRect(0)->axis(QCPAxis::atLeft)->scaleType(),
                 QCPAxis::stLinear);
        const QString png = QDir(tmp.path()).filePath("plot.png");
        QVERIFY(monitor.exportPng(png));
        const QImage image(png);
        QVERIFY(image.width() >= 800 && image.height() >= 600);
        QString error;
        QVERIFY(!monitor.exportPng(QDir(tmp.path()).filePath("missing/dir/plot.png"), &error));
        QVERIFY(error.contains("missing"));

        // The CLI evaluates a run that the studio made.
        const testing::CliRun eval =
            testing::runProgram(PRIMAPS_CLI, {"eval", "--run", run.path(), "--dataset", "folder",
                                              "--root", ds, "--json", "-q"});
        QVERIFY2(eval.exitCode == 0, qPrintable(eval.err));
        QVERIFY(eval.out.contains("\"miou\""));
    }

    void pauseHoldsAndResumeFinishes()
    {
        FitMonitorWidget monitor;
        QSignalSpy progress(monitor.controller(), &FitController::progressed);
        QSignalSpy finished(&monitor, &FitMonitorWidget::fitFinished);
        QVERIFY(monitor.startFit(dataset, settings("paused", 200, 1)));
        QVERIFY(waitForProgress(progress, [](const JobProgress& p) { return p.stage == "em"; }));
        monitor.pauseButton()->click();
        QCOMPARE(int(monitor.controller()->state()), int(JobState::Paused));
        QCOMPARE(monitor.pauseButton()->text(), QString("Resume"));
        QVERIFY(monitor.statusText().startsWith("Paused"));
        QTest::qWait(300); // the step that ran when pause was asked ends
        const int held = progress.count();
        QTest::qWait(500);
        QCOMPARE(progress.count(), held);
        QVERIFY(finished.isEmpty());
        monitor.pauseButton()->click();
        QCOMPARE(int(monitor.controller()->state()), int(JobState::Running));
        QVERIFY(QTest::qWaitFor([&] { return !finished.isEmpty(); }, kTimeoutMs));
        const FitOutcome outcome = finished.first().at(0).value<FitOutcome>();
        QCOMPARE(int(outcome.state), int(JobState::Finished));
        QCOMPARE(outcome.stepsDone, qint64(1 + 10 * 201));
        QCOMPARE(monitor.pointCount(FitMonitorWidget::Series::KMeansLoss) +
                     monitor.pointCount(FitMonitorWidget::Series::EmLoss),
                 10 * 201);
    }

    void cancelKeepsCheckpointAndContinueFinishes()
    {
        FitMonitorWidget monitor;
        QSignalSpy progress(monitor.controller(), &FitController::progressed);
        QSignalSpy finished(&monitor, &FitMonitorWidget::fitFinished);
        QSignalSpy history(monitor.controller(), &FitController::historyLoaded);
        const FitRunSettings s = settings("canceled", 200, 1);
        QVERIFY(monitor.startFit(dataset, s));
        QVERIFY(waitForProgress(progress, [](const JobProgress& p) { return p.step >= 30; }));
        monitor.cancelButton()->click();
        QVERIFY(QTest::qWaitFor([&] { return !finished.isEmpty(); }, kTimeoutMs));
        const FitOutcome canceled = finished.first().at(0).value<FitOutcome>();
        QCOMPARE(int(canceled.state), int(JobState::Canceled));
        QVERIFY(canceled.stepsDone >= 30 && canceled.stepsDone < 2011);
        QCOMPARE(readFitCheckpointStep(s.runDir), std::int64_t(canceled.stepsDone));
        QVERIFY(!readFitRunFolder(s.runDir).complete);
        QVERIFY(monitor.summaryText().contains("Canceled"));
        QVERIFY(!monitor.continueButton()->isHidden());
        QVERIFY(!monitor.messageWidget()->hasError());
        const int beforeContinue = monitor.pointCount(FitMonitorWidget::Series::KMeansLoss) +
                                   monitor.pointCount(FitMonitorWidget::Series::EmLoss);
        QCOMPARE(qint64(beforeContinue), canceled.stepsDone - 1);

        finished.clear();
        monitor.continueButton()->click();
        QVERIFY(monitor.controller()->isRunning());
        QVERIFY(QTest::qWaitFor([&] { return !finished.isEmpty(); }, kTimeoutMs));
        const FitOutcome done = finished.first().at(0).value<FitOutcome>();
        QCOMPARE(int(done.state), int(JobState::Finished));
        QCOMPARE(done.resumedFrom, canceled.stepsDone);
        QCOMPARE(done.stepsDone, qint64(2011));
        // The checkpoint's steps were plotted again, then the rest: one point per step.
        QCOMPARE(history.count(), 1);
        QCOMPARE(monitor.pointCount(FitMonitorWidget::Series::KMeansLoss) +
                     monitor.pointCount(FitMonitorWidget::Series::EmLoss),
                 2010);
        QCOMPARE(plottedRows(QDir(QString::fromStdString(s.runDir)).filePath("history.csv")), 2010);
        QVERIFY(readFitRunFolder(s.runDir).complete);
    }

    void resumesRunStartedByCli()
    {
        const QString run = QDir(tmp.path()).filePath("cli-run");
        const testing::CliRun fit = testing::runProgram(
            PRIMAPS_CLI, {"fit", "--dataset", "folder", "--root", ds, "--resolution", "64",
                          "--no-mask-crf", "--epochs", "2", "--init-epochs", "1", "--batch-size",
                          "5", "--pca-images", "10", "--out", run, "-q"});
        QVERIFY2(fit.exitCode == 0, qPrintable(fit.err));
        FitMonitorWidget monitor;
        QSignalSpy finished(&monitor, &FitMonitorWidget::fitFinished);
        QVERIFY(monitor.resumeRun(run));
        QVERIFY(QTest::qWaitFor([&] { return !finished.isEmpty(); }, kTimeoutMs));
        const FitOutcome outcome = finished.first().at(0).value<FitOutcome>();
        QVERIFY2(outcome.state == JobState::Finished, qPrintable(outcome.error));
        // Nothing left to do: the CLI's steps are on the plot.
        QCOMPARE(outcome.resumedFrom, qint64(7));
        QCOMPARE(monitor.pointCount(FitMonitorWidget::Series::KMeansLoss) +
                     monitor.pointCount(FitMonitorWidget::Series::EmLoss),
                 6);

        // The dialog recognises the run and loads its settings.
        FitDialog dialog;
        dialog.runEdit()->setText(run);
        emit dialog.runEdit()->editingFinished();
        QVERIFY(dialog.runFolderNote().contains("finished after 7 steps"));
        QCOMPARE(dialog.settings().em.epochs, 2);
        QCOMPARE(dialog.settings().em.batchSize, 5);
        QCOMPARE(dialog.settings().resolution, 64);
        QCOMPARE(dialog.datasetOptions().root, ds.toStdString());
        QVERIFY(dialog.resumesExistingRun());
        QVERIFY(dialog.validate().isEmpty());
    }

    // A run folder is shown as it was fitted, without running anything: the same
    // curves as a resume plots, its status, and not a byte of the run changed.
    void showsARunWithoutRunningIt()
    {
        const QString run = QDir(tmp.path()).filePath("cli-run"); // resumesRunStartedByCli's
        QFile state(QDir(run).filePath("state.json"));
        QVERIFY(state.open(QIODevice::ReadOnly));
        const QByteArray before = state.readAll();
        state.close();
        FitMonitorWidget monitor;
        QSignalSpy shown(&monitor, &FitMonitorWidget::runShown);
        QSignalSpy running(&monitor, &FitMonitorWidget::runningChanged);
        QVERIFY(monitor.showRun(run));
        QVERIFY(shown.wait(kTimeoutMs));
        QCOMPARE(monitor.pointCount(FitMonitorWidget::Series::KMeansLoss) +
                     monitor.pointCount(FitMonitorWidget::Series::EmLoss),
                 6);
        QVERIFY2(monitor.statusText().contains("Fitted run: 7 steps"),
                 qPrintable(monitor.statusText()));
        // Every point of every curve lies inside its value axis's range, off the
        // frame (the k-means loss changes in its fifth digit: a flat curve).
        monitor.resize(900, 500);
        monitor.show();
        QVERIFY(QTest::qWaitForWindowExposed(&monitor));
        monitor.plot()->replot();
        int points = 0;
        for (int i = 0; i < monitor.plot()->graphCount(); ++i) {
            QCPGraph* g = monitor.plot()->graph(i);
            const QCPRange range = g->valueAxis()->range();
            const double margin = 0.02 * range.size();
            for (auto it = g->data()->constBegin(); it != g->data()->constEnd(); ++it) {
                ++points;
                QVERIFY2(it->value >= range.lower + margin && it->value <= range.upper - margin,
                         qPrintable(QStringLiteral("%1: %2 at step %3 outside [%4, %5]")
                                        .arg(g->name())
                                        .arg(it->value, 0, 'g', 9)
                                        .arg(it->key)
                                        .arg(range.lower, 0, 'g', 9)
                                        .arg(range.upper, 0, 'g', 9)));
            }
        }
        QVERIFY(points >= 6);
        QVERIFY(!monitor.controller()->isRunning());
        QVERIFY(running.isEmpty());
        QVERIFY(state.open(QIODevice::ReadOnly));
        QCOMPARE(state.readAll(), before);

        // Not a run folder: the banner says why, the plot stays as it was.
        QVERIFY(!monitor.showRun(tmp.path()));
        QVERIFY(monitor.messageWidget()->text().contains("run.json"));
        QCOMPARE(monitor.pointCount(FitMonitorWidget::Series::EmLoss) > 0, true);
    }

    // A fit that ended within the first two EMA updates (β = 0, which copy θ_R
    // into θ_M) is shown with a note that says β stayed 0; "so far" (the note
    // while a fit runs) read as if the finished fit were still going.
    void finishedFitsZeroDecayIsNotSoFar()
    {
        const QString run = QDir(tmp.path()).filePath("short-ema-run");
        const testing::CliRun fit = testing::runProgram(
            PRIMAPS_CLI, {"fit", "--dataset", "folder", "--root", ds, "--resolution", "64",
                          "--no-mask-crf", "--epochs", "1", "--init-epochs", "1", "--batch-size",
                          "5", "--pca-images", "10", "--ema-every", "1", "--out", run, "-q"});
        QVERIFY2(fit.exitCode == 0, qPrintable(fit.err));
        FitMonitorWidget monitor;
        QSignalSpy shown(&monitor, &FitMonitorWidget::runShown);
        QVERIFY(monitor.showRun(run));
        QVERIFY(shown.wait(kTimeoutMs));
        QVERIFY(monitor.pointCount(FitMonitorWidget::Series::EmaDecay) > 0);
        QStringList notes;
        for (int i = 0; i < monitor.plot()->itemCount(); ++i)
            if (auto* text = qobject_cast<QCPItemText*>(monitor.plot()->item(i)))
                if (text->visible() && text->text().contains(QStringLiteral("\u03b2")))
                    notes << text->text();
        QCOMPARE(notes.size(), 1);
        QVERIFY2(notes.first().contains(QLatin1String("stayed 0")), qPrintable(notes.first()));
        QVERIFY2(!notes.first().contains(QLatin1String("so far")), qPrintable(notes.first()));
    }

    // During the PCA initialisation the status line shows what the core reports of
    // it (images read, k-means restarts), not the fit's step counter, which stays
    // at 0 until the initialisation is done.
    void pcaInitialisationShowsItsOwnProgress()
    {
        FitMonitorWidget monitor;
        JobProgress p;
        p.stage = "pca";
        p.step = 0;
        p.totalSteps = 120;
        p.message = "PCA initialisation: 3 of 11 images (whitening)";
        emit monitor.controller()->progressed(p);
        QCOMPARE(monitor.statusText(), QString::fromStdString(p.message));
        p.message = "PCA initialisation: k-means restart 4 of 16";
        emit monitor.controller()->progressed(p);
        QCOMPARE(monitor.statusText(), QString::fromStdString(p.message));
        p.stage = "k-means";
        p.step = 1;
        p.message.clear();
        emit monitor.controller()->progressed(p);
        QVERIFY2(monitor.statusText().contains(QLatin1String("step 1 of 120")),
                 qPrintable(monitor.statusText()));
    }

    // Before any fit the plot area says what will appear, instead of axes with
    // invented ranges; the first step's values replace the sentence.
    void emptyPlotShowsAnEmptyState()
    {
        FitMonitorWidget monitor;
        monitor.resize(900, 600);
        monitor.show();
        QCoreApplication::processEvents();
        auto* cover = monitor.findChild<EmptyPlotCover*>();
        QVERIFY(cover);
        QTRY_VERIFY(cover->isVisible());
        QVERIFY(cover->text().contains("No fit yet"));
        QSignalSpy finished(&monitor, &FitMonitorWidget::fitFinished);
        QVERIFY(monitor.startFit(dataset, settings("empty-state", 1, 2)));
        QVERIFY(QTest::qWaitFor([&] { return !finished.isEmpty(); }, kTimeoutMs));
        QTRY_VERIFY(!cover->isVisible());
    }

    void badDatasetShowsErrorInWindow()
    {
        FitMonitorWidget monitor;
        QSignalSpy finished(&monitor, &FitMonitorWidget::fitFinished);
        QSignalSpy errors(&monitor, &FitMonitorWidget::errorOccurred);
        DatasetOptions missing = dataset;
        missing.root = QDir(tmp.path()).filePath("no-such-dataset").toStdString();
        QVERIFY(monitor.startFit(missing, settings("bad", 1, 2)));
        QVERIFY(QTest::qWaitFor([&] { return !finished.isEmpty(); }, kTimeoutMs));
        QCOMPARE(int(finished.first().at(0).value<FitOutcome>().state), int(JobState::Failed));
        QVERIFY(monitor.messageWidget()->hasError());
        QVERIFY2(monitor.messageWidget()->text().contains("no-such-dataset"),
                 qPrintable(monitor.messageWidget()->text()));
        QCOMPARE(errors.count(), 1);
        QVERIFY(monitor.summaryText().contains("failed"));

        // Not a run folder.
        QVERIFY(!monitor.resumeRun(tmp.path()));
        QVERIFY(monitor.messageWidget()->text().contains("run.json"));
    }

    void dialogDefaultsAndValidation()
    {
        FitDialog dialog;
        const EmParams reference;
        const FitRunSettings s = dialog.settings();
        QCOMPARE(s.em.epochs, reference.epochs);
        QCOMPARE(s.em.batchSize, reference.batchSize);
        QCOMPARE(s.em.initEpochs, reference.initEpochs);
        QCOMPARE(s.em.learningRate, reference.learningRate);
        QCOMPARE(s.em.emaDecay, reference.emaDecay);
        QCOMPARE(s.em.emaEvery, reference.emaEvery);
        QCOMPARE(int(s.em.method), int(EmMethod::PrimapsEm));
        QCOMPARE(s.backbone, std::string("filterbank"));
        QVERIFY(s.maskCrf);

        QVERIFY(dialog.validate().contains("root folder"));
        dialog.rootEdit()->setText(QDir(tmp.path()).filePath("nowhere"));
        QVERIFY(dialog.validate().contains("nowhere"));
        dialog.rootEdit()->setText(tmp.path()); // exists, but has no images/
        QVERIFY(dialog.validate().contains("images/"));
        dialog.rootEdit()->setText(ds);
        emit dialog.rootEdit()->editingFinished();
        // The defaults follow the data: a 10-image folder offers at most 10 PCA
        // images, once the folder is listed (off the GUI thread).
        QVERIFY(reference.pcaImages > 10);
        QTRY_COMPARE(dialog.settings().em.pcaImages, 10);
        QVERIFY(dialog.validate().contains("run folder"));
        // accept() keeps the dialog open and says why.
        dialog.accept();
        QCOMPARE(dialog.result(), int(QDialog::Rejected));
        QVERIFY(dialog.messageWidget()->hasError());
        QVERIFY(dialog.messageWidget()->text().contains("run folder"));
        dialog.runEdit()->setText(QDir(tmp.path()).filePath("new-run"));
        QVERIFY(dialog.validate().isEmpty());
        QCOMPARE(dialog.datasetOptions().root, ds.toStdString());
        QCOMPARE(int(dialog.datasetOptions().kind), int(DatasetKind::Folder));
        dialog.accept();
        QCOMPARE(dialog.result(), int(QDialog::Accepted));
        QVERIFY(!dialog.resumesExistingRun());
    }

    void destroyingControllerJoinsRunningFit()
    {
        const FitRunSettings s = settings("destroyed", 200, 1);
        auto* controller = new FitController;
        QSignalSpy progress(controller, &FitController::progressed);
        QVERIFY(controller->start(dataset, s));
        QVERIFY(waitForProgress(progress, [](const JobProgress& p) { return p.stage == "em"; }));
        delete controller; // cancels and joins; the checkpoint is written
        QVERIFY(readFitCheckpointStep(s.runDir) > 0);
    }

    void finishedFitIsEvaluatedFromTheMenu()
    {
        MainWindow window;
        window.setPersistSettings(false);
        window.show();
        QAction* evaluate = window.evaluateLastFitAction();
        QVERIFY(!evaluate->isEnabled()); // nothing to evaluate yet
        FitMonitorWidget* monitor = window.fitMonitor();
        QSignalSpy finished(monitor, &FitMonitorWidget::fitFinished);
        const FitRunSettings s = settings("evaluate-last", 2, 5);
        QVERIFY(monitor->startFit(dataset, s));
        QVERIFY(QTest::qWaitFor([&] { return !finished.isEmpty(); }, kTimeoutMs));
        QVERIFY(evaluate->isEnabled());
        QVERIFY(evaluate->text().contains("evaluate-last"));
        evaluate->trigger();
        EvaluationWidget* view = window.evaluationView();
        QVERIFY(view->isVisible());
        QVERIFY(QTest::qWaitFor([&] { return view->hasReport() || view->messageWidget()->hasError(); },
                                kTimeoutMs));
        QVERIFY2(!view->messageWidget()->hasError(), qPrintable(view->messageWidget()->text()));
        // The run's own folder was scored: 10 images of 64 x 48 with labels.
        QVERIFY(view->report().result.pixels > 0);
        QVERIFY(QFileInfo::exists(QDir(QString::fromStdString(s.runDir)).filePath("eval_theta_m.json")));
    }

    void closingWindowDuringFitCancelsCleanly()
    {
        MainWindow window;
        window.setPersistSettings(false);
        window.show();
        FitMonitorWidget* monitor = window.fitMonitor();
        QSignalSpy progress(monitor->controller(), &FitController::progressed);
        const FitRunSettings s = settings("closed", 200, 1);
        QVERIFY(monitor->startFit(dataset, s));
        QVERIFY(waitForProgress(progress, [](const JobProgress& p) { return p.stage == "em"; }));
        QVERIFY(!window.close()); // not yet: the fit stops at its next step first
        QVERIFY(QTest::qWaitFor([&] { return !window.isVisible(); }, kTimeoutMs));
        QVERIFY(!monitor->controller()->isRunning());
        QCOMPARE(int(monitor->controller()->outcome().state), int(JobState::Canceled));
        QVERIFY(readFitCheckpointStep(s.runDir) > 0);
    }

    // A close that waited for the fit and was then refused (unsaved label
    // corrections, Cancel) is over: a later fit ending must not close the window.
    void refusedCloseAfterFitIsForgotten()
    {
        MainWindow window;
        window.setPersistSettings(false);
        window.show();
        QSignalSpy shown(&window, &MainWindow::decompositionShown);
        window.openInitial({});
        QVERIFY(QTest::qWaitFor([&] { return !shown.isEmpty(); }, kTimeoutMs));
        QVERIFY(shown.last().at(0).toBool());
        LabelEditor* editor = window.labelEditor();
        int questions = 0;
        editor->setUnsavedQuestion([&](const QStringList&) {
            return ++questions == 1 ? LabelEditor::UnsavedChoice::Discard
                                    : LabelEditor::UnsavedChoice::Cancel;
        });
        QVERIFY(editor->renameLabel(1, QStringLiteral("sky")));
        QCOMPARE(editor->unsavedImages().size(), 1);

        FitMonitorWidget* monitor = window.fitMonitor();
        QSignalSpy progress(monitor->controller(), &FitController::progressed);
        QSignalSpy finished(monitor, &FitMonitorWidget::fitFinished);
        QVERIFY(monitor->startFit(dataset, settings("refused", 200, 1)));
        QVERIFY(waitForProgress(progress, [](const JobProgress& p) { return p.stage == "em"; }));
        QVERIFY(!window.close()); // waits for the fit
        // The fit stops, the window asks again and the user cancels the close.
        QVERIFY(QTest::qWaitFor([&] { return questions == 2; }, kTimeoutMs));
        QVERIFY(window.isVisible());
        QVERIFY(!monitor->controller()->isRunning());

        editor->undoAction()->trigger(); // nothing unsaved any more
        QVERIFY(editor->unsavedImages().isEmpty());
        QVERIFY(monitor->startFit(dataset, settings("after-refused", 2, 5)));
        QVERIFY(QTest::qWaitFor([&] { return finished.count() == 2; }, kTimeoutMs));
        QTest::qWait(50); // a close would be posted from the finish
        QVERIFY(window.isVisible());
    }

    // For reviewing the look: PRIMAPS_FIT_SCREENSHOT=FILE.png saves the main
    // window with the monitor after a fit with validation (and FILE-paused.png
    // while it is paused half way).
    void screenshot()
    {
        const QString path = qEnvironmentVariable("PRIMAPS_FIT_SCREENSHOT");
        if (path.isEmpty())
            QSKIP("set PRIMAPS_FIT_SCREENSHOT=FILE.png to save a picture of the monitor");
        MainWindow window;
        window.setPersistSettings(false);
        window.resize(1400, 950);
        window.show();
        FitMonitorWidget* monitor = window.fitMonitor();
        monitor->parentWidget()->show();
        QSignalSpy progress(monitor->controller(), &FitController::progressed);
        QSignalSpy finished(monitor, &FitMonitorWidget::fitFinished);
        FitRunSettings s = settings("screenshot", 30, 2);
        s.validationSplit = "all";
        s.checkpointEvery = 50;
        QVERIFY(monitor->startFit(dataset, s));
        QVERIFY(waitForProgress(progress, [](const JobProgress& p) { return p.step >= 80; }));
        monitor->controller()->pause();
        QTest::qWait(400);
        QVERIFY(window.grab().save(QString(path).replace(".png", "-paused.png")));
        monitor->controller()->resume();
        QVERIFY(QTest::qWaitFor([&] { return !finished.isEmpty(); }, kTimeoutMs));
        monitor->showValuesAt(120);
        QTest::qWait(300);
        QVERIFY(window.grab().save(path));
    }
};

QTEST_MAIN(TestFitMonitor)
#include "tst_fitmonitor.moc"
