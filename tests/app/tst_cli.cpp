// SPDX-License-Identifier: MIT
// The `primaps` command line, run as a user would: real process, temporary folder.
#include "support/npy.h"
#include "testsupport.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <random>
#include <set>

namespace {

using Run = primaps::testing::CliRun;

Run runCli(const QStringList& args)
{
    return primaps::testing::runProgram(PRIMAPS_CLI, args);
}

// A picture with three clearly different regions (BGR for imwrite).
cv::Mat threeRegionImage(int rows, int cols, unsigned seed)
{
    std::mt19937 rng(seed);
    std::normal_distribution<float> noise(0.0f, 6.0f);
    cv::Mat img(rows, cols, CV_8UC3);
    for (int y = 0; y < rows; ++y)
        for (int x = 0; x < cols; ++x) {
            cv::Vec3f c = x < cols / 3
                              ? cv::Vec3f(200, 40, 40)
                              : (y < rows / 2 ? cv::Vec3f(40, 180, 60) : cv::Vec3f(30, 60, 210));
            for (int k = 0; k < 3; ++k)
                img.at<cv::Vec3b>(y, x)[k] = cv::saturate_cast<uchar>(c[k] + noise(rng));
        }
    return img;
}

nlohmann::json readJson(const QString& path)
{
    std::ifstream in(path.toStdString());
    return nlohmann::json::parse(in);
}

} // namespace

class TestCli : public QObject
{
    Q_OBJECT

private slots:
    void versionAndHelp()
    {
        const Run version = runCli({"--version"});
        QCOMPARE(version.exitCode, 0);
        QVERIFY(version.out.startsWith("primaps "));
        QVERIFY(version.out.contains("LibTorch"));

        const Run help = runCli({"--help"});
        QCOMPARE(help.exitCode, 0);
        QVERIFY(help.out.contains("decompose"));

        const Run sub = runCli({"decompose", "--help"});
        QCOMPARE(sub.exitCode, 0);
        QVERIFY(sub.out.startsWith("Usage: primaps decompose"));
        for (const char* option : {"--out", "--threshold", "--backbone", "--features", "--resize",
                                   "--overwrite", "_masks.png", "_overlay.png", "_trace.json"})
            QVERIFY2(sub.out.contains(option), option);

        const Run none = runCli({});
        QCOMPARE(none.exitCode, 2);
        const Run unknown = runCli({"frobnicate"});
        QCOMPARE(unknown.exitCode, 2);
        QVERIFY(unknown.err.contains("frobnicate"));
    }

    void decomposesFolderAndSkipsCorruptImage()
    {
        QTemporaryDir dir;
        const QString in = dir.filePath("in");
        QVERIFY(QDir().mkpath(in));
        cv::imwrite((in + "/first.png").toStdString(), threeRegionImage(150, 210, 1));
        cv::imwrite((in + "/second.jpg").toStdString(), threeRegionImage(97, 131, 2));
        {
            QFile corrupt(in + "/broken.png");
            QVERIFY(corrupt.open(QIODevice::WriteOnly));
            corrupt.write("\x89PNG\r\n\x1a\nnot an image at all");
        }
        const QString out = dir.filePath("out");
        const Run run = runCli({"decompose", in, "--out", out});
        QCOMPARE(run.exitCode, 1);
        // Exactly one error line names the corrupt file; the summary line follows.
        const QStringList errors = run.err.split('\n', Qt::SkipEmptyParts);
        QCOMPARE(errors.size(), 2);
        QVERIFY2(errors[0].contains("broken.png"), qPrintable(errors[0]));
        QVERIFY(errors[1].contains("1 of 3"));
        QVERIFY(!QFileInfo::exists(out + "/broken_masks.png"));

        for (auto [stem, rows, cols] :
             {std::tuple{"first", 150, 210}, std::tuple{"second", 97, 131}}) {
            const QString base = out + "/" + stem;
            const cv::Mat masks =
                cv::imread((base + "_masks.png").toStdString(), cv::IMREAD_UNCHANGED);
            QCOMPARE(masks.type(), CV_8U);
            QCOMPARE(masks.size(), cv::Size(cols, rows));
            const cv::Mat overlay = cv::imread((base + "_overlay.png").toStdString());
            QCOMPARE(overlay.size(), cv::Size(cols, rows));

            const nlohmann::json trace = readJson(base + "_trace.json");
            QVERIFY(trace["threshold"].get<double>() > 0.0);
            QCOMPARE(trace["backbone"].get<std::string>(), std::string("filterbank"));
            const int count = trace["masks"].get<int>();
            QVERIFY(count >= 2);
            QCOMPARE(int(trace["iterations"].size()), count);
            QVERIFY(trace["iterations"][0].contains("area"));
            QVERIFY(trace["iterations"][0].contains("coverage_before"));
            QVERIFY(!trace["stop_reason"].get<std::string>().empty());
            QCOMPARE(trace["label_map"]["crf"].get<bool>(), true); // step 5 ran the CRF
            QCOMPARE(trace["crf"]["iterations"].get<int>(), 10);
            QCOMPARE(trace["crf"]["bilateral_sxy"].get<double>(), 67.0);
            double maxId;
            cv::minMaxLoc(masks, nullptr, &maxId);
            QVERIFY(maxId >= 1 && maxId <= count);
        }
    }

