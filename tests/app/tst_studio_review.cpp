// SPDX-License-Identifier: MIT
// Reviewing a fitted run in the studio: a run fitted here with the CLI on a
// small generated labelled dataset is opened in the real main window; every
// layer renders, the pseudo-label of each mask is theta_M's majority vote
// computed here independently, the image's metrics are `primaps eval`'s on that
// image, and an override moves Acc/mIoU exactly as the confusion counts say,
// undo restores them, and the override reaches `primaps export`.
#include "explore/canvaswidget.h"
#include "review/datasetbrowserwidget.h"
#include "runs/datasetjobs.h"
#include "em/emfit.h"
#include "evaluate/evaluationwidget.h"
#include "dataset/featurecache.h"
#include "annotate/labeleditor.h"
#include "mainwindow.h"
#include "projectcontroller.h"
#include "review/pseudolabelexportdialog.h"
#include "review/maskvotewidget.h"
#include "runs/matchedits.h"
#include "reviewcontroller.h"
#include "review/reviewjob.h"
#include "testsupport.h"

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <QDirIterator>
#include <QFile>
#include <QLabel>
#include <QProcess>
#include <QSettings>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>
#include <QUndoStack>
#include <sstream>

using namespace primaps;
using primaps::testing::sameMat;

namespace {

using Layer = ReviewController::Layer;

QByteArray bytesOf(const QString& path)
{
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

/// The first pixel of the review's masks with a mask id, and that id.
std::pair<QPoint, int> firstMaskPixel(const ImageReview& r)
{
    for (int y = 0; y < r.masks.rows; ++y)
        for (int x = 0; x < r.masks.cols; ++x)
            if (r.masks.at<uchar>(y, x) > 0 && r.masks.at<uchar>(y, x) < 255)
                return {QPoint(x, y), r.masks.at<uchar>(y, x)};
    return {QPoint(-1, -1), 0};
}

/// The edits the crash-recovery child makes (and the parent expects back).
constexpr int kChildCluster = 1;
constexpr int kChildImage = 5;
const char* const kChildClassName = "cube";

testing::CliRun runCli(const QStringList& args)
{
    return testing::runProgram(PRIMAPS_CLI, args);
}

/// Acc and mIoU of `confusion` under `match`, by hand from the counts.
std::pair<double, double> byHand(const ConfusionMatrix& confusion, const std::vector<int>& match)
{
    const int classes = confusion.classes();
    std::vector<std::int64_t> tp(std::size_t(classes), 0), predicted(std::size_t(classes), 0),
        truth(std::size_t(classes), 0);
    std::int64_t correct = 0, total = 0;
    for (int c = 0; c < confusion.clusters(); ++c)
        for (int j = 0; j < classes; ++j) {
            const std::int64_t n = confusion.at(c, j);
            total += n;
            truth[std::size_t(j)] += n;
            const int m = match[std::size_t(c)];
            if (m >= 0)
                predicted[std::size_t(m)] += n;
            if (m == j) {
                correct += n;
                tp[std::size_t(j)] += n;
            }
        }
    double sum = 0;
    int defined = 0;
    for (int j = 0; j < classes; ++j) {
        const std::int64_t denominator =
            truth[std::size_t(j)] + predicted[std::size_t(j)] - tp[std::size_t(j)];
        if (denominator == 0)
            continue;
        sum += 100.0 * double(tp[std::size_t(j)]) / double(denominator);
        ++defined;
    }
    return {100.0 * double(correct) / double(total), sum / defined};
}

} // namespace

class TestStudioReview : public QObject
{
    Q_OBJECT

    QTemporaryDir tmp;
    QString ds, run;

    QString path(const QString& name) const { return QDir(tmp.path()).filePath(name); }

    /// Opens the run in `w` and waits for the first image and the split's metrics.
    void openRun(MainWindow& w)
    {
        ReviewController* review = w.reviewController();
        QSignalSpy opened(review, &ReviewController::opened);
        QSignalSpy metrics(review, &ReviewController::metricsReady);
        QSignalSpy shown(review, &ReviewController::layerShown);
        review->openRun(run);
        QVERIFY(testing::waitNextOk(opened, testing::scaledTimeout(120000)));
        QVERIFY(testing::waitNextOk(metrics, testing::scaledTimeout(300000)));
        QVERIFY(QTest::qWaitFor([&] { return review->currentReview() != nullptr; }, 120000));
        review->job()->waitIdle();
    }

