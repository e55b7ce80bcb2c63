// SPDX-License-Identifier: MIT
// The Evaluation dock, offscreen: an `eval --json` file written here with known
// numbers must show exactly those numbers (headline, row-normalised heat map
// cells, IoU bars, match table); class names and colours edited in the table
// reach the plots and come back from the styles file; bad files and missing
// run folders end in the banner; a run folder fitted here is evaluated in the
// background and agrees with core's EvaluationJob. With
// PRIMAPS_EVALUATION_SCREENSHOT=FILE the loaded view is saved as a PNG.

#include "backbones/backbone.h"
#include "dataset/dataset.h"
#include "runs/evaluationreport.h"
#include "common/emptyplotcover.h"
#include "evaluate/evaluationwidget.h"
#include "dataset/featurecache.h"
#include "runs/fitrun.h"
#include "common/messagewidget.h"
#include "testsupport.h"

#include <cmath>
#include <fstream>
#include <string>
#include <qcustomplot.h>
#include <QSignalSpy>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>

using namespace primaps;

namespace {

// 4 clusters, 3 classes; cluster 3 joins class 0 by majority. Rows of
// `confusion` are clusters, columns classes.
const char* kEvalJson = R"({
    "acc": 62.5,
    "miou": 58.75,
    "per_class_iou": [75.0, null, 42.5],
    "class_names": ["road", "sky", "car"],
    "matching": [
        {"cluster": 0, "class": 2, "kind": "hungarian"},
        {"cluster": 1, "class": 0, "kind": "hungarian"},
        {"cluster": 2, "class": 1, "kind": "hungarian"},
        {"cluster": 3, "class": 0, "kind": "majority"}
    ],
    "pixels": 145,
    "clusters": 4,
    "classes": 3,
    "confusion": [10, 0, 30,
                  60, 5, 0,
                  0, 0, 10,
                  30, 0, 0],
    "crf": false,
    "theta": "m"
})";

void writeText(const QString& path, const char* text)
{
    std::ofstream(path.toStdString()) << text;
}

QString tickLabel(QCPAxis* axis, double key)
{
    const auto ticker = qSharedPointerDynamicCast<QCPAxisTickerText>(axis->ticker());
    return ticker ? ticker->ticks().value(key) : QString();
}

bool bannerShowsError(EvaluationWidget& view)
{
    return view.messageWidget()->hasError() && view.messageWidget()->isVisibleTo(&view);
}

} // namespace

class TestEvaluationView : public QObject
{
    Q_OBJECT

    QTemporaryDir tmp;

private slots:
    void initTestCase() { QVERIFY(tmp.isValid()); }

    void selectorFollowsTheResultsShown()
    {
        // The "with θ / CRF" selector is the next run's setting; after results
        // are loaded it shows theirs, and a different choice is said to be
        // for the next run, naming what the numbers shown were computed with.
        const QDir dir(tmp.path());
        writeText(dir.filePath("theta-m.json"), kEvalJson);
        std::string withR = kEvalJson;
        withR.replace(withR.find("\"theta\": \"m\""), 12, "\"theta\": \"r\"");
        withR.replace(withR.find("\"crf\": false"), 12, "\"crf\": true ");
        writeText(dir.filePath("theta-r.json"), withR.c_str());
        EvaluationWidget view;
        view.resize(1100, 760);
        view.show();
        view.setNextRunSettings("r", true);
        QVERIFY(!view.nextRunNote()->isVisibleTo(&view)); // nothing shown yet

        QVERIFY(view.openResults(dir.filePath("theta-m.json")));
        QCOMPARE(view.nextRunTheta(), QString("m"));
        QCOMPARE(view.nextRunCrf(), false);
        QVERIFY(!view.nextRunNote()->isVisibleTo(&view));

        view.setNextRunSettings("r", false);
        QVERIFY(view.nextRunNote()->isVisibleTo(&view));
        QCOMPARE(view.nextRunNote()->text(),
                 QString("for the next run; the results shown: θ_M, without CRF"));
        view.setNextRunSettings("m", false);
        QVERIFY(!view.nextRunNote()->isVisibleTo(&view));

        QVERIFY(view.openResults(dir.filePath("theta-r.json")));
        QCOMPARE(view.nextRunTheta(), QString("r"));
        QCOMPARE(view.nextRunCrf(), true);
        QVERIFY(!view.nextRunNote()->isVisibleTo(&view));
        QVERIFY2(view.provenanceLabel()->text().startsWith("θ_R (trained) · with CRF"),
                 qPrintable(view.provenanceLabel()->text()));
    }

