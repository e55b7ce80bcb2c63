// SPDX-License-Identifier: MIT
// `primaps masks`, `fit` and `eval` on a small folder dataset written here: shards
// and merge, resume, reported failures, JSON output.
#include "support/atomicfile.h"
#include "testsupport.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <random>

namespace {

using Run = primaps::testing::CliRun;

Run runCli(const QStringList& args)
{
    return primaps::testing::runProgram(PRIMAPS_CLI, args);
}

// A folder-dataset sample (images/<stem>.png + labels/<stem>.png).
void writeSample(const QDir& root, const QString& stem, unsigned seed)
{
    primaps::testing::writeDiscAndBoxSample(root.filePath("images/" + stem + ".png"),
                                            root.filePath("labels/" + stem + ".png"), seed);
}

nlohmann::json parse(const QString& text)
{
    return nlohmann::json::parse(text.toStdString());
}

} // namespace

class TestCliFit : public QObject
{
    Q_OBJECT

    QTemporaryDir tmp;
    QString ds, cache, run;
    QStringList common;

private slots:
    void initTestCase()
    {
        QDir root(tmp.path());
        ds = root.filePath("ds");
        primaps::testing::writeDiscAndBoxDataset(ds, 10, 1);
        std::ofstream(QDir(ds).filePath("val.txt").toStdString()) << "im6\nim7\nim8\nim9\n";
        cache = root.filePath("cache");
        run = root.filePath("run");
        common = {"--dataset", "folder", "--root", ds, "--resolution", "64"};
    }

    void shardedMasksThenFit()
    {
        for (const char* shard : {"0/2", "1/2"}) {
            const Run r = runCli(QStringList{"masks", "--cache", cache, "--shard", shard} + common);
            QVERIFY2(r.exitCode == 0, qPrintable(r.err));
            QVERIFY(r.err.contains("masks: 5 item(s): 5 computed"));
        }
        const Run fit = runCli(QStringList{"fit", "--cache", cache, "--out", run, "--epochs", "3",
                                           "--batch-size", "4", "--seed", "2"} +
                               common);
        QVERIFY2(fit.exitCode == 0, qPrintable(fit.err));
        // Every per-image result came from the shards.
        QVERIFY(fit.err.contains("features: 10 item(s): 0 computed, 10 reused"));
        QVERIFY(fit.err.contains("masks: 10 item(s): 0 computed, 10 reused"));
        QVERIFY(fit.out.contains("fit finished after 11 steps on 10 images"));
        for (const char* name :
             {"theta_m.json", "theta_r.json", "history.csv", "run.json", "state.json"})
            QVERIFY(QFileInfo::exists(QDir(run).filePath(name)));

        // A second run resumes from the finished checkpoint instead of starting over.
        const Run again = runCli(QStringList{"fit", "--cache", cache, "--out", run, "--epochs", "3",
                                             "--batch-size", "4", "--seed", "2"} +
                                 common);
        QCOMPARE(again.exitCode, 0);
        QVERIFY(again.err.contains("resuming from step 11 of 11"));
        // Other settings do not silently continue someone else's checkpoint.
        const Run other = runCli(QStringList{"fit", "--cache", cache, "--out", run, "--epochs", "4",
                                             "--batch-size", "4", "--seed", "2"} +
                                 common);
        QCOMPARE(other.exitCode, 1);
        QVERIFY(other.err.contains("--restart"));
    }

