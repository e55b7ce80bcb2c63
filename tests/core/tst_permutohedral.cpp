// SPDX-License-Identifier: MIT
// The permutohedral lattice on its own: Gaussian filtering against brute force,
// per-point scales, the spatial kernel as an explicit matrix, bad input.
#include "crf/permutohedral.h"
#include "support/error.h"

#include "crftestfilters.h"

#include <cmath>
#include <limits>
#include <opencv2/core.hpp>
#include <QtTest>
#include <random>
#include <string>
#include <vector>

using crftest::bruteForceFilter;
using crftest::imageFeatures;
using crftest::maxAbsDiff;
using crftest::smoothRandomImage;
using primaps::PermutohedralLattice;

class TestPermutohedral : public QObject
{
    Q_OBJECT

private slots:
    void latticeMatchesBruteForce_data();
    void latticeMatchesBruteForce();
    void latticeScalesFoldIn();
    void latticeMatrixMatchesFilter();
    void latticeBadInputGivesErrors();
};

void TestPermutohedral::latticeMatchesBruteForce_data()
{
    // The lattice is an approximation of Gaussian filtering (the reference's
    // has the same errors: fidelityAgainstReference() matches it to 2e-5).
    // Bounds are the measured relative errors plus about 20%:
    //   d=2: smooth signals 1.25%, white noise 8.3%, K 1 1.4%;
    //   d=5: smooth signals 4.7%,  white noise 28%,  K 1 11%.
    // White noise exposes the shape of the lattice's kernel (slightly wider
    // than the Gaussian, cut off beyond about 3.5 sigma, and in 5-D varying with
    // the position inside a simplex); smooth signals are what the CRF filters.
    QTest::addColumn<int>("dim");
    QTest::addColumn<double>("bound");
    QTest::addColumn<double>("noiseBound");
    QTest::addColumn<double>("densityBound");
    QTest::newRow("spatial d=2") << 2 << 0.016 << 0.10 << 0.018;
    QTest::newRow("bilateral d=5") << 5 << 0.055 << 0.33 << 0.13;
}

void TestPermutohedral::latticeMatchesBruteForce()
{
    QFETCH(int, dim);
    QFETCH(double, bound);
    QFETCH(double, noiseBound);
    QFETCH(double, densityBound);
    // A 40 x 40 image, kernels 5 pixels and 10 colour units wide: every point
    // has many neighbours, and brute force stays quick.
    const int side = 40;
    const int n = side * side;
    const cv::Mat rgb = smoothRandomImage(side, side, 11);
    const std::vector<float> features = imageFeatures(rgb, 5.0f, 10.0f, dim == 5);
    const PermutohedralLattice lattice(features.data(), dim, n);

    // Two kinds of signal: white noise (the hardest case: every detail of the
    // kernel's shape shows) and smooth functions of the features (like the
    // CRF's marginals), cosines with a wavelength of several kernel widths.
    const int channels = 4;
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    std::vector<float> noise(std::size_t(n) * channels);
    for (float& v : noise)
        v = uniform(rng);
    std::vector<float> smooth(std::size_t(n) * channels);
    for (int c = 0; c < channels; ++c) {
        std::vector<float> omega(static_cast<std::size_t>(dim));
        for (float& w : omega)
            w = 0.5f * uniform(rng);
        const float phase = 3.0f * uniform(rng);
        for (int i = 0; i < n; ++i) {
            float arg = phase;
            for (int f = 0; f < dim; ++f)
                arg += omega[f] * features[std::size_t(i) * dim + f];
            smooth[std::size_t(i) * channels + c] = std::cos(arg);
        }
    }
    const std::vector<float> ones(std::size_t(n), 1.0f);
    const std::vector<float> density = lattice.filter(ones, 1);
    const std::vector<double> exactDensity = bruteForceFilter(features, dim, ones, 1);

    // Relative L2 error of the normalised filtering K v / K 1, which is what the
    // CRF uses (any constant factor of the lattice's kernel cancels).
    auto normalisedError = [&](const std::vector<float>& values) {
        const std::vector<float> filtered = lattice.filter(values, channels);
        const std::vector<double> exact = bruteForceFilter(features, dim, values, channels);
        double errSq = 0.0;
        double refSq = 0.0;
        for (int i = 0; i < n; ++i)
            for (int c = 0; c < channels; ++c) {
                const double a = double(filtered[i * channels + c]) / double(density[i]);
                const double b = exact[i * channels + c] / exactDensity[i];
                errSq += (a - b) * (a - b);
                refSq += b * b;
            }
        return std::sqrt(errSq / refSq);
    };
    const double smoothError = normalisedError(smooth);
    const double noiseError = normalisedError(noise);

    // The unnormalised kernel sums K 1, up to the best constant factor.
    double ab = 0.0;
    double bb = 0.0;
    for (int i = 0; i < n; ++i) {
        ab += double(density[i]) * exactDensity[i];
        bb += exactDensity[i] * exactDensity[i];
    }
    const double height = ab / bb;
    double densityErrSq = 0.0;
    for (int i = 0; i < n; ++i) {
        const double d = double(density[i]) / height - exactDensity[i];
        densityErrSq += d * d;
    }
    const double densityError = std::sqrt(densityErrSq / bb);

    qInfo("d=%d, %d points, %d lattice vertices: relative L2 error of normalised filtering "
          "%.4f (smooth signals), %.4f (white noise); of K 1 up to a factor %.3f: %.4f",
          dim, n, lattice.vertices(), smoothError, noiseError, height, densityError);
    QVERIFY2(smoothError <= bound,
             qPrintable(QString("smooth-signal error %1 > %2").arg(smoothError).arg(bound)));
    QVERIFY2(noiseError <= noiseBound,
             qPrintable(QString("white-noise error %1 > %2").arg(noiseError).arg(noiseBound)));
    QVERIFY2(densityError <= densityBound,
             qPrintable(QString("K 1 error %1 > %2").arg(densityError).arg(densityBound)));
}


