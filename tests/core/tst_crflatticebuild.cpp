// SPDX-License-Identifier: MIT
// The permutohedral lattice's neighbours found by sorting the packed vertex keys
// against probing the vertex table: the same lattice, so the same filtering to
// the last bit, also where the keys do not pack into 64 bits (the sorted search
// then falls back to the probes). The benchmark's A/B of the two
// (BM_DenseCrfLatticeBuild) relies on that.
#include "crf/densecrf.h"
#include "crf/latticebuild_p.h"
#include "crf/permutohedral.h"
#include "crf/vertextable_p.h"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <QScopeGuard>
#include <QtTest>
#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace {

using primaps::PermutohedralLattice;
namespace d = primaps::detail;

// Points along a random walk (so that neighbouring lattice vertices exist),
// `spread` times a unit step per feature.
std::vector<float> walkFeatures(int dim, int count, float spread, unsigned seed)
{
    std::mt19937 rng(seed);
    std::normal_distribution<float> step(0.0f, 0.4f);
    std::uniform_real_distribution<float> jump(-spread, spread);
    std::vector<float> out(std::size_t(dim) * count);
    std::vector<float> at(std::size_t(dim), 0.0f);
    for (int p = 0; p < count; ++p) {
        for (int i = 0; i < dim; ++i) {
            at[std::size_t(i)] += step(rng);
            // Now and then far away: wide key ranges.
            if (p % 97 == 0)
                at[std::size_t(i)] = jump(rng);
            out[std::size_t(p) * dim + i] = at[std::size_t(i)];
        }
    }
    return out;
}

std::vector<float> filtered(const std::vector<float>& features, int dim, int count,
                            d::NeighbourSearch search, int* vertices)
{
    d::setPreferredNeighbourSearch(search);
    const PermutohedralLattice lattice(features.data(), dim, count);
    *vertices = lattice.vertices();
    std::vector<float> values(std::size_t(count) * 3);
    for (std::size_t i = 0; i < values.size(); ++i)
        values[i] = float((i * 7919) % 1013) / 1013.0f;
    return lattice.filter(values, 3);
}

} // namespace