    void showsTheNumbersOfTheFile()
    {
        const QString path = QDir(tmp.path()).filePath("known.json");
        writeText(path, kEvalJson);
        EvaluationWidget view;
        view.resize(1100, 760);
        view.show();
        // Nothing loaded: both plots say so instead of showing empty axes.
        QCoreApplication::processEvents();
        const QList<EmptyPlotCover*> covers = view.findChildren<EmptyPlotCover*>();
        QCOMPARE(covers.size(), 2);
        for (EmptyPlotCover* cover : covers)
            QTRY_VERIFY(cover->isVisible());
        QVERIFY(view.openResults(path));
        for (EmptyPlotCover* cover : covers)
            QTRY_VERIFY(!cover->isVisible());
        QVERIFY(!view.messageWidget()->isVisibleTo(&view));

        const QString headline = view.headline()->text();
        QVERIFY2(headline.contains("Acc 62.5 %"), qPrintable(headline));
        QVERIFY2(headline.contains("mIoU 58.8 %"), qPrintable(headline));
        QVERIFY2(headline.contains("4 clusters → 3 classes"), qPrintable(headline));
        // The CLI's file records the prototypes and the CRF, not the run, the
        // dataset or the split, and the view says so instead of leaving it open.
        QVERIFY(view.provenanceLabel()->isVisible());
        QCOMPARE(view.provenanceLabel()->text(),
                 QString("θ_M (EMA) · without CRF · not recorded in the file: run, dataset, split"));

        // Columns: clusters by matched class (1 and 3 -> road, 2 -> sky, 0 -> car).
        QCOMPARE(view.columnClusters(), QVector<int>({1, 3, 2, 0}));
        // Row totals: road 100, sky 5, car 40; cells are count / row total.
        const double expected[3][4] = {{0.6, 0.3, 0.0, 0.1},
                                       {1.0, 0.0, 0.0, 0.0},
                                       {0.0, 0.0, 0.25, 0.75}};
        QCPColorMapData* data = view.confusionMap()->data();
        QCOMPARE(data->keySize(), 4);
        QCOMPARE(data->valueSize(), 3);
        for (int row = 0; row < 3; ++row)
            for (int col = 0; col < 4; ++col)
                QVERIFY2(std::abs(data->cell(col, row) - expected[row][col]) < 1e-12,
                         qPrintable(QString("cell %1,%2 = %3").arg(row).arg(col).arg(
                             data->cell(col, row))));
        QCOMPARE(tickLabel(view.confusionPlot()->yAxis, 0), QString("road"));
        QCOMPARE(tickLabel(view.confusionPlot()->xAxis, 1), QString("3"));
        const QString tip = view.cellToolTip(0, 0);
        QVERIFY2(tip.contains("60 of 100 pixels") && tip.contains("60.0 %"), qPrintable(tip));
        QVERIFY(view.cellToolTip(3, 0).isEmpty());

        // Bars: one per class, at the class's position, the file's IoU as height.
        QCOMPARE(view.iouBars(0)->data()->size(), 1);
        QCOMPARE(view.iouBars(0)->data()->at(0)->mainValue(), 75.0);
        QCOMPARE(view.iouBars(0)->data()->at(0)->mainKey(), 0.0);
        QCOMPARE(view.iouBars(1)->data()->size(), 0); // null: no pixels, no bar
        QCOMPARE(view.iouBars(2)->data()->at(0)->mainValue(), 42.5);
        QCOMPARE(tickLabel(view.iouPlot()->xAxis, 1), QString("sky (no pixels)"));
        view.setSortedBars(true);
        QCOMPARE(view.barKey(0), 0.0);
        QCOMPARE(view.barKey(2), 1.0);
        QCOMPARE(view.barKey(1), 2.0);
        QCOMPARE(view.iouBars(2)->data()->at(0)->mainKey(), 1.0);
        QCOMPARE(tickLabel(view.iouPlot()->xAxis, 1), QString("car"));
        view.setSortedBars(false);
        QCOMPARE(view.barKey(2), 2.0);

        // Match table: cluster, class, kind, IoU of the class, pixel share.
        QTableWidget* table = view.matchTable();
        QCOMPARE(table->rowCount(), 4);
        const QStringList rows[4] = {{"0", "car", "one-to-one", "42.5", "27.6"},
                                     {"1", "road", "one-to-one", "75.0", "44.8"},
                                     {"2", "sky", "one-to-one", "n/a", "6.9"},
                                     {"3", "road", "majority", "75.0", "20.7"}};
        for (int r = 0; r < 4; ++r) {
            const QStringList got = {table->item(r, EvaluationWidget::ClusterColumn)->text(),
                                     table->item(r, EvaluationWidget::ClassColumn)->text(),
                                     table->item(r, EvaluationWidget::KindColumn)->text(),
                                     table->item(r, EvaluationWidget::IoUColumn)->text(),
                                     table->item(r, EvaluationWidget::ShareColumn)->text()};
            QCOMPARE(got, rows[r]);
        }

        if (qEnvironmentVariableIsSet("PRIMAPS_EVALUATION_SCREENSHOT")) {
            QTest::qWait(50);
            QVERIFY(view.grab().save(qEnvironmentVariable("PRIMAPS_EVALUATION_SCREENSHOT")));
        }
    }