void TestPermutohedral::latticeMatrixMatchesFilter()
{
    // A spatial kernel of sxy = 1 over a 37 x 53 grid, with scales folded in as
    // the dense CRF does: the explicit matrix filters like the lattice.
    const int rows = 37, cols = 53, n = rows * cols;
    std::vector<float> features(std::size_t(n) * 2);
    for (int i = 0; i < n; ++i) {
        features[std::size_t(i) * 2] = float(i % cols);
        features[std::size_t(i) * 2 + 1] = float(i / cols);
    }
    PermutohedralLattice lattice(features.data(), 2, n);
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> uniform(0.5f, 2.0f);
    std::vector<float> pre(static_cast<std::size_t>(n)), post(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        pre[std::size_t(i)] = uniform(rng);
        post[std::size_t(i)] = uniform(rng);
    }
    lattice.scalePoints(pre.data(), post.data());
    const primaps::LatticeMatrix matrix = lattice.toMatrix(1000);
    QCOMPARE(matrix.points(), n);
    qInfo("spatial kernel as a matrix: %.1f entries per row", matrix.density());
    QVERIFY(matrix.density() > 5 && matrix.density() < 64);
    for (const int channels : {1, 5, 12, 20}) {
        std::vector<float> in(std::size_t(n) * channels);
        for (float& v : in)
            v = uniform(rng);
        std::vector<float> byLattice(in.size()), byMatrix(in.size(), 1.0f);
        PermutohedralLattice::Workspace workspace;
        lattice.filter(in.data(), byLattice.data(), channels, workspace);
        matrix.apply(in.data(), byMatrix.data(), channels);
        QVERIFY2(maxAbsDiff(byMatrix, byLattice) < 1e-5,
                 qPrintable(QString("%1 channels: max difference %2")
                                .arg(channels)
                                .arg(maxAbsDiff(byMatrix, byLattice))));
        // Accumulating adds to what is there.
        std::vector<float> twice = byMatrix;
        matrix.apply(in.data(), twice.data(), channels, true);
        for (std::size_t i = 0; i < twice.size(); ++i)
            QVERIFY(std::abs(twice[i] - 2 * byMatrix[i]) <= 1e-5f * std::abs(byMatrix[i]) + 1e-7f);
    }
    // Too many entries per row: no matrix.
    QVERIFY(lattice.toMatrix(4).empty());
    QVERIFY_THROWS_EXCEPTION(primaps::Error, PermutohedralLattice().toMatrix(10));
    QVERIFY_THROWS_EXCEPTION(primaps::Error, primaps::LatticeMatrix().apply(pre.data(), post.data(), 1));
}