    void protocolAndOverClustering()
    {
        // run.json records the protocol and the clusters beside the classes; eval
        // matches the extra clusters many-to-one and says so.
        const QString run3 = QDir(tmp.path()).filePath("run-over");
        const Run fit = runCli(QStringList{"fit", "--cache", cache, "--out", run3, "--epochs", "2",
                                           "--batch-size", "4", "--protocol", "paper",
                                           "--clusters", "5"} +
                               common);
        QVERIFY2(fit.exitCode == 0, qPrintable(fit.err));
        std::ifstream in(QDir(run3).filePath("run.json").toStdString());
        const nlohmann::json info = nlohmann::json::parse(in);
        QCOMPARE(info["protocol"], "paper");
        QCOMPARE(info["clusters"], 5);
        QCOMPARE(info["classes"], 3);
        QCOMPARE(info["reseeded_prototypes"], 0);
        QCOMPARE(info["whiten_ridge"].get<double>(), 0.0); // the paper's never whitens
        const Run eval =
            runCli({"eval", "--run", run3, "--dataset", "folder", "--root", ds, "--json"});
        QVERIFY2(eval.exitCode == 0, qPrintable(eval.err));
        const nlohmann::json result = parse(eval.out);
        QCOMPARE(result["match"], "many-to-one");
        QCOMPARE(result["clusters"], 5);
        QCOMPARE(result["classes"], 3);
        const Run text = runCli({"eval", "--run", run3, "--dataset", "folder", "--root", ds});
        QVERIFY2(text.out.contains("match many-to-one: 5 clusters onto 3 classes"),
                 qPrintable(text.out));

        // The default protocol is the robust one.
        const QString run4 = QDir(tmp.path()).filePath("run-robust");
        const Run robustFit = runCli(QStringList{"fit", "--cache", cache, "--out", run4,
                                                 "--epochs", "1", "--batch-size", "4"} +
                                     common);
        QCOMPARE(robustFit.exitCode, 0);
        std::ifstream in4(QDir(run4).filePath("run.json").toStdString());
        const nlohmann::json robust = nlohmann::json::parse(in4);
        QCOMPARE(robust["protocol"], "robust");
        // It says which k-means restart it started from and why, on stderr and
        // in run.json (the paper's protocol has no restarts to choose from).
        const nlohmann::json& init = robust["initialisation"];
        QCOMPARE(init["restarts"], 16);
        const int chosen = init["chosen_restart"].get<int>(); // counted from 1
        QVERIFY(chosen >= 1 && chosen <= 16);
        const std::string rule = init["chosen_by"].get<std::string>();
        QVERIFY2(rule == "objective" || rule == "mask contrast", rule.c_str());
        // (t is null when every image differs by the same amount: infinite.)
        QCOMPARE(rule == "mask contrast",
                 init["evidence_t"].is_null() ||
                     init["evidence_t"].get<double>() > init["evidence_needed_t"].get<double>());
        QVERIFY(init["images_with_mask_pairs"].get<int>() <= 10);
        QVERIFY2(robustFit.err.contains(QString("initialisation: k-means restart %1 of 16, ")
                                            .arg(chosen)),
                 qPrintable(robustFit.err));
        QVERIFY(!info.contains("initialisation"));
        // ... and on the filter bank it whitens with the measured ridge, unless asked not to.
        QCOMPARE(robust["backbone"], "filterbank");
        QVERIFY(std::abs(robust["whiten_ridge"].get<double>() - 0.3) < 1e-6);
        const QString run5 = QDir(tmp.path()).filePath("run-raw");
        QCOMPARE(runCli(QStringList{"fit", "--cache", cache, "--out", run5, "--epochs", "1",
                                    "--batch-size", "4", "--whiten-ridge", "0"} +
                        common)
                     .exitCode,
                 0);
        std::ifstream in5(QDir(run5).filePath("run.json").toStdString());
        QCOMPARE(nlohmann::json::parse(in5)["whiten_ridge"].get<double>(), 0.0);

        const Run bad = runCli(QStringList{"fit", "--out", run3, "--protocol", "fast"} + common);
        QCOMPARE(bad.exitCode, 2);
        QVERIFY(bad.err.contains("unknown fit protocol 'fast'"));
        const Run few = runCli(QStringList{"fit", "--out", run3, "--clusters", "2"} + common);
        QCOMPARE(few.exitCode, 2);
        QVERIFY(few.err.contains("at least as many clusters"));
    }

