// SPDX-License-Identifier: MIT
// Reviewing a fitted run: a run is fitted here (filterbank backbone) on a
// generated labelled folder dataset; the pseudo-label of every mask is checked
// against theta_M's majority vote computed here from the caches, per-image
// counts against an evaluation of a one-image split, the split counts job
// (store, reopen, resume), the error map, and the match edits against metrics
// recomputed by hand from the confusion matrix.
#include "support/atomicfile.h"
#include "backbones/backbone.h"
#include "runs/datasetjobs.h"
#include "em/emfit.h"
#include "evaluation/evaluation.h"
#include "runs/evaluationreport.h"
#include "dataset/defaultsplit.h"
#include "dataset/featurecache.h"
#include "runs/fitrun.h"
#include "runs/matchedits.h"
#include "labels/pseudolabelexport.h"
#include "runs/runreview.h"
#include "testsupport.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <QTemporaryDir>
#include <QtTest>

using namespace primaps;
namespace fs = std::filesystem;
using primaps::testing::sameMat;

namespace {

constexpr int kImages = 8;

// Acc and mIoU of `confusion` under `match` (-1 = no class), straight from the
// definitions: Acc = sum of matched diagonal / valid pixels; IoU_j = TP / (TP +
// FP + FN) over classes with any pixel. Written independently of scoreMatch().
std::pair<double, double> byHand(const ConfusionMatrix& confusion, const std::vector<int>& match)
{
    const int k = confusion.clusters(), n = confusion.classes();
    std::int64_t total = 0, correct = 0;
    std::vector<std::int64_t> tp(std::size_t(n), 0), fp(std::size_t(n), 0), fn(std::size_t(n), 0);
    for (int c = 0; c < k; ++c)
        for (int j = 0; j < n; ++j) {
            const std::int64_t v = confusion.at(c, j);
            total += v;
            const int p = match[std::size_t(c)];
            if (p == j) {
                correct += v;
                tp[std::size_t(j)] += v;
            } else {
                fn[std::size_t(j)] += v;
                if (p >= 0)
                    fp[std::size_t(p)] += v;
            }
        }
    double sum = 0;
    int defined = 0;
    for (int j = 0; j < n; ++j) {
        const std::int64_t u = tp[std::size_t(j)] + fp[std::size_t(j)] + fn[std::size_t(j)];
        if (u > 0) {
            sum += 100.0 * double(tp[std::size_t(j)]) / double(u);
            ++defined;
        }
    }
    return {100.0 * double(correct) / double(total), sum / defined};
}

} // namespace

class TestReview : public QObject
{
    Q_OBJECT

    QTemporaryDir tmp;
    std::string root, runDir;

    Dataset openSplit(const std::string& split = {}) const
    {
        DatasetOptions o;
        o.root = root;
        o.split = split;
        return Dataset::open(o);
    }

private slots:
    void initTestCase()
    {
        QVERIFY(tmp.isValid());
        const QDir d(tmp.path());
        root = d.filePath("ds").toStdString();
        runDir = d.filePath("run").toStdString();
        primaps::testing::writeDiscAndBoxDataset(d.filePath("ds"), kImages, 40);
        FitRunSettings s;
        s.backbone = "filterbank";
        s.runDir = runDir;
        s.resolution = 64;
        s.em.epochs = 2;
        s.em.batchSize = 4;
        // More clusters than classes: the match has Hungarian and majority parts.
        s.em.classes = 6;
        DatasetFitJob fit(openSplit(), s);
        JobControl control;
        QCOMPARE(runJob(fit, control), JobState::Finished);
        QVERIFY2(control.error().empty(), control.error().c_str());
    }

