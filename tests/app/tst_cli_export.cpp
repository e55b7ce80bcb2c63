// SPDX-License-Identifier: MIT
// `primaps export` on small folder and Cityscapes datasets written here: the
// labels equal eval's predictions with its match, raw clusters, manifest, resume,
// no overwriting, a corrupt image, shards, Ctrl-C.
#include "backbones/backbone.h"
#include "dataset/dataset.h"
#include "runs/datasetjobs.h"
#include "em/emfit.h"
#include "evaluation/evaluation.h"
#include "dataset/featurecache.h"
#include "image/preprocess.h"
#include "testsupport.h"

#include <csignal>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <QDirIterator>
#include <QFileInfo>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <random>
#include <sstream>

namespace {

using primaps::testing::sameMat;

using Run = primaps::testing::CliRun;
using nlohmann::json;

Run runCli(const QStringList& args)
{
    return primaps::testing::runProgram(PRIMAPS_CLI, args);
}

using primaps::testing::writeDiscAndBoxSample;

void writeFolderDataset(const QString& root, int images, unsigned seed)
{
    primaps::testing::writeDiscAndBoxDataset(root, images, seed);
}

json readJson(const QString& path)
{
    std::ifstream in(path.toStdString());
    return json::parse(in);
}

cv::Mat readPng(const QString& path)
{
    return cv::imread(path.toStdString(), cv::IMREAD_UNCHANGED);
}

QStringList filesUnder(const QString& root)
{
    QStringList files;
    QDirIterator it(root, QDir::Files | QDir::Hidden, QDirIterator::Subdirectories);
    while (it.hasNext())
        files << QDir(root).relativeFilePath(it.next());
    files.sort();
    return files;
}

int countOf(const QString& text, const QString& needle)
{
    return text.count(needle);
}

// The number in "export: ... N exported".
int exportedCount(const QString& out)
{
    const QRegularExpressionMatch m = QRegularExpression(": (\\d+) exported").match(out);
    return m.hasMatch() ? m.captured(1).toInt() : -1;
}

} // namespace

class TestCliExport : public QObject
{
    Q_OBJECT

    QTemporaryDir tmp;
    QString ds, cache, run, evalJson;
    QStringList data;

    QString path(const QString& name) const { return QDir(tmp.path()).filePath(name); }

    // The eval prediction of every image, computed here from the cached
    // features without the export code: item id -> CV_32S clusters at the
    // prepared size, and the prepared image.
    std::map<std::string, std::pair<cv::Mat, primaps::PreparedImage>> evalPredictions()
    {
        using namespace primaps;
        DatasetOptions o;
        o.root = ds.toStdString();
        const Dataset d = Dataset::open(o);
        FeatureSettings s;
        s.resolution = 64;
        s.flipAverage = true;
        const FeatureCache features(cache.toStdString(), featureCacheKey(d, "filterbank", "", s));
        std::ifstream in(QDir(run).filePath("theta_m.json").toStdString());
        std::stringstream text;
        text << in.rdbuf();
        const Prototypes prototypes = prototypesFromJson(text.str());
        std::map<std::string, std::pair<cv::Mat, PreparedImage>> result;
        for (std::size_t i = 0; i < d.size(); ++i) {
            PreprocessParams p;
            p.shorterSide = 64;
            p.patchSize = 8;
            p.fit = FitMode::CenterCropSquare;
            const PreparedImage prepared = prepareImage(d.load(i).rgb, p);
            const std::string& id = d.items()[i].id;
            if (!features.contains(id))
                qFatal("no cached features for %s", id.c_str());
            result[id] = {predictClusters(features.read(id), prototypes, prepared.rgb.size()),
                          prepared};
        }
        return result;
    }

private slots:
    void initTestCase()
    {
        ds = path("ds");
        writeFolderDataset(ds, 8, 1);
        cache = path("cache");
        run = path("run");
        data = {"--dataset", "folder", "--root", ds};
        const Run fit = runCli(QStringList{"fit", "--cache", cache, "--out", run, "--epochs", "2",
                                           "--batch-size", "4", "--resolution", "64", "-q"} +
                               data);
        QVERIFY2(fit.exitCode == 0, qPrintable(fit.err));
        const Run eval = runCli(QStringList{"eval", "--run", run, "--json", "-q"} + data);
        QVERIFY2(eval.exitCode == 0, qPrintable(eval.err));
        evalJson = path("eval.json");
        std::ofstream(evalJson.toStdString()) << eval.out.toStdString();
        const json e = json::parse(eval.out.toStdString());
        QCOMPARE(e["crf"].get<bool>(), false); // eval records how it predicted
        QCOMPARE(e["theta"].get<std::string>(), std::string("m"));
    }