    void fileNamesThatAreNotUtf8AreNamed()
    {
        // A Latin-1 name ("caf\xe9.png") cannot be opened through Qt's UTF-8 names:
        // in a folder it is reported as a failed input (not skipped silently), the
        // rest is processed; given as an argument it is a usage error naming it.
        QTemporaryDir dir;
        const QString in = dir.filePath("in");
        QVERIFY(QDir().mkpath(in));
        cv::imwrite((in + "/good.png").toStdString(), threeRegionImage(64, 64, 3));
        const std::string latin1 = in.toStdString() + "/caf\xe9.png";
        QVERIFY(cv::imwrite(latin1, threeRegionImage(64, 64, 4)));
        const QString out = dir.filePath("out");
        const Run folder = runCli({"decompose", in, "--out", out});
        QCOMPARE(folder.exitCode, 1);
        QVERIFY2(folder.err.contains("caf\\xe9.png': the file name is not valid UTF-8"),
                 qPrintable(folder.err));
        QVERIFY2(folder.err.contains("1 of 2 inputs failed"), qPrintable(folder.err));
        QVERIFY(QFileInfo::exists(out + "/good_masks.png"));

        QProcess shell;
        shell.start("/bin/sh", {"-c", "exec \"$0\" decompose \"$(printf '%s/caf\\351.png' \"$1\")\" "
                                      "--out \"$2\"",
                                PRIMAPS_CLI, in, dir.filePath("out2")});
        QVERIFY(shell.waitForFinished(120000));
        QCOMPARE(shell.exitCode(), 2);
        const QString err = QString::fromUtf8(shell.readAllStandardError());
        QVERIFY2(err.contains("caf\\xe9.png' is not valid UTF-8"), qPrintable(err));
    }

    void decomposesFeatureArrays()
    {
        QTemporaryDir dir;
        primaps::FeatureMap f(16, 12, 20);
        std::mt19937 rng(4);
        std::normal_distribution<float> noise(0.0f, 0.05f);
        for (int y = 0; y < 12; ++y)
            for (int x = 0; x < 20; ++x)
                for (int k = 0; k < 16; ++k)
                    f.at(k, y, x) = (k == (x < 10 ? 0 : 1) ? 1.0f : 0.0f) + noise(rng);
        const QString npy = dir.filePath("feats.npy");
        primaps::writeFeaturesNpy(npy.toStdString(), f);
        const QString out = dir.filePath("out");
        const Run run =
            runCli({"decompose", "--features", npy, "--out", out, "--threshold", "0.5"});
        QCOMPARE(run.exitCode, 0);
        const cv::Mat masks =
            cv::imread((out + "/feats_masks.png").toStdString(), cv::IMREAD_UNCHANGED);
        QCOMPARE(masks.size(), cv::Size(20, 12)); // the feature grid's resolution
        QVERIFY(masks.at<uchar>(6, 2) != masks.at<uchar>(6, 17));
        const nlohmann::json trace = readJson(out + "/feats_trace.json");
        QCOMPARE(trace["threshold"].get<double>(), 0.5);
        QCOMPARE(trace["backbone"].get<std::string>(), std::string("features"));
        QCOMPARE(trace["masks"].get<int>(), 2);
    }