    // The pseudo-label of every mask is theta_M's majority cluster over the
    // mask's pixels, computed here from the fit's own caches.
    void pseudoLabelIsThetaMsMajorityVote()
    {
        RunReview review(runDir, openSplit());
        const FitRunFolder folder = readFitRunFolder(runDir);
        const Dataset dataset = openSplit();
        FeatureSettings fs;
        fs.resolution = 64;
        const CacheKey featureKey = featureCacheKey(dataset, "filterbank", "", fs);
        const FeatureCache features(folder.settings.cacheDir, featureKey);
        PrimapsParams params;
        params.threshold = folder.settings.threshold;
        const MaskCache masks(folder.settings.cacheDir,
                              maskCacheKey(featureKey, params, folder.settings.maskCrf));
        const Prototypes thetaM = prototypesFromJson(readFile(runDir + "/theta_m.json"));
        int checkedMasks = 0;
        for (std::size_t i = 0; i < dataset.size(); ++i) {
            const std::string& id = dataset.items()[i].id;
            const ImageReview r = review.review(i, ReviewPrediction{});
            QVERIFY(r.masksFromCache);
            const cv::Mat m = masks.read(id);
            QVERIFY(sameMat(r.masks, m));
            const FeatureMap f = features.read(id);
            const cv::Mat pred = predictClusters(f, thetaM, m.size());
            std::map<int, std::vector<std::int64_t>> hist;
            for (int y = 0; y < m.rows; ++y)
                for (int x = 0; x < m.cols; ++x) {
                    const int id8 = m.at<std::uint8_t>(y, x);
                    if (id8 == 0 || id8 == 255)
                        continue;
                    auto& h = hist[id8];
                    h.resize(std::size_t(thetaM.classes), 0);
                    ++h[std::size_t(pred.at<std::int32_t>(y, x))];
                }
            QCOMPARE(r.votes.size(), hist.size());
            for (const auto& [maskId, h] : hist) {
                int best = 0;
                for (int c = 1; c < thetaM.classes; ++c)
                    if (h[std::size_t(c)] > h[std::size_t(best)])
                        best = c;
                const MaskVote* v = r.voteOf(maskId);
                QVERIFY(v);
                QCOMPARE(v->cluster, best);
                QVERIFY(v->votes == h);
                QVERIFY(v->margin >= 0);
                if (v->runnerUp >= 0)
                    QCOMPARE(v->margin, h[std::size_t(best)] - h[std::size_t(v->runnerUp)]);
                ++checkedMasks;
            }
            for (int y = 0; y < m.rows; ++y)
                for (int x = 0; x < m.cols; ++x) {
                    const int id8 = m.at<std::uint8_t>(y, x);
                    const int expected = id8 == 0 || id8 == 255 ? -1 : r.voteOf(id8)->cluster;
                    QCOMPARE(r.pseudoLabel.at<std::int32_t>(y, x), expected);
                }
            QCOMPARE(r.photo.size(), r.masks.size());
            QCOMPARE(r.groundTruth.size(), r.masks.size());
            QCOMPARE(r.prediction.size(), r.masks.size());
        }
        QVERIFY(checkedMasks >= int(dataset.size()));
    }

    // One image's counts equal the evaluation (EvaluationJob, what `primaps
    // eval` runs) of a split holding only that image; its metrics equal
    // evaluate() / scoreMatch() of that evaluation.
    void imageCountsEqualOneImageEvaluation()
    {
        std::ofstream(root + "/single.txt") << "im3\n";
        const Dataset single = openSplit("single");
        QCOMPARE(single.size(), std::size_t(1));
        for (const std::string theta : {"m", "r"})
            for (const bool crf : {false, true}) {
                RunReview review(runDir, openSplit());
                const ReviewPrediction p{theta, crf};
                const ImageCounts counts = review.counts(3, p);
                QCOMPARE(counts.id, std::string("im3"));
                QVERIFY(counts.labelled);
                const FittedRun run = openFittedRun(runDir, theta);
                const FeatureCache cache(
                    run.cacheDir, featureCacheKey(single, "filterbank", "", run.settings));
                EvaluationJob eval(single, *run.backbone, cache, run.settings, run.prototypes,
                                   crf);
                JobControl control;
                QCOMPARE(runJob(eval, control), JobState::Finished);
                QVERIFY(eval.confusion().counts() == counts.confusion.counts());
                const EvaluationResult own = evaluate(eval.confusion());
                const ImageMetrics m = scoreImage(counts, own.clusterToClass);
                QCOMPARE(m.accuracy, own.accuracy);
                QCOMPARE(m.meanIoU, own.meanIoU);
                QCOMPARE(m.pixels, std::int64_t(64 * 64));
                double shares = 0;
                for (double s : m.classShare)
                    shares += s;
                QVERIFY(std::abs(shares - 100.0) < 1e-9);
                // The layers' own counts agree with counts().
                QVERIFY(review.review(3, p).counts == counts);
            }
    }