    void featuresOverADatasetAreTheFirstStage()
    {
        const QString own = QDir(tmp.path()).filePath("featcache");
        const Run r = runCli(QStringList{"features", "--cache", own} + common);
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY(r.err.contains("features: 10 item(s): 10 computed"));
        QVERIFY(!r.err.contains("masks:")); // stopped after the features stage
    }

    void studentViewsAndValidation()
    {
        const QString run2 = QDir(tmp.path()).filePath("run-student");
        const Run r = runCli(QStringList{"fit", "--cache", cache, "--out", run2, "--epochs", "2",
                                         "--batch-size", "4", "--student-augs", "--student-views",
                                         "2", "--val-split", "val"} +
                             common);
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY(r.err.contains("student features: 10 item(s): 10 computed"));
        std::ifstream metrics(QDir(run2).filePath("metrics.csv").toStdString());
        std::string header, line;
        std::getline(metrics, header);
        QCOMPARE(header, std::string("step,acc,miou"));
        int rows = 0;
        while (std::getline(metrics, line))
            ++rows;
        QCOMPARE(rows, 5); // every epoch of 2 steps (steps 2, 4, 6, 8) and after step 9
    }

    void evalJsonShardsAndMerge()
    {
        const Run whole = runCli({"eval", "--run", run, "--dataset", "folder", "--root", ds,
                                  "--split", "val", "--json", "-q"});
        QVERIFY2(whole.exitCode == 0, qPrintable(whole.err));
        const nlohmann::json j = parse(whole.out);
        for (const char* key : {"acc", "miou", "per_class_iou", "matching"})
            QVERIFY(j.contains(key));
        QCOMPARE(j["per_class_iou"].size(), std::size_t(3));
        QCOMPARE(j["matching"].size(), std::size_t(3));
        QVERIFY(j["acc"].get<double>() > 33.4 && j["acc"].get<double>() <= 100.0);
        QCOMPARE(j["pixels"].get<double>(), 4.0 * 64 * 64); // 64 x 64 centre crops of the labels

        QStringList merge = {"eval", "--json"};
        for (int i = 0; i < 2; ++i) {
            const QString part = QDir(tmp.path()).filePath(QString("part%1.json").arg(i));
            const Run r =
                runCli({"eval", "--run", run, "--dataset", "folder", "--root", ds, "--split", "val",
                        "-q", "--shard", QString("%1/2").arg(i), "--partial", part});
            QVERIFY2(r.exitCode == 0, qPrintable(r.err));
            merge << "--merge" << part;
        }
        const Run merged = runCli(merge);
        QCOMPARE(merged.exitCode, 0);
        const nlohmann::json m = parse(merged.out);
        QCOMPARE(m["confusion"], j["confusion"]);
        QCOMPARE(m["miou"], j["miou"]);

        // A shard given twice, or one left out, would count images twice or not
        // at all: the merge refuses both and names the file.
        const QString part0 = QDir(tmp.path()).filePath("part0.json");
        const QString part1 = QDir(tmp.path()).filePath("part1.json");
        const Run twice = runCli({"eval", "--json", "--merge", part0, "--merge", part0});
        QCOMPARE(twice.exitCode, 2);
        QVERIFY2(twice.err.contains(part0) && twice.err.contains("twice"), qPrintable(twice.err));
        QVERIFY(twice.out.isEmpty());
        const Run missing = runCli({"eval", "--json", "--merge", part1});
        QCOMPARE(missing.exitCode, 2);
        QVERIFY2(missing.err.contains("0/2"), qPrintable(missing.err));
        // Partials predicted otherwise (here with the CRF) do not mix.
        const QString crfPart = QDir(tmp.path()).filePath("part1crf.json");
        const Run crf = runCli({"eval", "--run", run, "--dataset", "folder", "--root", ds,
                                "--split", "val", "-q", "--crf", "--shard", "1/2", "--partial",
                                crfPart});
        QVERIFY2(crf.exitCode == 0, qPrintable(crf.err));
        const Run mixed = runCli({"eval", "--json", "--merge", part0, "--merge", crfPart});
        QCOMPARE(mixed.exitCode, 2);
        QVERIFY2(mixed.err.contains(crfPart) && mixed.err.contains("crf"), qPrintable(mixed.err));

        const Run text = runCli(
            {"eval", "--run", run, "--dataset", "folder", "--root", ds, "--split", "val", "-q"});
        QVERIFY(text.out.startsWith("Acc "));
        QVERIFY(text.out.contains("ball"));
    }

