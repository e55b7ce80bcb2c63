// SPDX-License-Identifier: MIT
// Dataset loaders on tiny fixture trees written here in each dataset's real layout.
#include "dataset/dataset.h"
#include "dataset/defaultsplit.h"
#include "support/error.h"
#include "image/preprocess.h"
#include "matfixture.h"
#include "testsupport.h"

#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <QTemporaryDir>
#include <QtTest>
#include <set>

using namespace primaps;
namespace fs = std::filesystem;

namespace {

void writeText(const fs::path& path, const std::string& text)
{
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
}

// An 8-bit RGB picture with a distinct colour per pixel, written as BGR.
void writeImage(const fs::path& path, int w, int h)
{
    fs::create_directories(path.parent_path());
    cv::Mat bgr(h, w, CV_8UC3);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            bgr.at<cv::Vec3b>(y, x) = cv::Vec3b(std::uint8_t(x * 10), std::uint8_t(y * 10), 200);
    QVERIFY(cv::imwrite(path.string(), bgr));
}

void writeLabel(const fs::path& path, const std::vector<int>& values, int w)
{
    fs::create_directories(path.parent_path());
    const int h = int(values.size()) / w;
    cv::Mat m(h, w, CV_8UC1);
    for (int i = 0; i < int(values.size()); ++i)
        m.at<std::uint8_t>(i / w, i % w) = std::uint8_t(values[std::size_t(i)]);
    QVERIFY(cv::imwrite(path.string(), m));
}

std::vector<int> labelValues(const cv::Mat& m)
{
    std::vector<int> v;
    for (int y = 0; y < m.rows; ++y)
        for (int x = 0; x < m.cols; ++x)
            v.push_back(m.at<std::uint8_t>(y, x));
    return v;
}

} // namespace

class TestDataset : public QObject
{
    Q_OBJECT