    void noCrfKeepsThePreCrfResult()
    {
        QTemporaryDir dir;
        const QString image = dir.filePath("pic.png");
        cv::imwrite(image.toStdString(), threeRegionImage(96, 128, 5));
        const QString out = dir.filePath("out");
        const Run run = runCli({"decompose", image, "--out", out, "--no-crf"});
        QCOMPARE(run.exitCode, 0);
        const nlohmann::json trace = readJson(out + "/pic_trace.json");
        QCOMPARE(trace["label_map"]["crf"].get<bool>(), false);
        QVERIFY(trace["crf"].is_null());
        const cv::Mat masks =
            cv::imread((out + "/pic_masks.png").toStdString(), cv::IMREAD_UNCHANGED);
        QCOMPARE(masks.size(), cv::Size(128, 96));
    }

    void neverOverwritesWithoutBeingAsked()
    {
        QTemporaryDir dir;
        const QString image = dir.filePath("pic.png");
        cv::imwrite(image.toStdString(), threeRegionImage(64, 64, 3));
        const QString out = dir.filePath("out");
        QCOMPARE(runCli({"decompose", image, "--out", out}).exitCode, 0);
        QFile masks(out + "/pic_masks.png");
        QVERIFY(masks.open(QIODevice::WriteOnly | QIODevice::Truncate));
        masks.write("user data");
        masks.close();

        const Run again = runCli({"decompose", image, "--out", out});
        QCOMPARE(again.exitCode, 1);
        QVERIFY(again.err.contains("--overwrite"));
        QVERIFY(masks.open(QIODevice::ReadOnly));
        QCOMPARE(masks.readAll(), QByteArray("user data"));
        masks.close();

        QCOMPARE(runCli({"decompose", image, "--out", out, "--overwrite"}).exitCode, 0);
        QVERIFY(!cv::imread((out + "/pic_masks.png").toStdString()).empty());
    }

    void skipExistingContinuesAnInterruptedRun()
    {
        // A run over a folder stopped after the first image: --skip-existing leaves
        // that image's outputs alone and decomposes the rest.
        QTemporaryDir dir;
        const QString in = dir.filePath("in"), out = dir.filePath("out");
        QVERIFY(QDir().mkpath(in));
        cv::imwrite((in + "/a.png").toStdString(), threeRegionImage(64, 64, 5));
        QCOMPARE(runCli({"decompose", in, "--out", out}).exitCode, 0);
        cv::imwrite((in + "/b.png").toStdString(), threeRegionImage(64, 64, 6));
        const QDateTime before = QFileInfo(out + "/a_masks.png").lastModified();
        const Run plain = runCli({"decompose", in, "--out", out});
        QCOMPARE(plain.exitCode, 1);
        QVERIFY2(plain.err.contains("--skip-existing"), qPrintable(plain.err));
        QFile::remove(out + "/b_masks.png");
        QFile::remove(out + "/b_overlay.png");
        QFile::remove(out + "/b_trace.json");
        const Run resumed = runCli({"decompose", in, "--out", out, "--skip-existing"});
        QVERIFY2(resumed.exitCode == 0, qPrintable(resumed.err));
        QVERIFY2(resumed.err.contains("1 input(s) skipped: their outputs exist"),
                 qPrintable(resumed.err));
        QVERIFY(resumed.out.contains("b.png:") && !resumed.out.contains("a.png:"));
        QVERIFY(QFileInfo::exists(out + "/b_masks.png"));
        QCOMPARE(QFileInfo(out + "/a_masks.png").lastModified(), before);
        // The input an interruption cut short (only some outputs) is done again.
        QFile::remove(out + "/a_overlay.png");
        const Run partial = runCli({"decompose", in, "--out", out, "--skip-existing"});
        QVERIFY2(partial.exitCode == 0, qPrintable(partial.err));
        QVERIFY(partial.out.contains("a.png:") && !partial.out.contains("b.png:"));
        QVERIFY(QFileInfo::exists(out + "/a_overlay.png"));
        QCOMPARE(runCli({"decompose", in, "--out", out, "--skip-existing", "--overwrite"}).exitCode,
                 2);
    }

