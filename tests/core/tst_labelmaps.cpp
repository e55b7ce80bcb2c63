// SPDX-License-Identifier: MIT
// Step 5's upsampling and argmax (core/decompose/labelmaps.cpp) against the
// plain per-pixel formulas they replace: the same numbers to the last bit and
// the same label ids, for any size, channel count and thread count.
#include "decompose/primaps.h"
#include "support/error.h"

#include <opencv2/core.hpp>
#include <QtTest>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

using namespace primaps;

namespace {

// The formula, pixel by pixel: PyTorch's bilinear interpolation with
// align_corners = false, each output value from its four source values.
std::vector<float> upsampleByFormula(const std::vector<float>& values, int channels, int height,
                                     int width, cv::Size size)
{
    auto tap = [](int o, int in, int out, int& i0, int& i1, float& w1) {
        const double src = std::max(0.0, (o + 0.5) * (double(in) / double(out)) - 0.5);
        i0 = std::min(int(src), in - 1);
        i1 = std::min(i0 + 1, in - 1);
        w1 = float(src - i0);
    };
    std::vector<float> out(std::size_t(channels) * size.area());
    for (int k = 0; k < channels; ++k)
        for (int y = 0; y < size.height; ++y) {
            int y0, y1;
            float wy;
            tap(y, height, size.height, y0, y1, wy);
            for (int x = 0; x < size.width; ++x) {
                int x0, x1;
                float wx;
                tap(x, width, size.width, x0, x1, wx);
                const float* src = values.data() + std::size_t(k) * height * width;
                const float* r0 = src + std::size_t(y0) * width;
                const float* r1 = src + std::size_t(y1) * width;
                const float top = r0[x0] + (r0[x1] - r0[x0]) * wx;
                const float bottom = r1[x0] + (r1[x1] - r1[x0]) * wx;
                out[(std::size_t(k) * size.height + y) * size.width + x] =
                    top + (bottom - top) * wy;
            }
        }
    return out;
}

// The first channel holding the largest value; a NaN never wins.
cv::Mat argmaxByFormula(const std::vector<float>& values, int channels, int height, int width)
{
    const std::size_t plane = std::size_t(height) * width;
    cv::Mat labels(height, width, CV_8U);
    for (std::size_t i = 0; i < plane; ++i) {
        int best = 0;
        for (int k = 1; k < channels; ++k)
            if (values[std::size_t(k) * plane + i] > values[std::size_t(best) * plane + i])
                best = k;
        labels.data[i] = uchar(best);
    }
    return labels;
}

std::vector<float> randomValues(std::size_t n, unsigned seed)
{
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(-3.0f, 2.0f);
    std::vector<float> v(n);
    for (float& x : v)
        x = normal(rng);
    return v;
}

bool sameBits(const std::vector<float>& a, const std::vector<float>& b)
{
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

} // namespace

class TestLabelMaps : public QObject
{
    Q_OBJECT

private slots:
    void cleanup() { cv::setNumThreads(-1); }

    void upsamplingIsTheFormulaBitForBit_data()
    {
        QTest::addColumn<int>("channels");
        QTest::addColumn<int>("height");
        QTest::addColumn<int>("width");
        QTest::addColumn<int>("outHeight");
        QTest::addColumn<int>("outWidth");
        QTest::addColumn<int>("threads");
        // chelsea's grid and image (16 masks), the astronaut's, odd factors,
        // shrinking, one row, one channel, one thread.
        QTest::newRow("17 ch 40x61 -> 320x488") << 17 << 40 << 61 << 320 << 488 << 2;
        QTest::newRow("8 ch 40x40 -> 320x320, 1 thread") << 8 << 40 << 40 << 320 << 320 << 1;
        QTest::newRow("3 ch 7x5 -> 53x37") << 3 << 7 << 5 << 53 << 37 << 2;
        QTest::newRow("41 ch 9x13 -> 100x97") << 41 << 9 << 13 << 100 << 97 << 2;
        QTest::newRow("2 ch 20x30 -> 7x11 (down)") << 2 << 20 << 30 << 7 << 11 << 2;
        QTest::newRow("1 ch 1x1 -> 5x3") << 1 << 1 << 1 << 5 << 3 << 2;
        QTest::newRow("4 ch 6x1 -> 1x17") << 4 << 6 << 1 << 1 << 17 << 2;
    }

