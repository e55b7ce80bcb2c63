// SPDX-License-Identifier: MIT
// The default backbone on the bundled sample photographs, end to end as `primaps
// decompose` runs it (recommended resize and threshold, dense CRF): a guard against
// fragmented label maps. Version 1 left 21-46 % of each sample unassigned; the guard's
// margins are the ones the default has to keep (README, "The default backbone on
// photographs").
#include "backbones/filterbank.h"
#include "image/imageio.h"
#include "pipeline/pipeline.h"

#include <QtTest>
#include <array>
#include <string>
#include <vector>

using namespace primaps;

namespace {

constexpr double kMaxUnassigned = 0.15;
constexpr int kMinIds = 4;
constexpr int kMaxIds = 15;

struct Fragmentation
{
    int ids = 0;
    double unassigned = 0.0;
};

Fragmentation fragmentation(const cv::Mat& labels)
{
    std::array<std::size_t, 256> counts{};
    for (auto it = labels.begin<std::uint8_t>(); it != labels.end<std::uint8_t>(); ++it)
        ++counts[*it];
    Fragmentation f;
    for (std::size_t id = 1; id < counts.size(); ++id)
        f.ids += counts[id] > 0 ? 1 : 0;
    f.unassigned = double(counts[0]) / double(labels.total());
    return f;
}

Fragmentation decomposeSample(const std::string& stem, Backbone& backbone)
{
    const cv::Mat rgb = loadImageRgb8(PRIMAPS_SAMPLES_DIR "/" + stem + ".jpg");
    const ImageDecomposition d = decomposeImage(rgb, backbone, PipelineParams{});
    return fragmentation(d.labelsAtOriginalSize());
}

const std::vector<std::string> kSamples{"astronaut", "chelsea", "coffee", "rocket"};

} // namespace

class TestFilterBankSamples : public QObject
{
    Q_OBJECT

private slots:
    void defaultIsCoherentOnEverySample_data()
    {
        QTest::addColumn<QString>("stem");
        for (const std::string& s : kSamples)
            QTest::newRow(s.c_str()) << QString::fromStdString(s);
    }

    void defaultIsCoherentOnEverySample()
    {
        QFETCH(QString, stem);
        FilterBankBackbone backbone;
        const Fragmentation f = decomposeSample(stem.toStdString(), backbone);
        qInfo("%s: %d ids, %.1f %% unassigned", qPrintable(stem), f.ids, 100.0 * f.unassigned);
        QVERIFY2(f.unassigned <= kMaxUnassigned, "too many pixels left unassigned");
        QVERIFY2(f.ids >= kMinIds && f.ids <= kMaxIds, "too few or too many ids in the label map");
    }

    void guardCatchesVersionOne()
    {
        // The guard has teeth: version 1 fails it on every sample.
        FilterBankV1Backbone v1;
        int failing = 0;
        for (const std::string& stem : kSamples) {
            const Fragmentation f = decomposeSample(stem, v1);
            qInfo("filterbank-v1 %s: %d ids, %.1f %% unassigned", stem.c_str(), f.ids,
                  100.0 * f.unassigned);
            failing += f.unassigned > kMaxUnassigned || f.ids < kMinIds || f.ids > kMaxIds;
        }
        QCOMPARE(failing, int(kSamples.size()));
    }
};

QTEST_APPLESS_MAIN(TestFilterBankSamples)
#include "tst_filterbank_samples.moc"