    void showIndex(ReviewController* review, int index)
    {
        review->selectIndex(index);
        QVERIFY(QTest::qWaitFor(
            [&] {
                return review->currentReview() && int(review->currentReview()->index) == index;
            },
            120000));
    }

private slots:
    void initTestCase()
    {
        if (qEnvironmentVariableIsSet("PRIMAPS_REVIEW_FIXTURE")) // keep it for screenshots
            tmp.setAutoRemove(false);
        // Autosaves and settings of this test stay in its folder.
        qputenv("PRIMAPS_RECOVERY_DIR", path("recovery-main").toLocal8Bit());
        qputenv("XDG_CONFIG_HOME", path("config").toLocal8Bit());
        ds = path("ds");
        testing::writeDiscAndBoxDataset(ds, 8, 11);
        run = path("run");
        const testing::CliRun fit =
            runCli({"fit", "--dataset", "folder", "--root", ds, "--out", run, "--epochs", "2",
                    "--batch-size", "4", "--resolution", "64", "-q"});
        QVERIFY2(fit.exitCode == 0, qPrintable(fit.err));
        qInfo("fixture: %s", qPrintable(tmp.path()));
    }

    void everyLayerRenders()
    {
        MainWindow w;
        w.resize(1366, 768);
        w.show();
        openRun(w);
        ReviewController* review = w.reviewController();
        QVERIFY(review->isActive());
        QCOMPARE(review->browser()->model()->rowCount(), 8);
        const auto r = review->currentReview();
        QCOMPARE(r->photo.cols, 64);
        QCOMPARE(r->photo.rows, 64);
        for (Layer layer : {Layer::Photo, Layer::GroundTruth, Layer::Masks, Layer::PseudoLabel,
                            Layer::Prediction, Layer::Errors}) {
            review->setLayer(layer);
            const cv::Mat shown = w.canvas()->labels();
            if (layer == Layer::Photo) {
                QVERIFY(shown.empty());
                continue;
            }
            QVERIFY2(!shown.empty(), qPrintable(ReviewController::layerName(layer)));
            QCOMPARE(shown.cols, 64);
            QVERIFY2(cv::countNonZero(shown) > 0, qPrintable(ReviewController::layerName(layer)));
            QVERIFY(sameMat(shown, review->layerMap(layer)));
        }
        // The ground-truth layer is the label file (class + 1 on display).
        review->setLayer(Layer::GroundTruth);
        cv::Mat truth = r->groundTruth.clone();
        truth += 1;
        QVERIFY(sameMat(w.canvas()->labels(), truth));
        // Errors: 1 where the mapped prediction equals the truth, 2 elsewhere.
        review->setLayer(Layer::Errors);
        const cv::Mat predicted = mapClusters(r->prediction, review->clusterToClass());
        const cv::Mat errors = w.canvas()->labels();
        for (int y = 0; y < 64; ++y)
            for (int x = 0; x < 64; ++x)
                QCOMPARE(int(errors.at<uchar>(y, x)),
                         predicted.at<uchar>(y, x) == r->groundTruth.at<uchar>(y, x) ? 1 : 2);
        // Keys switch layers.
        QTest::keyClick(&w, Qt::Key_3, Qt::AltModifier);
        QCOMPARE(review->layer(), Layer::Masks);
        QVERIFY(!review->metricsLabel()->text().isEmpty());
    }

