// SPDX-License-Identifier: MIT
// The EM step's per-pixel kernels (core/em/emgradient.cpp) against LibTorch's
// upsampling: the E-step's argmax at label resolution.
#include "em/emfit.h"
#include "em/emgradient_p.h"

#include <QtTest>
#include <random>

using namespace primaps;

namespace {

struct Case
{
    int channels, classes, height, width, labelHeight, labelWidth;
};

// The second largest of a pixel's upsampled logits, to tell true ties (where
// the two sides may round differently) from real disagreements.
float margin(const std::vector<float>& logits, int classes, std::size_t pixels, std::size_t at)
{
    float best = -INFINITY, second = -INFINITY;
    for (int k = 0; k < classes; ++k) {
        const float v = logits[std::size_t(k) * pixels + at];
        if (v > best) {
            second = best;
            best = v;
        } else if (v > second) {
            second = v;
        }
    }
    return best - second;
}

} // namespace

class TestEmKernels : public QObject
{
    Q_OBJECT

private slots:
    void argmaxMatchesUpsampledLogits_data()
    {
        QTest::addColumn<int>("index");
        QTest::newRow("40x40 to 320x320, K = 27") << 0;
        QTest::newRow("7x9 to 32x41, K = 5") << 1;
        QTest::newRow("12x10 to 12x10 (no upsampling), K = 3") << 2;
        QTest::newRow("16x16 to 9x13 (smaller), K = 4") << 3;
        QTest::newRow("1x1 to 5x3, K = 2") << 4;
    }
    void argmaxMatchesUpsampledLogits()
    {
        QFETCH(int, index);
        const Case cases[] = {{24, 27, 40, 40, 320, 320}, {8, 5, 7, 9, 32, 41},
                              {6, 3, 12, 10, 12, 10},    {5, 4, 16, 16, 9, 13},
                              {3, 2, 1, 1, 5, 3}};
        const Case c = cases[index];
        std::mt19937 rng(std::uint32_t(7 + index));
        std::normal_distribution<float> normal(0.0f, 1.0f);
        FeatureMap f(c.channels, c.height, c.width);
        for (float& v : f.values)
            v = normal(rng);
        Prototypes p;
        p.classes = c.classes;
        p.dim = c.channels;
        p.gain.assign(std::size_t(c.classes), 1.0f);
        p.direction.resize(std::size_t(c.classes) * std::size_t(c.channels));
        for (float& v : p.direction)
            v = normal(rng);

        const std::vector<float> low = clusterLogits(f, p, cv::Size(c.width, c.height));
        std::vector<std::int32_t> ours(std::size_t(c.labelHeight) * std::size_t(c.labelWidth));
        detail::argmaxAtLabelResolution(low.data(), c.classes, c.height, c.width, c.labelHeight,
                                        c.labelWidth, ours.data());
        const cv::Size size(c.labelWidth, c.labelHeight);
        const cv::Mat torch = predictClusters(f, p, size);
        const std::vector<float> upsampled = clusterLogits(f, p, size);
        int differing = 0, nearTies = 0;
        for (int y = 0; y < c.labelHeight; ++y)
            for (int x = 0; x < c.labelWidth; ++x) {
                const std::size_t at = std::size_t(y) * std::size_t(c.labelWidth) + std::size_t(x);
                QVERIFY(ours[at] >= 0 && ours[at] < c.classes);
                if (ours[at] == torch.at<int>(y, x))
                    continue;
                // Only where LibTorch's rounding (it may fuse multiply-adds) can
                // reorder two classes.
                if (margin(upsampled, c.classes, ours.size(), at) < 1e-5f)
                    ++nearTies;
                else
                    ++differing;
            }
        qInfo("%d of %zu pixels differ, all at near-ties", nearTies, ours.size());
        QCOMPARE(differing, 0);
        QVERIFY(nearTies * 1000 <= int(ours.size()));
    }

    void tiesGoToTheLowestClass()
    {
        // Every class has the same logit everywhere: torch.argmax's first index.
        const std::vector<float> low(3 * 2 * 2, 0.5f);
        std::vector<std::int32_t> out(6 * 5, -1);
        detail::argmaxAtLabelResolution(low.data(), 3, 2, 2, 6, 5, out.data());
        for (std::int32_t v : out)
            QCOMPARE(v, 0);
    }
};

QTEST_APPLESS_MAIN(TestEmKernels)
#include "tst_emkernels.moc"
