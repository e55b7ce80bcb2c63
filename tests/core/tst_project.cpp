// SPDX-License-Identifier: MIT
// The files that keep a review's work: the class table (and the older sidecar it
// folds in), the corrections store and the project file with its autosave;
// round trips byte for byte and hostile files with clear errors.
#include "support/atomicfile.h"
#include "support/jsontext_p.h"
#include "runs/classtable.h"
#include "labels/corrections.h"
#include "runs/project.h"
#include "testsupport.h"

#include <cstdlib>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <QTemporaryDir>
#include <QtTest>

using namespace primaps;
namespace fs = std::filesystem;
using primaps::testing::sameMat;

namespace {

Project sampleProject(const std::string& folder)
{
    Project p;
    p.hasDataset = true;
    p.dataset.kind = DatasetKind::Cityscapes;
    p.dataset.root = folder + "/data/cityscapes";
    p.dataset.split = "val";
    p.runDir = folder + "/runs/dino";
    p.backbone = "dino-vits8";
    p.checkpoint = "/opt/weights/dino_deitsmall8_pretrain.pth";
    p.checkpointSha256 = std::string(64, 'a');
    p.parameters.resolution = 320;
    p.parameters.threshold = 0.35f;
    p.parameters.maskCrf = false;
    p.parameters.theta = "m";
    p.parameters.predictionCrf = true;
    p.classes = defaultClassTable({"road", "sidewalk", "car"});
    p.classes.classes[1].name = "pavement";
    p.classes.classes[2].colour = cv::Vec3b(1, 2, 3);
    p.matchEdits.overrides[4] = 2;
    p.matchEdits.merges[5] = 4;
    p.matchEdits.ignored.insert(6);
    p.correctionsDir = CorrectionStore::runFolder(p.runDir);
    p.currentImage = "frankfurt/frankfurt_000000_000294";
    return p;
}

} // namespace

class TestProject : public QObject
{
    Q_OBJECT

    QTemporaryDir tmp;
    std::string dir() const { return tmp.path().toStdString(); }

private slots:
    void classTableRoundTripAndLegacySidecar()
    {
        ClassTable t = defaultClassTable({"ground", "", "box"});
        QCOMPARE(t.classes[1].name, std::string("class 1"));
        QVERIFY(t.classes[0].colour != t.classes[1].colour);
        t.classes[2].name = "crate";
        t.classes[2].colour = cv::Vec3b(0x12, 0xab, 0xff);
        QVERIFY(parseClassTable(classTableToJson(t), "t.json") == t);
        QVERIFY(classTableToJson(t).find("\"#12abff\"") != std::string::npos);

        // The run folder's table wins; without it the older sidecar is folded in once.
        const std::string run = dir() + "/run";
        fs::create_directories(run);
        const std::string sidecar = dir() + "/eval.classes.json";
        writeFileAtomic(sidecar, "{\"format\": \"primaps-class-styles\", \"classes\": [ {\"id\": 1, \"name\": \"ball\", \"color\": \"#ff0000\"}, {\"id\": 9, \"name\": \"far away\"}]}");
        const ClassTable defaults = defaultClassTable({"ground", "b", "box"});
        bool folded = false;
        ClassTable loaded = loadRunClassTable(run, defaults, sidecar, &folded);
        QVERIFY(folded);
        QCOMPARE(loaded.size(), 3);
        QCOMPARE(loaded.classes[1].name, std::string("ball"));
        QVERIFY(loaded.classes[1].colour == cv::Vec3b(255, 0, 0));
        QVERIFY(loaded.classes[0] == defaults.classes[0]);
        writeClassTable(runClassTablePath(run), t);
        loaded = loadRunClassTable(run, defaults, sidecar, &folded);
        QVERIFY(!folded);
        QVERIFY(loaded == t);
        QVERIFY(loadRunClassTable(dir() + "/nowhere", defaults) == defaults);

        EXPECT_ERROR_CONTAINING(parseClassTable("{", "c.json"), "'c.json': not JSON");
        EXPECT_ERROR_CONTAINING(parseClassTable("{\"format\": \"x\", \"classes\": []}", "c.json"),
                                "not a class table");
        EXPECT_ERROR_CONTAINING(
            parseClassTable("{\"format\": \"primaps-class-table\", \"version\": 1, \"classes\": [ {\"id\": 0, \"name\": \"a\", \"colour\": \"red\"}]}",
                            "c.json"),
            "classes[0]: field 'colour'");
        EXPECT_ERROR_CONTAINING(
            parseClassTable("{\"format\": \"primaps-class-table\", \"version\": 1, \"classes\": [ {\"id\": 1, \"name\": \"a\", \"colour\": \"#000000\"}]}",
                            "c.json"),
            "class 0 is missing");
        EXPECT_ERROR_CONTAINING(
            parseClassTable("{\"format\": \"primaps-class-table\", \"version\": 1, \"classes\": [ {\"id\": 99999999, \"name\": \"a\", \"colour\": \"#000000\"}]}",
                            "c.json"),
            "out of range");
        EXPECT_ERROR_CONTAINING(
            parseClassTable("{\"format\": \"primaps-class-table\", \"version\": 7, \"classes\": []}",
                            "c.json"),
            "newer");
    }