    void failuresAreReportedNotDropped()
    {
        // A corrupt image in a copy of the dataset: reported with its path, exit 1;
        // with --strict the stage stops.
        QDir root(tmp.path());
        const QString broken = root.filePath("broken");
        root.mkpath("broken/images");
        root.mkpath("broken/labels");
        for (int i = 0; i < 3; ++i)
            writeSample(QDir(broken), QString("ok%1").arg(i), unsigned(20 + i));
        std::ofstream(QDir(broken).filePath("images/bad.png").toStdString()) << "not a png";
        const QString badPath = QDir(broken).filePath("images/bad.png");
        const QStringList args = {"masks",     "--cache",      root.filePath("cache2"),
                                  "--dataset", "folder",       "--root",
                                  broken,      "--resolution", "64"};
        const Run r = runCli(args);
        QCOMPARE(r.exitCode, 1);
        QVERIFY(r.err.contains(badPath));
        QVERIFY(
            r.err.contains("features: 4 item(s): 3 computed, 0 reused from the cache, 1 failed"));
        QVERIFY(r.err.contains("label missing")); // bad.png has no label file either
        const Run strict = runCli(QStringList(args) << "--strict");
        QCOMPARE(strict.exitCode, 2); // nothing was processed
        QVERIFY(strict.err.contains("strict"));
    }