    void labelsAreEvalPredictionsThroughTheMatch()
    {
        const QString out = path("ex");
        const Run r = runCli(QStringList{"export", "--run", run, "--out", out, "--colour",
                                         "--overlay"} +
                             data);
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QCOMPARE(exportedCount(r.out), 8);
        QVERIFY(r.out.contains("(24 files)"));
        QVERIFY(r.out.contains("lists 8 of 8 image(s)"));

        // The match is eval's: computed here by evaluating the split, equal to
        // `primaps eval --json`.
        const json e = readJson(evalJson);
        const json m = readJson(QDir(out).filePath("match.json"));
        QCOMPARE(m["matching"], e["matching"]);
        QCOMPARE(m["confusion"], e["confusion"]);
        std::vector<int> clusterToClass(3, -1);
        for (const json& entry : e["matching"])
            clusterToClass[entry["cluster"].get<std::size_t>()] = entry["class"].get<int>();

        const json manifest = readJson(QDir(out).filePath("manifest.json"));
        std::map<int, cv::Vec3b> colours;
        for (const json& c : manifest["classes"])
            colours[c["id"].get<int>()] = cv::Vec3b(c["colour"][0].get<std::uint8_t>(),
                                                    c["colour"][1].get<std::uint8_t>(),
                                                    c["colour"][2].get<std::uint8_t>());
        const auto predictions = evalPredictions();
        QCOMPARE(predictions.size(), std::size_t(8));
        std::int64_t ignored = 0, labelled = 0;
        for (const auto& [id, prediction] : predictions) {
            const cv::Mat expected = primaps::labelsToOriginal(
                primaps::mapClusters(prediction.first, clusterToClass), prediction.second, 255);
            const cv::Mat written =
                readPng(QDir(out).filePath("labels/" + QString::fromStdString(id) + ".png"));
            QCOMPARE(written.type(), CV_8UC1);
            QCOMPARE(written.size(), cv::Size(64, 48)); // the image's own size
            QVERIFY2(sameMat(written, expected), id.c_str());
            ignored += cv::countNonZero(written == 255);
            labelled += cv::countNonZero(written != 255);
            // Colour pictures use the manifest's colours (RGB; the file is BGR).
            const cv::Mat colour =
                readPng(QDir(out).filePath("colour/" + QString::fromStdString(id) + ".png"));
            QCOMPARE(colour.type(), CV_8UC3);
            for (int y = 0; y < written.rows; y += 7)
                for (int x = 0; x < written.cols; x += 5) {
                    const int cls = written.at<std::uint8_t>(y, x);
                    const cv::Vec3b rgb = cls == 255 ? cv::Vec3b(0, 0, 0) : colours[cls];
                    const cv::Vec3b bgr = colour.at<cv::Vec3b>(y, x);
                    QCOMPARE(bgr, cv::Vec3b(rgb[2], rgb[1], rgb[0]));
                }
            QCOMPARE(readPng(QDir(out).filePath("overlay/" + QString::fromStdString(id) + ".png"))
                         .size(),
                     cv::Size(64, 48));
        }
        // 64 x 48 resized to 85 x 64 and cropped to 64 x 64: the cropped-away columns
        // are ignore, the rest is labelled.
        QVERIFY(ignored > 0);
        QVERIFY(labelled > 8 * 40 * 48);

        // The manifest a training pipeline reads.
        QCOMPARE(manifest["format"].get<std::string>(), std::string("primaps-export"));
        QCOMPARE(manifest["complete"].get<bool>(), true);
        QCOMPARE(manifest["ignore_value"].get<int>(), 255);
        QCOMPARE(manifest["bit_depth"].get<int>(), 8);
        QCOMPARE(manifest["label_values"].get<std::string>(), std::string("class ids"));
        QCOMPARE(manifest["classes"].size(), std::size_t(3));
        QCOMPARE(manifest["classes"][1]["name"].get<std::string>(), std::string("ball"));
        QCOMPARE(manifest["classes"][2]["value"].get<int>(), 2);
        QCOMPARE(manifest["parameters"]["crf"].get<bool>(), false);
        QCOMPARE(manifest["parameters"]["cluster_to_class"].get<std::vector<int>>(),
                 clusterToClass);
        QCOMPARE(manifest["source"]["run"].get<std::string>(),
                 QFileInfo(run).absoluteFilePath().toStdString());
        QCOMPARE(manifest["source"]["backbone"].get<std::string>(), std::string("filterbank"));
        QVERIFY(manifest.contains("primaps_version"));
        QCOMPARE(manifest["images"].size(), std::size_t(8));
        for (const json& image : manifest["images"]) {
            for (const char* key : {"labels", "colour", "overlay"})
                QVERIFY(QFileInfo::exists(
                    QDir(out).filePath(QString::fromStdString(image[key].get<std::string>()))));
            QVERIFY(QFileInfo::exists(QString::fromStdString(image["image"].get<std::string>())));
            QVERIFY(image.contains("ground_truth"));
        }
        QVERIFY(manifest["missing"].empty());
        std::ifstream classes(QDir(out).filePath("classes.txt").toStdString());
        std::string line;
        std::getline(classes, line);
        QCOMPARE(line, std::string("ground"));
        QCOMPARE(readPng(QDir(out).filePath("legend.png")).type(), CV_8UC3);
    }