    void pseudoLabelIsThetaMsVote()
    {
        MainWindow w;
        w.show();
        openRun(w);
        ReviewController* review = w.reviewController();
        DatasetOptions o;
        o.root = ds.toStdString();
        const Dataset d = Dataset::open(o);
        FeatureSettings s;
        s.resolution = 64;
        const FeatureCache features(QDir(run).filePath("cache").toStdString(),
                                    featureCacheKey(d, "filterbank", "", s));
        std::ifstream in(QDir(run).filePath("theta_m.json").toStdString());
        std::stringstream text;
        text << in.rdbuf();
        const Prototypes thetaM = prototypesFromJson(text.str());
        for (int index : {0, 3, 7}) {
            showIndex(review, index);
            const auto r = review->currentReview();
            QVERIFY(features.contains(r->id));
            const cv::Mat clusters = predictClusters(features.read(r->id), thetaM, r->masks.size());
            std::map<int, std::map<int, int>> votes;
            for (int y = 0; y < r->masks.rows; ++y)
                for (int x = 0; x < r->masks.cols; ++x)
                    ++votes[r->masks.at<uchar>(y, x)][clusters.at<std::int32_t>(y, x)];
            review->setLayer(Layer::PseudoLabel);
            const cv::Mat shown = w.canvas()->labels();
            int checked = 0;
            for (const auto& [mask, histogram] : votes) {
                if (mask == 0 || mask == 255)
                    continue;
                int winner = -1, most = -1;
                for (const auto& [cluster, n] : histogram)
                    if (n > most) { // ascending clusters: ties go to the lowest
                        most = n;
                        winner = cluster;
                    }
                const int cls = review->clusterToClass()[std::size_t(winner)];
                for (int y = 0; y < shown.rows; ++y)
                    for (int x = 0; x < shown.cols; ++x)
                        if (r->masks.at<uchar>(y, x) == mask)
                            QCOMPARE(int(shown.at<uchar>(y, x)), cls + 1);
                QCOMPARE(r->voteOf(mask)->cluster, winner);
                ++checked;
            }
            QVERIFY(checked > 0);
        }
        // A click on a mask shows its vote: winner, runner-up, margin, outline.
        const auto r = review->currentReview();
        QPoint pixel(-1, -1);
        for (int y = 0; y < r->masks.rows && pixel.x() < 0; ++y)
            for (int x = 0; x < r->masks.cols; ++x)
                if (r->masks.at<uchar>(y, x) > 0) {
                    pixel = QPoint(x, y);
                    break;
                }
        const int mask = review->inspectMask(pixel);
        QCOMPARE(mask, int(r->masks.at<uchar>(pixel.y(), pixel.x())));
        QCOMPARE(review->voteView()->vote().mask, mask);
        QVERIFY(review->voteView()->summary().contains(QString("Mask %1").arg(mask)));
    }

    void imageMetricsAreEvalsOnThatImage()
    {
        MainWindow w;
        w.show();
        openRun(w);
        ReviewController* review = w.reviewController();
        showIndex(review, 2);
        const auto r = review->currentReview();
        // A split holding only this image, evaluated by the CLI with theta_R.
        std::ofstream(QDir(ds).filePath("only2.txt").toStdString()) << "im2\n";
        const testing::CliRun eval = runCli({"eval", "--run", run, "--dataset", "folder", "--root",
                                             ds, "--split", "only2", "--theta", "r", "--json", "-q"});
        QVERIFY2(eval.exitCode == 0, qPrintable(eval.err));
        const nlohmann::json e = nlohmann::json::parse(eval.out.toStdString());
        const auto counts = e["confusion"].get<std::vector<std::int64_t>>();
        QCOMPARE(counts, r->counts.confusion.counts());
        ConfusionMatrix confusion(r->counts.confusion.clusters(), r->counts.confusion.classes());
        confusion.setCounts(counts);
        const auto [acc, miou] = byHand(confusion, review->clusterToClass());
        QCOMPARE(review->currentMetrics().accuracy, acc);
        QVERIFY(std::abs(review->currentMetrics().meanIoU - miou) < 1e-9);
    }