    void progressOffATerminalHoldoutAndJsonTypes()
    {
        // stderr is a pipe here: plain progress lines (every 0 s for the test,
        // ~10 s by default), none with --quiet.
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert("PRIMAPS_PROGRESS_SECONDS", "0");
        const QString heldRun = QDir(tmp.path()).filePath("heldrun");
        const QStringList args =
            QStringList{"fit",       "--cache",      QDir(tmp.path()).filePath("cacheH"),
                        "--out",     heldRun,        "--epochs",
                        "1",         "--batch-size", "3",
                        "--holdout", "0.3",          "--threads",
                        "1",         "--ema-every",  "1"} + // no note about theta_M
            common;
        const Run quiet =
            primaps::testing::runProgram(PRIMAPS_CLI, QStringList(args) << "-q", {}, env);
        QVERIFY2(quiet.exitCode == 0, qPrintable(quiet.err));
        QVERIFY2(quiet.err.isEmpty(), qPrintable(quiet.err));
        const Run fit =
            primaps::testing::runProgram(PRIMAPS_CLI, QStringList(args) << "--restart", {}, env);
        QVERIFY2(fit.exitCode == 0, qPrintable(fit.err));
        QVERIFY2(
            fit.err.contains(QRegularExpression("\\nfit: features \\d+/\\d+ \\(\\d+%\\) ETA ")),
            qPrintable(fit.err));
        QVERIFY2(fit.err.contains(QRegularExpression("\\nfit: em \\d+/\\d+ \\(\\d+%\\).* ETA ")),
                 qPrintable(fit.err));
        QVERIFY(!fit.err.contains('\r'));
        // The PCA initialisation reports in images, and no ETA is extrapolated
        // from it (its one step is not the rate of the steps after it).
        QVERIFY2(fit.err.contains(QRegularExpression(
                     "\\nfit: PCA initialisation: \\d+ of \\d+ images \\(whitening\\), ")),
                 qPrintable(fit.err));
        QVERIFY2(!fit.err.contains(QRegularExpression("\\nfit: (pca|PCA)[^\\n]* ETA ")),
                 qPrintable(fit.err));
        // The dataset's line does not claim what only decoding can tell.
        QVERIFY2(fit.err.contains(QRegularExpression("\\d+ listed, \\d+ found \\(not decoded "
                                                     "yet\\), 0 problem")) &&
                     !fit.err.contains("usable"),
                 qPrintable(fit.err));
        const QRegularExpressionMatch train =
            QRegularExpression("split train \\(hold-out 0.3\\): (\\d+) listed").match(fit.err);
        QVERIFY2(train.hasMatch(), qPrintable(fit.err));
        const nlohmann::json runJson = nlohmann::json::parse(
            primaps::readFile(QDir(heldRun).filePath("run.json").toStdString()));
        QCOMPARE(runJson["holdout"].get<double>(), 0.3);

        // eval defaults to the run's dataset and its held-out split.
        const Run eval = runCli({"eval", "--run", heldRun, "--json"});
        QVERIFY2(eval.exitCode == 0, qPrintable(eval.err));
        const QRegularExpressionMatch val =
            QRegularExpression("split val \\(hold-out 0.3\\): (\\d+) listed").match(eval.err);
        QVERIFY2(val.hasMatch(), qPrintable(eval.err));
        QCOMPARE(train.captured(1).toInt() + val.captured(1).toInt(), 10);
        QVERIFY(val.captured(1).toInt() >= 1);
        QVERIFY(!eval.err.contains("note: folder dataset"));
        const nlohmann::json j = parse(eval.out);
        QCOMPARE(j["split"].get<std::string>(), std::string("val"));
        // Every IoU is a float (or null for a class without pixels), also a whole one.
        for (const auto& v : j["per_class_iou"])
            QVERIFY(v.is_null() || v.is_number_float());
        QVERIFY(j["acc"].is_number_float());
    }

    void labelProblemsAreCounted()
    {
        // Label ids outside the three classes: counted per file and reported; the
        // rest of the image is evaluated.
        QDir root(tmp.path());
        const QString odd = root.filePath("oddlabels");
        primaps::testing::writeDiscAndBoxDataset(odd, 3, 40);
        cv::Mat label =
            cv::imread(QDir(odd).filePath("labels/im1.png").toStdString(), cv::IMREAD_UNCHANGED);
        label(cv::Rect(0, 0, 10, 5)).setTo(9);
        cv::imwrite(QDir(odd).filePath("labels/im1.png").toStdString(), label);
        const Run r = runCli({"eval", "--run", run, "--dataset", "folder", "--root", odd});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY2(r.err.contains("im1.png': 50 pixel(s) hold label ids that are no class"),
                 qPrintable(r.err));
        QVERIFY(r.err.contains("1 warning(s)"));
        QVERIFY(r.out.startsWith("Acc "));
    }