    QTemporaryDir dir;
    fs::path root(const char* name) { return fs::path(dir.path().toStdString()) / name; }

private slots:
    void folderDataset()
    {
        const fs::path r = root("folder");
        writeImage(r / "images" / "a.png", 4, 3);
        writeImage(r / "images" / "b.jpg", 4, 3);
        writeImage(r / "images" / "c.png", 4, 3);
        writeText(r / "images" / "d.png", "this is not a PNG");
        writeText(r / "images" / "notes.txt", "ignored: not an image");
        writeLabel(r / "labels" / "a.png", {0, 1, 2, 255, 0, 1, 2, 7, 0, 0, 0, 0}, 4);
        writeLabel(r / "labels" / "b.png", {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 4);
        writeLabel(r / "labels" / "d.png", {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 4);
        writeText(r / "classes.txt", "sky\nroad\n\ntree\n");

        const Dataset d = Dataset::open({DatasetKind::Folder, r.string(), "", 0, false});
        QCOMPARE(d.size(), std::size_t(4));
        QCOMPARE(d.listed(), std::size_t(4));
        QCOMPARE(d.items()[0].id, std::string("a"));
        QCOMPARE(d.classNames(), (std::vector<std::string>{"sky", "road", "tree"}));
        // c has no label: reported, kept without labels.
        QCOMPARE(d.problems().size(), std::size_t(1));
        QCOMPARE(d.problems()[0].path, (r / "labels" / "c.png").string());
        QVERIFY(d.items()[2].labelPath.empty());

        const DatasetSample a = d.load(0);
        QCOMPARE(a.rgb.type(), CV_8UC3);
        QCOMPARE(a.rgb.at<cv::Vec3b>(1, 2), cv::Vec3b(200, 10, 20)); // RGB order
        // 7 is no class of three: ignored.
        QCOMPARE(labelValues(a.labels), (std::vector<int>{0, 1, 2, 255, 0, 1, 2, 255, 0, 0, 0, 0}));
        QVERIFY(d.load(2).labels.empty());
        // The corrupt image is only found when decoding; the error names the file.
        try {
            d.load(3);
            QFAIL("a corrupt image must throw");
        } catch (const Error& e) {
            QVERIFY(std::string(e.what()).find((r / "images" / "d.png").string()) !=
                    std::string::npos);
        }

        // Split lists; a listed stem without an image is reported and skipped.
        writeText(r / "val.txt", "b\nmissing\n");
        const Dataset val = Dataset::open({DatasetKind::Folder, r.string(), "val", 0, false});
        QCOMPARE(val.size(), std::size_t(1));
        QCOMPARE(val.listed(), std::size_t(2));
        QCOMPARE(val.problems().size(), std::size_t(1));
        QVERIFY(val.problems()[0].path.find("missing") != std::string::npos);
        QVERIFY_THROWS_EXCEPTION(Error,
                                 Dataset::open({DatasetKind::Folder, r.string(), "val", 0, true}));
        QVERIFY_THROWS_EXCEPTION(
            Error, Dataset::open({DatasetKind::Folder, r.string(), "nope", 0, false}));
        QVERIFY_THROWS_EXCEPTION(
            Error, Dataset::open({DatasetKind::Folder, (r / "x").string(), "", 0, false}));
    }

    void labelProblemsAreWarningsOrWithStrictErrors()
    {
        const fs::path r = root("checked");
        writeImage(r / "images" / "a.png", 4, 3);
        writeImage(r / "images" / "b.png", 4, 3);
        writeLabel(r / "labels" / "a.png", {0, 1, 2, 255, 0, 1, 2, 7, 9, 9, 0, 0}, 4);
        writeLabel(r / "labels" / "b.png", {1, 1, 1, 1, 1, 1}, 3); // 3 x 2, the image is 4 x 3
        writeText(r / "classes.txt", "sky\nroad\ntree\n");
        const Dataset d = Dataset::open({DatasetKind::Folder, r.string(), "", 0, false});
        const DatasetSample a = d.load(0);
        QCOMPARE(a.warnings.size(), std::size_t(1));
        QVERIFY2(a.warnings[0].find("3 pixel(s) hold label ids that are no class") !=
                     std::string::npos,
                 a.warnings[0].c_str());
        QVERIFY(a.warnings[0].find("7, 9") != std::string::npos);
        // A command that needs no labels loses nothing but a warning to a bad one.
        EXPECT_ERROR_CONTAINING(d.load(1), "label map is 3x2 but its image is 4x3");
        const DatasetSample b = d.load(1, LabelUse::CheckSize);
        QVERIFY(b.labels.empty());
        QCOMPARE(b.rgb.size(), cv::Size(4, 3));
        QCOMPARE(b.warnings.size(), std::size_t(1));
        // Strict: the warning is an error naming the label file.
        const Dataset strict = Dataset::open({DatasetKind::Folder, r.string(), "", 0, true});
        EXPECT_ERROR_CONTAINING(strict.load(0), (r / "labels" / "a.png").string());
        EXPECT_ERROR_CONTAINING(strict.load(1, LabelUse::CheckSize), "strict");
    }

    void holdoutSplitsAFolderStably()
    {
        const fs::path r = root("holdout");
        for (int i = 0; i < 40; ++i)
            writeImage(r / "images" / ("img" + std::to_string(i) + ".png"), 4, 3);
        DatasetOptions o{DatasetKind::Folder, r.string(), "train", 0, false};
        o.holdout = 0.25;
        const Dataset train = Dataset::open(o);
        o.split = "val";
        const Dataset val = Dataset::open(o);
        QCOMPARE(train.size() + val.size(), std::size_t(40));
        QVERIFY(val.size() >= 4 && val.size() <= 18); // about a quarter
        std::set<std::string> ids;
        for (const Dataset* d : {&train, &val})
            for (const DatasetItem& item : d->items())
                QVERIFY(ids.insert(item.id).second); // disjoint
        QCOMPARE(val.holdout(), 0.25);
        QVERIFY(!val.allImagesOfFolder());
        // The same files give the same split, whatever else is in the folder.
        writeImage(r / "images" / "late.png", 4, 3);
        const Dataset again = Dataset::open(o);
        std::size_t kept = 0;
        for (const DatasetItem& item : again.items())
            kept += std::any_of(val.items().begin(), val.items().end(),
                                [&](const DatasetItem& v) { return v.id == item.id; });
        QCOMPARE(kept, val.size());
        o.split = "all";
        QVERIFY_THROWS_EXCEPTION(Error, Dataset::open(o));
        o.kind = DatasetKind::Cityscapes;
        QVERIFY_THROWS_EXCEPTION(Error, Dataset::open(o));
    }

    // The one default split rule the CLI and the studio share.
    void defaultSplitFollowsTheListsOfAFolder()
    {
        const fs::path r = root("lists");
        DatasetOptions o;
        o.root = r.string();
        QCOMPARE(defaultSplit(o, "train"), std::string()); // no lists: every image
        QCOMPARE(defaultSplit(o, "val"), std::string());
        writeText(r / "train.txt", "a\n");
        QCOMPARE(defaultSplit(o, "train"), std::string("train"));
        QCOMPARE(defaultSplit(o, "val"), std::string());
        writeText(r / "val.txt", "b\n");
        QCOMPARE(defaultSplit(o, "val"), std::string("val"));
        QCOMPARE(defaultSplit(o, "all"), std::string());
        fs::create_directory(r / "test.txt"); // not a list
        QCOMPARE(defaultSplit(o, "test"), std::string());
        o.root = (r / "missing").string();
        QCOMPARE(defaultSplit(o, "val"), std::string());
        o.holdout = 0.2; // held out: the named part, lists or not
        QCOMPARE(defaultSplit(o, "val"), std::string("val"));
        o.holdout = 0.0;
        o.kind = DatasetKind::Cityscapes;
        QCOMPARE(defaultSplit(o, "train"), std::string("train"));
    }

    void folderWithoutLabelsOrClasses()
    {
        const fs::path r = root("plain");
        writeImage(r / "images" / "x.png", 4, 4);
        const Dataset d = Dataset::open({DatasetKind::Folder, r.string(), "", 5, false});
        QVERIFY(!d.hasLabels());
        QVERIFY(d.problems().empty());
        QCOMPARE(d.classCount(), 5);
    }

    void cityscapes()
    {
        const fs::path r = root("cityscapes");
        const fs::path img = r / "leftImg8bit" / "val";
        const fs::path gt = r / "gtFine" / "val";
        writeImage(img / "aachen" / "aachen_000000_000019_leftImg8bit.png", 3, 2);
        writeLabel(gt / "aachen" / "aachen_000000_000019_gtFine_labelIds.png",
                   {7, 33, 0, 6, 34, 26}, 3);
        writeImage(img / "bremen" / "bremen_000001_000019_leftImg8bit.png", 3, 2);
        writeText(img / "bremen" / "readme.txt", "not an image");
        // Other gtFine files beside labelIds must not confuse the loader.
        writeLabel(gt / "aachen" / "aachen_000000_000019_gtFine_instanceIds.png",
                   {0, 0, 0, 0, 0, 0}, 3);

        const Dataset d = Dataset::open({DatasetKind::Cityscapes, r.string(), "val", 0, false});
        QCOMPARE(d.size(), std::size_t(2));
        QCOMPARE(d.classCount(), 27);
        QCOMPARE(d.classNames()[0], std::string("road"));
        QCOMPARE(d.classNames()[26], std::string("bicycle"));
        QCOMPARE(d.items()[0].id, std::string("aachen/aachen_000000_000019"));
        QCOMPARE(d.items()[1].id, std::string("bremen/bremen_000001_000019"));
        QCOMPARE(d.problems().size(), std::size_t(1)); // bremen's label
        QVERIFY(d.problems()[0].path.find("bremen_000001_000019_gtFine_labelIds.png") !=
                std::string::npos);
        // Label ids 7..33 -> 0..26, everything else ignored.
        QCOMPARE(labelValues(d.load(0).labels), (std::vector<int>{0, 26, 255, 255, 255, 19}));
        QVERIFY_THROWS_EXCEPTION(
            Error, Dataset::open({DatasetKind::Cityscapes, r.string(), "val", 0, true}));
        QVERIFY_THROWS_EXCEPTION(
            Error, Dataset::open({DatasetKind::Cityscapes, r.string(), "train", 0, false}));
        QVERIFY_THROWS_EXCEPTION(
            Error, Dataset::open({DatasetKind::Cityscapes, r.string(), "holdout", 0, false}));
    }

    void cocoStuff27()
    {
        const fs::path r = root("cocostuff");
        writeText(r / "curated" / "val2017" / "Coco164kFull_Stuff_Coarse_7.txt",
                  "000000000139\n000000000285\n");
        writeImage(r / "images" / "val2017" / "000000000139.jpg", 3, 2);
        writeLabel(r / "annotations" / "val2017" / "000000000139.png", {0, 181, 255, 91, 182, 71},
                   3);

        const Dataset d = Dataset::open({DatasetKind::CocoStuff27, r.string(), "val", 0, false});
        QCOMPARE(d.listed(), std::size_t(2));
        QCOMPARE(d.size(), std::size_t(1)); // 285's image is missing
        QCOMPARE(d.problems().size(), std::size_t(1));
        QVERIFY(d.problems()[0].path.find("000000000285.jpg") != std::string::npos);
        QCOMPARE(d.items()[0].id, std::string("val2017/000000000139"));
        QCOMPARE(d.classCount(), 27);
        // person -> 9, fine 181 -> 24 (solid), 91 -> 17 (textile), 71 -> 0 (electronic);
        // 255 and ids outside the fine range are ignored.
        QCOMPARE(labelValues(d.load(0).labels), (std::vector<int>{9, 24, 255, 17, 255, 0}));
        QCOMPARE(d.classNames()[9], std::string("person"));
        QCOMPARE(d.classNames()[23], std::string("sky"));
        QVERIFY_THROWS_EXCEPTION(
            Error, Dataset::open({DatasetKind::CocoStuff27, r.string(), "train", 0, false}));
    }

    void potsdam3()
    {
        const fs::path r = root("potsdam");
        const int h = 2, w = 3;
        // 4 channels (RGB + infrared), column-major: value = 10*c + 3*x + y.
        std::vector<std::uint8_t> img(std::size_t(h * w * 4));
        for (int c = 0; c < 4; ++c)
            for (int x = 0; x < w; ++x)
                for (int y = 0; y < h; ++y)
                    img[std::size_t(y + h * (x + w * c))] = std::uint8_t(10 * c + 3 * x + y);
        writeMat(r / "imgs" / "3_10.mat", "img", MAT_C_UINT8, MAT_T_UINT8, {2, 3, 4}, img);
        // Fine labels column-major: (y=0: 0 1 2), (y=1: 3 4 5) plus a 255 replaced below.
        std::vector<std::uint8_t> gt = {0, 3, 1, 4, 2, 5};
        writeMat(r / "gt" / "3_10.mat", "gt", MAT_C_UINT8, MAT_T_UINT8, {2, 3}, gt);
        // A float image in [0, 1] and a double label map with an unknown class.
        std::vector<float> fimg(std::size_t(h * w * 3), 0.5f);
        writeMat(r / "imgs" / "4_11.mat", "img", MAT_C_SINGLE, MAT_T_SINGLE, {2, 3, 3}, fimg);
        std::vector<double> dgt = {5, 4, 3, 2, 1, 9};
        writeMat(r / "gt" / "4_11.mat", "gt", MAT_C_DOUBLE, MAT_T_DOUBLE, {2, 3}, dgt);
        writeText(r / "labelled_test.txt", "3_10\n4_11\n");
        writeText(r / "labelled_train.txt", "5_12\n");

        const Dataset d = Dataset::open({DatasetKind::Potsdam3, r.string(), "val", 0, false});
        QCOMPARE(d.size(), std::size_t(2));
        QVERIFY(d.problems().empty());
        QCOMPARE(d.classNames(), (std::vector<std::string>{"road", "building", "vegetation"}));
        const DatasetSample s = d.load(0);
        QCOMPARE(s.rgb.size(), cv::Size(3, 2));
        QCOMPARE(s.rgb.at<cv::Vec3b>(1, 2), cv::Vec3b(7, 17, 27)); // y=1, x=2; IR dropped
        // 0 road, 1 building, 2 low vegetation / 3 tree, 4 car, 5 clutter.
        QCOMPARE(labelValues(s.labels), (std::vector<int>{0, 1, 2, 2, 0, 1}));
        const DatasetSample f = d.load(1);
        QCOMPARE(f.rgb.at<cv::Vec3b>(0, 0), cv::Vec3b(128, 128, 128));
        // column-major (5, 4, 3, 2, 1, 9): row 0 = 5 3 1, row 1 = 4 2 9.
        QCOMPARE(labelValues(f.labels), (std::vector<int>{1, 2, 1, 0, 2, 255}));

        // The train list names an image that does not exist.
        QVERIFY_THROWS_EXCEPTION(
            Error, Dataset::open({DatasetKind::Potsdam3, r.string(), "train", 0, false}));
        const Dataset both =
            Dataset::open({DatasetKind::Potsdam3, r.string(), "train+val", 0, false});
        QCOMPARE(both.size(), std::size_t(2));
        QCOMPARE(both.problems().size(), std::size_t(1));
        QVERIFY_THROWS_EXCEPTION(Error, readMatVariable((r / "gt" / "3_10.mat").string(), "img"));
        writeText(r / "imgs" / "broken.mat", "garbage");
        QVERIFY_THROWS_EXCEPTION(Error,
                                 readMatVariable((r / "imgs" / "broken.mat").string(), "img"));
    }

    void prepareLabelsFollowsTheImage()
    {
        // 8 x 4 image, centre crop to 4 x 4 (patch 2): columns 2..5 survive.
        cv::Mat rgb(4, 8, CV_8UC3, cv::Scalar(1, 2, 3));
        PreprocessParams p;
        p.shorterSide = 4;
        p.patchSize = 2;
        p.fit = FitMode::CenterCropSquare;
        const PreparedImage prepared = prepareImage(rgb, p);
        cv::Mat labels(4, 8, CV_8UC1);
        for (int y = 0; y < 4; ++y)
            for (int x = 0; x < 8; ++x)
                labels.at<std::uint8_t>(y, x) = std::uint8_t(x);
        const cv::Mat out = prepareLabels(labels, prepared);
        QCOMPARE(out.size(), cv::Size(4, 4));
        QCOMPARE(labelValues(out.row(0)), (std::vector<int>{2, 3, 4, 5}));
        QVERIFY_THROWS_EXCEPTION(Error, prepareLabels(labels.colRange(0, 4), prepared));
    }
};

QTEST_APPLESS_MAIN(TestDataset)
#include "tst_dataset.moc"