    void overrideMovesMetricsUndoRestoresExportFollows()
    {
        MainWindow w;
        w.show();
        openRun(w);
        ReviewController* review = w.reviewController();
        EvaluationWidget* evaluation = w.evaluationView();
        // The Evaluation dock says whose numbers these are: the review's run,
        // dataset, split and prediction.
        const ReviewPrediction prediction = review->prediction();
        QCOMPARE(evaluation->report().provenance.run, run.toStdString());
        QCOMPARE(evaluation->report().provenance.dataset, ds.toStdString());
        QCOMPARE(evaluation->report().provenance.theta, prediction.theta);
        QVERIFY(evaluation->report().provenance.crfKnown);
        QCOMPARE(evaluation->report().provenance.crf, prediction.crf);
        QVERIFY2(evaluation->provenanceLabel()->text().startsWith("run run · dataset ds · split "),
                 qPrintable(evaluation->provenanceLabel()->text()));
        const ConfusionMatrix total = evaluation->report().confusion;
        const EvaluationResult before = evaluation->report().result;
        const ImageMetrics imageBefore = review->currentMetrics();
        // Give cluster 0 the class it is not matched to.
        const int cluster = 0;
        const int newClass = (before.clusterToClass[0] + 1) % total.classes();
        QVERIFY(evaluation->overrideCluster(cluster, newClass));
        std::vector<int> match = before.clusterToClass;
        match[0] = newClass;
        const auto [acc, miou] = byHand(total, match);
        QCOMPARE(evaluation->report().result.accuracy, acc);
        QVERIFY(std::abs(evaluation->report().result.meanIoU - miou) < 1e-9);
        QCOMPARE(review->clusterToClass(), match);
        QVERIFY(evaluation->matchKindText(0).startsWith("override"));
        // The canvas follows: the prediction shows the new class.
        review->setLayer(Layer::Prediction);
        const auto r = review->currentReview();
        const cv::Mat shown = w.canvas()->labels();
        for (int y = 0; y < shown.rows; ++y)
            for (int x = 0; x < shown.cols; ++x)
                if (r->prediction.at<std::int32_t>(y, x) == cluster)
                    QCOMPARE(int(shown.at<uchar>(y, x)), newClass + 1);
        // Saved for the CLI.
        const RunMatch stored = readRunMatch(runMatchPath(run.toStdString()));
        QCOMPARE(stored.edits.overrides.at(cluster), newClass);
        // The export uses it: every pixel of cluster 0 is labelled newClass.
        const QString out = path("export");
        const testing::CliRun exported =
            runCli({"export", "--run", run, "--dataset", "folder", "--root", ds, "--theta", "r",
                    "--size", "prepared", "--out", out, "-q"});
        QVERIFY2(exported.exitCode == 0, qPrintable(exported.err + exported.out));
        const cv::Mat labels = cv::imread(QDir(out).filePath("labels/" + QString::fromStdString(r->id) + ".png").toStdString(),
                                          cv::IMREAD_UNCHANGED);
        QVERIFY(!labels.empty());
        QVERIFY(sameMat(labels, mapClusters(r->prediction, match)));

        // Undo restores the computed match and its numbers.
        evaluation->matchUndoStack()->undo();
        QCOMPARE(evaluation->report().result.accuracy, before.accuracy);
        QCOMPARE(evaluation->report().result.meanIoU, before.meanIoU);
        QCOMPARE(review->clusterToClass(), before.clusterToClass);
        QCOMPARE(review->currentMetrics().accuracy, imageBefore.accuracy);
        QVERIFY(readRunMatch(runMatchPath(run.toStdString())).edits.empty());
        // Merge and ignore, then undo both.
        QVERIFY(evaluation->setClusterIgnored(1, true));
        QCOMPARE(review->clusterToClass()[1], -1);
        QVERIFY(evaluation->matchKindText(1).startsWith("ignored"));
        QVERIFY(evaluation->mergeCluster(2, 0));
        QCOMPARE(review->clusterToClass()[2], review->clusterToClass()[0]);
        evaluation->matchUndoStack()->undo();
        evaluation->matchUndoStack()->undo();
        QCOMPARE(review->clusterToClass(), before.clusterToClass);
    }

