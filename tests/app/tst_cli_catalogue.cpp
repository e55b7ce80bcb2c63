// SPDX-License-Identifier: MIT
// The bad-input catalogue: every row is one hostile or mistaken input to the
// real `primaps` executable, with the exact exit code it must give, a piece of
// the message it must print, and the promise that it creates or changes no file.
//
// Fixtures are made here, small: a header can claim 30000x30000 pixels in a
// few bytes. What is watched is the whole fixture tree (inputs, outputs and run
// folders) except `scratch/`, the feature caches: a command that has started
// its per-image work may have made a cache folder there, which is working
// state, not output.
#include "matfixture.h"
#include "runs/project.h"
#include "support/atomicfile.h"
#include "support/npy.h"
#include "testsupport.h"

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <QCryptographicHash>
#include <QDirIterator>
#include <QTemporaryDir>
#include <QtTest>

namespace {

using Run = primaps::testing::CliRun;

void writeBytes(const QString& path, const std::string& bytes)
{
    QDir().mkpath(QFileInfo(path).path());
    std::ofstream(path.toStdString(), std::ios::binary) << bytes;
}

std::string readBytes(const QString& path)
{
    std::ifstream in(path.toStdString(), std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string encoded(const cv::Mat& img, const char* ext)
{
    std::vector<uchar> buffer;
    cv::imencode(ext, img, buffer);
    return std::string(buffer.begin(), buffer.end());
}

void putBe32(std::string& s, std::size_t at, std::uint32_t v)
{
    for (int i = 0; i < 4; ++i)
        s[at + std::size_t(i)] = char((v >> (24 - 8 * i)) & 0xFF);
}

void putLe32(std::string& s, std::size_t at, std::uint32_t v)
{
    for (int i = 0; i < 4; ++i)
        s[at + std::size_t(i)] = char((v >> (8 * i)) & 0xFF);
}

// A PNG, JPEG or BMP whose header claims another size than its pixels have: the
// budget must refuse it from the header alone.
std::string pngClaiming(std::uint32_t w, std::uint32_t h)
{
    std::string s = encoded(primaps::testing::patternedImage(8, 8), ".png");
    putBe32(s, 16, w);
    putBe32(s, 20, h);
    return s;
}

std::string jpegClaiming(std::uint16_t w, std::uint16_t h)
{
    std::string s = encoded(primaps::testing::patternedImage(16, 16), ".jpg");
    const std::size_t sof = s.find("\xFF\xC0");
    s[sof + 5] = char(h >> 8), s[sof + 6] = char(h & 0xFF);
    s[sof + 7] = char(w >> 8), s[sof + 8] = char(w & 0xFF);
    return s;
}

std::string bmpClaiming(std::uint32_t w, std::uint32_t h)
{
    std::string s = encoded(primaps::testing::patternedImage(8, 8), ".bmp");
    putLe32(s, 18, w);
    putLe32(s, 22, h);
    return s;
}

std::string webpClaiming(std::uint32_t w, std::uint32_t h)
{
    std::string s("RIFF\x16\0\0\0WEBPVP8X\x0a\0\0\0", 20);
    s += std::string(10, '\0');
    for (int i = 0; i < 3; ++i) {
        s[24 + std::size_t(i)] = char(((w - 1) >> (8 * i)) & 0xFF);
        s[27 + std::size_t(i)] = char(((h - 1) >> (8 * i)) & 0xFF);
    }
    return s;
}

std::string tiffClaiming(std::uint32_t w, std::uint32_t h)
{
    std::string s("II*\0\x08\0\0\0\x02\0", 10);
    for (auto [tag, value] : {std::pair{256, w}, std::pair{257, h}}) {
        std::string e(12, '\0');
        e[0] = char(tag & 0xFF), e[1] = char(tag >> 8), e[2] = 4, e[4] = 1;
        putLe32(e, 8, value);
        s += e;
    }
    return s + std::string(4, '\0');
}

// Every file under `root` except scratch/, with a digest of its content.
std::map<QString, QByteArray> snapshot(const QString& root)
{
    std::map<QString, QByteArray> files;
    QDirIterator it(root, QDir::Files | QDir::Hidden | QDir::NoDotAndDotDot,
                    QDirIterator::Subdirectories);
    while (it.hasNext()) {
        const QString path = it.next();
        const QString relative = QDir(root).relativeFilePath(path);
        if (relative.startsWith("scratch/"))
            continue;
        QFile f(path);
        f.open(QIODevice::ReadOnly);
        files[relative] = QCryptographicHash::hash(f.readAll(), QCryptographicHash::Sha1);
    }
    return files;
}

} // namespace

class TestCliCatalogue : public QObject
{
    Q_OBJECT

    QTemporaryDir tmp;
    QString fx; ///< the fixture root

    QString at(const QString& relative) const { return QDir(fx).filePath(relative); }

    void folderDataset(const QString& name, int images, bool labels = true)
    {
        primaps::testing::writeDiscAndBoxDataset(at(name), images, 1);
        if (!labels)
            QVERIFY(QDir(at(name + "/labels")).removeRecursively());
    }

private slots:
    void initTestCase()
    {
        QVERIFY(tmp.isValid());
        fx = tmp.path();
        const cv::Mat good = primaps::testing::patternedImage(48, 64);
        writeBytes(at("img/good.png"), encoded(good, ".png"));
        writeBytes(at("img/thin.png"), encoded(primaps::testing::patternedImage(2, 3000), ".png"));
        writeBytes(at("img/claims30k.png"), pngClaiming(30000, 30000));
        writeBytes(at("img/claims81mp.png"), pngClaiming(9000, 9000));
        writeBytes(at("img/claims.jpg"), jpegClaiming(60000, 60000));
        writeBytes(at("img/claims.bmp"), bmpClaiming(100000, 100000));
        writeBytes(at("img/claims.webp"), webpClaiming(16384, 16384));
        writeBytes(at("img/claims.tif"), tiffClaiming(50000, 50000));
        writeBytes(at("img/claims.ppm"), "P6\n40000 40000\n255\n" + std::string(64, 'x'));
        writeBytes(at("img/zero.png"), pngClaiming(0, 10));
        const std::string photo = encoded(primaps::testing::patternedImage(240, 320), ".jpg");
        writeBytes(at("img/truncated.jpg"), photo.substr(0, photo.size() / 3));
        writeBytes(at("img/headonly.jpg"), photo.substr(0, 40));
        const std::string png = encoded(primaps::testing::patternedImage(240, 320), ".png");
        writeBytes(at("img/truncated.png"), png.substr(0, png.size() / 2));
        writeBytes(at("img/empty.png"), "");
        writeBytes(at("img/text.png"), "this is a text file, not a picture\n");
        writeBytes(at("img/anim.gif"), "GIF89a\x10\0\x10\0\0\0\0;");
        QDir().mkpath(at("img/folder.png"));
        writeBytes(at("img/existing.npy"), "keep me");
        writeBytes(at("img/existing.txt"), "keep me");
        // decompose output that exists already
        QDir().mkpath(at("decomposed"));
        writeBytes(at("decomposed/good_masks.png"), "user data");

        // .npy feature arrays
        const std::string npyMagic("\x93NUMPY\x01\x00", 8);
        auto npy = [&](const std::string& descr, const std::string& shape, std::size_t bytes) {
            std::string header =
                "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + shape + "), }";
            header.append(63 - (10 + header.size()) % 64, ' ');
            header += '\n';
            std::string s = npyMagic;
            s += char(header.size() & 0xFF);
            s += char(header.size() >> 8);
            return s + header + std::string(bytes, '\0');
        };
        writeBytes(at("npy/badmagic.npy"), "PK\x03\x04 not numpy");
        writeBytes(at("npy/truncated.npy"), npy("<f4", "16, 8, 8", 100));
        writeBytes(at("npy/flat.npy"), npy("<f4", "16, 64", 16 * 64 * 4));
        writeBytes(at("npy/complex.npy"), npy("<c8", "4, 4, 4", 4 * 4 * 4 * 8));
        writeBytes(at("npy/noshape.npy"), npy("<f4", "", 4).replace(10, 60, std::string(60, ' ')));
        {
            primaps::FeatureMap nan(4, 4, 4);
            nan.at(1, 2, 3) = std::numeric_limits<float>::quiet_NaN();
            primaps::writeFeaturesNpy(at("npy/nan.npy").toStdString(), nan);
        }

        // checkpoints and TorchScript files
        writeBytes(at("models/garbage.pth"), "not a checkpoint at all");
        writeBytes(at("models/empty.pth"), "");
        writeBytes(at("models/plainzip.pth"), std::string("PK\x05\x06", 4) + std::string(18, '\0'));
        writeBytes(at("models/garbage.pt"), "not a TorchScript archive");

        // dataset trees
        folderDataset("ds", 6);
        QDir().mkpath(at("noimages/labels"));
        QDir().mkpath(at("emptyimages/images"));
        folderDataset("escape", 2);
        writeBytes(at("escape/train.txt"), "im0\n../../etc/passwd\n");
        folderDataset("manyclasses", 2);
        {
            std::string lines;
            for (int i = 0; i < 300; ++i)
                lines += "class" + std::to_string(i) + "\n";
            writeBytes(at("manyclasses/classes.txt"), lines);
        }
        folderDataset("missingimage", 2);
        writeBytes(at("missingimage/train.txt"), "im0\nim1\nghost\n");
        folderDataset("badids", 2);
        writeBytes(at("badids/labels/im0.png"),
                   encoded(cv::Mat(48, 64, CV_8UC1, cv::Scalar(7)), ".png"));
        folderDataset("wrongsize", 2);
        writeBytes(at("wrongsize/labels/im0.png"),
                   encoded(cv::Mat(10, 10, CV_8UC1, cv::Scalar(1)), ".png"));
        folderDataset("colourlabel", 2);
        writeBytes(at("colourlabel/labels/im0.png"),
                   encoded(primaps::testing::patternedImage(48, 64), ".png"));
        folderDataset("nolabels", 3, false);
        folderDataset("hugeimage", 2);
        writeBytes(at("hugeimage/images/im0.png"), pngClaiming(30000, 30000));
        folderDataset("truncimage", 2);
        writeBytes(at("truncimage/images/im0.jpg"), photo.substr(0, photo.size() / 3));
        QFile::remove(at("truncimage/images/im0.png"));
        QDir().mkpath(at("cityscapes/gtFine"));
        QDir().mkpath(at("coco/images"));
        QDir().mkpath(at("potsdam/imgs"));
        writeBytes(at("potsdam_bad/labelled_train.txt"), "a\nb\nc\n");
        writeBytes(at("potsdam_bad/imgs/a.mat"), "MATLAB 5.0 MAT-file, but nothing follows");
        writeMat<double>(at("potsdam_var/imgs/a.mat").toStdString(), "picture", MAT_C_DOUBLE,
                         MAT_T_DOUBLE, {4, 4, 3}, std::vector<double>(48, 0.5));
        writeBytes(at("potsdam_var/labelled_train.txt"), "a\n");
        writeMat<double>(at("potsdam_grey/imgs/a.mat").toStdString(), "img", MAT_C_DOUBLE,
                         MAT_T_DOUBLE, {4, 4}, std::vector<double>(16, 0.5));
        writeBytes(at("potsdam_grey/labelled_train.txt"), "a\n");
        // The MAT 7.3 (HDF5) file that crashed libhdf5 inside matio (a fuzz finding).
        writeBytes(at("potsdam_hdf5/imgs/a.mat"),
                   readBytes(PRIMAPS_SOURCE_DIR
                             "/fuzz/regressions/mat/v73-hdf5-crashes-in-mat-open.mat"));
        QVERIFY(readBytes(at("potsdam_hdf5/imgs/a.mat")).rfind("MATLAB 7.3 MAT-file", 0) == 0);
        writeBytes(at("potsdam_hdf5/labelled_train.txt"), "a\n");

        // a fitted run, and damaged copies of it
        const QStringList common = {
            "--dataset",         "folder", "--root", at("ds"), "--resolution", "64", "--cache",
            at("scratch/cache"), "-q"};
        const Run fit = run(
            QStringList{"fit", "--out", at("run"), "--epochs", "1", "--batch-size", "3"} + common);
        QVERIFY2(fit.exitCode == 0, qPrintable(fit.err));
        const Run eval = run({"eval", "--run", at("run"), "--json", "-q"});
        QVERIFY2(eval.exitCode == 0, qPrintable(eval.err));
        writeBytes(at("eval.json"), eval.out.toStdString());
        writeBytes(at("partial.json"), "a partial of someone else's");
        QDir().mkpath(at("norun"));
        QDir().mkpath(at("garbagerun"));
        writeBytes(at("garbagerun/run.json"), "{ this is not json");
        QDir().mkpath(at("notheta"));
        writeBytes(at("notheta/run.json"), readBytes(at("run/run.json")));
        QDir().mkpath(at("badtheta"));
        writeBytes(at("badtheta/run.json"), readBytes(at("run/run.json")));
        writeBytes(at("badtheta/theta_m.json"), "[1, 2, 3]");
        QDir().mkpath(at("unfinished"));
        std::string unfinished = readBytes(at("run/run.json"));
        const std::size_t complete = unfinished.find("\"complete\": true");
        QVERIFY(complete != std::string::npos);
        unfinished.replace(complete, 16, "\"complete\": false");
        writeBytes(at("unfinished/run.json"), unfinished);
        // run.json and theta_m.json with one floating-point field set to `value`
        const nlohmann::json runJson = nlohmann::json::parse(readBytes(at("run/run.json")));
        auto runVariant = [&](const char* name, const char* key, const nlohmann::json& value) {
            nlohmann::json j = runJson;
            j[key] = value;
            writeBytes(at(QString(name) + "/run.json"), j.dump(2));
        };
        runVariant("lrnegative", "learning_rate", -0.5);
        runVariant("threshold1e300", "threshold", 1e300);
        runVariant("emastring", "ema_decay", "fast");
        runVariant("holdout1.5", "holdout", 1.5);
        runVariant("ridgenull", "whiten_ridge", nullptr);
        const nlohmann::json theta = nlohmann::json::parse(readBytes(at("run/theta_m.json")));
        auto thetaVariant = [&](const char* name, const char* key, const nlohmann::json& value) {
            nlohmann::json t = theta;
            QVERIFY(t[key].is_array() && !t[key].empty());
            t[key][0] = value;
            writeBytes(at(QString(name) + "/run.json"), readBytes(at("run/run.json")));
            writeBytes(at(QString(name) + "/theta_m.json"), t.dump());
        };
        thetaVariant("gain1e300", "gain", 1e300);
        thetaVariant("directionstring", "direction", "x");

        // studio project files (*.primaps): one good project over the fixtures above,
        // and damaged or hostile variants of its text
        primaps::Project project;
        project.images = {at("img/good.png").toStdString()};
        project.runDir = at("run").toStdString();
        project.backbone = "filterbank";
        project.correctionsDir = at("proj/good.corrections").toStdString();
        const std::string projectText =
            primaps::projectToJson(project, at("proj/good.primaps").toStdString());
        writeBytes(at("proj/good.primaps"), projectText);
        auto variant = [&](const char* name, const std::string& from, const std::string& to) {
            std::string text = projectText;
            const std::size_t where = text.find(from);
            QVERIFY2(where != std::string::npos, from.c_str());
            writeBytes(at(QString("proj/") + name), text.replace(where, from.size(), to));
        };
        // Paths outside the project's folder are stored absolute.
        auto quoted = [&](const char* relative) {
            return "\"" + at(relative).toStdString() + "\"";
        };
        const std::string image = quoted("img/good.png"), run = "\"run\": " + quoted("run");
        writeBytes(at("proj/truncated.primaps"), projectText.substr(0, projectText.size() / 2));
        writeBytes(at("proj/empty.primaps"), "");
        writeBytes(at("proj/badjson.primaps"), "{\"format\": \"primaps-project\",, }");
        writeBytes(at("proj/array.primaps"), "[\"primaps-project\", 1]");
        variant("newer.primaps", "\"version\": 1", "\"version\": 2");
        variant("version0.primaps", "\"version\": 1", "\"version\": 0");
        variant("runfile.primaps", "\"primaps-project\"", "\"primaps-run\"");
        variant("norunfolder.primaps", run, "\"run\": " + quoted("gone"));
        variant("runnojson.primaps", run, "\"run\": " + quoted("norun"));
        variant("noimage.primaps", image, quoted("img/gone.png"));
        variant("nodataset.primaps", "\"dataset\": null",
                "\"dataset\": {\"kind\": \"folder\", \"root\": \"../gone\", "
                "\"split\": \"\", \"classes\": 0}");
        variant("nocheckpoint.primaps", "\"checkpoint\": \"\"", "\"checkpoint\": \"vit.pth\"");
        variant("correctionsfile.primaps", "\"good.corrections\"", quoted("img/existing.txt"));
        variant("device.primaps", image, "\"/dev/zero\"");
        variant("folderimage.primaps", image, "\"../../../../../../../../../../../etc\"");
        variant("nul.primaps", image, "\"good.png\\u0000../../etc/passwd\"");
        variant("newline.primaps", run, "\"run\": \"run\\nprimaps: all is well\"");
        variant("longname.primaps", image, "\"" + std::string(5000, 'a') + ".png\"");
        QDir().mkpath(at("proj/folder.primaps"));
        auto thresholdVariant = [&](const char* name, const nlohmann::json& value) {
            nlohmann::json j = nlohmann::json::parse(projectText);
            j["parameters"]["threshold"] = value;
            writeBytes(at(QString("proj/") + name), j.dump(2));
        };
        thresholdVariant("threshold1e300.primaps", 1e300);
        thresholdVariant("thresholdstring.primaps", "high");
        {
            // 17 MB, sparse, under scratch/ so that the snapshots skip it
            QDir().mkpath(at("scratch"));
            QFile huge(at("scratch/huge.primaps"));
            QVERIFY(huge.open(QIODevice::WriteOnly) && huge.resize(17 << 20));
        }
    }