    void reportsProposalsAndWhatTheLabelMapKeeps()
    {
        QTemporaryDir dir;
        const QString image = dir.filePath("pic.png");
        cv::imwrite(image.toStdString(), threeRegionImage(96, 128, 7));
        const QString out = dir.filePath("out");
        const Run run = runCli({"decompose", image, "--out", out, "--threads", "1"});
        QVERIFY2(run.exitCode == 0, qPrintable(run.err));
        const nlohmann::json trace = readJson(out + "/pic_trace.json");
        const cv::Mat masks =
            cv::imread((out + "/pic_masks.png").toStdString(), cv::IMREAD_UNCHANGED);
        // The trace's counts are those of the written label map.
        std::set<int> ids;
        int unassigned = 0;
        for (int y = 0; y < masks.rows; ++y)
            for (int x = 0; x < masks.cols; ++x) {
                const int id = masks.at<uchar>(y, x);
                unassigned += id == 0;
                if (id != 0)
                    ids.insert(id);
            }
        QCOMPARE(trace["label_map"]["ids_kept"].get<int>(), int(ids.size()));
        QCOMPARE(trace["label_map"]["unassigned_share"].get<double>(),
                 double(unassigned) / double(masks.total()));
        const QString expected = QString("%1 proposals").arg(trace["masks"].get<int>());
        QVERIFY2(run.out.contains(expected), qPrintable(run.out));
        QVERIFY2(run.out.contains(QString("%1 in the label map").arg(ids.size())),
                 qPrintable(run.out));
        QVERIFY(run.out.contains("% unassigned"));
    }

    void truncatedImageIsAWarningOrWithStrictAFailure()
    {
        QTemporaryDir dir;
        std::vector<uchar> jpeg;
        cv::imencode(".jpg", threeRegionImage(120, 160, 9), jpeg);
        const QString image = dir.filePath("cut.jpg");
        QFile f(image);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(reinterpret_cast<const char*>(jpeg.data()), qint64(jpeg.size() / 2));
        f.close();
        const Run run = runCli({"decompose", image, "--out", dir.filePath("out")});
        QCOMPARE(run.exitCode, 0);
        QVERIFY2(run.err.contains("cut.jpg") && run.err.contains("partly decoded"),
                 qPrintable(run.err));
#ifndef PRIMAPS_SANITIZED_BUILD // which keeps the decoders' output (StderrMute::mutes())
        QVERIFY2(!run.err.contains("Premature end"), qPrintable(run.err)); // libjpeg's own line
#endif
        QVERIFY(QFileInfo::exists(dir.filePath("out/cut_masks.png")));
        const Run strict =
            runCli({"decompose", image, "--out", dir.filePath("strict"), "--strict"});
        QCOMPARE(strict.exitCode, 1);
        QVERIFY(!QFileInfo::exists(dir.filePath("strict")));
    }

    // A 1x1 image is enlarged to one colour and gives no proposal: it is said why.
    void tooSmallImageIsNamedWithItsSize()
    {
        QTemporaryDir dir;
        const QString image = dir.filePath("dot.png");
        cv::imwrite(image.toStdString(), cv::Mat(1, 1, CV_8UC3, cv::Scalar(10, 200, 30)));
        const Run run = runCli({"decompose", image, "--out", dir.filePath("out"), "--no-crf"});
        QCOMPARE(run.exitCode, 0);
        QVERIFY2(run.err.contains("note: '" + image + "': 1x1 pixels: too small for a feature map") &&
                     run.err.contains("8-pixel patch"),
                 qPrintable(run.err));
        // An image of a patch or more says nothing of the kind.
        cv::imwrite(dir.filePath("patch.png").toStdString(), threeRegionImage(8, 8, 2));
        const Run patch =
            runCli({"decompose", dir.filePath("patch.png"), "--out", dir.filePath("out"), "--no-crf"});
        QCOMPARE(patch.exitCode, 0);
        QVERIFY2(!patch.err.contains("too small"), qPrintable(patch.err));
    }