    void upsamplingIsTheFormulaBitForBit()
    {
        QFETCH(int, channels);
        QFETCH(int, height);
        QFETCH(int, width);
        QFETCH(int, outHeight);
        QFETCH(int, outWidth);
        QFETCH(int, threads);
        cv::setNumThreads(threads);
        const std::vector<float> in =
            randomValues(std::size_t(channels) * height * width, unsigned(channels * 131 + width));
        const cv::Size size(outWidth, outHeight);
        const std::vector<float> fast = upsampleBilinear(in, channels, height, width, size);
        const std::vector<float> formula = upsampleByFormula(in, channels, height, width, size);
        QVERIFY(sameBits(fast, formula));
        // Into a kept buffer (the pipeline's): of the right size, larger and smaller,
        // holding NaNs from before; every value is overwritten, the size set.
        const float nan = std::numeric_limits<float>::quiet_NaN();
        for (const std::size_t before : {formula.size(), formula.size() + 77, formula.size() / 3}) {
            std::vector<float> kept(before, nan);
            upsampleBilinear(in, channels, height, width, size, kept);
            QVERIFY(sameBits(kept, formula));
        }
        QVERIFY_THROWS_EXCEPTION(Error, upsampleBilinear(in, channels + 1, height, width, size));
        QVERIFY_THROWS_EXCEPTION(Error,
                                 upsampleBilinear(in, channels, height, width, cv::Size(0, 3)));
    }

    void argmaxIsTheFirstLargest_data()
    {
        QTest::addColumn<int>("channels");
        QTest::addColumn<int>("height");
        QTest::addColumn<int>("width");
        QTest::addColumn<int>("threads");
        QTest::newRow("17 ch 320x488") << 17 << 320 << 488 << 2;
        QTest::newRow("8 ch 320x320, 1 thread") << 8 << 320 << 320 << 1;
        QTest::newRow("45 ch 77x131") << 45 << 77 << 131 << 2;
        QTest::newRow("grid 13 ch 40x61") << 13 << 40 << 61 << 2;
        QTest::newRow("1 ch 9x9") << 1 << 9 << 9 << 2;
        QTest::newRow("256 ch 3x700") << 256 << 3 << 700 << 2;
    }

    void argmaxIsTheFirstLargest()
    {
        QFETCH(int, channels);
        QFETCH(int, height);
        QFETCH(int, width);
        QFETCH(int, threads);
        cv::setNumThreads(threads);
        const std::size_t plane = std::size_t(height) * width;
        // Values on a coarse grid, so that ties between channels are common,
        // and a few NaNs (in channel 0 too).
        std::vector<float> values = randomValues(std::size_t(channels) * plane, unsigned(plane));
        for (float& v : values)
            v = std::round(v);
        std::mt19937 rng(3);
        std::uniform_int_distribution<std::size_t> anywhere(0, values.size() - 1);
        for (int i = 0; i < 50; ++i)
            values[anywhere(rng)] = std::numeric_limits<float>::quiet_NaN();
        values[0] = std::numeric_limits<float>::quiet_NaN();
        const cv::Mat fast = argmaxLabels(values, channels, height, width);
        const cv::Mat formula = argmaxByFormula(values, channels, height, width);
        QCOMPARE(fast.type(), CV_8U);
        QCOMPARE(fast.size(), cv::Size(width, height));
        QCOMPARE(cv::countNonZero(fast != formula), 0);
        QCOMPARE(int(fast.at<uchar>(0, 0)), int(formula.at<uchar>(0, 0)));
        if (channels > 1) {
            // Ties go to the lowest channel: equal values leave every pixel at 0.
            std::vector<float> equal(values.size(), 1.0f);
            QCOMPARE(cv::countNonZero(argmaxLabels(equal, channels, height, width)), 0);
        }
        QVERIFY_THROWS_EXCEPTION(Error, argmaxLabels(values, channels + 1, height, width));
    }
};

QTEST_APPLESS_MAIN(TestLabelMaps)
#include "tst_labelmaps.moc"