    void catalogue_data()
    {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<int>("exitCode");
        QTest::addColumn<QString>("message");
        // "@" stands for the fixture root.
        auto row = [this](const char* name, QStringList args, int code, const char* message) {
            QTest::newRow(name) << args << code << QString(message);
            ++rows;
        };
        const QStringList dec = {"decompose", "--out", "@/out"};
        const QStringList ds = {"--dataset", "folder", "--root", "@/ds", "--resolution", "64"};
        const QStringList masks = QStringList{"masks", "--cache", "@/scratch/c"} + ds;
        // `masks` on the dataset of layout `kind` at `root` (a fixture), then `extra`.
        auto masksOn = [](const char* kind, const char* root, const QStringList& extra = {}) {
            const QStringList layout = {"--dataset", kind, "--root", root};
            return QStringList{"masks", "--cache", "@/scratch/c"} + layout + extra;
        };
        const QStringList fit =
            QStringList{"fit", "--out", "@/newrun", "--cache", "@/scratch/c"} + ds;
        const QStringList eval = {"eval", "--run", "@/run"};

        // images
        row("image: 3000x2 PNG (aspect)", dec + QStringList{"@/img/thin.png"}, 1,
            "aspect ratio of 1500:1");
        row("image: 3000x2 PNG, aspect allowed",
            dec + QStringList{"@/img/thin.png", "--max-aspect", "5000"}, 1, "480000x320 pixels");
        row("image: PNG header 30000x30000", dec + QStringList{"@/img/claims30k.png"}, 1,
            "more than the pixel budget of 64.0 MP");
        row("image: PNG of 81 MP", dec + QStringList{"@/img/claims81mp.png"}, 1, "(81.0 MP)");
        row("image: JPEG header 60000x60000", dec + QStringList{"@/img/claims.jpg"}, 1,
            "60000x60000 pixels");
        row("image: BMP header 100000x100000", dec + QStringList{"@/img/claims.bmp"}, 1,
            "pixel budget");
        row("image: WebP canvas 16384x16384", dec + QStringList{"@/img/claims.webp"}, 1,
            "16384x16384 pixels");
        row("image: TIFF header 50000x50000", dec + QStringList{"@/img/claims.tif"}, 1,
            "50000x50000 pixels");
        row("image: PPM header 40000x40000", dec + QStringList{"@/img/claims.ppm"}, 1,
            "40000x40000 pixels");
        row("image: small image, budget 100 pixels",
            dec + QStringList{"@/img/good.png", "--max-pixels", "100"}, 1, "--max-pixels");
        row("image: dataset square beyond the processing budget",
            QStringList{"masks", "--cache", "@/scratch/c2048", "--dataset", "folder", "--root",
                        "@/ds", "--resolution", "2048"},
            1, "2048x2048 pixels (4.2 MP) is more than the processing budget");
        row("image: zero width", dec + QStringList{"@/img/zero.png"}, 1, "a size of 0x10");
        row("image: truncated JPEG, strict", dec + QStringList{"@/img/truncated.jpg", "--strict"},
            1, "partly decoded");
        row("image: JPEG cut inside its header", dec + QStringList{"@/img/headonly.jpg"}, 1,
            "ends before the image size");
        row("image: truncated PNG", dec + QStringList{"@/img/truncated.png"}, 1, "truncated.png");
        row("image: empty file", dec + QStringList{"@/img/empty.png"}, 1, "the file is empty");
        row("image: text file", dec + QStringList{"@/img/text.png"}, 1,
            "not an image in a format primaps reads");
        row("image: GIF", dec + QStringList{"@/img/anim.gif"}, 1,
            "not an image in a format primaps reads");
        row("image: a folder", dec + QStringList{"@/img/folder.png"}, 2, "holds no images");
        row("image: missing", dec + QStringList{"@/img/missing.png"}, 1, "no such file");
        row("image: features of a huge image",
            QStringList{"features", "@/img/claims30k.png", "--out", "@/f.npy"}, 1, "pixel budget");

        // .npy
        row("npy: bad magic", dec + QStringList{"--features", "@/npy/badmagic.npy"}, 1,
            "bad magic");
        row("npy: truncated data", dec + QStringList{"--features", "@/npy/truncated.npy"}, 1,
            "truncated");
        row("npy: 2-D array", dec + QStringList{"--features", "@/npy/flat.npy"}, 1,
            "shape C x h x w");
        row("npy: complex dtype", dec + QStringList{"--features", "@/npy/complex.npy"}, 1, "dtype");
        row("npy: no shape", dec + QStringList{"--features", "@/npy/noshape.npy"}, 1,
            "malformed .npy header");
        row("npy: NaN values", dec + QStringList{"--features", "@/npy/nan.npy"}, 1, "NaN");
        row("npy: missing", dec + QStringList{"--features", "@/npy/missing.npy"}, 1, "missing.npy");

        // checkpoints and TorchScript modules
        const QStringList feat = {"features", "@/img/good.png", "--out", "@/f.npy"};
        row("checkpoint: garbage",
            feat + QStringList{"--backbone", "dino_vits8", "--weights", "@/models/garbage.pth"}, 2,
            "garbage.pth");
        row("checkpoint: empty",
            feat + QStringList{"--backbone", "dino_vits8", "--weights", "@/models/empty.pth"}, 2,
            "empty.pth");
        row("checkpoint: zip without data",
            feat + QStringList{"--backbone", "dino_vits8", "--weights", "@/models/plainzip.pth"}, 2,
            "plainzip.pth");
        row("checkpoint: missing",
            feat + QStringList{"--backbone", "dino_vits8", "--weights", "@/models/none.pth"}, 2,
            "none.pth");
        row("torchscript: garbage",
            feat + QStringList{"--backbone", "torchscript", "--weights", "@/models/garbage.pt"}, 2,
            "not a loadable TorchScript module");
        row("torchscript: no file", feat + QStringList{"--backbone", "torchscript"}, 2,
            "torchscript");
        row("backbone: unknown", feat + QStringList{"--backbone", "resnet"}, 2,
            "unknown backbone 'resnet'");
        row("backbone: filterbank on cuda", feat + QStringList{"--device", "cuda"}, 2, "CPU only");

        // dataset trees
        row("dataset: root missing", masksOn("folder", "@/nowhere"), 2, "is not a folder");
        row("dataset: no images folder", masksOn("folder", "@/noimages"), 2, "no 'images' folder");
        row("dataset: empty images folder", masksOn("folder", "@/emptyimages"), 2,
            "no usable images");
        row("dataset: split without list", masks + QStringList{"--split", "train"}, 2,
            "needs a list of image names");
        row("dataset: list entry leaves the folder",
            masksOn("folder", "@/escape", {"--split", "train"}), 2, "not a plain file name");
        row("dataset: 300 classes", masksOn("folder", "@/manyclasses"), 2, "at most 255 classes");
        row("dataset: strict and a missing image",
            masksOn("folder", "@/missingimage", {"--split", "train", "--strict"}), 2, "ghost");
        row("dataset: unknown kind", masksOn("imagenet", "@/ds"), 2, "unknown dataset 'imagenet'");
        row("dataset: cityscapes without images", masksOn("cityscapes", "@/cityscapes"), 2,
            "leftImg8bit");
        row("dataset: cityscapes unknown split",
            masksOn("cityscapes", "@/cityscapes", {"--split", "holiday"}), 2,
            "unknown split 'holiday'");
        row("dataset: cocostuff without list", masksOn("cocostuff27", "@/coco"), 2,
            "Coco164kFull_Stuff_Coarse_7.txt");
        row("dataset: potsdam without list", masksOn("potsdam3", "@/potsdam"), 2,
            "labelled_train.txt");
        row("dataset: image beyond the budget, strict",
            masksOn("folder", "@/hugeimage", {"--strict"}), 1, "pixel budget");
        row("dataset: truncated image, strict", masksOn("folder", "@/truncimage", {"--strict"}), 1,
            "partly decoded");
        row("dataset: hold-out of 1.5", masks + QStringList{"--holdout", "1.5"}, 2,
            "--holdout: must be a number in (0, 1)");
        row("dataset: hold-out on cityscapes",
            masksOn("cityscapes", "@/cityscapes", {"--holdout", "0.2"}), 2,
            "applies to folder datasets");
        row("dataset: hold-out and split all",
            masks + QStringList{"--holdout", "0.3", "--split", "all"}, 2,
            "the splits are 'train' and 'val'");

        // .mat files (Potsdam-3)
        row("mat: not a MATLAB file", masksOn("potsdam3", "@/potsdam_bad", {"--strict"}), 2,
            "b.mat");
        row("mat: garbage file",
            QStringList{"masks", "--cache", "@/scratch/m", "--dataset", "potsdam3", "--root",
                        "@/potsdam_bad", "--split", "train"},
            1, "not a MATLAB 5 or 7.3 .mat file");
        row("mat: variable missing", masksOn("potsdam3", "@/potsdam_var"), 1,
            "variable 'img': missing");
        row("mat: one channel", masksOn("potsdam3", "@/potsdam_grey"), 1, "expected at least 3");
        row("mat: MAT 7.3 file crashing libhdf5", masksOn("potsdam3", "@/potsdam_hdf5"), 1,
            "a.mat': MAT 7.3 (HDF5) file is corrupt: the HDF5 library crashed reading it");

        // label PNGs
        row("labels: ids out of range, strict",
            eval + QStringList{"--root", "@/badids", "--dataset", "folder", "--strict"}, 1,
            "label ids that are no class");
        row("labels: wrong size, eval strict",
            eval + QStringList{"--root", "@/wrongsize", "--dataset", "folder", "--strict"}, 1,
            "label map is 10x10 but its image is 64x48");
        row("labels: wrong size, masks strict", masksOn("folder", "@/wrongsize", {"--strict"}), 1,
            "the image is used, the label cannot be");
        row("labels: colour label map",
            eval + QStringList{"--root", "@/colourlabel", "--dataset", "folder", "--strict"}, 1,
            "single-channel 8-bit");
        row("labels: none at all, eval",
            eval + QStringList{"--root", "@/nolabels", "--dataset", "folder"}, 1, "no label maps");

        // run folders
        row("run: missing folder", QStringList{"eval", "--run", "@/nowhere"}, 2, "holds no fit");
        row("run: no run.json", QStringList{"eval", "--run", "@/norun"}, 2, "holds no fit");
        row("run: run.json not JSON", QStringList{"eval", "--run", "@/garbagerun"}, 2,
            "not a run description");
        row("run: unfinished", QStringList{"eval", "--run", "@/unfinished"}, 2, "unfinished");
        row("run: no prototypes", QStringList{"eval", "--run", "@/notheta"}, 2, "theta_m.json");
        row("run: damaged prototypes", QStringList{"eval", "--run", "@/badtheta"}, 2,
            "theta_m.json");
        // floating-point fields: the ranges `primaps fit` accepts for the same settings
        row("run: negative learning rate", QStringList{"eval", "--run", "@/lrnegative"}, 2,
            "run.json': field 'learning_rate' is not a number in (0, 1000]");
        row("run: threshold 1e300", QStringList{"eval", "--run", "@/threshold1e300"}, 2,
            "run.json': field 'threshold' is not a number in (0, 1]");
        row("run: EMA decay a string", QStringList{"eval", "--run", "@/emastring"}, 2,
            "run.json': field 'ema_decay' is not a number in [0, 1]");
        row("run: hold-out 1.5", QStringList{"eval", "--run", "@/holdout1.5"}, 2,
            "run.json': field 'holdout' is not a number in (0, 1)");
        row("run: whitening ridge null", QStringList{"eval", "--run", "@/ridgenull"}, 2,
            "run.json': field 'whiten_ridge' is not a number in [0, 1000]");
        row("run: prototype gain 1e300", QStringList{"eval", "--run", "@/gain1e300"}, 2,
            "theta_m.json': prototypes: 'gain': an element is not a number in "
            "[-3.40282e+38, 3.40282e+38]");
        row("run: prototype direction a string", QStringList{"eval", "--run", "@/directionstring"},
            2,
            "theta_m.json': prototypes: 'direction': an element is not a number in "
            "[-3.40282e+38, 3.40282e+38]");
        row("run: export from a missing run",
            QStringList{"export", "--run", "@/nowhere", "--out", "@/export"}, 2, "holds no fit");
        row("run: merge of a non-partial", QStringList{"eval", "--merge", "@/eval.json"}, 2,
            "not a shard's partial");

        // studio project files, through `primaps project` (which reads them as the
        // studio does)
        const QStringList proj = {"project"};
        row("project: all there", proj + QStringList{"@/proj/good.primaps"}, 0,
            "every file it names is there");
        row("project: threshold 1e300", proj + QStringList{"@/proj/threshold1e300.primaps"}, 2,
            "threshold1e300.primaps': field 'parameters.threshold' must be in [0, 1]");
        row("project: threshold a string", proj + QStringList{"@/proj/thresholdstring.primaps"},
            2, "thresholdstring.primaps': field 'parameters.threshold' must be a number");
        row("project: truncated", proj + QStringList{"@/proj/truncated.primaps"}, 2,
            "truncated.primaps': not JSON (parse error at line");
        row("project: empty file", proj + QStringList{"@/proj/empty.primaps"}, 2,
            "empty.primaps': not JSON (the file is empty)");
        row("project: bad JSON", proj + QStringList{"@/proj/badjson.primaps"}, 2,
            "badjson.primaps': not JSON");
        row("project: a JSON array", proj + QStringList{"@/proj/array.primaps"}, 2,
            "not a project file");
        row("project: newer version", proj + QStringList{"@/proj/newer.primaps"}, 2,
            "field 'version' is 2; this program reads version 1 (the file is from a newer one)");
        row("project: version 0", proj + QStringList{"@/proj/version0.primaps"}, 2,
            "field 'version' is 0; this program reads version 1");
        row("project: a run's format", proj + QStringList{"@/proj/runfile.primaps"}, 2,
            "field 'format' must be \"primaps-project\"");
        row("project: run folder missing", proj + QStringList{"@/proj/norunfolder.primaps"}, 1,
            "field 'run' names");
        row("project: run folder without run.json", proj + QStringList{"@/proj/runnojson.primaps"},
            1, "norun/run.json': no such file");
        row("project: image missing", proj + QStringList{"@/proj/noimage.primaps"}, 1,
            "field 'images[0]' names");
        row("project: dataset root missing", proj + QStringList{"@/proj/nodataset.primaps"}, 1,
            "field 'dataset.root' names");
        row("project: checkpoint missing", proj + QStringList{"@/proj/nocheckpoint.primaps"}, 1,
            "vit.pth': no such file");
        row("project: corrections folder is a file",
            proj + QStringList{"@/proj/correctionsfile.primaps"}, 1,
            "existing.txt': is not a folder");
        row("project: image is a device", proj + QStringList{"@/proj/device.primaps"}, 1,
            "'/dev/zero': is not a regular file");
        row("project: image path climbs out to /etc",
            proj + QStringList{"@/proj/folderimage.primaps"}, 1, "'/etc': is not a regular file");
        row("project: NUL inside a path", proj + QStringList{"@/proj/nul.primaps"}, 2,
            "field 'images[0]' holds a control character");
        row("project: newline inside a path", proj + QStringList{"@/proj/newline.primaps"}, 2,
            "field 'run' holds a control character");
        row("project: 5000-character file name", proj + QStringList{"@/proj/longname.primaps"}, 1,
            "File name too long");
        row("project: the file is a device", proj + QStringList{"/dev/zero"}, 2,
            "'/dev/zero' is not a regular file");
        row("project: the file is a folder", proj + QStringList{"@/proj/folder.primaps"}, 2,
            "folder.primaps' is not a regular file");
        row("project: 17 MB file", proj + QStringList{"@/scratch/huge.primaps"}, 2,
            "is larger than 16 MB; refused unread");
        row("project: missing file", proj + QStringList{"@/proj/gone.primaps"}, 2,
            "gone.primaps': no such file");
        row("project: no file given", proj, 2, "needs exactly one FILE.primaps");

        // command-line values
        row("value: --lr nan", fit + QStringList{"--lr", "nan"}, 2,
            "--lr: must be a number in (0, 1000], not 'nan'");
        row("value: --ema-decay 5", fit + QStringList{"--ema-decay", "5"}, 2,
            "--ema-decay: must be a number in [0, 1]");
        row("value: --epochs -1", fit + QStringList{"--epochs", "-1"}, 2,
            "--epochs: must be a whole number >= 0");
        row("value: --batch-size 0", fit + QStringList{"--batch-size", "0"}, 2,
            "--batch-size: must be a whole number >= 1");
        row("value: --seed x", fit + QStringList{"--seed", "x"}, 2,
            "--seed: must be a whole number");
        row("value: --method", fit + QStringList{"--method", "magic"}, 2,
            "unknown fit method 'magic'");
        row("value: fit --stage", fit + QStringList{"--stage", "all"}, 2,
            "--stage: must be one of features, masks, fit");
        row("value: fit --shard", fit + QStringList{"--shard", "0/2"}, 2,
            "--shard: applies to the per-image stages");
        row("value: --val-split without list", fit + QStringList{"--val-split", "val"}, 2,
            "needs a list of image names");
        row("value: masks --method", masks + QStringList{"--method", "kmeans"}, 2,
            "Unknown option 'method'");
        row("value: masks --stage fit", masks + QStringList{"--stage", "fit"}, 2,
            "--stage: must be features or masks");
        row("value: --shard 3/2", masks + QStringList{"--shard", "3/2"}, 2, "need 0 <= i < N");
        row("value: --classes 300", masks + QStringList{"--classes", "300"}, 2,
            "--classes: must be a whole number in 1..254");
        row("value: --threads 0", masks + QStringList{"--threads", "0"}, 2,
            "--threads: must be a whole number in 1..1024");
        row("value: --max-pixels 0", dec + QStringList{"@/img/good.png", "--max-pixels", "0"}, 2,
            "--max-pixels");
        row("value: --max-processing-pixels 100",
            dec + QStringList{"@/img/good.png", "--max-processing-pixels", "100"}, 2,
            "--max-processing-pixels");
        row("value: --max-aspect 0.5", dec + QStringList{"@/img/good.png", "--max-aspect", "0.5"},
            2, "--max-aspect");
        row("value: --threshold 1.5", dec + QStringList{"@/img/good.png", "--threshold", "1.5"}, 2,
            "--threshold");
        row("value: --coverage 2", dec + QStringList{"@/img/good.png", "--coverage", "2"}, 2,
            "--coverage");
        row("value: --max-iterations 300",
            dec + QStringList{"@/img/good.png", "--max-iterations", "300"}, 2,
            "--max-iterations: must be a whole number in 1..254");
        row("value: --opacity -1", dec + QStringList{"@/img/good.png", "--opacity", "-1"}, 2,
            "--opacity");
        row("value: --resize 100000", dec + QStringList{"@/img/good.png", "--resize", "100000"}, 2,
            "--resize: must be a whole number in 0..2048");
        row("value: --resize 3 (one patch)", dec + QStringList{"@/img/good.png", "--resize", "3"},
            2, "--resize 3: at least 16 pixels (two of filterbank's 8-pixel patches)");
        row("value: features --resize 15",
            QStringList{"features", "@/img/good.png", "--out", "@/small.npy", "--resize", "15"}, 2,
            "--resize 15: at least 16 pixels");
        row("value: --device gpu", dec + QStringList{"@/img/good.png", "--device", "gpu"}, 2,
            "--device: must be cpu or cuda");
        row("value: no inputs", dec, 2, "no inputs");
        row("value: features with two images",
            QStringList{"features", "@/img/good.png", "@/img/good.png", "--out", "@/f.npy"}, 2,
            "exactly one IMAGE");
        row("value: eval --theta x", eval + QStringList{"--theta", "x"}, 2,
            "--theta: must be m or r");
        row("value: export --opacity 2",
            QStringList{"export", "--run", "@/run", "--out", "@/export", "--opacity", "2"}, 2,
            "--opacity");
        row("value: export --format",
            QStringList{"export", "--run", "@/run", "--out", "@/export", "--format", "voc"}, 2,
            "--format");
        row("value: unknown command", QStringList{"segment"}, 2, "unknown command 'segment'");

        // output paths
        row("output: eval --partial over a file",
            eval + QStringList{"--shard", "0/2", "--partial", "@/partial.json"}, 2,
            "exists; pass --overwrite");
        row("output: export --out is a file",
            QStringList{"export", "--run", "@/run", "--out", "@/img/existing.txt"}, 2,
            "is a file, not a folder");
        row("output: decompose --out is a file",
            QStringList{"decompose", "@/img/good.png", "--out", "@/img/existing.txt"}, 2,
            "is a file, not a folder");
        row("output: features over a file",
            QStringList{"features", "@/img/good.png", "--out", "@/img/existing.npy"}, 2,
            "exists; pass --overwrite");
        row("output: features into a folder",
            QStringList{"features", "@/img/good.png", "--out", "@/img"}, 2, "is a folder");
        row("output: decompose over earlier output",
            QStringList{"decompose", "@/img/good.png", "--out", "@/decomposed"}, 1,
            "pass --overwrite");
    }

