// SPDX-License-Identifier: MIT
// LabelExport without the command line: value encodings (class ids, Cityscapes
// label ids, 16-bit cluster ids), the crop mapped back as ignore, settings checks.
#include "dataset/dataset.h"
#include "labels/labelexport.h"
#include "image/preprocess.h"
#include "support/atomicfile.h"
#include "testsupport.h"

#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <QTemporaryDir>
#include <QtTest>

using namespace primaps;

namespace {

// A prediction for a 40 x 20 image prepared at 16 (resized to 32 x 16, crop 16 x 16
// at x = 8): cluster id = column of the prepared crop modulo `clusters`.
ItemPrediction prediction(int clusters)
{
    ItemPrediction p;
    p.original = testing::patternedImage(20, 40);
    PreprocessParams params;
    params.shorterSide = 16;
    params.patchSize = 8;
    params.fit = FitMode::CenterCropSquare;
    p.prepared = prepareImage(p.original, params);
    p.clusters = cv::Mat(p.prepared.rgb.size(), CV_32S);
    for (int y = 0; y < p.clusters.rows; ++y)
        for (int x = 0; x < p.clusters.cols; ++x)
            p.clusters.at<std::int32_t>(y, x) = (x * 37 + y) % clusters;
    return p;
}

} // namespace

class TestLabelExport : public QObject
{
    Q_OBJECT

    QTemporaryDir tmp;

    Dataset folder(int classes)
    {
        const QString root = tmp.filePath(QString("folder%1").arg(classes));
        QDir().mkpath(root + "/images");
        cv::imwrite((root + "/images/a.png").toStdString(), testing::patternedImage(20, 40));
        DatasetOptions o;
        o.root = root.toStdString();
        o.classes = classes;
        return Dataset::open(o);
    }

private slots:
    void classIdsThroughTheMatch()
    {
        const Dataset d = folder(3);
        LabelExportSettings s;
        s.outDir = tmp.filePath("out1").toStdString();
        s.clusterToClass = {2, 0, 1, -1}; // cluster 3 has no class
        const LabelExport e(d, 4, s, {});
        QCOMPARE(e.bitDepth(), 8);
        QCOMPARE(e.ignoreValue(), 255);
        const ItemPrediction p = prediction(4);
        const cv::Mat v = e.labelValues(p);
        QCOMPARE(v.type(), CV_8UC1);
        QCOMPARE(v.size(), cv::Size(40, 20)); // the image's size
        // Each original pixel shows its prepared pixel's class; columns outside
        // the crop are ignore.
        const int table[] = {2, 0, 1, 255};
        for (int y = 0; y < 20; ++y)
            for (int x = 0; x < 40; ++x) {
                const int px = x * 32 / 40 - 8, py = y * 16 / 20;
                const int expected =
                    px < 0 || px >= 16 ? 255 : table[p.clusters.at<std::int32_t>(py, px)];
                QCOMPARE(int(v.at<std::uint8_t>(y, x)), expected);
            }
        QCOMPARE(e.paths(d.items()[0]).labels, s.outDir + "/labels/a.png");
        QVERIFY(e.paths(d.items()[0]).colour.empty());
    }

    void manyClustersNeedSixteenBits()
    {
        const Dataset d = folder(0);
        LabelExportSettings s;
        s.outDir = tmp.filePath("out2").toStdString();
        s.size = ExportSize::Prepared;
        const LabelExport e(d, 300, s, {});
        QCOMPARE(e.bitDepth(), 16);
        QCOMPARE(e.ignoreValue(), 65535);
        const ItemPrediction p = prediction(300);
        const cv::Mat v = e.labelValues(p);
        QCOMPARE(v.type(), CV_16UC1);
        cv::Mat expected;
        p.clusters.convertTo(expected, CV_16U);
        QCOMPARE(cv::countNonZero(v != expected), 0);
        double hi = 0;
        cv::minMaxLoc(v, nullptr, &hi);
        QVERIFY(hi > 255);

        // Written and read back as a 16-bit PNG.
        QCOMPARE(e.write(d.items()[0], p), 1);
        const cv::Mat back = cv::imread(s.outDir + "/labels/a.png", cv::IMREAD_UNCHANGED);
        QCOMPARE(back.type(), CV_16UC1);
        QCOMPARE(cv::countNonZero(back != expected), 0);
        QVERIFY(e.finished(d.items()[0]));
        QCOMPARE(e.write(d.items()[0], p), 0); // never replaced without overwrite
    }