class TestCrfLatticeBuild : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase()
    {
        search_ = d::preferredNeighbourSearch();
        construction_ = d::preferredMatrixConstruction();
    }

    // Qt runs it after every case, a failed one too: the process-wide choices a
    // case makes never reach the next.
    void cleanup()
    {
        d::setPreferredNeighbourSearch(search_);
        d::setPreferredMatrixConstruction(construction_);
        d::setVertexTableBands(0); // the default (automaticBandsFollowTheThreads)
    }

    void sortedNeighboursMatchProbes_data()
    {
        QTest::addColumn<int>("dim");
        QTest::addColumn<float>("spread");
        // The CRF's two kernels; one dimension; keys that need 64 bits or more
        // (16 coordinates, or five over a range of 1e4: the fallback).
        QTest::newRow("d=1") << 1 << 30.0f;
        QTest::newRow("d=2") << 2 << 40.0f;
        QTest::newRow("d=5") << 5 << 20.0f;
        QTest::newRow("d=5 wide") << 5 << 1e4f;
        QTest::newRow("d=7") << 7 << 100.0f;
        QTest::newRow("d=16") << 16 << 10.0f;
    }

    void sortedNeighboursMatchProbes()
    {
        QFETCH(int, dim);
        QFETCH(float, spread);
        const int count = 3000;
        const std::vector<float> features = walkFeatures(dim, count, spread, 5u + unsigned(dim));
        int sortedVertices = 0, probedVertices = 0;
        const std::vector<float> sorted =
            filtered(features, dim, count, d::NeighbourSearch::Sorted, &sortedVertices);
        const std::vector<float> probed =
            filtered(features, dim, count, d::NeighbourSearch::HashTable, &probedVertices);
        QCOMPARE(sortedVertices, probedVertices);
        QVERIFY(sorted == probed);
        // Many vertices, so many neighbours to find.
        QVERIFY(sortedVertices > 4 * (dim + 1));
    }

    void bandedVertexTablesNumberLikeOne_data()
    {
        QTest::addColumn<int>("dim");
        QTest::addColumn<float>("spread");
        QTest::addColumn<bool>("repeated");
        QTest::addColumn<bool>("probes");
        // The CRF's two kernels, wide keys (the probing fallback rebuilds a
        // table from the numbered keys), the generic dimension, and points
        // whose second half repeats the first (every vertex of the later bands
        // belongs to the first).
        QTest::newRow("d=2") << 2 << 40.0f << false << false;
        QTest::newRow("d=5") << 5 << 20.0f << false << false;
        QTest::newRow("d=5 repeated") << 5 << 20.0f << true << false;
        QTest::newRow("d=5 probes") << 5 << 20.0f << false << true;
        QTest::newRow("d=5 wide") << 5 << 1e4f << false << false;
        QTest::newRow("d=7") << 7 << 100.0f << false << false;
        QTest::newRow("d=16") << 16 << 10.0f << false << false;
    }

    void bandedVertexTablesNumberLikeOne()
    {
        // A table per band of points, merged in band order, must give every
        // vertex the number one sequential table gives it (first touch), so
        // that the lattice and all its sums are the same to the last bit.
        QFETCH(int, dim);
        QFETCH(float, spread);
        QFETCH(bool, repeated);
        QFETCH(bool, probes);
        const int count = 3001;
        std::vector<float> features = walkFeatures(dim, count, spread, 17u + unsigned(dim));
        if (repeated)
            std::copy(features.begin(), features.begin() + std::ptrdiff_t(count / 2) * dim,
                      features.begin() + std::ptrdiff_t(count - count / 2) * dim);
        d::setPreferredNeighbourSearch(probes ? d::NeighbourSearch::HashTable
                                              : d::NeighbourSearch::Sorted);
        std::vector<float> values(std::size_t(count) * 3);
        for (std::size_t i = 0; i < values.size(); ++i)
            values[i] = float((i * 7919) % 1013) / 1013.0f;
        const std::size_t entries = std::size_t(count) * std::size_t(dim + 1);

        d::setVertexTableBands(1);
        const PermutohedralLattice one(features.data(), dim, count);
        const std::vector<std::int32_t> oneNumbers(one.pointVertices(),
                                                   one.pointVertices() + entries);
        const std::vector<float> oneFiltered = one.filter(values, 3);
        QVERIFY(one.vertices() > 4 * (dim + 1));
        for (const int bands : {2, 3, 5, 8, 64, 5000}) {
            d::setVertexTableBands(bands);
            const PermutohedralLattice banded(features.data(), dim, count);
            QCOMPARE(banded.vertices(), one.vertices());
            const std::vector<std::int32_t> numbers(banded.pointVertices(),
                                                    banded.pointVertices() + entries);
            QVERIFY2(numbers == oneNumbers, qPrintable(QString("%1 bands").arg(bands)));
            QVERIFY(banded.filter(values, 3) == oneFiltered);
        }
    }

    void simplexHashesMatchTheKeys()
    {
        // The build hashes a simplex's d + 1 vertex keys by moving one sum
        // from vertex to vertex; it must give hashKey() of each key, for any
        // corner (negative coordinates included) and order of the coordinates.
        std::mt19937 rng(29);
        std::uniform_int_distribution<int> coordinate(-100000, 100000);
        std::int32_t corner[PermutohedralLattice::maxDim];
        std::int32_t key[PermutohedralLattice::maxDim];
        int rank[PermutohedralLattice::maxDim + 1];
        std::uint32_t hashes[PermutohedralLattice::maxDim + 1];
        std::uint32_t fixedHashes[6];
        int checked = 0;
        for (int dim = 1; dim <= PermutohedralLattice::maxDim; ++dim)
            for (int trial = 0; trial < 200; ++trial) {
                for (int i = 0; i < dim; ++i)
                    corner[i] = (dim + 1) * coordinate(rng);
                for (int i = 0; i <= dim; ++i)
                    rank[i] = i;
                std::shuffle(rank, rank + dim + 1, rng);
                d::simplexHashes<0>(corner, rank, hashes, dim);
                if (dim == 5)
                    d::simplexHashes<5>(corner, rank, fixedHashes, dim);
                for (int r = 0; r <= dim; ++r) {
                    d::simplexVertex<0>(corner, rank, r, key, dim);
                    QCOMPARE(hashes[r], d::hashKey<0>(key, dim));
                    if (dim == 5)
                        QCOMPARE(fixedHashes[r], hashes[r]);
                    ++checked;
                }
            }
        QCOMPARE(checked, 200 * (PermutohedralLattice::maxDim * (PermutohedralLattice::maxDim + 3) / 2));
    }

    void automaticBandsFollowTheThreads()
    {
        // By default (0) a band per thread of OpenCV's pool, at most 8, none
        // smaller than 4,096 points; 1 is one sequential table.
        const int previous = cv::getNumThreads();
        // OpenCV's threads back however the case ends (a failed QCOMPARE returns).
        const auto restoreThreads = qScopeGuard([previous] { cv::setNumThreads(previous); });
        cv::setNumThreads(2);
        QCOMPARE(d::vertexTableBands(102400), 2);
        QCOMPARE(d::vertexTableBands(5000), 1);
        cv::setNumThreads(16);
        QCOMPARE(d::vertexTableBands(1 << 20), 8);
        d::setVertexTableBands(3);
        QCOMPARE(d::vertexTableBands(10), 3);
        d::setVertexTableBands(1);
        QCOMPARE(d::vertexTableBands(1 << 20), 1);
    }

    void packedKeysNeverCarryIntoTheNextCoordinate()
    {
        // Keys at the edges of their ranges: a direction's step of -dim from the
        // lowest key must not borrow from the next field and land on another key.
        const int dim = 2;
        // Vertex keys (first d coordinates) as PermutohedralLattice stores them.
        const std::vector<std::int32_t> keys = {0, 0, 3, 0, 0, 3, 1, 1, -2, 1, 1, -2, 6, 6};
        const int vertices = int(keys.size()) / dim;
        std::vector<std::int32_t> neighbours(std::size_t(2) * (dim + 1) * vertices, 0);
        QVERIFY(d::sortedLatticeNeighbours(keys.data(), dim, vertices, neighbours.data()));
        // Brute force: plus neighbour along j adds 1 everywhere, coordinate j
        // (j < dim) loses dim + 1.
        std::vector<std::int32_t> expected(neighbours.size(), 0);
        for (int j = 0; j <= dim; ++j)
            for (int v = 0; v < vertices; ++v)
                for (int u = 0; u < vertices; ++u) {
                    bool match = true;
                    for (int i = 0; i < dim; ++i) {
                        const int step = i == j ? -dim : 1;
                        match = match && keys[std::size_t(u * dim + i)] ==
                                             keys[std::size_t(v * dim + i)] + step;
                    }
                    if (!match)
                        continue;
                    expected[2 * (std::size_t(j) * vertices + v) + 1] = u + 1;
                    expected[2 * (std::size_t(j) * vertices + u)] = v + 1;
                }
        QCOMPARE(neighbours, expected);
        int links = 0;
        for (const std::int32_t n : expected)
            links += n > 0 ? 1 : 0;
        QVERIFY(links >= 6);
    }

    void matrixByProductsMatchesPaths_data()
    {
        QTest::addColumn<int>("dim");
        QTest::addColumn<float>("spread");
        QTest::newRow("d=1") << 1 << 30.0f;
        QTest::newRow("d=2") << 2 << 40.0f;
        QTest::newRow("d=3") << 3 << 5.0f;
    }

    void matrixByProductsMatchesPaths()
    {
        QFETCH(int, dim);
        QFETCH(float, spread);
        const int count = 2000;
        const std::vector<float> features = walkFeatures(dim, count, spread, 9u + unsigned(dim));
        PermutohedralLattice lattice(features.data(), dim, count);
        std::vector<float> pre(static_cast<std::size_t>(count));
        std::vector<float> post(static_cast<std::size_t>(count));
        for (int i = 0; i < count; ++i) {
            pre[std::size_t(i)] = 0.5f + float(i % 7) / 7.0f;
            post[std::size_t(i)] = 2.0f - float(i % 5) / 5.0f;
        }
        lattice.scalePoints(pre.data(), post.data());
        d::setPreferredMatrixConstruction(d::MatrixConstruction::Products);
        const primaps::LatticeMatrix products = lattice.toMatrix(1 << 20);
        d::setPreferredMatrixConstruction(d::MatrixConstruction::Paths);
        const primaps::LatticeMatrix paths = lattice.toMatrix(1 << 20);
        QVERIFY(!products.empty());
        QVERIFY(products.density() > 3.0);
        QCOMPARE(products.rowStart, paths.rowStart);
        QCOMPARE(products.column, paths.column);
        for (std::size_t e = 0; e < paths.weight.size(); ++e)
            QVERIFY2(std::abs(products.weight[e] - paths.weight[e]) <=
                         1e-6f * std::abs(paths.weight[e]) + 1e-12f,
                     qPrintable(QString("entry %1: %2 against %3")
                                    .arg(e)
                                    .arg(double(products.weight[e]))
                                    .arg(double(paths.weight[e]))));

        // Too wide: both refuse at the same row length.
        const int widest = [&] {
            int w = 0;
            for (int i = 0; i < count; ++i)
                w = std::max(w, paths.rowStart[std::size_t(i) + 1] - paths.rowStart[std::size_t(i)]);
            return w;
        }();
        d::setPreferredMatrixConstruction(d::MatrixConstruction::Products);
        QVERIFY(lattice.toMatrix(widest - 1).empty());
        QVERIFY(!lattice.toMatrix(widest).empty());
        d::setPreferredMatrixConstruction(d::MatrixConstruction::Paths);
        QVERIFY(lattice.toMatrix(widest - 1).empty());
    }

    void crfMarginalsDoNotDependOnTheSearch()
    {
        cv::Mat small(6, 7, CV_8UC3);
        cv::randu(small, 0, 255);
        cv::Mat rgb;
        cv::resize(small, rgb, cv::Size(70, 60), 0, 0, cv::INTER_LINEAR);
        std::mt19937 rng(3);
        std::normal_distribution<float> normal(0.0f, 2.0f);
        std::vector<float> scores(std::size_t(5) * 60 * 70);
        for (float& s : scores)
            s = normal(rng);
        // The process keeps the last size's spatial kernel: a run on another
        // size before each makes both kernels be built with the search under test.
        const cv::Mat other(9, 8, CV_8UC3, cv::Scalar(1, 2, 3));
        const std::vector<float> otherScores(std::size_t(2) * 9 * 8, 0.5f);
        d::setPreferredNeighbourSearch(d::NeighbourSearch::HashTable);
        (void)primaps::denseCrf(otherScores, 2, other);
        const std::vector<float> probed = primaps::denseCrf(scores, 5, rgb);
        d::setPreferredNeighbourSearch(d::NeighbourSearch::Sorted);
        (void)primaps::denseCrf(otherScores, 2, other);
        const std::vector<float> sorted = primaps::denseCrf(scores, 5, rgb);
        QVERIFY(sorted == probed);
    }

private:
    d::NeighbourSearch search_ = d::NeighbourSearch::Sorted;
    d::MatrixConstruction construction_ = d::MatrixConstruction::Products;
};

QTEST_APPLESS_MAIN(TestCrfLatticeBuild)
#include "tst_crflatticebuild.moc"
