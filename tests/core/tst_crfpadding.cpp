// SPDX-License-Identifier: MIT
// The dense CRF's vector rows padded to whole registers (a multiple of eight
// labels) against the default padding to a multiple of four (whole registers and
// a half one): the padding lanes hold zeros through every stage, and each label's
// lane sees the same operations in the same order, so the marginals agree to the
// last bit. The benchmark's A/B of the two (bench_densecrf) relies on that.
#include "crf/crfkernels_p.h"
#include "crf/densecrf.h"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <QtTest>
#include <random>
#include <vector>

namespace {

// A smooth colour image and smooth random scores: boundaries for the CRF to move.
cv::Mat smoothImage(int height, int width, unsigned seed)
{
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> value(0, 255);
    cv::Mat small(height / 8 + 1, width / 8 + 1, CV_8UC3);
    for (int i = 0; i < small.rows * small.cols; ++i)
        small.at<cv::Vec3b>(i) = cv::Vec3b(uchar(value(rng)), uchar(value(rng)), uchar(value(rng)));
    cv::Mat rgb;
    cv::resize(small, rgb, cv::Size(width, height), 0, 0, cv::INTER_LINEAR);
    return rgb;
}

std::vector<float> smoothScores(int labels, int height, int width, unsigned seed)
{
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 2.0f);
    std::vector<float> out(std::size_t(labels) * height * width);
    for (int k = 0; k < labels; ++k) {
        cv::Mat small(height / 6 + 1, width / 6 + 1, CV_32F);
        for (int i = 0; i < small.rows * small.cols; ++i)
            small.at<float>(i) = normal(rng);
        cv::Mat plane(height, width, CV_32F, out.data() + std::size_t(k) * height * width);
        cv::resize(small, plane, plane.size(), 0, 0, cv::INTER_LINEAR);
    }
    return out;
}

} // namespace

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