    void invalidSettingsAreRefused()
    {
        const Dataset d = folder(3);
        LabelExportSettings s;
        s.outDir = tmp.filePath("out3").toStdString();
        s.clusterToClass = {0, 1};
        EXPECT_ERROR_CONTAINING(LabelExport(d, 3, s, {}), "the match has 2 cluster(s)");
        s.clusterToClass = {0, 1, 3};
        EXPECT_ERROR_CONTAINING(LabelExport(d, 3, s, {}), "the dataset has 3 classes");
        s.clusterToClass = {0, 1, 2};
        s.layout = ExportLayout::Cityscapes;
        EXPECT_ERROR_CONTAINING(LabelExport(d, 3, s, {}), "needs a cityscapes dataset");
        s.layout = ExportLayout::Mirror;
        s.overlayOpacity = 1.5f;
        EXPECT_ERROR_CONTAINING(LabelExport(d, 3, s, {}), "opacity");
        EXPECT_ERROR_CONTAINING(exportLayoutFromString("coco"), "known: mirror, cityscapes");
    }

    void anotherExportInTheFolderIsKept()
    {
        const Dataset d = folder(3);
        LabelExportSettings s;
        s.outDir = tmp.filePath("out4").toStdString();
        s.clusterToClass = {0, 1, 2};
        LabelExport(d, 3, s, {}).prepareFolder();
        QVERIFY(QFileInfo::exists(tmp.filePath("out4/manifest.json")));
        QVERIFY(QFileInfo::exists(tmp.filePath("out4/legend.png")));
        LabelExport(d, 3, s, {}).prepareFolder(); // the same parameters: resume
        s.clusterToClass = {1, 0, 2};
        EXPECT_ERROR_CONTAINING(LabelExport(d, 3, s, {}).prepareFolder(),
                                "another 'cluster_to_class'");
        s.overwrite = true;
        LabelExport(d, 3, s, {}).prepareFolder();
    }

    void aFileOfTheUserIsNotAFinishedImage()
    {
        // A folder without a manifest holds no export: a file where a label would
        // go is someone else's, so the export stops before it counts it as done
        // (and lists it in its manifest) or writes anything.
        const Dataset d = folder(3);
        LabelExportSettings s;
        s.outDir = tmp.filePath("out5").toStdString();
        s.clusterToClass = {0, 1, 2};
        QDir().mkpath(tmp.filePath("out5/overlay"));
        std::ofstream(tmp.filePath("out5/overlay/a.png").toStdString()) << "mine";
        EXPECT_ERROR_CONTAINING(LabelExport(d, 3, s, {}).prepareFolder(),
                                "out5/overlay/a.png' already exists");
        QVERIFY(!QFileInfo::exists(tmp.filePath("out5/manifest.json")));
        QCOMPARE(QFileInfo(tmp.filePath("out5/overlay/a.png")).size(), 4);
        // Nor are a class list or legend of the user's replaced.
        const QString own = tmp.filePath("out7");
        QDir().mkpath(own);
        std::ofstream((own + "/classes.txt").toStdString()) << "my classes\n";
        s.outDir = own.toStdString();
        EXPECT_ERROR_CONTAINING(LabelExport(d, 3, s, {}).prepareFolder(),
                                "out7/classes.txt' already exists");
        QCOMPARE(primaps::readFile((own + "/classes.txt").toStdString()),
                 std::string("my classes\n"));
        // Files of an export of ours (a manifest is there) are its finished images.
        s.outDir = tmp.filePath("out6").toStdString();
        LabelExport(d, 3, s, {}).prepareFolder();
        QDir().mkpath(tmp.filePath("out6/labels"));
        std::ofstream(tmp.filePath("out6/labels/a.png").toStdString()) << "written before";
        LabelExport(d, 3, s, {}).prepareFolder();
        // --overwrite replaces what is there.
        s.outDir = tmp.filePath("out5").toStdString();
        s.overwrite = true;
        LabelExport(d, 3, s, {}).prepareFolder();
        QVERIFY(QFileInfo::exists(tmp.filePath("out5/manifest.json")));
    }
};

QTEST_APPLESS_MAIN(TestLabelExport)
#include "tst_labelexport.moc"