    void exportDialogWritesWhatTheCliWrites()
    {
        MainWindow w;
        w.show();
        openRun(w);
        ReviewController* review = w.reviewController();
        QVERIFY(review->exportAction()->isEnabled());
        QVERIFY(w.evaluationView()->overrideCluster(0, (w.evaluationView()->computedResult().clusterToClass[0] + 1) % 3));
        showIndex(review, 1);
        review->setLayer(Layer::PseudoLabel);
        const auto [pixel, mask] = firstMaskPixel(*review->currentReview());
        QVERIFY(review->setMaskClass(mask, 2) || review->setMaskClass(mask, 1));
        QVERIFY(review->flushCorrections());

        const QString studioOut = path("export-studio"), cliOut = path("export-cli");
        PseudoLabelExportDialog dialog(run, DatasetOptions(), &w);
        dialog.setOutputFolder(studioOut);
        dialog.setPrediction("r", false);
        QSignalSpy finished(&dialog, &PseudoLabelExportDialog::exportFinished);
        QVERIFY(dialog.start());
        QVERIFY2(testing::waitNextOk(finished, testing::scaledTimeout(300000)),
                 qPrintable(dialog.summary()));
        const testing::CliRun cli = runCli({"export", "--run", run, "--dataset", "folder", "--root",
                                            ds, "--theta", "r", "--out", cliOut, "-q"});
        QVERIFY2(cli.exitCode == 0, qPrintable(cli.err));
        int compared = 0;
        for (QDirIterator it(QDir(cliOut).filePath("labels"), QDir::Files,
                             QDirIterator::Subdirectories);
             it.hasNext();) {
            const QString file = it.next();
            const QString relative = QDir(cliOut).relativeFilePath(file);
            QCOMPARE(bytesOf(QDir(studioOut).filePath(relative)), bytesOf(file));
            ++compared;
        }
        QCOMPARE(compared, 8);
        // The corrected image carries the correction.
        const cv::Mat labels = cv::imread(
            QDir(studioOut).filePath("labels/" + QString::fromStdString(review->currentReview()->id) + ".png").toStdString(),
            cv::IMREAD_UNCHANGED);
        QVERIFY(!labels.empty());

        // A folder with files: asked first; Cancel starts nothing, Replace rewrites.
        QStringList asked;
        dialog.setExistingQuestion([&](const QString& folder) {
            asked << folder;
            return asked.size() == 1 ? PseudoLabelExportDialog::ExistingChoice::Cancel
                                     : PseudoLabelExportDialog::ExistingChoice::Replace;
        });
        QVERIFY(!dialog.start());
        QVERIFY(dialog.start());
        QVERIFY(testing::waitNextOk(finished, testing::scaledTimeout(300000)));
        QCOMPARE(asked.size(), 2);
        QVERIFY(dialog.summary().contains("8 image(s) exported"));
        w.evaluationView()->matchUndoStack()->undo();
    }

    void correctionsInClassSpaceWithUndo()
    {
        MainWindow w;
        w.show();
        openRun(w);
        ReviewController* review = w.reviewController();
        showIndex(review, 6);
        review->setLayer(Layer::Prediction);
        LabelEditor* editor = w.labelEditor();
        editor->setEditMode(true);
        QVERIFY(w.canvas()->isEditingEnabled());
        const std::string id = review->currentReview()->id;
        const cv::Mat before = w.canvas()->labels().clone();
        // Reassign the segment under (2, 2) to class 1 (display id 2), then erase a disc to ignore.
        const int was = before.at<uchar>(2, 2);
        const int target = was == 2 ? 3 : 2;
        QVERIFY(editor->reassignSegment(QPoint(2, 2), target));
        cv::Mat correction = review->correctionOf(id);
        QCOMPARE(int(correction.at<uchar>(2, 2)), target - 1);
        const LabelCounts counts = correctedPixelCounts(correction);
        QVERIFY(counts[std::size_t(target - 1)] > 0);
        // Undo takes the correction back: no corrected pixel left.
        editor->undoStack(editor->shownPath())->undo();
        correction = review->correctionOf(id);
        QCOMPARE(cv::countNonZero(correction != CorrectionNone), 0);
        QVERIFY(sameMat(w.canvas()->labels(), before));
        // Such documents are stored by the review, never "unexported".
        QVERIFY(editor->unsavedImages().isEmpty());
        editor->setEditMode(false);
    }