    void editedNamesAndColoursReachThePlotsAndTheFile()
    {
        const QString path = QDir(tmp.path()).filePath("styled.json");
        writeText(path, kEvalJson);
        QFile::remove(classStylesPath(path));
        {
            EvaluationWidget view;
            view.show();
            QVERIFY(view.openResults(path));
            QSignalSpy changed(&view, &EvaluationWidget::classStylesChanged);
            // Rename in the table as the inline editor commits: row 1 is cluster 1 -> road.
            QTableWidgetItem* name = view.matchTable()->item(1, EvaluationWidget::ClassColumn);
            name->setText("road surface");
            QCOMPARE(changed.size(), 1);
            QCOMPARE(view.className(0), QString("road surface"));
            QCOMPARE(tickLabel(view.iouPlot()->xAxis, view.barKey(0)), QString("road surface"));
            QCOMPARE(tickLabel(view.confusionPlot()->yAxis, 0), QString("road surface"));
            // Every cluster of that class follows (cluster 3 by majority).
            QCOMPARE(view.matchTable()->item(3, EvaluationWidget::ClassColumn)->text(),
                     QString("road surface"));

            view.setClassColor(2, QColor("#ff0000"));
            QCOMPARE(view.iouBars(2)->brush().color(), QColor("#ff0000"));
            QCOMPARE(view.matchTable()->item(0, EvaluationWidget::ColorColumn)->text(),
                     QString("#ff0000"));
            QVERIFY(QFileInfo::exists(classStylesPath(path)));

            // An empty name restores the file's name.
            view.setClassName(1, "  ");
            QCOMPARE(view.className(1), QString("sky"));
        }
        QCOMPARE(classStylesPath(path), QDir(tmp.path()).filePath("styled.classes.json"));
        EvaluationWidget reopened;
        QVERIFY(reopened.openResults(path));
        QCOMPARE(reopened.className(0), QString("road surface"));
        QCOMPARE(reopened.classColor(2), QColor("#ff0000"));
        QCOMPARE(reopened.className(1), QString("sky"));
        QCOMPARE(reopened.iouBars(2)->brush().color(), QColor("#ff0000"));
        QCOMPARE(tickLabel(reopened.iouPlot()->xAxis, reopened.barKey(0)), QString("road surface"));
    }