    void resumeSkipsAndNothingIsOverwritten()
    {
        const QString out = path("ex-resume");
        const QStringList args = QStringList{"export", "--run", run, "--out", out} + data;
        QCOMPARE(runCli(args).exitCode, 0);
        const QString label = QDir(out).filePath("labels/im3.png");
        const cv::Mat original = readPng(label);

        // A second run skips every image and touches no file.
        const QDateTime before = QFileInfo(label).lastModified();
        const Run again = runCli(args);
        QCOMPARE(again.exitCode, 0);
        QCOMPARE(exportedCount(again.out), 0);
        QVERIFY(again.out.contains("8 already exported"));
        QVERIFY(again.err.contains("match: using")); // the stored match, no second evaluation
        QCOMPARE(QFileInfo(label).lastModified(), before);

        // An existing file is kept without --overwrite, replaced with it.
        const cv::Mat marker(original.size(), CV_8UC1, cv::Scalar(7));
        QVERIFY(cv::imwrite(label.toStdString(), marker));
        QCOMPARE(runCli(args).exitCode, 0);
        QVERIFY(sameMat(readPng(label), marker));
        const Run overwrite = runCli(QStringList(args) << "--overwrite");
        QCOMPARE(overwrite.exitCode, 0);
        QCOMPARE(exportedCount(overwrite.out), 8);
        QVERIFY(sameMat(readPng(label), original));

        // A removed image is exported again, alone; asking for colour pictures
        // later adds them without rewriting the labels.
        QVERIFY(QFile::remove(label));
        const Run one = runCli(args);
        QCOMPARE(exportedCount(one.out), 1);
        QVERIFY(sameMat(readPng(label), original));
        const Run colour = runCli(QStringList(args) << "--colour");
        QCOMPARE(colour.exitCode, 0);
        QVERIFY(colour.out.contains("8 exported (8 files)"));

        // Other settings never mix into an existing export.
        const Run crf = runCli(QStringList(args) << "--crf");
        QCOMPARE(crf.exitCode, 2);
        QVERIFY2(crf.err.contains("another 'crf'"), qPrintable(crf.err));
        QVERIFY(crf.err.contains("--overwrite"));
    }

    void rawClustersAtThePreparedSize()
    {
        const QString out = path("ex-raw");
        const Run r = runCli(QStringList{"export", "--run", run, "--out", out, "--raw-clusters",
                                         "--size", "prepared"} +
                             data);
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY(!QFileInfo::exists(QDir(out).filePath("match.json"))); // no evaluation needed
        for (const auto& [id, prediction] : evalPredictions()) {
            cv::Mat expected;
            prediction.first.convertTo(expected, CV_8U);
            const cv::Mat written =
                readPng(QDir(out).filePath("labels/" + QString::fromStdString(id) + ".png"));
            QCOMPARE(written.size(), cv::Size(64, 64)); // exactly what eval scores
            QVERIFY2(sameMat(written, expected), id.c_str());
        }
        const json manifest = readJson(QDir(out).filePath("manifest.json"));
        QCOMPARE(manifest["label_values"].get<std::string>(), std::string("cluster ids"));
        QCOMPARE(manifest["parameters"]["values"].get<std::string>(), std::string("clusters"));
        QCOMPARE(manifest["classes"][0]["name"].get<std::string>(), std::string("cluster 0"));
        QCOMPARE(manifest["source"]["match"].get<std::string>(), std::string("none"));
    }