    void aFolderOfTheUserIsNotARunFolder()
    {
        // A fit replaces run.json, theta_m.json, history.csv... in its folder, so a
        // folder holding anything else is refused before any work, untouched.
        const QString mine = tmp.filePath("mine");
        QDir().mkpath(mine);
        std::ofstream(QDir(mine).filePath("history.csv").toStdString()) << "precious\n";
        const QStringList fitArgs = {"fit", "--cache", cache, "--epochs", "1", "--batch-size", "4"};
        const Run refused = runCli(fitArgs + QStringList{"--out", mine} + common);
        QCOMPARE(refused.exitCode, 2);
        QVERIFY2(refused.err.contains("already holds files that are not from a fit ('history.csv')"),
                 qPrintable(refused.err));
        QCOMPARE(primaps::readFile(QDir(mine).filePath("history.csv").toStdString()),
                 std::string("precious\n"));
        QVERIFY(!QFileInfo::exists(QDir(mine).filePath("run.json")));
        // A run.json that is not a run of ours is not replaced either.
        std::ofstream(QDir(mine).filePath("run.json").toStdString()) << "{\"mine\": 1}";
        const Run foreign = runCli(fitArgs + QStringList{"--out", mine} + common);
        QCOMPARE(foreign.exitCode, 2);
        QVERIFY2(foreign.err.contains("is not a run description of this tool"),
                 qPrintable(foreign.err));
        QCOMPARE(primaps::readFile(QDir(mine).filePath("run.json").toStdString()),
                 std::string("{\"mine\": 1}"));
        // A folder with only the caches of a fit stopped before its run.json is one.
        const QString started = tmp.filePath("started");
        const Run masks = runCli(QStringList{"masks", "--out", started} + common);
        QVERIFY2(masks.exitCode == 0, qPrintable(masks.err));
        QVERIFY(QFileInfo(QDir(started).filePath("cache")).isDir());
        std::ofstream(QDir(started).filePath(".DS_Store").toStdString()) << "desktop";
        const Run fit = runCli(QStringList{"fit", "--out", started, "--epochs", "1",
                                           "--batch-size", "4"} +
                               common);
        QVERIFY2(fit.exitCode == 0, qPrintable(fit.err));
        QVERIFY(fit.err.contains("masks: 10 item(s): 0 computed, 10 reused"));
    }

    void aFitTooShortForThetaMSaysSo()
    {
        // 10 images in batches of 4 are 2 steps per epoch: 3 epochs make 6 EM steps,
        // fewer than the default 10 between EMA updates of theta_M.
        const QString shortRun = tmp.filePath("short");
        const QStringList args = {"fit", "--cache", cache, "--epochs", "3", "--batch-size", "4"};
        const Run tooShort = runCli(args + QStringList{"--out", shortRun} + common);
        QVERIFY2(tooShort.exitCode == 0, qPrintable(tooShort.err));
        QVERIFY2(tooShort.err.contains("updated every 10 EM steps and this fit makes 6 (2 per "
                                       "epoch x 3 epochs), so it stays at its k-means "
                                       "initialisation"),
                 qPrintable(tooShort.err));
        const Run enough = runCli(args + QStringList{"--out", tmp.filePath("short2"),
                                                     "--ema-every", "3"} +
                                  common);
        QVERIFY2(enough.exitCode == 0, qPrintable(enough.err));
        QVERIFY2(!enough.err.contains("k-means initialisation"), qPrintable(enough.err));
        const Run kmeans = runCli(args + QStringList{"--out", tmp.filePath("short3"), "--method",
                                                     "kmeans"} +
                                  common);
        QVERIFY2(kmeans.exitCode == 0, qPrintable(kmeans.err));
        QVERIFY(!kmeans.err.contains("k-means initialisation"));
    }