    void badFilesShowAnErrorBanner()
    {
        EvaluationWidget view;
        view.show();
        const QString good = QDir(tmp.path()).filePath("good.json");
        writeText(good, kEvalJson);
        QVERIFY(view.openResults(good));

        const QString broken = QDir(tmp.path()).filePath("broken.json");
        writeText(broken, "{ \"acc\": 62.5, ");
        QVERIFY(!view.openResults(broken));
        QVERIFY(bannerShowsError(view));
        QVERIFY2(view.messageWidget()->text().contains("broken.json"),
                 qPrintable(view.messageWidget()->text()));
        // The view keeps the results it had.
        QCOMPARE(view.resultsPath(), good);
        QVERIFY(view.headline()->text().contains("Acc 62.5 %"));

        view.messageWidget()->dismiss();
        const QString shape = QDir(tmp.path()).filePath("shape.json");
        writeText(shape, R"({"acc": 1, "miou": 1, "per_class_iou": [1, 2], "matching": [],
                             "clusters": 2, "classes": 2, "confusion": [1, 2, 3]})");
        QVERIFY(!view.openResults(shape));
        QVERIFY(bannerShowsError(view));
        QVERIFY2(view.messageWidget()->text().contains("confusion"),
                 qPrintable(view.messageWidget()->text()));

