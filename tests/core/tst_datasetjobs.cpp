// SPDX-License-Identifier: MIT
// The per-image dataset stages (features, student views, masks, evaluation) on a
// small folder dataset with a tiny deterministic backbone; shards; failures.
#include "backbones/backbone.h"
#include "runs/datasetjobs.h"
#include "support/error.h"
#include "runs/fitrun.h"
#include "image/photometric.h"
#include "testsupport.h"

#include <filesystem>
#include <fstream>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <QTemporaryDir>
#include <QtTest>

using namespace primaps;
namespace fs = std::filesystem;

namespace {

// Mean colour and mean squared colour per 8x8 patch: cheap, deterministic, and
// enough to tell the two colours of the fixtures apart.
class PatchColourBackbone : public Backbone
{
public:
    std::string name() const override { return "patch-colour"; }
    int patchSize() const override { return 8; }
    int dim() const override { return 6; }
    float recommendedThreshold() const override { return 0.4f; }
    FeatureMap extract(const cv::Mat& rgb) override
    {
        ++calls;
        FeatureMap f(6, rgb.rows / 8, rgb.cols / 8);
        for (int y = 0; y < f.height; ++y)
            for (int x = 0; x < f.width; ++x) {
                const cv::Scalar m = cv::mean(rgb(cv::Rect(x * 8, y * 8, 8, 8)));
                for (int c = 0; c < 3; ++c) {
                    f.at(c, y, x) = float(m[c] / 255.0);
                    f.at(c + 3, y, x) = float(m[c] * m[c] / 65025.0);
                }
            }
        return f;
    }
    int calls = 0;
};

// Left half red (class 0), right half blue (class 1).
void writeSample(const fs::path& root, const std::string& stem, bool label)
{
    cv::Mat bgr(32, 32, CV_8UC3), labels(32, 32, CV_8UC1);
    for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x) {
            bgr.at<cv::Vec3b>(y, x) = x < 16 ? cv::Vec3b(20, 20, 230) : cv::Vec3b(230, 40, 20);
            labels.at<std::uint8_t>(y, x) = x < 16 ? 0 : 1;
        }
    QVERIFY(cv::imwrite((root / "images" / (stem + ".png")).string(), bgr));
    if (label)
        QVERIFY(cv::imwrite((root / "labels" / (stem + ".png")).string(), labels));
}

} // namespace

class TestDatasetJobs : public QObject
{
    Q_OBJECT

    QTemporaryDir tmp;
    fs::path root;
    fs::path cacheRoot;

private slots:
    void initTestCase()
    {
        root = fs::path(tmp.path().toStdString()) / "ds";
        cacheRoot = fs::path(tmp.path().toStdString()) / "cache";
        fs::create_directories(root / "images");
        fs::create_directories(root / "labels");
        for (int i = 0; i < 4; ++i)
            writeSample(root, "s" + std::to_string(i), i != 3);
        std::ofstream(root / "classes.txt") << "red\nblue\n";
    }

    void shards()
    {
        const Shard s = parseShard("1/3");
        QCOMPARE(s.index, 1);
        QCOMPARE(s.count, 3);
        QVERIFY(s.contains(4) && !s.contains(3));
        for (const char* bad : {"3/3", "a/b", "1/0", "1", "-1/2", "1/2x"})
            QVERIFY_THROWS_EXCEPTION(Error, parseShard(bad));
    }

    void featuresInShardsThenReused()
    {
        const Dataset d = Dataset::open({DatasetKind::Folder, root.string(), "", 0, false});
        PatchColourBackbone backbone;
        FeatureSettings settings;
        settings.resolution = 32;
        const FeatureCache cache(cacheRoot.string(),
                                 featureCacheKey(d, backbone.name(), "", settings));
        for (int i = 0; i < 2; ++i) {
            FeatureJob job(d, backbone, cache, settings, parseShard(std::to_string(i) + "/2"));
            JobControl control;
            QCOMPARE(runJob(job, control), JobState::Finished);
            QCOMPARE(job.report().items, std::size_t(2));
            QCOMPARE(job.report().computed, std::size_t(2));
            QCOMPARE(control.progress().stage, std::string("features"));
        }
        FeatureJob all(d, backbone, cache, settings);
        JobControl control;
        QCOMPARE(runJob(all, control), JobState::Finished);
        QCOMPARE(all.report().reused, std::size_t(4));
        QCOMPARE(backbone.calls, 4);
        QCOMPARE(cache.read("s0").width, 4);

        // Flip averaging and student views are other keys, never the same entries.
        FeatureSettings flip = settings;
        flip.flipAverage = true;
        FeatureSettings student = settings;
        student.studentViews = 2;
        QVERIFY(featureCacheKey(d, "patch-colour", "", flip).digest() !=
                featureCacheKey(d, "patch-colour", "", settings).digest());
        QVERIFY(featureCacheKey(d, "patch-colour", "", student).digest() !=
                featureCacheKey(d, "patch-colour", "", settings).digest());
    }