    void splitHelpSaysWhatEachCommandDoes()
    {
        // One --split option, three meanings and defaults.
        auto splitHelp = [](const char* command) {
            const QString help = runCli({command, "--help"}).out;
            const int at = help.indexOf("--split <NAME>");
            return help.mid(at, help.indexOf("\n  -", at + 1) - at).simplified();
        };
        const QString exportHelp = splitHelp("export");
        QVERIFY2(exportHelp.contains("Split to export (default: the split the run was fitted on") &&
                     !exportHelp.contains("for eval"),
                 qPrintable(exportHelp));
        const QString evalHelp = splitHelp("eval");
        QVERIFY2(evalHelp.contains("Split to evaluate (default: val;"), qPrintable(evalHelp));
        QVERIFY2(splitHelp("fit").contains("Split to fit on (default: train;"),
                 qPrintable(splitHelp("fit")));
        QVERIFY2(splitHelp("masks").contains("(default: train;"), qPrintable(splitHelp("masks")));
    }

    // A thin image inside the aspect limit: resized to 320 on its shorter side it
    // would have 16000x320 pixels; the processing budget shrinks it (aspect kept)
    // and says so, and the label map still covers the original.
    void thinImageIsProcessedWithinTheBudget()
    {
        QTemporaryDir dir;
        const QString image = dir.filePath("thin strip.png");
        cv::imwrite(image.toStdString(), threeRegionImage(10, 500, 3));
        const QString out = dir.filePath("out");
        const Run run = runCli({"decompose", image, "--out", out, "--no-crf",
                                "--max-processing-pixels", "65536"});
        QCOMPARE(run.exitCode, 0);
        QVERIFY2(run.err.contains("thin strip.png") && run.err.contains("instead of 16000x320") &&
                     run.err.contains("--max-processing-pixels"),
                 qPrintable(run.err));
        const cv::Mat masks =
            cv::imread((out + "/thin strip_masks.png").toStdString(), cv::IMREAD_UNCHANGED);
        QCOMPARE(masks.size(), cv::Size(500, 10));
        // Within the budget nothing is said.
        const Run small = runCli({"decompose", dir.filePath("thin strip.png"), "--out",
                                  dir.filePath("small"), "--no-crf", "--resize", "16"});
        QCOMPARE(small.exitCode, 0);
        QVERIFY2(!small.err.contains("processing budget"), qPrintable(small.err));
    }

    void eachCommandListsItsOwnOptions()
    {
        const Run masks = runCli({"masks", "--help"});
        QCOMPARE(masks.exitCode, 0);
        for (const char* fitOnly : {"--method", "--epochs", "--lr", "--val-split", "--restart"})
            QVERIFY2(!masks.out.contains(fitOnly), fitOnly);
        QVERIFY(!masks.out.contains("fit (default)"));
        for (const char* own :
             {"--cache", "--stage", "--shard", "--threads", "--max-pixels", "--holdout"})
            QVERIFY2(masks.out.contains(own), own);
        const Run fit = runCli({"fit", "--help"});
        for (const char* option : {"--method", "--epochs", "--lr", "--val-split", "--threads"})
            QVERIFY2(fit.out.contains(option), option);
        for (const char* command :
             {"decompose", "masks", "fit", "eval", "export", "features", "backbones"}) {
            const Run help = runCli({command, "--help"});
            QVERIFY2(!help.out.contains("DESIGN"), command);
            if (QString(command) != "backbones")
                QVERIFY2(help.out.contains("--threads"), command);
        }
    }

    void badArgumentsAreUsageErrors()
    {
        QTemporaryDir dir;
        QCOMPARE(runCli({"decompose", "x.png"}).exitCode, 2);             // no --out
        QCOMPARE(runCli({"decompose", "--out", dir.path()}).exitCode, 2); // no input
        const Run backbone =
            runCli({"decompose", "x.png", "--out", dir.path(), "--backbone", "nope"});
        QCOMPARE(backbone.exitCode, 2);
        QVERIFY(backbone.err.contains("nope"));
        QCOMPARE(runCli({"decompose", "x.png", "--out", dir.path(), "--threshold", "1.5"}).exitCode,
                 2);
        const Run missing = runCli({"decompose", dir.filePath("missing.png"), "--out", dir.path()});
        QCOMPARE(missing.exitCode, 1);
        QVERIFY(missing.err.contains("missing.png"));
    }
};

QTEST_GUILESS_MAIN(TestCli)
#include "tst_cli.moc"