    // Evaluate and Review score a run on one split, by core's defaultSplit(): a
    // folder's val.txt when it lists one (whichever split the run was fitted on),
    // "val" of a hold-out, the whole folder otherwise; a validation split the run
    // was fitted with wins.
    void defaultSplitOfARun()
    {
        FitRunFolder folder = readFitRunFolder(runDir);
        QVERIFY(folder.dataset.split.empty()); // fitted on the whole folder
        QCOMPARE(runEvaluationSplit(folder), std::string()); // no val.txt: evaluated whole

        // A folder that lists train.txt and val.txt, fitted on train: val.
        QTemporaryDir listed;
        QVERIFY(listed.isValid());
        const std::string listedRoot = listed.path().toStdString();
        std::ofstream(listedRoot + "/train.txt") << "im0\n";
        folder.dataset.root = listedRoot;
        folder.dataset.split = "train";
        QCOMPARE(runEvaluationSplit(folder), std::string()); // no val.txt yet
        std::ofstream(listedRoot + "/val.txt") << "im1\n";
        QCOMPARE(runEvaluationSplit(folder), std::string("val"));
        folder.dataset.split.clear(); // fitted whole, evaluated on val.txt all the same
        QCOMPARE(runEvaluationSplit(folder), std::string("val"));

        // A held-out folder is evaluated on its held-out part, lists or not.
        folder.dataset.root = root;
        folder.dataset.split = "train";
        folder.dataset.holdout = 0.25;
        QCOMPARE(runEvaluationSplit(folder), std::string("val"));
        folder.dataset.holdout = 0.0;

        folder.dataset.kind = DatasetKind::Cityscapes;
        QCOMPARE(runEvaluationSplit(folder), std::string("val"));
        folder.settings.validationSplit = "held-out";
        QCOMPARE(runEvaluationSplit(folder), std::string("held-out"));
    }

    // Whether the evaluated split holds images the fit saw, by the split names.
    void fitOverlapOfTheSplits()
    {
        QTemporaryDir listed;
        QVERIFY(listed.isValid());
        const QString dir = listed.path();
        primaps::testing::writeDiscAndBoxDataset(dir, 4, 7);
        std::ofstream((dir + "/train.txt").toStdString()) << "im0\nim1\n";
        std::ofstream((dir + "/val.txt").toStdString()) << "im2\nim3\n";
        DatasetOptions fitted;
        fitted.root = dir.toStdString();
        auto evaluated = [&](const std::string& split) {
            DatasetOptions o;
            o.root = dir.toStdString();
            o.split = split;
            return Dataset::open(o);
        };
        // Fitted on every image: val.txt's images were in the fit.
        QCOMPARE(fitOverlap(fitted, evaluated("val")), FitOverlap::FittedWhole);
        QCOMPARE(fitOverlap(fitted, evaluated("")), FitOverlap::EvaluatedWhole);
        fitted.split = "train";
        QCOMPARE(fitOverlap(fitted, evaluated("val")), FitOverlap::None);
        QCOMPARE(fitOverlap(fitted, evaluated("train")), FitOverlap::SameSplit);
        QCOMPARE(fitOverlap(fitted, evaluated("all")), FitOverlap::EvaluatedWhole);
        // The same folder spelt another way is the same folder.
        fitted.root = dir.toStdString() + "/.";
        QCOMPARE(fitOverlap(fitted, evaluated("train")), FitOverlap::SameSplit);
        // Another dataset's images are not the fit's.
        fitted.root = root;
        fitted.split.clear();
        QCOMPARE(fitOverlap(fitted, evaluated("val")), FitOverlap::None);
    }