    void matchFromEvalJson()
    {
        // The same labels from a match given by `eval --json`, and a match that
        // was made another way is refused.
        const QString out = path("ex-match");
        const Run r = runCli(QStringList{"export", "--run", run, "--out", out, "--match",
                                         evalJson} +
                             data);
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY(!r.err.contains("match: Hungarian")); // no evaluation pass
        for (int i = 0; i < 8; ++i) {
            const QString name = QString("labels/im%1.png").arg(i);
            QVERIFY(sameMat(readPng(QDir(out).filePath(name)),
                              readPng(QDir(path("ex")).filePath(name))));
        }
        const Run crf = runCli(QStringList{"export", "--run", run, "--out", path("ex-crf"),
                                           "--match", evalJson, "--crf"} +
                               data);
        QCOMPARE(crf.exitCode, 2);
        QVERIFY(crf.err.contains("without --crf"));

        const QString part = path("part.json");
        QCOMPARE(runCli(QStringList{"eval", "--run", run, "--shard", "0/2", "--partial", part,
                                    "-q"} +
                        data)
                     .exitCode,
                 0);
        const Run partial = runCli(QStringList{"export", "--run", run, "--out", path("ex-part"),
                                               "--match", part} +
                                   data);
        QCOMPARE(partial.exitCode, 2);
        QVERIFY(partial.err.contains("merge the partials first"));
    }

    void exportWithOtherSettingsIsRefusedBeforeTouchingTheFolder()
    {
        // A finished export; the same folder with theta_R instead is refused
        // before the split is evaluated, and its match.json (which describes
        // the labels on disk) stays as it was.
        const QString out = path("ex-refused");
        const QStringList args = QStringList{"export", "--run", run, "--out", out} + data;
        QCOMPARE(runCli(args).exitCode, 0);
        const QString match = QDir(out).filePath("match.json");
        std::ifstream in(match.toStdString());
        const std::string before((std::istreambuf_iterator<char>(in)),
                                 std::istreambuf_iterator<char>());
        const Run r = runCli(QStringList(args) << "--theta" << "r");
        QCOMPARE(r.exitCode, 2);
        QVERIFY2(r.err.contains("'prototypes'"), qPrintable(r.err));
        QVERIFY2(!r.err.contains("match: Hungarian"), qPrintable(r.err)); // no evaluation
        std::ifstream again(match.toStdString());
        const std::string after((std::istreambuf_iterator<char>(again)),
                                std::istreambuf_iterator<char>());
        QCOMPARE(after, before);
        QCOMPARE(readJson(match)["theta"].get<std::string>(), std::string("m"));
    }

    void theDatasetRootIsNotAnExportFolder()
    {
        // A folder dataset keeps its ground truth in ROOT/labels and its class
        // list in ROOT/classes.txt, exactly where an export writes: exporting
        // into the root would take the ground truth for finished exports and
        // replace the class list.
        const QString root = path("ds-root");
        writeFolderDataset(root, 2, 60);
        const QString classes = QDir(root).filePath("classes.txt");
        const Run r = runCli({"export", "--run", run, "--out", root + "/", "--raw-clusters",
                              "--dataset", "folder", "--root", root});
        QCOMPARE(r.exitCode, 2);
        QVERIFY2(r.err.contains("root"), qPrintable(r.err));
        std::ifstream in(classes.toStdString());
        std::string first;
        std::getline(in, first);
        QCOMPARE(first, std::string("ground"));
        QVERIFY(!QFileInfo::exists(QDir(root).filePath("manifest.json")));
        QVERIFY(!QFileInfo::exists(QDir(root).filePath("legend.png")));
    }

    void corruptImageIsReportedOnceAndTheRestExported()
    {
        const QString broken = path("broken");
        writeFolderDataset(broken, 3, 40);
        std::ofstream(QDir(broken).filePath("images/bad.png").toStdString()) << "not a png";
        // With a label, the match pass meets the bad image too; it is still one line.
        writeDiscAndBoxSample(path("scratch/bad.png"), QDir(broken).filePath("labels/bad.png"), 9);
        const QString badPath = QDir(broken).filePath("images/bad.png");
        const QString out = path("ex-broken");
        const Run r = runCli({"export", "--run", run, "--out", out, "--dataset", "folder",
                              "--root", broken});
        QCOMPARE(r.exitCode, 1);
        int lines = 0;
        for (const QString& line : r.err.split('\n'))
            if (line.contains(badPath)) {
                ++lines;
                QVERIFY(line.startsWith("primaps: '" + badPath + "': "));
                QCOMPARE(countOf(line, badPath), 1); // named once, not twice
                QVERIFY(line.endsWith("; skipped"));
            }
        QVERIFY2(lines == 1, qPrintable(r.err));
        QCOMPARE(exportedCount(r.out), 3);
        QVERIFY(r.out.contains("1 failed"));
        for (int i = 0; i < 3; ++i)
            QVERIFY(QFileInfo::exists(QDir(out).filePath(QString("labels/im%1.png").arg(i))));
        const json manifest = readJson(QDir(out).filePath("manifest.json"));
        QCOMPARE(manifest["complete"].get<bool>(), false);
        QCOMPARE(manifest["missing"], json::array({"bad"}));
    }

