// SPDX-License-Identifier: MIT
// The review's files as the command line sees them, on a run fitted here with
// `primaps fit`: a review's per-image counts equal `primaps eval` on a split of
// that one image; the run's match.json with an override, classes.json and a
// correction reach `primaps export`'s labels and manifest.
#include "runs/classtable.h"
#include "labels/corrections.h"
#include "dataset/dataset.h"
#include "evaluation/evaluation.h"
#include "runs/matchedits.h"
#include "runs/runreview.h"
#include "testsupport.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <QTemporaryDir>
#include <QtTest>

using namespace primaps;
using nlohmann::json;
using primaps::testing::sameMat;

namespace {

primaps::testing::CliRun runCli(const QStringList& args)
{
    return primaps::testing::runProgram(PRIMAPS_CLI, args);
}

json readJson(const QString& path)
{
    std::ifstream in(path.toStdString());
    return json::parse(in);
}

double numberOrNaN(const json& v)
{
    return v.is_null() ? std::nan("") : v.get<double>();
}

} // namespace

class TestCliReview : public QObject
{
    Q_OBJECT

    QTemporaryDir tmp;
    QString ds, run;
    QStringList data;

    QString path(const QString& name) const { return QDir(tmp.path()).filePath(name); }
    Dataset dataset(const std::string& split = {}) const
    {
        DatasetOptions o;
        o.root = ds.toStdString();
        o.split = split;
        return Dataset::open(o);
    }

private slots:
    void initTestCase()
    {
        ds = path("ds");
        primaps::testing::writeDiscAndBoxDataset(ds, 6, 7);
        run = path("run");
        data = {"--dataset", "folder", "--root", ds};
        const auto fit = runCli(QStringList{"fit", "--out", run, "--epochs", "2", "--batch-size",
                                            "4", "--resolution", "64", "-q"} +
                                data);
        QVERIFY2(fit.exitCode == 0, qPrintable(fit.err));
    }

    void imageCountsEqualEvalOfThatImage()
    {
        std::ofstream(QDir(ds).filePath("one.txt").toStdString()) << "im2\n";
        for (const QString theta : {"m", "r"}) {
            const auto eval = runCli(QStringList{"eval", "--run", run, "--json", "-q", "--theta",
                                                 theta, "--split", "one"} +
                                     data);
            QVERIFY2(eval.exitCode == 0, qPrintable(eval.err));
            const json e = json::parse(eval.out.toStdString());
            RunReview review(run.toStdString(), dataset());
            const ImageCounts counts = review.counts(2, ReviewPrediction{theta.toStdString(), false});
            QCOMPARE(counts.id, std::string("im2"));
            QVERIFY(e["confusion"].get<std::vector<std::int64_t>>() == counts.confusion.counts());
            const ImageMetrics m = scoreImage(counts, evaluate(counts.confusion).clusterToClass);
            QVERIFY(std::abs(m.accuracy - numberOrNaN(e["acc"])) < 1e-9);
            QVERIFY(std::abs(m.meanIoU - numberOrNaN(e["miou"])) < 1e-9);
        }
    }

    void overrideClassesAndCorrectionsReachExport()
    {
        const std::string runDir = run.toStdString();
        RunReview review(runDir, dataset());
        const ReviewPrediction theta{"m", false}; // export's default prototypes
        ReviewCountsJob counting(review, theta);
        JobControl control;
        QCOMPARE(runJob(counting, control), JobState::Finished);

        RunMatch match;
        match.confusion = counting.counts().total();
        match.classNames = {"ground", "ball", "box"};
        match.theta = "m";
        const EvaluationResult computed = evaluate(match.confusion);
        match.edits.overrides[1] = (computed.clusterToClass[1] + 1) % 3;
        EditedMatch edited;
        evaluateWithEdits(match.confusion, match.edits, &edited);
        QVERIFY(edited.clusterToClass != computed.clusterToClass);
        writeRunMatch(runMatchPath(runDir), match);

        ClassTable classes = defaultClassTable({"ground", "ball", "box"});
        classes.classes[1].name = "sphere";
        classes.classes[1].colour = cv::Vec3b(9, 8, 7);
        writeClassTable(runClassTablePath(runDir), classes);

        const CorrectionStore store(CorrectionStore::runFolder(runDir));
        cv::Mat correction(64, 64, CV_8UC1, cv::Scalar(CorrectionNone));
        correction(cv::Rect(0, 0, 10, 6)).setTo(2);
        correction.at<std::uint8_t>(40, 40) = CorrectionIgnore;
        store.write("im0", correction);

        const QString out = path("ex");
        const auto r = runCli(QStringList{"export", "--run", run, "--out", out, "--size",
                                          "prepared"} +
                              data);
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY2(r.err.contains("using the run's"), qPrintable(r.err));
        QVERIFY2(r.err.contains("corrections: 1 image(s)"), qPrintable(r.err));

        for (std::size_t i = 0; i < review.dataset().size(); ++i) {
            const ImageReview layers = review.review(i, theta);
            cv::Mat expected = mapClusters(layers.prediction, edited.clusterToClass);
            if (layers.id == "im0")
                QCOMPARE(applyCorrection(expected, correction, 3, 255), std::int64_t(61));
            const cv::Mat written = cv::imread(
                QDir(out).filePath("labels/" + QString::fromStdString(layers.id) + ".png")
                    .toStdString(),
                cv::IMREAD_UNCHANGED);
            QVERIFY2(sameMat(written, expected), layers.id.c_str());
        }
        const json manifest = readJson(QDir(out).filePath("manifest.json"));
        QCOMPARE(manifest["classes"][1]["name"].get<std::string>(), std::string("sphere"));
        QCOMPARE(manifest["classes"][1]["colour"], json::array({9, 8, 7}));
        QCOMPARE(manifest["corrections"]["images"], json::array({"im0"}));
        QCOMPARE(manifest["images"][0]["corrected"], json(true));
        QVERIFY(!manifest["images"][1].contains("corrected"));
        QVERIFY(manifest["source"]["match"].get<std::string>().find("match.json") !=
                std::string::npos);

        // A changed correction makes the folder's export another one.
        correction.at<std::uint8_t>(50, 50) = 1;
        store.write("im0", correction);
        const auto again = runCli(QStringList{"export", "--run", run, "--out", out, "--size",
                                              "prepared"} +
                                  data);
        QCOMPARE(again.exitCode, 2);
        QVERIFY2(again.err.contains("'corrections'"), qPrintable(again.err));

        // A match made for other prototypes is left out, and the export says so.
        const auto thetaR = runCli(QStringList{"export", "--run", run, "--out", path("ex-r"),
                                               "--theta", "r", "--no-corrections"} +
                                   data);
        QVERIFY2(thetaR.exitCode == 0, qPrintable(thetaR.err));
        QVERIFY2(thetaR.err.contains("not using"), qPrintable(thetaR.err));
        QVERIFY(readJson(path("ex-r/manifest.json"))["corrections"].is_null());
    }
};

QTEST_GUILESS_MAIN(TestCliReview)
#include "tst_cli_review.moc"