    void truncatedJpegIsAWarningNotDecoderOutput()
    {
        // libjpeg prints "Premature end of JPEG file" itself; the stages decode on
        // several threads, and the user gets the project's one line instead.
        const QDir root(tmp.filePath("cutjpeg"));
        writeSample(root, "a", 3);
        writeSample(root, "b", 4);
        const cv::Mat picture = cv::imread(root.filePath("images/a.png").toStdString());
        std::vector<uchar> jpeg;
        cv::imencode(".jpg", picture, jpeg);
        const QString cut = root.filePath("images/cut.jpg");
        primaps::writeFileAtomic(cut.toStdString(),
                                 std::string(jpeg.begin(), jpeg.begin() + jpeg.size() / 2));
        const Run r = runCli({"masks", "--cache", tmp.filePath("cutcache"), "--dataset", "folder",
                              "--root", root.path(), "--resolution", "64", "--threads", "2"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY2(r.err.contains("'" + cut + "': partly decoded"), qPrintable(r.err));
#ifndef PRIMAPS_SANITIZED_BUILD // which keeps the decoders' output (StderrMute::mutes())
        QVERIFY2(!r.err.contains("Corrupt JPEG") && !r.err.contains("Premature"),
                 qPrintable(r.err));
#endif
        QVERIFY2(r.err.contains("features: 3 item(s): 3 computed, 0 reused from the cache, 0 "
                                "failed, 1 warning(s)"),
                 qPrintable(r.err));
    }

    void resolutionBelowTwoPatchesIsAUsageError()
    {
        // Refused before any image is read, with one line; at the minimum, two
        // 8-pixel patches, the whole fit runs.
        for (const char* command : {"fit", "masks"}) {
            const QString out = tmp.filePath(QString("tiny-") + command);
            const Run r = runCli(QStringList{command, "--out", out, "--dataset", "folder",
                                             "--root", ds, "--resolution", "8", "-q"});
            QCOMPARE(r.exitCode, 2);
            QVERIFY2(r.err.contains("resolution 8 is too small for backbone 'filterbank': the "
                                    "shorter side must be at least 16 pixels") &&
                         r.err.count('\n') == 1,
                     qPrintable(r.err));
            QVERIFY(!QFileInfo::exists(out + "/cache"));
        }
        const QString smallest = tmp.filePath("smallest");
        const Run fit = runCli({"fit", "--out", smallest, "--dataset", "folder", "--root", ds,
                                "--resolution", "16", "--epochs", "2", "--batch-size", "4",
                                "--ema-every", "1", "-q"});
        QVERIFY2(fit.exitCode == 0, qPrintable(fit.err));
        QVERIFY(QFileInfo::exists(QDir(smallest).filePath("theta_m.json")));
    }

    void usageErrors()
    {
        QCOMPARE(runCli(QStringList{"fit", "--out", run, "--shard", "0/2"} + common).exitCode, 2);
        // Without --dataset and --root, eval takes the run's. The folder lists val.txt
        // (4 of its 10 images), so that is what eval reads by default; the run was
        // fitted on all 10 (there is no train.txt), and eval says so.
        const Run fromRun = runCli({"eval", "--run", run, "--json"});
        QVERIFY2(fromRun.exitCode == 0, qPrintable(fromRun.err));
        QCOMPARE(parse(fromRun.out)["pixels"].get<double>(), 4.0 * 64 * 64);
        QVERIFY2(fromRun.err.contains("note: the run was fitted on every image") &&
                     fromRun.err.contains("split 'val' included") &&
                     !fromRun.err.contains("has no split list"),
                 qPrintable(fromRun.err));
        // A folder without val.txt is evaluated whole, with the other note.
        const QString unlisted = tmp.filePath("unlisted");
        primaps::testing::writeDiscAndBoxDataset(unlisted, 3, 40);
        const Run whole = runCli({"eval", "--run", run, "--root", unlisted, "--json"});
        QVERIFY2(whole.exitCode == 0, qPrintable(whole.err));
        QCOMPARE(parse(whole.out)["pixels"].get<double>(), 3.0 * 64 * 64);
        QVERIFY2(whole.err.contains("has no split list " + unlisted + "/val.txt") &&
                     whole.err.contains("--holdout") && !whole.err.contains("fitted on every"),
                 qPrintable(whole.err));
        const Run otherRoot = runCli({"eval", "--run", run, "--root", tmp.filePath("nowhere")});
        QCOMPARE(otherRoot.exitCode, 2); // the given root replaces the run's
        QVERIFY(otherRoot.err.contains("nowhere"));
        QCOMPARE(
            runCli({"eval", "--run", tmp.path(), "--dataset", "folder", "--root", ds}).exitCode,
            2); // no run.json
        const Run help = runCli({"fit", "--help"});
        QCOMPARE(help.exitCode, 0);
        QVERIFY(help.out.startsWith("Usage: primaps fit"));
    }
};

QTEST_APPLESS_MAIN(TestCliFit)
#include "tst_cli_fit.moc"