    void shardsCoverEveryImageOnce()
    {
        const QString out = path("ex-shards");
        const QStringList args =
            QStringList{"export", "--run", run, "--out", out, "--match", evalJson} + data;
        // A shard needs a given match: evaluating the whole split in every task
        // would defeat the sharding.
        const Run noMatch = runCli(QStringList{"export", "--run", run, "--out", path("ex-nomatch"),
                                               "--shard", "0/3"} +
                                   data);
        QCOMPARE(noMatch.exitCode, 2);
        QVERIFY(noMatch.err.contains("--match"));

        int total = 0;
        QSet<QString> seen;
        for (int i = 0; i < 3; ++i) {
            const QStringList before = filesUnder(QDir(out).filePath("labels"));
            const Run r = runCli(QStringList(args) << "--shard" << QString("%1/3").arg(i));
            QVERIFY2(r.exitCode == 0, qPrintable(r.err));
            QVERIFY(r.out.contains(" 0 already exported"));
            total += exportedCount(r.out);
            const QStringList after = filesUnder(QDir(out).filePath("labels"));
            for (const QString& f : after)
                if (!before.contains(f)) {
                    QVERIFY2(!seen.contains(f), qPrintable(f));
                    seen.insert(f);
                }
        }
        QCOMPARE(total, 8);
        QCOMPARE(seen.size(), 8);
        for (int i = 0; i < 8; ++i)
            QVERIFY(sameMat(readPng(QDir(out).filePath(QString("labels/im%1.png").arg(i))),
                              readPng(QDir(path("ex")).filePath(QString("labels/im%1.png").arg(i)))));
        // Once more without --shard: nothing to do, the complete manifest.
        const Run merge = runCli(args);
        QCOMPARE(merge.exitCode, 0);
        QVERIFY(merge.out.contains("0 exported (0 files), 8 already exported"));
        QCOMPARE(readJson(QDir(out).filePath("manifest.json"))["complete"].get<bool>(), true);
    }

    void cityscapesFormat()
    {
        // A tiny Cityscapes tree: label ids 7 + class (road, sidewalk, parking).
        const QString cs = path("cs");
        for (int i = 0; i < 4; ++i) {
            const QString city = i < 2 ? "aachen" : "bochum";
            const QString base = QString("%1_000000_%2").arg(city).arg(i, 6, 10, QChar('0'));
            writeDiscAndBoxSample(QString("%1/leftImg8bit/val/%2/%3_leftImg8bit.png").arg(cs, city, base),
                        QString("%1/gtFine/val/%2/%3_gtFine_labelIds.png").arg(cs, city, base),
                        unsigned(60 + i), [](int c) { return c + 7; });
        }
        const QStringList csData = {"--dataset", "cityscapes", "--root", cs, "--split", "val"};
        const QString csRun = path("cs-run");
        const Run fit = runCli(QStringList{"fit", "--out", csRun, "--epochs", "1", "--batch-size",
                                           "2", "--resolution", "64", "-q"} +
                               csData);
        QVERIFY2(fit.exitCode == 0, qPrintable(fit.err));
        const QString out = path("ex-cs");
        const Run r = runCli(QStringList{"export", "--run", csRun, "--out", out, "--format",
                                         "cityscapes", "--colour"} +
                             csData);
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        const cv::Mat labels =
            readPng(out + "/gtFine/val/aachen/aachen_000000_000001_gtFine_labelIds.png");
        QCOMPARE(labels.size(), cv::Size(64, 48));
        double lo = 0, hi = 0;
        cv::minMaxLoc(labels, &lo, &hi);
        QCOMPARE(lo, 0.0); // the cropped-away columns: Cityscapes' "unlabeled"
        QVERIFY(hi >= 7 && hi <= 33);
        for (int y = 0; y < labels.rows; ++y)
            for (int x = 0; x < labels.cols; ++x) {
                const int v = labels.at<std::uint8_t>(y, x);
                QVERIFY(v == 0 || (v >= 7 && v <= 33));
            }
        QVERIFY(QFileInfo::exists(out +
                                  "/gtFine/val/bochum/bochum_000000_000003_gtFine_color.png"));
        const json manifest = readJson(out + "/manifest.json");
        QCOMPARE(manifest["classes"].size(), std::size_t(27));
        QCOMPARE(manifest["classes"][0]["value"].get<int>(), 7);
        QCOMPARE(manifest["classes"][0]["colour"], json::array({128, 64, 128})); // road
        QCOMPARE(manifest["ignore_value"].get<int>(), 0);

        // The Cityscapes layout is for Cityscapes class ids only.
        const Run folder = runCli(QStringList{"export", "--run", run, "--out", path("ex-bad"),
                                              "--format", "cityscapes"} +
                                  data);
        QCOMPARE(folder.exitCode, 2);
    }

