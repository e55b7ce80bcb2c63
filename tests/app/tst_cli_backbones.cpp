// SPDX-License-Identifier: MIT
// `primaps backbones`, `primaps features` and `decompose --weights`, run as a user would:
// real process, temporary folder, an environment that points every model folder into it.
#include "support/npy.h"

// LibTorch before Qt: Qt's `slots` macro breaks its headers.
#include <torch/script.h>

#include <opencv2/imgcodecs.hpp>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include "testsupport.h"

using primaps::NpyArray;
using primaps::readNpy;

namespace {

const QString kVitData = PRIMAPS_TEST_DATA_DIR "/vit/";

using Run = primaps::testing::CliRun;

} // namespace

class TestCliBackbones : public QObject
{
    Q_OBJECT

    QTemporaryDir dir;

    Run runCli(const QStringList& args)
    {
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert("PRIMAPS_MODELS_DIR", dir.filePath("models"));
        env.insert("XDG_DATA_HOME", dir.filePath("data"));
        env.insert("TORCH_HOME", dir.filePath("torch"));
        return primaps::testing::runProgram(PRIMAPS_CLI, args, dir.path(), env);
    }

    QString image(int rows, int cols)
    {
        cv::Mat bgr(rows, cols, CV_8UC3);
        for (int y = 0; y < rows; ++y)
            for (int x = 0; x < cols; ++x)
                bgr.at<cv::Vec3b>(y, x) = cv::Vec3b(uchar(3 * x), uchar(5 * y), uchar(x * y));
        const QString path = dir.filePath(QString("img_%1x%2.png").arg(cols).arg(rows));
        cv::imwrite(path.toStdString(), bgr);
        return path;
    }

    // A TorchScript backbone made here: an 8x8 patch embedding to 16 channels,
    // the contract of models/export_torchscript.py (1x3xHxW -> 1xCxhxw).
    QString scriptedModule()
    {
        const QString path = dir.filePath("patch8.pt");
        if (!QFileInfo::exists(path)) {
            torch::jit::Module module("PatchEmbedding");
            at::manual_seed(3);
            module.register_parameter("weight", at::randn({16, 3, 8, 8}) * 0.05, false);
            module.define(R"(
def forward(self, x):
    return torch.conv2d(x, self.weight, None, [8, 8])
)");
            module.save(path.toStdString());
        }
        return path;
    }

private slots:
    void initTestCase() { QVERIFY(QDir().mkpath(dir.filePath("models"))); }

    void listsBackbonesAndFolders()
    {
        const Run r = runCli({"backbones"});
        QCOMPARE(r.exitCode, 0);
        for (const char* name : {"filterbank", "filterbank-v1", "dino_vits8", "dino_vitb8", "dino_vits16",
                                 "dino_vitb16", "dinov2_vits14", "dinov2_vitb14", "torchscript"})
            QVERIFY2(r.out.contains(name), name);
        QVERIFY(r.out.contains("https://dl.fbaipublicfiles.com/dinov2/dinov2_vitb14/"
                               "dinov2_vitb14_pretrain.pth"));
        QVERIFY(r.out.contains(dir.filePath("models")));
        QVERIFY(r.out.contains(dir.filePath("torch") + "/hub/checkpoints"));
        QVERIFY(r.out.contains("missing dino_deitsmall8_pretrain.pth"));

        // A file under the published name is found (this one is the tiny test ViT, so
        // its size is flagged).
        const QString planted = dir.filePath("models/dino_deitsmall8_pretrain.pth");
        QVERIFY(QFile::copy(kVitData + "dino_tiny.pth", planted));
        const Run found = runCli({"backbones"});
        QVERIFY(found.out.contains("found: " + planted + "  (unexpected size"));

        const Run json = runCli({"backbones", "--json"});
        QCOMPARE(json.exitCode, 0);
        const QJsonObject doc = QJsonDocument::fromJson(json.out.toUtf8()).object();
        const QJsonArray list = doc["backbones"].toArray();
        QCOMPARE(list.size(), 9);
        QCOMPARE(list[0].toObject()["version"].toInt(), 2);
        QCOMPARE(list[8].toObject()["name"].toString(), QString("filterbank-v1"));
        QCOMPARE(list[8].toObject()["version"].toInt(), 1);
        QCOMPARE(list[1].toObject()["name"].toString(), QString("dino_vits8"));
        QCOMPARE(list[1].toObject()["available"].toBool(), true);
        QCOMPARE(list[2].toObject()["available"].toBool(), false);
        QCOMPARE(doc["search_folders"].toArray()[0].toString(), dir.filePath("models"));
        QVERIFY(QFile::remove(planted));
    }