    void catalogue()
    {
        QFETCH(QStringList, args);
        QFETCH(int, exitCode);
        QFETCH(QString, message);
        args.replaceInStrings(QRegularExpression("^@"), fx);
        const auto before = snapshot(fx);
        const Run r = run(args);
        const QString all = r.out + r.err;
        QVERIFY2(r.exitCode == exitCode,
                 qPrintable(
                     QString("exit %1, expected %2:\n%3").arg(r.exitCode).arg(exitCode).arg(all)));
        QVERIFY2(all.contains(message), qPrintable("missing '" + message + "' in:\n" + all));
        const auto after = snapshot(fx);
        for (const auto& [path, digest] : after) {
            const auto it = before.find(path);
            QVERIFY2(it != before.end(), qPrintable("created " + path));
            QVERIFY2(it->second == digest, qPrintable("changed " + path));
        }
        QCOMPARE(after.size(), before.size());
    }

    void everyBadOptionGetsItsOwnLine()
    {
        const Run r = run({"fit", "--dataset", "folder", "--root", at("ds"), "--out", at("newrun"),
                           "--lr", "nan", "--ema-decay", "5", "--epochs", "x"});
        QCOMPARE(r.exitCode, 2);
        const QStringList lines = r.err.split('\n', Qt::SkipEmptyParts);
        QCOMPARE(lines.size(), 4); // three problems and where to read more
        QVERIFY(lines[0].contains("--epochs"));
        QVERIFY(lines[1].contains("--ema-decay"));
        QVERIFY(lines[2].contains("--lr"));
        QVERIFY(!QFileInfo::exists(at("newrun")));
    }

    void cleanupTestCase()
    {
        // At least 60 rows were promised; shrinking the catalogue must be deliberate.
        QVERIFY2(rows >= 60, qPrintable(QString("%1 rows").arg(rows)));
    }

private:
    int rows = 0;

    Run run(const QStringList& args) { return primaps::testing::runProgram(PRIMAPS_CLI, args); }
};

QTEST_GUILESS_MAIN(TestCliCatalogue)
#include "tst_cli_catalogue.moc"