    void correctionsStoreMirrorsIdsAndCounts()
    {
        const CorrectionStore store(dir() + "/corr");
        QVERIFY(store.keys().empty());
        cv::Mat predicted(4, 6, CV_8UC1, cv::Scalar(0));
        cv::Mat edited = predicted.clone();
        edited(cv::Rect(0, 0, 2, 2)).setTo(2);
        edited.at<std::uint8_t>(3, 5) = 255; // erased to ignore
        const cv::Mat c = correctionFromEdit(predicted, edited);
        QCOMPARE(c.at<std::uint8_t>(0, 0), std::uint8_t(2));
        QCOMPARE(c.at<std::uint8_t>(3, 5), CorrectionIgnore);
        QCOMPARE(c.at<std::uint8_t>(2, 2), CorrectionNone);
        store.write("aachen/aachen_000001", c);
        store.write("top", c);
        QVERIFY(fs::exists(dir() + "/corr/aachen/aachen_000001.png"));
        QCOMPARE(store.keys(), (std::vector<std::string>{"aachen/aachen_000001", "top"}));
        QVERIFY(sameMat(store.read("aachen/aachen_000001"), c));
        const LabelCounts counts = correctedPixelCounts(c);
        QCOMPARE(counts[2], std::int64_t(4));
        QCOMPARE(counts[CorrectionIgnore], std::int64_t(1));
        QCOMPARE(counts[CorrectionNone], std::int64_t(0));
        QCOMPARE(store.totalCounts()[2], std::int64_t(8));

        cv::Mat ids(4, 6, CV_32SC1, cv::Scalar(1));
        QCOMPARE(applyCorrection(ids, c, 3, -1), std::int64_t(5));
        QCOMPARE(ids.at<std::int32_t>(1, 1), 2);
        QCOMPARE(ids.at<std::int32_t>(3, 5), -1);
        QCOMPARE(ids.at<std::int32_t>(2, 2), 1);
        EXPECT_ERROR_CONTAINING(applyCorrection(ids, c, 2, -1, "x.png"), "'x.png': class 2");
        cv::Mat small(2, 2, CV_32SC1);
        EXPECT_ERROR_CONTAINING(applyCorrection(small, c, 3, -1, "x.png"), "6x4");
        // A correction file someone replaced by a colour picture is named, not used.
        const cv::Mat colour(4, 6, CV_8UC3, cv::Scalar(1, 2, 3));
        QVERIFY(cv::imwrite(store.path("top"), colour));
        EXPECT_ERROR_CONTAINING(store.read("top"),
                                "top.png': a correction must be a single-channel 8-bit image");

        const std::string before = store.digest();
        store.write("top", cv::Mat(4, 6, CV_8UC1, cv::Scalar(CorrectionNone))); // nothing left
        QVERIFY(!store.contains("top"));
        QVERIFY(store.digest() != before);
        for (const std::string bad : {"../x", "/abs", "", "a/./b", "a\\b"})
            EXPECT_ERROR_CONTAINING(store.path(bad), "cannot name a correction");
        writeFileAtomic(store.path("broken"), "not a png");
        EXPECT_ERROR_CONTAINING(store.read("broken"), "broken.png");
        QCOMPARE(CorrectionStore::projectFolder("/p/my.primaps"), std::string("/p/my.corrections"));
    }