    void extractsFeatures()
    {
        const QString img = image(200, 300); // resized to 320 x 480 by default
        const Run r = runCli({"features", img, "--out", "f.npy"});
        QCOMPARE(r.exitCode, 0);
        QVERIFY(r.out.contains("filterbank features 215 x 40 x 60"));
        const NpyArray a = readNpy(dir.filePath("f.npy").toStdString());
        QCOMPARE(a.shape, (std::vector<std::int64_t>{215, 40, 60}));
        QCOMPARE(a.dtype, std::string("<f4"));

        const Run crop = runCli({"features", img, "--crop", "--resize", "160", "--out", "c.npy"});
        QCOMPARE(crop.exitCode, 0);
        QCOMPARE(readNpy(dir.filePath("c.npy").toStdString()).shape,
                 (std::vector<std::int64_t>{215, 20, 20}));

        // The exported tiny ViT through the TorchScript contract, with flip averaging.
        const Run ts = runCli({"features", img, "--backbone", "torchscript", "--weights",
                               scriptedModule(), "--crop", "--flip-average", "--out", "t.npy"});
        QCOMPARE(ts.exitCode, 0);
        QCOMPARE(readNpy(dir.filePath("t.npy").toStdString()).shape,
                 (std::vector<std::int64_t>{16, 40, 40}));

        const Run again = runCli({"features", img, "--out", "f.npy"});
        QCOMPARE(again.exitCode, 2);
        QVERIFY(again.err.contains("--overwrite"));
    }

    void explainsMissingOrWrongWeights()
    {
        const QString img = image(64, 64);
        const Run missing =
            runCli({"features", img, "--backbone", "dino_vitb16", "--out", "x.npy"});
        QCOMPARE(missing.exitCode, 2);
        QVERIFY(missing.err.contains("https://dl.fbaipublicfiles.com/dino/dino_vitbase16_pretrain/"
                                     "dino_vitbase16_pretrain.pth"));
        QVERIFY(missing.err.contains("--weights"));
        QVERIFY(!QFileInfo::exists(dir.filePath("x.npy")));

        const Run wrong = runCli({"features", img, "--backbone", "dino_vits8", "--weights",
                                  kVitData + "dinov2_tiny.pth", "--out", "x.npy"});
        QCOMPARE(wrong.exitCode, 2);
        QVERIFY2(wrong.err.contains("holds a DINOv2 ViT with 16-d tokens"), qPrintable(wrong.err));

        const Run unknown =
            runCli({"features", img, "--backbone", "dino_vitl14", "--out", "x.npy"});
        QCOMPARE(unknown.exitCode, 2);
        QVERIFY(unknown.err.contains("unknown backbone 'dino_vitl14'"));

        const Run noOut = runCli({"features", img});
        QCOMPARE(noOut.exitCode, 2);
        QVERIFY(noOut.err.contains("--out"));
    }

    void decomposeTakesWeights()
    {
        const QString img = image(96, 128);
        const Run r = runCli({"decompose", img, "--backbone", "torchscript", "--weights",
                              scriptedModule(), "--out", "dec", "--no-crf"});
        QCOMPARE(r.exitCode, 0);
        QVERIFY(QFileInfo::exists(dir.filePath("dec/img_128x96_masks.png")));

        // CUDA only on request, and a clear refusal where LibTorch has none (Debian's).
        const Run cuda = runCli({"features", img, "--backbone", "torchscript", "--weights",
                                 scriptedModule(), "--device", "cuda", "--out", "cuda.npy"});
        if (!at::hasCUDA()) {
            QCOMPARE(cuda.exitCode, 2);
            QVERIFY2(cuda.err.contains("CUDA was requested"), qPrintable(cuda.err));
        } else {
            QCOMPARE(cuda.exitCode, 0);
        }
        QCOMPARE(runCli({"decompose", img, "--device", "tpu", "--out", "dec3"}).exitCode, 2);

        const Run missing =
            runCli({"decompose", img, "--backbone", "torchscript", "--out", "dec2"});
        QCOMPARE(missing.exitCode, 2);
        QVERIFY(missing.err.contains("--weights"));
    }
};

QTEST_GUILESS_MAIN(TestCliBackbones)
#include "tst_cli_backbones.moc"