        view.messageWidget()->dismiss();
        QVERIFY(!view.openResults(QDir(tmp.path()).filePath("absent.json")));
        QVERIFY(bannerShowsError(view));
    }

    void missingRunFolderShowsAnError()
    {
        EvaluationWidget view;
        view.show();
        QVERIFY(view.evaluateRun(QDir(tmp.path()).filePath("no-such-run")));
        QVERIFY(view.waitForEvaluation(60000));
        QVERIFY(bannerShowsError(view));
        QVERIFY2(view.messageWidget()->text().contains("no run.json"),
                 qPrintable(view.messageWidget()->text()));
        QVERIFY(!view.hasReport());
    }

    void evaluatesAFittedRunInTheBackground()
    {
        // A tiny folder dataset and a fit on it, run synchronously here.
        QDir root(tmp.path());
        const QString ds = root.filePath("ds");
        primaps::testing::writeDiscAndBoxDataset(ds, 6, 1);
        DatasetOptions options;
        options.kind = DatasetKind::Folder;
        options.root = ds.toStdString();
        FitRunSettings s;
        s.runDir = root.filePath("run").toStdString();
        s.cacheDir = root.filePath("cache").toStdString();
        s.resolution = 64;
        s.maskCrf = false;
        s.em.epochs = 2;
        s.em.initEpochs = 1;
        s.em.batchSize = 3;
        s.em.pcaImages = 6;
        {
            DatasetFitJob fit(Dataset::open(options), s);
            JobControl control;
            QCOMPARE(int(runJob(fit, control)), int(JobState::Finished));
        }

        // The reference: core's job, as `primaps eval` runs it.
        FittedRun run = openFittedRun(s.runDir, "m");
        const Dataset dataset = Dataset::open(options);
        const FeatureCache cache(
            run.cacheDir, featureCacheKey(dataset, run.backbone->name(), run.weights, run.settings));
        // Features computed now and features read back from the fp16 cache can
        // move a pixel across a decision boundary, so fill the cache first and
        // compare runs that both read it.
        {
            EvaluationJob warm(dataset, *run.backbone, cache, run.settings, run.prototypes, false);
            JobControl control;
            QCOMPARE(int(runJob(warm, control)), int(JobState::Finished));
        }
        EvaluationJob reference(dataset, *run.backbone, cache, run.settings, run.prototypes, false);
        JobControl control;
        QCOMPARE(int(runJob(reference, control)), int(JobState::Finished));
        QCOMPARE(reference.report().reused, reference.report().items);
        const EvaluationResult expected = evaluate(reference.confusion());

        EvaluationWidget view;
        view.show();
        QSignalSpy running(&view, &EvaluationWidget::evaluatingChanged);
        QVERIFY(view.evaluateRun(root.filePath("run")));
        QVERIFY(view.isEvaluating());
        QVERIFY(!view.evaluateRun(root.filePath("run"))); // one at a time, and says why
        QVERIFY2(view.messageWidget()->text().contains("running"),
                 qPrintable(view.messageWidget()->text()));
        view.messageWidget()->dismiss();
        view.chooseRun(); // says why instead of opening a folder dialog
        QVERIFY2(view.messageWidget()->text().contains("running"),
                 qPrintable(view.messageWidget()->text()));
        QVERIFY(view.waitForEvaluation(240000));
        QVERIFY2(!view.messageWidget()->hasError(), qPrintable(view.messageWidget()->text()));
        QVERIFY(view.hasReport());
        QCOMPARE(running.size(), 2);
        QCOMPARE(view.report().confusion.counts(), reference.confusion().counts());
        QCOMPARE(view.report().result.accuracy, expected.accuracy);
        QCOMPARE(view.report().result.clusterToClass, expected.clusterToClass);
        QCOMPARE(view.className(1), QString("ball"));
        // Saved beside the run, in the CLI's format, so it opens again.
        QCOMPARE(view.resultsPath(), root.filePath("run/eval_theta_m.json"));
        const EvaluationReport saved = readEvaluationFile(view.resultsPath().toStdString());
        QCOMPARE(saved.confusion.counts(), reference.confusion().counts());
        QCOMPARE(saved.result.meanIoU, expected.meanIoU);

        // Which run, data, prototypes and CRF: in the view and in the file, so
        // that the file opened later says the same.
        const QString expectedLine =
            QStringLiteral("run run · dataset ds · split %1 · θ_M (EMA) · without CRF")
                .arg(QString::fromStdString(runEvaluationSplit(run.folder).empty()
                                                ? std::string("all")
                                                : runEvaluationSplit(run.folder)));
        QCOMPARE(view.provenanceLabel()->text(), expectedLine);
        QVERIFY(view.provenanceLabel()->toolTip().contains(
            QDir::toNativeSeparators(root.filePath("run"))));
        QCOMPARE(saved.provenance.run, s.runDir);
        QCOMPARE(saved.provenance.dataset, options.root);
        QCOMPARE(saved.provenance.theta, std::string("m"));
        QVERIFY(saved.provenance.crfKnown && !saved.provenance.crf);
        EvaluationWidget reopened;
        QVERIFY(reopened.openResults(view.resultsPath()));
        QCOMPARE(reopened.provenanceLabel()->text(), expectedLine);

        // The scores were on the images of the fit, and the view says so (as
        // `primaps eval` does).
        QVERIFY2(view.messageWidget()->text().contains("no val.txt"),
                 qPrintable(view.messageWidget()->text()));
        // Once the folder lists val.txt, Evaluate scores it (core's default split),
        // and says that the run, fitted on every image, has seen those too.
        QFile list(QDir(ds).filePath("val.txt"));
        QVERIFY(list.open(QIODevice::WriteOnly));
        list.write("im0\nim1\n");
        list.close();
        view.messageWidget()->dismiss();
        QVERIFY(view.evaluateRun(root.filePath("run")));
        QVERIFY(view.waitForEvaluation(240000));
        QVERIFY(view.hasReport());
        QCOMPARE(view.report().provenance.split, std::string("val"));
        QVERIFY2(view.messageWidget()->text().contains("no train.txt"),
                 qPrintable(view.messageWidget()->text()));
        QFile::remove(QDir(ds).filePath("val.txt"));
    }

    void namesWhatAnEvaluationIsOf()
    {
        EvaluationProvenance from;
        from.split = "val";
        from.theta = "r";
        from.crfKnown = true;
        from.crf = true;
        QCOMPARE(
            EvaluationWidget::provenanceText(from),
            QString(
                "split val · θ_R (trained) · with CRF · not recorded in the file: run, dataset"));
        // A results file in a run's folder is that run's even when it does not say so.
        QDir root(tmp.path());
        QVERIFY(root.mkpath("older-run"));
        writeText(root.filePath("older-run/run.json"), "{}");
        writeText(root.filePath("older-run/eval.json"), kEvalJson);
        EvaluationWidget view;
        QVERIFY(view.openResults(root.filePath("older-run/eval.json")));
        QVERIFY2(view.provenanceLabel()->text().startsWith("run older-run · "),
                 qPrintable(view.provenanceLabel()->text()));
    }
};

QTEST_MAIN(TestEvaluationView)
#include "tst_evaluationview.moc"