    void filterBankVersionInCacheKeyAndRunFile()
    {
        const Dataset d = Dataset::open({DatasetKind::Folder, root.string(), "", 0, false});
        FeatureSettings settings;
        const std::string v2 = featureCacheKey(d, "filterbank", "", settings).text();
        const std::string v1 = featureCacheKey(d, "filterbank-v1", "", settings).text();
        QVERIFY(v2 != v1);
        QVERIFY(v2.find("backbone=filterbank\nbackbone-version=2\n") != std::string::npos);
        // Version 1 keeps the key caches had before versions existed, so they still serve.
        QVERIFY(v1.find("backbone=filterbank\n") != std::string::npos);
        QVERIFY(v1.find("backbone-version") == std::string::npos);
        QCOMPARE(backboneVersion("filterbank"), 2);
        QCOMPARE(backboneVersion("filterbank-v1"), 1);
        QCOMPARE(backboneVersion("dino_vits8"), 0);

        // run.json: no version (written before versions existed) loads version 1.
        auto runWith = [&](const std::string& extra) {
            const fs::path dir = fs::path(tmp.path().toStdString()) / "run-version";
            fs::create_directories(dir);
            std::ofstream(dir / "run.json")
                << "{\"format\": \"primaps-run\", \"dataset\": \"folder\", \"root\": \""
                << root.string() << "\", \"classes\": 2, \"backbone\": \"filterbank\", " << extra
                << "\"resolution\": 32, \"threshold\": 0.6, \"method\": \"primaps-em\", "
                   "\"epochs\": 1, \"init_epochs\": 1, \"batch_size\": 2, \"seed\": \"0\", "
                   "\"learning_rate\": 0.005, \"ema_decay\": 0.98, \"ema_every\": 1}";
            return readFitRunFolder(dir.string()).settings.backbone;
        };
        QCOMPARE(runWith(""), std::string("filterbank-v1"));
        QCOMPARE(runWith("\"backbone_version\": 1, "), std::string("filterbank-v1"));
        QCOMPARE(runWith("\"backbone_version\": 2, "), std::string("filterbank"));
        try {
            runWith("\"backbone_version\": 9, ");
            QFAIL("an unknown filter bank version was accepted");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("version 9") != std::string::npos, e.what());
        }
        // Untrusted numbers: the file and the field are named, nothing converted with UB.
        EXPECT_ERROR_CONTAINING(runWith("\"backbone_version\": 1e300, "),
                                "run.json': field 'backbone_version' is not a whole number");
        EXPECT_ERROR_CONTAINING(runWith("\"checkpoint_every\": 2.5, "),
                                "run.json': field 'checkpoint_every' is not a whole number");
    }

    void studentViewsAndMasksFeedTheFit()
    {
        const Dataset d = Dataset::open({DatasetKind::Folder, root.string(), "", 0, false});
        PatchColourBackbone backbone;
        FeatureSettings settings;
        settings.resolution = 32;
        const CacheKey key = featureCacheKey(d, backbone.name(), "", settings);
        const FeatureCache features(cacheRoot.string(), key);
        FeatureJob plain(d, backbone, features, settings);
        JobControl c1;
        QCOMPARE(runJob(plain, c1), JobState::Finished);

        FeatureSettings studentSettings = settings;
        studentSettings.studentViews = 2;
        studentSettings.augmentationSeed = 7;
        const FeatureCache student(cacheRoot.string(),
                                   featureCacheKey(d, backbone.name(), "", studentSettings));
        FeatureJob views(d, backbone, student, studentSettings);
        JobControl c2;
        QCOMPARE(runJob(views, c2), JobState::Finished);
        QCOMPARE(views.report().computed, std::size_t(4));
        QVERIFY(student.contains(studentEntryId("s2", 0)));
        QVERIFY(student.contains(studentEntryId("s2", 1)));

        PrimapsParams params;
        const MaskCache masks(cacheRoot.string(), maskCacheKey(key, params, false));
        MaskJob maskJob(d, features, masks, settings, params, false);
        JobControl c3;
        QCOMPARE(runJob(maskJob, c3), JobState::Finished);
        QCOMPARE(maskJob.report().computed, std::size_t(4));
        const cv::Mat m = masks.read("s1");
        QCOMPARE(m.size(), cv::Size(32, 32)); // the label resolution
        double lo, hi;
        cv::minMaxLoc(m, &lo, &hi);
        QVERIFY(hi >= 1); // at least one proposal

        const CachedEmData data(d, features, masks, &student, 2);
        QCOMPARE(data.size(), std::size_t(4));
        QVERIFY(data.missing().empty());
        QVERIFY(data.hasStudentFeatures());
        // view 3 of 2 is view 1
        QCOMPARE(data.studentFeatures(1, 3).values, student.read(studentEntryId("s1", 1)).values);
        // Without the student cache the same items are complete, without student views.
        const CachedEmData plainData(d, features, masks);
        QVERIFY(!plainData.hasStudentFeatures());
        QVERIFY_THROWS_EXCEPTION(Error, plainData.studentFeatures(0, 0));
    }

    void evaluationCountsLabelledItemsOnly()
    {
        const Dataset d = Dataset::open({DatasetKind::Folder, root.string(), "", 0, false});
        PatchColourBackbone backbone;
        FeatureSettings settings;
        settings.resolution = 32;
        settings.flipAverage = true;
        const FeatureCache cache(cacheRoot.string(),
                                 featureCacheKey(d, backbone.name(), "", settings));
        // Prototype 0 = blue, prototype 1 = red: the matching must swap them.
        Prototypes p;
        p.classes = 2;
        p.dim = 6;
        p.gain = {1, 1};
        p.direction = {0.1f, 0.2f, 0.9f, 0.01f, 0.04f, 0.8f, 0.9f, 0.1f, 0.1f, 0.8f, 0.01f, 0.01f};
        EvaluationJob job(d, backbone, cache, settings, p, false);
        JobControl control;
        QCOMPARE(runJob(job, control), JobState::Finished);
        QCOMPARE(job.report().skipped, std::size_t(1)); // s3 has no labels
        QCOMPARE(job.report().computed, std::size_t(3));
        const EvaluationResult r = evaluate(job.confusion());
        QCOMPARE(r.pixels, std::int64_t(3 * 32 * 32));
        QCOMPARE(r.clusterToClass, (std::vector<int>{1, 0}));
        QVERIFY(r.accuracy > 90.0);
        QCOMPARE(backbone.calls, 6); // image + mirror image for each labelled item
    }

    void coldAndWarmCachePredictTheSame()
    {
        // The first prediction computes the features and stores them as fp16; it
        // must use those stored values, or the first evaluation of a split could
        // differ from every later one.
        const Dataset d = Dataset::open({DatasetKind::Folder, root.string(), "", 0, false});
        PatchColourBackbone backbone;
        FeatureSettings settings;
        settings.resolution = 32;
        const FeatureCache cache((fs::path(tmp.path().toStdString()) / "cold-warm").string(),
                                 featureCacheKey(d, backbone.name(), "", settings));
        Prototypes p;
        p.classes = 2;
        p.dim = 6;
        p.gain = {1, 1};
        p.direction = {0.1f, 0.2f, 0.9f, 0.01f, 0.04f, 0.8f, 0.9f, 0.1f, 0.1f, 0.8f, 0.01f, 0.01f};
        const ItemPrediction cold = predictItem(d, 0, backbone, cache, settings, p, false);
        const ItemPrediction warm = predictItem(d, 0, backbone, cache, settings, p, false);
        QVERIFY(!cold.featuresReused);
        QVERIFY(warm.featuresReused);
        QCOMPARE(cold.features.values.size(), warm.features.values.size());
        QVERIFY(cold.features.values == warm.features.values); // bitwise
        QCOMPARE(cv::countNonZero(cold.clusters != warm.clusters), 0);
    }

    void failuresAndStrictness()
    {
        const fs::path broken = fs::path(tmp.path().toStdString()) / "broken";
        fs::create_directories(broken / "images");
        writeSample(broken, "good", false);
        std::ofstream(broken / "images" / "bad.png") << "garbage";
        const Dataset d = Dataset::open({DatasetKind::Folder, broken.string(), "", 0, false});
        PatchColourBackbone backbone;
        FeatureSettings settings;
        settings.resolution = 32;
        const FeatureCache cache(cacheRoot.string(),
                                 featureCacheKey(d, backbone.name(), "", settings));
        FeatureJob lenient(d, backbone, cache, settings);
        JobControl c1;
        QCOMPARE(runJob(lenient, c1), JobState::Finished);
        QCOMPARE(lenient.report().computed, std::size_t(1));
        QCOMPARE(lenient.report().failures.size(), std::size_t(1));
        QCOMPARE(lenient.report().failures[0].path, (broken / "images" / "bad.png").string());
        FeatureJob strict(d, backbone, cache, settings, {}, true);
        JobControl c2;
        QCOMPARE(runJob(strict, c2), JobState::Failed);
        QVERIFY(c2.error().find("bad.png") != std::string::npos);
        // A canceled stage stops before the next item.
        FeatureJob canceled(d, backbone, cache, settings);
        JobControl c3;
        c3.cancel();
        QCOMPARE(runJob(canceled, c3), JobState::Canceled);
        QCOMPARE(canceled.report().reused + canceled.report().computed, std::size_t(0));
    }

    void imagesSmallerThanAPatchAreWarnedOf()
    {
        // A 5x3 image enlarged to the resolution gives features of made-up
        // pixels: the features stage and the evaluation name it, with its size.
        const fs::path small = fs::path(tmp.path().toStdString()) / "small";
        fs::create_directories(small / "images");
        fs::create_directories(small / "labels");
        writeSample(small, "normal", true);
        QVERIFY(cv::imwrite((small / "images" / "tiny.png").string(),
                            cv::Mat(3, 5, CV_8UC3, cv::Scalar(1, 2, 3))));
        QVERIFY(cv::imwrite((small / "labels" / "tiny.png").string(),
                            cv::Mat(3, 5, CV_8UC1, cv::Scalar(1))));
        std::ofstream(small / "classes.txt") << "red\nblue\n";
        const Dataset d = Dataset::open({DatasetKind::Folder, small.string(), "", 0, false});
        PatchColourBackbone backbone;
        FeatureSettings settings;
        settings.resolution = 32;
        const FeatureCache cache(cacheRoot.string(),
                                 featureCacheKey(d, backbone.name(), "", settings));
        FeatureJob features(d, backbone, cache, settings);
        JobControl control;
        QCOMPARE(runJob(features, control), JobState::Finished);
        QCOMPARE(features.report().computed, std::size_t(2));
        QCOMPARE(features.report().warnings.size(), std::size_t(1));
        const DatasetProblem& w = features.report().warnings[0];
        QCOMPARE(w.path, (small / "images" / "tiny.png").string());
        QVERIFY2(w.message.find("5x3 pixels: too small for a feature map, smaller than one "
                                "8-pixel patch") == 0,
                 w.message.c_str());
        const FeatureCache other(cacheRoot.string() + "-strict",
                                 featureCacheKey(d, backbone.name(), "", settings));
        FeatureJob strictJob(d, backbone, other, settings, {}, true);
        JobControl c2;
        QCOMPARE(runJob(strictJob, c2), JobState::Failed);
        QVERIFY2(c2.error().find("tiny.png") != std::string::npos, c2.error().c_str());

        Prototypes p;
        p.classes = 2;
        p.dim = 6;
        p.gain = {1, 1};
        p.direction = {1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0};
        const ItemPrediction prediction = predictItem(d, 1, backbone, cache, settings, p, false);
        QCOMPARE(prediction.warnings.size(), std::size_t(1));
        QVERIFY(prediction.warnings[0].find("5x3 pixels: too small") == 0);
        QCOMPARE(minimumResolution(8), 16);
        QCOMPARE(minimumResolution(14), 28);
    }

    void photometricAugmentation()
    {
        cv::Mat rgb(40, 48, CV_8UC3);
        cv::randu(rgb, 0, 255);
        const cv::Mat a = photometricAugment(rgb, 3);
        QCOMPARE(a.size(), rgb.size());
        QCOMPARE(a.type(), CV_8UC3);
        QCOMPARE(cv::norm(a, photometricAugment(rgb, 3), cv::NORM_INF), 0.0);
        QVERIFY(cv::norm(a, rgb, cv::NORM_L1) > 0); // the blur alone changes noise
        bool seedsDiffer = false;
        for (std::uint64_t seed = 4; seed < 10 && !seedsDiffer; ++seed)
            seedsDiffer = cv::norm(a, photometricAugment(rgb, seed), cv::NORM_INF) > 0;
        QVERIFY(seedsDiffer);
        QVERIFY_THROWS_EXCEPTION(Error, photometricAugment(cv::Mat(4, 4, CV_8UC1), 1));
    }
};

QTEST_APPLESS_MAIN(TestDatasetJobs)
#include "tst_datasetjobs.moc"