    void errorMapMarksRightWrongAndUnknown()
    {
        cv::Mat predicted = (cv::Mat_<std::int32_t>(1, 5) << 0, 1, 2, -1, 1);
        cv::Mat truth = (cv::Mat_<std::uint8_t>(1, 5) << 0, 2, 255, 1, 1);
        const cv::Mat e = errorMap(predicted, truth, 3);
        const cv::Mat expected = (cv::Mat_<std::uint8_t>(1, 5) << ErrorCorrect, ErrorWrong,
                                  ErrorNoTruth, ErrorUnpredicted, ErrorCorrect);
        QVERIFY(sameMat(e, expected));
        QVERIFY(cv::countNonZero(errorMap(predicted, cv::Mat(), 3) != ErrorNoTruth) == 0);
        EXPECT_ERROR_CONTAINING(errorMap(predicted, cv::Mat(2, 5, CV_8UC1), 3), "size");
    }

    // The split's counts: their sum is the split's evaluation; they are stored,
    // read back by a reopened review, and a second job reuses every image.
    void splitCountsAreStoredAndResumed()
    {
        const std::string file = splitCountsPath(runDir, "", ReviewPrediction{});
        fs::remove(file);
        {
            RunReview review(runDir, openSplit());
            QVERIFY(!loadSplitCounts(review, ReviewPrediction{}));
            ReviewCountsJob job(review, ReviewPrediction{});
            JobControl control;
            int reports = 0;
            control.setProgressCallback([&](const JobProgress& p) {
                ++reports;
                if (p.step == 3)
                    control.cancel(); // keeps what is done
            });
            QCOMPARE(runJob(job, control), JobState::Canceled);
            QCOMPARE(job.counts().images.size(), std::size_t(3));
            QVERIFY(fs::exists(file));
        }
        RunReview review(runDir, openSplit());
        const std::optional<SplitCounts> partial = loadSplitCounts(review, ReviewPrediction{});
        QVERIFY(partial);
        QCOMPARE(partial->images.size(), std::size_t(3));
        ReviewCountsJob job(review, ReviewPrediction{});
        JobControl control;
        QCOMPARE(runJob(job, control), JobState::Finished);
        QCOMPARE(job.report().reused, std::size_t(3));
        QCOMPARE(job.report().computed, std::size_t(kImages - 3));
        const std::optional<SplitCounts> all = loadSplitCounts(review, ReviewPrediction{});
        QVERIFY(all);
        QCOMPARE(all->images.size(), std::size_t(kImages));
        QVERIFY(all->images == job.counts().images);
        QCOMPARE(all->images.front().id, std::string("im0"));

        const FittedRun run = openFittedRun(runDir, "r");
        const Dataset dataset = openSplit();
        const FeatureCache cache(run.cacheDir,
                                 featureCacheKey(dataset, "filterbank", "", run.settings));
        EvaluationJob eval(dataset, *run.backbone, cache, run.settings, run.prototypes, false);
        JobControl evalControl;
        QCOMPARE(runJob(eval, evalControl), JobState::Finished);
        QVERIFY(all->total().counts() == eval.confusion().counts());

        // Counts of other prototypes are not served.
        QVERIFY(!loadSplitCounts(review, ReviewPrediction{"m", false}));
        // A damaged file is treated as missing.
        writeFileAtomic(file, "{not json");
        QVERIFY(!loadSplitCounts(review, ReviewPrediction{}));
        EXPECT_ERROR_CONTAINING(parseSplitCounts("{\"format\": 1}", "x.json"), "'x.json'");
        // A damaged size cannot make the reader allocate clusters x classes per image.
        std::string huge = splitCountsToJson(*all);
        const std::size_t number = huge.find("\"clusters\":") + 11;
        huge.replace(number, huge.find(',', number) - number, "99999");
        EXPECT_ERROR_CONTAINING(parseSplitCounts(huge, "x.json"), "'x.json': fields 'clusters'");
        // Numbers a plain get<int>() would convert with undefined behaviour or wrap.
        const std::string good = splitCountsToJson(*all);
        auto withClusters = [&](const std::string& value) {
            std::string text = good;
            const std::size_t at = text.find("\"clusters\":") + 11;
            return text.replace(at, text.find(',', at) - at, value);
        };
        for (const char* value : {"2.5", "1e300", "\"3\"", "4294967299"})
            EXPECT_ERROR_CONTAINING(parseSplitCounts(withClusters(value), "x.json"),
                                    "'x.json': field 'clusters' is not a whole number from");
        // A negative confusion index (read as size_t it was 2^64 - 1, caught by luck).
        std::string negative = good;
        const std::size_t cell = negative.find("\"confusion\":[[") + 14;
        negative.replace(cell, negative.find(',', cell) - cell, "-1");
        EXPECT_ERROR_CONTAINING(parseSplitCounts(negative, "x.json"),
                                "'x.json': image 'im0': a confusion cell's index is not a whole "
                                "number from 0 to");
    }

