// SPDX-License-Identifier: MIT
// A small fixed run of the PriMaPs-EM quality benchmark (bench_em_quality):
// mosaics of real texture photographs (gimp-data's patterns) with exact ground
// truth, fitted and evaluated as `primaps fit` and `primaps eval` do. The bounds
// are those the paper's procedure misses on such data (a starved cluster, a
// result below the k-means baseline) and the robust default must meet.
#include "emquality.h"
#include "photomosaic.h"

#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <QTemporaryDir>
#include <QtTest>

using namespace primaps;

namespace {

const char* kPatterns = "/usr/share/gimp/2.0/patterns/";

std::vector<bench::MosaicClass> patternClasses()
{
    std::vector<bench::MosaicClass> classes;
    for (const char* file : {"Animal/leopard.pat", "Fabric/burlap.pat", "Water/pool.pat",
                             "Stone/pink_marble.pat", "Wood/pine.pat", "Stone/slate.pat"})
        classes.push_back({file, bench::readPhotograph(std::string(kPatterns) + file)});
    return classes;
}

} // namespace

class TestEmQuality : public QObject
{
    Q_OBJECT

    QTemporaryDir dir;
    std::string data, cache;

private slots:
    void initTestCase()
    {
        // gimp-data is a test dependency (packaging/install-deps.sh).
        QVERIFY2(std::filesystem::exists(std::string(kPatterns) + "Animal/leopard.pat"),
                 "gimp-data's patterns are missing: run packaging/install-deps.sh");
        bench::MosaicSpec spec;
        spec.images = 36;
        spec.seed = 7;
        data = dir.filePath("data").toStdString();
        cache = dir.filePath("cache").toStdString();
        bench::writeMosaicDataset(patternClasses(), spec, data);
    }

    void mosaicGroundTruthIsExact()
    {
        // Every label pixel is a class id, the classes are dealt evenly and the
        // split lists hold every image once.
        const cv::Mat labels = cv::imread(data + "/labels/m0000.png", cv::IMREAD_UNCHANGED);
        QCOMPARE(labels.size(), cv::Size(320, 320));
        std::vector<double> share(6, 0.0);
        double total = 0;
        for (int i = 0; i < 36; ++i) {
            char name[64];
            std::snprintf(name, sizeof name, "/labels/m%04d.png", i);
            const cv::Mat l = cv::imread(data + name, cv::IMREAD_UNCHANGED);
            QCOMPARE(l.type(), CV_8UC1);
            for (auto it = l.begin<std::uint8_t>(); it != l.end<std::uint8_t>(); ++it) {
                QVERIFY(*it < 6);
                share[*it] += 1;
                total += 1;
            }
        }
        for (double s : share)
            QVERIFY2(s / total > 0.08, qPrintable(QString::number(s / total)));
    }

    void robustFitKeepsEveryClusterAndBeatsTheBaseline()
    {
        EmParams em;
        em.epochs = 20;
        em.initEpochs = 2;
        em.batchSize = 8;
        bench::QualityResult result[2][2]; // [kmeans, primaps-em][paper, robust]
        for (int m = 0; m < 2; ++m)
            for (int p = 0; p < 2; ++p) {
                em.method = m == 0 ? EmMethod::KMeans : EmMethod::PrimapsEm;
                em.protocol = p == 0 ? EmProtocol::Paper : EmProtocol::Robust;
                const std::string run =
                    dir.filePath(QString("run_%1_%2").arg(m).arg(p)).toStdString();
                result[m][p] = bench::runQuality(data, cache, run, em, false);
                const bench::QualityResult& r = result[m][p];
                QString shares;
                for (double s : r.clusterShare)
                    shares += QString(" %1").arg(100 * s, 0, 'f', 1);
                qInfo("%s %s: Acc %.1f mIoU %.1f, cluster share %%%s", toString(em.method),
                      toString(em.protocol), r.accuracy, r.meanIoU, qPrintable(shares));
            }
        const bench::QualityResult& robust = result[1][1];
        QVERIFY2(robust.smallestShare() >= 0.01, "a cluster below 1 % of the pixels");
        QVERIFY(robust.meanIoU >= result[1][0].meanIoU);
        QVERIFY(robust.meanIoU >= result[0][1].meanIoU + 3);
    }
};

QTEST_GUILESS_MAIN(TestEmQuality)
#include "tst_emquality.moc"