    void projectRoundTrip()
    {
        const QString projectPath = path("review.primaps");
        Project saved;
        QByteArray correctionBytes;
        std::string correctedId;
        {
            MainWindow w;
            w.show();
            openRun(w);
            ReviewController* review = w.reviewController();
            EvaluationWidget* evaluation = w.evaluationView();
            QVERIFY(evaluation->overrideCluster(0, (evaluation->computedResult().clusterToClass[0] + 2) % 3));
            QVERIFY(evaluation->setClusterIgnored(2, true));
            ClassTable table = review->classTable();
            table.classes[1].name = "sphere";
            table.classes[1].colour = cv::Vec3b(10, 20, 30);
            review->setClassTable(table);
            showIndex(review, 4);
            review->setLayer(Layer::PseudoLabel);
            const auto [pixel, mask] = firstMaskPixel(*review->currentReview());
            QVERIFY(mask > 0);
            QVERIFY(review->setMaskClass(mask, 1) || review->setMaskClass(mask, 2));
            QVERIFY(review->hasPendingCorrections());
            correctedId = review->currentReview()->id;
            QVERIFY(w.projectController()->save(projectPath));
            QVERIFY(!review->hasPendingCorrections());
            const QString file = QString::fromStdString(review->correctionStore().path(correctedId));
            correctionBytes = bytesOf(file);
            QVERIFY(!correctionBytes.isEmpty());
            QVERIFY(countNonZero(review->correctionOf(correctedId) != CorrectionNone) > 0);
            saved = w.projectController()->currentProject();
            QCOMPARE(saved.currentImage, correctedId);
            QVERIFY(!saved.matchEdits.empty());
        }
        MainWindow w2;
        w2.show();
        QSignalSpy applied(w2.projectController(), &ProjectController::projectApplied);
        QVERIFY(w2.projectController()->open(projectPath));
        QVERIFY(applied.wait(300000));
        w2.reviewController()->job()->waitIdle();
        const Project reopened = w2.projectController()->currentProject();
        QVERIFY(reopened == saved);
        QVERIFY(w2.evaluationView()->matchEdits() == saved.matchEdits);
        QCOMPARE(w2.reviewController()->classTable().classes[1].name, std::string("sphere"));
        const QString file = QString::fromStdString(
            w2.reviewController()->correctionStore().path(correctedId));
        QCOMPARE(bytesOf(file), correctionBytes);
        QCOMPARE(w2.reviewController()->currentReview()->id, correctedId);
        // The corrected pixels show on the pseudo-label layer.
        w2.reviewController()->setLayer(Layer::PseudoLabel);
        const cv::Mat correction = w2.reviewController()->correctionOf(correctedId);
        const cv::Mat shown = w2.canvas()->labels();
        for (int y = 0; y < shown.rows; ++y)
            for (int x = 0; x < shown.cols; ++x)
                if (correction.at<uchar>(y, x) < CorrectionIgnore)
                    QCOMPARE(int(shown.at<uchar>(y, x)), correction.at<uchar>(y, x) + 1);
    }