    void interruptLeavesNoPartialFiles()
    {
        const QString big = path("big");
        writeFolderDataset(big, 40, 100);
        const QString out = path("ex-int");
        const QStringList args = {"export", "--run",  run,         "--out",     out,
                                  "--crf",  "--colour", "--overlay", "--dataset", "folder",
                                  "--root", big,      "--raw-clusters"};
        QProcess p;
        p.start(PRIMAPS_CLI, args);
        QVERIFY(p.waitForStarted());
        // Interrupt as soon as the export has begun writing.
        for (int i = 0; i < 6000; ++i) {
            if (!filesUnder(QDir(out).filePath("labels")).isEmpty() || p.waitForFinished(5))
                break;
        }
        if (p.state() == QProcess::Running)
            ::kill(pid_t(p.processId()), SIGINT);
        QVERIFY(p.waitForFinished(120000));
        QVERIFY(p.exitStatus() == QProcess::NormalExit);
        QVERIFY2(p.exitCode() == 130 || p.exitCode() == 0, qPrintable(p.readAllStandardError()));
        // No temporary file is left, every written picture is whole.
        for (const QString& f : filesUnder(out)) {
            QVERIFY2(!QFileInfo(f).fileName().startsWith('.'), qPrintable(f));
            if (f.endsWith(".png"))
                QVERIFY2(!readPng(QDir(out).filePath(f)).empty(), qPrintable(f));
        }
        // The same command finishes the rest.
        const Run rest = runCli(args);
        QCOMPARE(rest.exitCode, 0);
        QCOMPARE(filesUnder(QDir(out).filePath("labels")).size(), 40);
        QCOMPARE(filesUnder(QDir(out).filePath("overlay")).size(), 40);
    }

    void usage()
    {
        const Run help = runCli({"export", "--help"});
        QCOMPARE(help.exitCode, 0);
        QVERIFY(help.out.startsWith("Usage: primaps export"));
        for (const char* option : {"--raw-clusters", "--match", "--overlay", "--colour", "--shard",
                                   "--overwrite", "--format", "--crf"})
            QVERIFY2(help.out.contains(option), option);
        QVERIFY(runCli({"--help"}).out.contains("  export "));
        QCOMPARE(runCli(QStringList{"export", "--run", run} + data).exitCode, 2); // no --out
        QCOMPARE(runCli(QStringList{"export", "--out", path("x")} + data).exitCode, 2); // no run
        QCOMPARE(runCli(QStringList{"export", "--run", run, "--out", path("x"), "--raw-clusters",
                                    "--match", evalJson} +
                        data)
                     .exitCode,
                 2);
        // A split without labels needs a given match.
        const QString unlabelled = path("unlabelled");
        writeFolderDataset(unlabelled, 2, 80);
        QVERIFY(QDir(QDir(unlabelled).filePath("labels")).removeRecursively());
        const Run noLabels = runCli({"export", "--run", run, "--out", path("ex-nolabels"),
                                     "--dataset", "folder", "--root", unlabelled});
        QCOMPARE(noLabels.exitCode, 2);
        QVERIFY(noLabels.err.contains("--raw-clusters"));
        const Run given = runCli({"export", "--run", run, "--out", path("ex-nolabels"),
                                  "--dataset", "folder", "--root", unlabelled, "--match",
                                  evalJson});
        QCOMPARE(given.exitCode, 0);
        QCOMPARE(exportedCount(given.out), 2);
    }
};

QTEST_APPLESS_MAIN(TestCliExport)
#include "tst_cli_export.moc"