    // Overrides, merges and ignores change Acc and mIoU exactly as recomputed by
    // hand from the confusion matrix; no edits give evaluate()'s numbers.
    void matchEditsRecomputeMetricsByHand()
    {
        RunReview review(runDir, openSplit());
        ReviewCountsJob job(review, ReviewPrediction{});
        JobControl control;
        QCOMPARE(runJob(job, control), JobState::Finished);
        const ConfusionMatrix confusion = job.counts().total();
        const EvaluationResult computed = evaluate(confusion);
        const EvaluationResult none = evaluateWithEdits(confusion, MatchEdits{});
        QCOMPARE(none.accuracy, computed.accuracy);
        QCOMPARE(none.meanIoU, computed.meanIoU);
        QVERIFY(none.matched == computed.matched);

        const int k = confusion.clusters();
        QVERIFY(k >= 3);
        MatchEdits edits;
        edits.overrides[0] = (computed.clusterToClass[0] + 1) % 3;
        std::vector<int> hand = computed.clusterToClass;
        hand[0] = edits.overrides[0];
        EditedMatch m;
        EvaluationResult r = evaluateWithEdits(confusion, edits, &m);
        QVERIFY(m.clusterToClass == hand);
        QCOMPARE(m.kinds[0], MatchEntryKind::Override);
        QCOMPARE(m.computedClass[0], computed.clusterToClass[0]);
        auto [acc, miou] = byHand(confusion, hand);
        QCOMPARE(r.accuracy, acc);
        QCOMPARE(r.meanIoU, miou);
        QVERIFY(r.accuracy != computed.accuracy || r.meanIoU != computed.meanIoU);

        edits.merges[1] = 0; // cluster 1 takes cluster 0's (overridden) class
        edits.ignored.insert(2);
        hand[1] = hand[0];
        hand[2] = -1;
        r = evaluateWithEdits(confusion, edits, &m);
        QVERIFY(m.clusterToClass == hand);
        QCOMPARE(m.kinds[1], MatchEntryKind::Merged);
        QCOMPARE(m.mergedInto[1], 0);
        QCOMPARE(m.kinds[2], MatchEntryKind::Ignored);
        std::tie(acc, miou) = byHand(confusion, hand);
        QCOMPARE(r.accuracy, acc);
        QCOMPARE(r.meanIoU, miou);
        QCOMPARE(k, 6);
        QVERIFY(std::count(m.kinds.begin(), m.kinds.end(), MatchEntryKind::Majority) >= 1);

        // Per image, the same rule (the sum of the images is the split).
        for (const ImageCounts& image : job.counts().images) {
            const ImageMetrics im = scoreImage(image, hand);
            std::tie(acc, miou) = byHand(image.confusion, hand);
            QCOMPARE(im.accuracy, acc);
            QCOMPARE(im.meanIoU, miou);
        }

        // A value type: copies compare equal; undo is assigning the old value.
        const MatchEdits copy = edits;
        QVERIFY(copy == edits);
        edits.overrides.clear();
        QVERIFY(copy != edits);

        EXPECT_ERROR_CONTAINING(evaluateWithEdits(confusion, MatchEdits{{{k, 0}}, {}, {}}),
                                "cluster " + std::to_string(k));
        EXPECT_ERROR_CONTAINING(evaluateWithEdits(confusion, MatchEdits{{{0, 3}}, {}, {}}),
                                "class 3");
        EXPECT_ERROR_CONTAINING(evaluateWithEdits(confusion, MatchEdits{{}, {{0, 1}, {1, 0}}, {}}),
                                "cycle");
        EXPECT_ERROR_CONTAINING(evaluateWithEdits(confusion, MatchEdits{{}, {{0, 0}}, {}}),
                                "itself");
    }