    // save -> open gives the same project; the corrections it points to are
    // untouched byte for byte; paths inside the project folder stay relative.
    void projectRoundTrip()
    {
        const std::string folder = dir() + "/proj";
        fs::create_directories(folder);
        const Project p = sampleProject(folder);
        const CorrectionStore store(p.correctionsDir);
        cv::Mat c(8, 8, CV_8UC1, cv::Scalar(CorrectionNone));
        c.at<std::uint8_t>(3, 3) = 1;
        store.write("frankfurt/frankfurt_000000_000294", c);
        const std::string correctionBytes = readFile(store.path("frankfurt/frankfurt_000000_000294"));

        const std::string path = folder + "/review.primaps";
        writeProject(path, p);
        const std::string text = readFile(path);
        QVERIFY(text.find("\"runs/dino\"") != std::string::npos); // relative
        QVERIFY(text.find("/opt/weights/") != std::string::npos); // outside: absolute
        const Project back = readProject(path);
        QVERIFY(back == p);
        QCOMPARE(projectToJson(back, path), text);
        QCOMPARE(readFile(CorrectionStore(back.correctionsDir)
                              .path("frankfurt/frankfurt_000000_000294")),
                 correctionBytes);

        // Moving the folder keeps the project's own paths working.
        const std::string moved = dir() + "/moved";
        fs::rename(folder, moved);
        const Project after = readProject(moved + "/review.primaps");
        QCOMPARE(after.runDir, moved + "/runs/dino");
        QCOMPARE(after.checkpoint, p.checkpoint);

        Project loose;
        loose.images = {moved + "/a.png", "/elsewhere/b.jpg"};
        loose.backbone = "filterbank";
        loose.correctionsDir = CorrectionStore::projectFolder(moved + "/loose.primaps");
        writeProject(moved + "/loose.primaps", loose);
        QVERIFY(readProject(moved + "/loose.primaps") == loose);
    }

    void hostileProjectFilesAreNamed()
    {
        const std::string path = dir() + "/bad.primaps";
        const Project p = sampleProject(dir());
        const std::string good = projectToJson(p, path);
        auto with = [&](const std::string& from, const std::string& to) {
            std::string t = good;
            const std::size_t at = t.find(from);
            if (at == std::string::npos)
                qFatal("fixture text '%s' not found", from.c_str());
            return t.replace(at, from.size(), to);
        };
        const std::vector<std::pair<std::string, std::string>> cases = {
            {"{", "not JSON"},
            {"[]", "not a project file"},
            {with("\"primaps-project\"", "\"primaps-run\""), "field 'format'"},
            {with("\"version\": 1", "\"version\": 99"), "newer"},
            {with("\"version\": 1", "\"version\": \"1\""), "field 'version' must be an integer"},
            // 2^32 + 1 would wrap to version 1 if it were cut to int unchecked.
            {with("\"version\": 1", "\"version\": 4294967297"),
             "field 'version' is out of range"},
            {with("\"kind\": \"cityscapes\"", "\"kind\": \"imagenet\""), "field 'dataset.kind'"},
            {with(std::string(64, 'a'), "abc"), "field 'backbone.sha256'"},
            {with("\"theta\": \"m\"", "\"theta\": \"x\""), "field 'parameters.theta'"},
            {with("\"threshold\": 0.3", "\"threshold\": 7, \"x\": 0.3"),
             "field 'parameters.threshold'"},
            {with("\"mask_crf\": false", "\"mask_crf\": 0"), "field 'parameters.mask_crf'"},
            {with("\"into\": 4", "\"into\": 5"), "field 'match_edits.merges[0]'"},
            {with("\"class\": 2", "\"class\": 12"), "field 'match_edits.overrides'"},
            {with("\"current_image\"", "\"current_img\""), "field 'current_image' is missing"},
            {with("\"id\": 1", "\"id\": 0"), "appears twice"},
        };
        for (const auto& [text, needle] : cases) {
            writeFileAtomic(path, text);
            const std::string message = primaps::testing::errorOf([&] { readProject(path); });
            QVERIFY2(message.find(needle) != std::string::npos &&
                         message.find("bad.primaps") != std::string::npos,
                     qPrintable(QString::fromStdString("expected '" + needle + "', got '" +
                                                       message + "'")));
        }
        EXPECT_ERROR_CONTAINING(readProject(dir() + "/missing.primaps"), "missing.primaps");
    }