    void crashRecoveryRestoresEveryEdit()
    {
        // A clean slate: no edits in the run folder, own settings and recovery folder.
        QFile::remove(QString::fromStdString(runMatchPath(run.toStdString())));
        QFile::remove(QString::fromStdString(runClassTablePath(run.toStdString())));
        QDir(QString::fromStdString(CorrectionStore::runFolder(run.toStdString()))).removeRecursively();
        const QString recovery = path("recovery");
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert("PRIMAPS_RECOVERY_DIR", recovery);
        env.insert("XDG_CONFIG_HOME", path("child-config"));
        env.insert("QT_QPA_PLATFORM", "offscreen");
        QProcess child;
        child.setProcessEnvironment(env);
        child.start(QCoreApplication::applicationFilePath(), {"--child", run});
        QVERIFY(child.waitForStarted());
        QVERIFY2(QTest::qWaitFor(
                     [&] {
                         child.waitForReadyRead(100);
                         return child.peek(4096).contains("EDITED");
                     },
                     300000),
                 qPrintable(QString::fromUtf8(child.readAllStandardError())));
        const QList<QByteArray> words = child.readAllStandardOutput().trimmed().split(' ');
        QCOMPARE(words.size(), 3);
        const int mask = words[2].toInt();
        // Past the autosave interval (1 s) the autosave holds the edits; then
        // the child dies without any chance to clean up.
        QVERIFY(QTest::qWaitFor(
            [&] {
                QDir d(recovery);
                return !d.entryList({"*.autosave"}, QDir::Files).isEmpty() &&
                       QDir(QString::fromStdString(CorrectionStore::runFolder(run.toStdString())))
                           .exists();
            },
            60000));
        QTest::qWait(1500); // one more interval: the newest edit is in too
        child.kill(); // SIGKILL
        QVERIFY(child.waitForFinished(10000));
        QCOMPARE(child.exitStatus(), QProcess::CrashExit);
        // The run folder's own copies are gone: what comes back comes from the autosave.
        QFile::remove(QString::fromStdString(runMatchPath(run.toStdString())));
        QFile::remove(QString::fromStdString(runClassTablePath(run.toStdString())));

        qputenv("PRIMAPS_RECOVERY_DIR", recovery.toLocal8Bit());
        MainWindow w;
        w.show();
        int asked = 0;
        w.projectController()->setRestoreQuestion([&](const Autosave& a) {
            ++asked;
            return !a.project.runDir.empty();
        });
        QSignalSpy applied(w.projectController(), &ProjectController::projectApplied);
        QVERIFY(w.projectController()->offerRecovery());
        QCOMPARE(asked, 1);
        QVERIFY(applied.wait(300000));
        w.reviewController()->job()->waitIdle();
        ReviewController* review = w.reviewController();
        EvaluationWidget* evaluation = w.evaluationView();
        QCOMPARE(evaluation->matchEdits().overrides.size(), std::size_t(1));
        QVERIFY(evaluation->matchEdits().overrides.count(kChildCluster));
        QCOMPARE(review->classTable().classes[2].name, std::string(kChildClassName));
        QCOMPARE(review->currentIndex(), kChildImage);
        const cv::Mat correction = review->correctionOf(review->currentReview()->id);
        QVERIFY(!correction.empty());
        const cv::Mat masks = review->currentReview()->masks;
        QVERIFY(cv::countNonZero(correction != CorrectionNone) > 0);
        for (int y = 0; y < masks.rows; ++y)
            for (int x = 0; x < masks.cols; ++x)
                if (correction.at<uchar>(y, x) != CorrectionNone)
                    QCOMPARE(int(masks.at<uchar>(y, x)), mask);
        // Restored edits are back in the run folder for the CLI.
        QVERIFY(!readRunMatch(runMatchPath(run.toStdString())).edits.empty());
        QVERIFY(QDir(recovery).entryList({"untitled-*"}, QDir::Files).isEmpty() ||
                QDir(recovery).entryList({"untitled-*"}, QDir::Files).size() <= 1);
        qputenv("PRIMAPS_RECOVERY_DIR", path("recovery-main").toLocal8Bit());
    }
};

/// The child studio of the crash-recovery test: opens the run, makes its edits,
/// says so on stdout and keeps running (autosaving) until it is killed.
int runChild(int argc, char** argv)
{
    QApplication app(argc, argv);
    const QString run = QString::fromLocal8Bit(argv[2]);
    QSettings().setValue(ProjectController::intervalSettingKey(), 1.0); // 1 s autosave
    MainWindow w;
    w.show();
    ReviewController* review = w.reviewController();
    QObject::connect(review, &ReviewController::metricsReady, &w, [&](bool ok) {
        if (!ok)
            qFatal("child: no metrics");
        EvaluationWidget* evaluation = w.evaluationView();
        const int cls = (evaluation->computedResult().clusterToClass[kChildCluster] + 1) % 3;
        evaluation->overrideCluster(kChildCluster, cls);
        ClassTable table = review->classTable();
        table.classes[2].name = kChildClassName;
        review->setClassTable(table);
        review->setLayer(Layer::PseudoLabel);
        review->selectIndex(kChildImage);
    });
    QObject::connect(review, &ReviewController::layerShown, &w, [&](bool ok) {
        if (!ok || review->currentIndex() != kChildImage || review->clusterToClass().empty())
            return;
        const auto [pixel, mask] = firstMaskPixel(*review->currentReview());
        if (!review->setMaskClass(mask, 0) && !review->setMaskClass(mask, 1))
            qFatal("child: no correction");
        std::printf("EDITED %d %d\n", kChildImage, mask);
        std::fflush(stdout);
    });
    review->openRun(run);
    return app.exec();
}

int main(int argc, char** argv)
{
    if (argc >= 3 && std::string(argv[1]) == "--child")
        return runChild(argc, argv);
    QApplication app(argc, argv);
    TestStudioReview test;
    QTEST_SET_MAIN_SOURCE_PATH
    return QTest::qExec(&test, argc, argv);
}
#include "tst_studio_review.moc"
