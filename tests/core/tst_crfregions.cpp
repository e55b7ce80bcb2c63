// SPDX-License-Identifier: MIT
// The dense CRF's step with its stages sharing parallel regions (the spatial
// matrix inside the bilateral splat's region, the softmax inside the slice's)
// against each stage in a region of its own: the same operations on the same
// values, so the marginals agree to the last bit, for any number of threads.
// A stage started before what it reads was complete (the softmax before the
// slice, the matrix after Q changed) would show here.
#include "crf/crfkernels_p.h"
#include "crf/densecrf.h"
#include "crftestimages.h"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <QtTest>
#include <random>
#include <vector>

using crftest::smoothImage;
using crftest::smoothScores;

class TestCrfRegions : public QObject
{
    Q_OBJECT

private slots:
    void init() { previousThreads_ = cv::getNumThreads(); }
    void cleanup()
    {
        primaps::detail::setCrfFusedRegions(true);
        cv::setNumThreads(previousThreads_);
    }

    void sharedRegionsGiveTheSameMarginals_data()
    {
        QTest::addColumn<int>("labels");
        QTest::addColumn<int>("threads");
        // Rows of a half register, of whole ones, and past the 64 labels that
        // stay in registers; one thread, two, more stripes than threads.
        for (const int labels : {3, 10, 25, 70})
            for (const int threads : {1, 2, 4})
                QTest::addRow("K=%d threads=%d", labels, threads) << labels << threads;
    }

    void sharedRegionsGiveTheSameMarginals()
    {
        QFETCH(int, labels);
        QFETCH(int, threads);
        namespace d = primaps::detail;
        cv::setNumThreads(threads);
        // Large enough for many stripes in every region (about 30 of 1024 pixels).
        const int height = 150;
        const int width = 210;
        const cv::Mat rgb = smoothImage(height, width, 29);
        const std::vector<float> scores =
            smoothScores(labels, height, width, 31u + unsigned(labels));
        auto image = std::make_shared<const primaps::DenseCrfImage>(rgb);
        QVERIFY(image->spatialMatrix() != nullptr);
        QVERIFY(image->bilateral() != nullptr);

        QVERIFY(d::crfFusedRegions());
        primaps::DenseCrf crf(image);
        const std::vector<float> shared = crf.run(scores, labels);
        d::setCrfFusedRegions(false);
        const std::vector<float> separate = crf.run(scores, labels);
        QCOMPARE(shared.size(), separate.size());
        QVERIFY(shared == separate);

        // And the CRF did move the labels: the comparison is not of two inputs.
        primaps::DenseCrfParams none;
        none.iterations = 0;
        const std::vector<float> start = primaps::denseCrf(scores, labels, rgb, none);
        QVERIFY(start != shared);
    }

private:
    int previousThreads_ = 1;
};

QTEST_APPLESS_MAIN(TestCrfRegions)
#include "tst_crfregions.moc"