    // The export job the CLI and the studio share: a refused request exports
    // nothing; an accepted one writes every image and the manifest.
    void exportJobRefusesOrExports()
    {
        FittedRun run = openFittedRun(runDir, "m");
        const Dataset dataset = openSplit();
        PseudoLabelExportRequest request;
        request.settings.outDir = QDir(tmp.path()).filePath("export").toStdString();
        request.match = ExportMatchSource::File;
        request.matchFile = QDir(tmp.path()).filePath("missing.json").toStdString();
        {
            PseudoLabelExportJob job(run, dataset, request);
            JobControl control;
            QCOMPARE(runJob(job, control), JobState::Failed);
            QVERIFY(job.refused());
            QVERIFY(control.error().find("missing.json") != std::string::npos);
            QVERIFY(!job.exporter());
            QVERIFY(!fs::exists(request.settings.outDir));
        }
        request.match = ExportMatchSource::Auto;
        std::vector<std::string> log;
        PseudoLabelExportJob job(run, dataset, request);
        job.setLogCallback([&](const std::string& line) { log.push_back(line); });
        JobControl control;
        QCOMPARE(runJob(job, control), JobState::Finished);
        QVERIFY(!job.refused());
        QVERIFY(job.exporter() && job.exporter()->mapped());
        QCOMPARE(job.report().computed, std::size_t(kImages));
        QCOMPARE(job.listed(), std::size_t(kImages));
        QVERIFY(!log.empty() && log.front().find("Hungarian") != std::string::npos);
        QVERIFY(fs::exists(request.settings.outDir + "/labels/im0.png"));

        // A damaged match.json in the run is named, not skipped silently.
        writeFileAtomic(runMatchPath(runDir), "{\"clusters\": 6");
        PseudoLabelExportJob damaged(run, dataset, request);
        JobControl again;
        QCOMPARE(runJob(damaged, again), JobState::Failed);
        QVERIFY(damaged.refused());
        QVERIFY2(again.error().find("match.json': not JSON") != std::string::npos,
                 again.error().c_str());
        fs::remove(runMatchPath(runDir));
    }

    // RUN_DIR/match.json: round trip, readable as a plain evaluation (what
    // `export --match` reads), hostile files named.
    void runMatchFileRoundTrip()
    {
        ConfusionMatrix confusion(4, 3);
        confusion.setCounts({50, 2, 1, 3, 40, 0, 0, 5, 30, 9, 1, 2});
        RunMatch match;
        match.confusion = confusion;
        match.edits.overrides[3] = 1;
        match.edits.merges[2] = 1;
        match.edits.ignored.insert(0);
        match.classNames = {"ground", "ball", "box"};
        match.theta = "r";
        match.crf = true;
        match.split = "val";
        const std::string path = QDir(tmp.path()).filePath("match.json").toStdString();
        writeRunMatch(path, match);
        const RunMatch back = readRunMatch(path);
        QVERIFY(back == match);
        // The plain evaluation reader sees the edited match.
        const EvaluationReport plain = readEvaluationFile(path);
        EditedMatch m;
        const EvaluationResult r = evaluateWithEdits(confusion, match.edits, &m);
        QVERIFY(plain.result.clusterToClass == m.clusterToClass);
        QCOMPARE(plain.result.accuracy, r.accuracy);
        QCOMPARE(plain.result.clusterToClass[0], -1);

        std::string text = readFile(path);
        const std::string bad = std::string(text).replace(text.find("\"merged\""), 8, "\"fused\"");
        EXPECT_ERROR_CONTAINING(parseRunMatch(bad, "m.json"), "unknown match kind 'fused'");
        EXPECT_ERROR_CONTAINING(parseRunMatch("[]", "m.json"), "'m.json'");
        EXPECT_ERROR_CONTAINING(parseRunMatch("{\"clusters\": 2}", "m.json"), "'m.json'");
        // A float where a cluster goes: 1e300 converted to int is undefined behaviour.
        std::string huge = text;
        huge.replace(huge.find("\"cluster\": ") + 11, 1, "1e300");
        EXPECT_ERROR_CONTAINING(parseRunMatch(huge, "m.json"),
                                "'m.json': a matching entry's 'cluster' is not a whole number");
    }
};

QTEST_GUILESS_MAIN(TestReview)
#include "tst_review.moc"