void TestPermutohedral::latticeScalesFoldIn()
{
    // scalePoints() bakes per-point scales into the weights: the same result as
    // passing them to every filter() call, and as scaling by hand.
    const int side = 19;
    const int n = side * side;
    const cv::Mat rgb = smoothRandomImage(side, side, 101);
    const std::vector<float> features = imageFeatures(rgb, 4.0f, 9.0f, true);
    std::mt19937 rng(102);
    std::uniform_real_distribution<float> uniform(0.5f, 2.0f);
    std::vector<float> pre(n);
    std::vector<float> post(n);
    std::vector<float> values(std::size_t(n) * 3);
    for (float& v : pre)
        v = uniform(rng);
    for (float& v : post)
        v = uniform(rng);
    for (float& v : values)
        v = uniform(rng);

    PermutohedralLattice lattice(features.data(), 5, n);
    PermutohedralLattice::Workspace workspace;
    std::vector<float> withPointers(values.size());
    lattice.filter(values.data(), withPointers.data(), 3, workspace, pre.data(), post.data());
    std::vector<float> byHand = values;
    for (int i = 0; i < n; ++i)
        for (int c = 0; c < 3; ++c)
            byHand[std::size_t(i) * 3 + c] *= pre[std::size_t(i)];
    byHand = lattice.filter(byHand, 3);
    for (int i = 0; i < n; ++i)
        for (int c = 0; c < 3; ++c)
            byHand[std::size_t(i) * 3 + c] *= post[std::size_t(i)];
    lattice.scalePoints(pre.data(), post.data());
    const std::vector<float> baked = lattice.filter(values, 3);
    QVERIFY(maxAbsDiff(withPointers, byHand) < 1e-5);
    QVERIFY(maxAbsDiff(baked, byHand) < 1e-5);
    QVERIFY(maxAbsDiff(baked, values) > 0.1);

    PermutohedralLattice empty;
    QVERIFY_THROWS_EXCEPTION(primaps::Error, empty.scalePoints(pre.data(), post.data()));
}

void TestPermutohedral::latticeBadInputGivesErrors()
{
    const std::vector<float> features = {0.0f, 1.0f, 2.0f, 3.0f};
    QVERIFY_THROWS_EXCEPTION(primaps::Error, (void)PermutohedralLattice(features.data(), 0, 2));
    QVERIFY_THROWS_EXCEPTION(
        primaps::Error,
        (void)PermutohedralLattice(features.data(), PermutohedralLattice::maxDim + 1, 1));
    QVERIFY_THROWS_EXCEPTION(primaps::Error, (void)PermutohedralLattice(features.data(), 2, 0));
    QVERIFY_THROWS_EXCEPTION(primaps::Error, (void)PermutohedralLattice(nullptr, 2, 2));
    std::vector<float> bad = features;
    bad[2] = std::numeric_limits<float>::quiet_NaN();
    QVERIFY_THROWS_EXCEPTION(primaps::Error, (void)PermutohedralLattice(bad.data(), 2, 2));
    bad[2] = 1e9f;
    QVERIFY_THROWS_EXCEPTION(primaps::Error, (void)PermutohedralLattice(bad.data(), 2, 2));

    const PermutohedralLattice empty;
    QVERIFY(empty.empty());
    QVERIFY_THROWS_EXCEPTION(primaps::Error, empty.filter(std::vector<float>{}, 1));
    const PermutohedralLattice lattice(features.data(), 2, 2);
    QCOMPARE(lattice.points(), 2);
    QVERIFY_THROWS_EXCEPTION(primaps::Error, lattice.filter(std::vector<float>(3), 1));
    QVERIFY_THROWS_EXCEPTION(primaps::Error, lattice.filter(std::vector<float>(2), 0));
    PermutohedralLattice::Workspace workspace;
    std::vector<float> out(2);
    QVERIFY_THROWS_EXCEPTION(primaps::Error, lattice.filter(nullptr, out.data(), 1, workspace));
    // A single point filters to itself: its own weight is exp(0) = 1, which the
    // lattice reproduces up to its approximation.
    const PermutohedralLattice single(features.data(), 2, 1);
    const std::vector<float> self = single.filter(std::vector<float>{2.0f}, 1);
    QVERIFY(self[0] > 0.0f);
}

QTEST_APPLESS_MAIN(TestPermutohedral)
#include "tst_permutohedral.moc"
