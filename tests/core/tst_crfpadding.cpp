// SPDX-License-Identifier: MIT
// The dense CRF's vector rows padded to whole registers (a multiple of eight
// labels) against the default padding to a multiple of four (whole registers and
// a half one): the padding lanes hold zeros through every stage, and each label's
// lane sees the same operations in the same order, so the marginals agree to the
// last bit. The benchmark's A/B of the two (bench_densecrf) relies on that.
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

class TestCrfPadding : public QObject
{
    Q_OBJECT

private slots:
    void cleanup() { primaps::detail::setCrfRowQuantum(4); }

    void wholeRegisterRowsGiveTheSameMarginals_data()
    {
        QTest::addColumn<int>("labels");
        // One label; a half register; whole registers; past the 64 labels that
        // stay in registers.
        for (const int labels : {1, 3, 10, 12, 25, 40, 70})
            QTest::addRow("K=%d", labels) << labels;
    }

    void wholeRegisterRowsGiveTheSameMarginals()
    {
        QFETCH(int, labels);
        namespace d = primaps::detail;
        if (!d::crfKernelsVectorised())
            QSKIP("no AVX2 here: the portable kernels ignore the padding");
        const cv::Mat rgb = smoothImage(44, 52, 17);
        const std::vector<float> scores = smoothScores(labels, 44, 52, 18u + unsigned(labels));

        QCOMPARE(d::crfRowQuantum(), std::size_t(4));
        QCOMPARE(d::crfRowStride(std::size_t(labels), d::CrfKernel::Best),
                 std::size_t((labels + 3) / 4 * 4));
        const std::vector<float> quads = primaps::denseCrf(scores, labels, rgb);

        d::setCrfRowQuantum(d::kCrfLanes);
        QCOMPARE(d::crfRowStride(std::size_t(labels), d::CrfKernel::Best),
                 std::size_t((labels + 7) / 8 * 8));
        const std::vector<float> registers = primaps::denseCrf(scores, labels, rgb);
        QCOMPARE(registers.size(), quads.size());
        QVERIFY(registers == quads);

        // Other values are refused; the portable kernels never pad.
        d::setCrfRowQuantum(5);
        QCOMPARE(d::crfRowQuantum(), d::kCrfLanes);
        QCOMPARE(d::crfRowStride(std::size_t(labels), d::CrfKernel::Portable),
                 std::size_t(labels));
    }
};

QTEST_APPLESS_MAIN(TestCrfPadding)
#include "tst_crfpadding.moc"
