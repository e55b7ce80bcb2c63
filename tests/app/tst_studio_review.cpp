// SPDX-License-Identifier: MIT
// Reviewing a fitted run in the studio: a run fitted here with the CLI on a
// small generated labelled dataset is opened in the real main window; every
// layer renders, the pseudo-label of each mask is theta_M's majority vote
// computed here independently, the image's metrics are `primaps eval`'s on that
// image, and an override moves Acc/mIoU exactly as the confusion counts say,
// undo restores them, and the override reaches `primaps export`.
#include "canvaswidget.h"
#include "datasetbrowserwidget.h"
#include "datasetjobs.h"
#include "emfit.h"
#include "evaluationwidget.h"
#include "featurecache.h"
#include "mainwindow.h"
#include "maskvotewidget.h"
#include "matchedits.h"
#include "reviewcontroller.h"
#include "reviewjob.h"
#include "testsupport.h"

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <QLabel>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>
#include <QUndoStack>
#include <sstream>

using namespace primaps;
using primaps::testing::sameMat;

namespace {

using Layer = ReviewController::Layer;

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
        QVERIFY(testing::waitNextOk(opened, 120000));
        QVERIFY(testing::waitNextOk(metrics, 300000));
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
        ds = path("ds");
        for (int i = 0; i < 8; ++i)
            testing::writeDiscAndBoxSample(QDir(ds).filePath(QString("images/im%1.png").arg(i)),
                                           QDir(ds).filePath(QString("labels/im%1.png").arg(i)),
                                           unsigned(11 + i));
        std::ofstream(QDir(ds).filePath("classes.txt").toStdString()) << "ground\nball\nbox\n";
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
};

QTEST_MAIN(TestStudioReview)
#include "tst_studio_review.moc"