    // Untrusted JSON numbers: whole numbers within the asked range, nothing that
    // a plain get<int>() would convert with undefined behaviour or wrap.
    void jsonIntegersAcceptOnlyWholeNumbersInRange()
    {
        using nlohmann::json;
        QCOMPARE(jsonInt(json(640), "w"), 640);
        QCOMPARE(jsonInt(json(640.0), "w"), 640);
        QCOMPARE(jsonInt(json(-5), "w"), -5);
        EXPECT_ERROR_CONTAINING(jsonInt(json(4.4e41), "original_width"), "original_width");
        EXPECT_ERROR_CONTAINING(jsonInt(json(2.5), "w"), "whole number");
        EXPECT_ERROR_CONTAINING(jsonInt(json(4294967297LL), "w"), "whole number");
        EXPECT_ERROR_CONTAINING(jsonInt(json(18446744073709551615ULL), "w"), "whole number");
        EXPECT_ERROR_CONTAINING(jsonInt(json("7"), "w"), "whole number");
        QCOMPARE(jsonIntegers<std::uint8_t>(json::parse("[0, 17, 255]"), "rle"),
                 (std::vector<std::uint8_t>{0, 17, 255}));
        EXPECT_ERROR_CONTAINING(jsonIntegers<std::uint8_t>(json::parse("[0, 2554]"), "rle"),
                                "rle is not a whole number from 0 to 255");
        EXPECT_ERROR_CONTAINING(jsonIntegers<std::uint32_t>(json::parse("[1, -1]"), "counts"),
                                "counts");
        EXPECT_ERROR_CONTAINING(jsonIntegers<std::uint32_t>(json::parse("{}"), "counts"),
                                "not an array");
    }

    void autosaveAndRecovery()
    {
        const std::string recovery = dir() + "/recovery";
        qputenv("PRIMAPS_RECOVERY_DIR", QByteArray::fromStdString(recovery));
        QCOMPARE(recoveryFolder(), recovery);
        const std::string folder = dir() + "/auto";
        fs::create_directories(folder);
        const std::string projectPath = folder + "/p.primaps";
        Project p = sampleProject(folder);
        writeAutosave(projectAutosavePath(projectPath), p, projectPath);
        const Autosave a = readAutosave(projectPath + ".autosave");
        QVERIFY(a.project == p);
        QCOMPARE(a.projectPath, projectPath);
        QVERIFY(!a.written.empty());

        p.matchEdits.ignored.insert(9);
        const std::string untitled = untitledAutosavePath("1234");
        QCOMPARE(fs::path(untitled).parent_path().string(), recovery);
        writeAutosave(untitled, p, "");
        writeFileAtomic(recovery + "/untitled-broken.primaps.autosave", "{");
        std::vector<DatasetProblem> problems;
        const std::vector<Autosave> found = findUntitledAutosaves(&problems);
        QCOMPARE(found.size(), std::size_t(1));
        QVERIFY(found[0].project == p);
        QVERIFY(found[0].projectPath.empty());
        QCOMPARE(problems.size(), std::size_t(1));
        removeAutosave(untitled);
        QVERIFY(!fs::exists(untitled));
        EXPECT_ERROR_CONTAINING(readAutosave(recovery + "/untitled-broken.primaps.autosave"),
                                "untitled-broken");
    }
};

QTEST_GUILESS_MAIN(TestProject)
#include "tst_project.moc"
