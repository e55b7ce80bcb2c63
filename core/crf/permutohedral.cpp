// SPDX-License-Identifier: MIT
#include "crf/permutohedral.h"

#include "crf/crfkernels_p.h"
#include "crf/latticebuild_p.h"
#include "crf/parallelranges_p.h"
#include "crf/vertextable_p.h"
#include "support/error.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <opencv2/core.hpp>
#include <string>
#include <utility>

namespace primaps {

using detail::dimension;
using detail::hashKey;
using detail::parallelRanges;
using detail::simplexHashes;
using detail::VertexTable;

namespace {

// Features beyond this magnitude would lose all sub-unit precision of the
// lattice coordinates in float (and the floor trick below needs |v| < 2^24); no
// sensible kernel needs them (pixel coordinates over a standard deviation of
// 1 pixel stay far below).
constexpr float kMaxFeature = 1e5f;

// How many rows ahead the gathers below prefetch. The lattice's rows are
// scattered over a few megabytes, so the loops are bound by cache misses rather
// than arithmetic; asking for the rows early lets the misses overlap (2x on the
// bilateral lattice of a 320 x 320 photo). Measured best between 32 and 64.
constexpr std::size_t kPrefetchDistance = 32;

// Below this many bytes of vertex values everything stays in cache and
// prefetching only costs instructions.
constexpr std::size_t kPrefetchMinBytes = std::size_t(1) << 19;

// Pointer to n floats of `buffer` starting on a 64-byte boundary (AVX2 rows of a
// multiple of eight floats then never straddle a cache line).
float* alignedFloats(LargeVector<float>& buffer, std::size_t n)
{
    if (buffer.size() < n + 16)
        buffer.resize(n + 16);
    const auto address = reinterpret_cast<std::uintptr_t>(buffer.data());
    return buffer.data() + ((64 - address % 64) % 64) / sizeof(float);
}

// Automatic (a band per thread) by default: on an idle 2-core machine the
// bands build the bilateral lattice 1.06-1.08x faster than one sequential
// table for about 10 % more CPU (docs/crf.md, "The sixth pass").
std::atomic<int> requestedVertexTableBands{0};

} // namespace

namespace detail {

int vertexTableBands(int points)
{
    const int requested = requestedVertexTableBands.load(std::memory_order_relaxed);
    if (requested > 0)
        return requested;
    // Below a few thousand points per band the extra passes cost more than
    // the second thread saves.
    return std::max(1, std::min({cv::getNumThreads(), 8, points / 4096}));
}

void setVertexTableBands(int requested)
{
    requestedVertexTableBands.store(std::max(requested, 0), std::memory_order_relaxed);
}

} // namespace detail

PermutohedralLattice::PermutohedralLattice(const float* features, int dim, int count)
{
    if (dim < 1 || dim > maxDim)
        throw Error("PermutohedralLattice: feature dimension " + std::to_string(dim) +
                    " is outside 1.." + std::to_string(maxDim));
    if (count < 1)
        throw Error("PermutohedralLattice: no points to build a lattice from");
    if (!features)
        throw Error("PermutohedralLattice: features pointer is null");
    if (count > std::numeric_limits<std::int32_t>::max() / (dim + 1))
        throw Error("PermutohedralLattice: too many points (" + std::to_string(count) + ")");

    switch (dim) {
    case 1:
        build<1>(features, dim, count);
        break;
    case 2:
        build<2>(features, dim, count);
        break;
    case 3:
        build<3>(features, dim, count);
        break;
    case 4:
        build<4>(features, dim, count);
        break;
    case 5:
        build<5>(features, dim, count);
        break;
    default:
        build<0>(features, dim, count);
        break;
    }
}

template <int FixedDim>
void PermutohedralLattice::build(const float* features, int dimension_, int count)
{
    const int dim = dimension<FixedDim>(dimension_);
    const int d1 = dim + 1;
    const std::size_t entries = std::size_t(count) * d1;

    // Projection onto the hyperplane {x in R^(d+1): sum x = 0} in which the lattice
    // lives (the matrix E of Adams et al.), with each axis scaled so that the
    // separable 1-2-1 blur below corresponds to a Gaussian of unit standard
    // deviation in feature space. The scale sqrt(2/3) * (d+1) is the one of the
    // reference implementation, which the dense CRF numbers depend on.
    float axisScale[maxDim];
    const double invStdDev = std::sqrt(2.0 / 3.0) * d1;
    for (int i = 0; i < dim; ++i)
        axisScale[i] = float(invStdDev / std::sqrt(double(i + 1) * double(i + 2)));

    // Pass 1, independent per point: the enclosing simplex, stored compactly as
    // its remainder-0 corner and its coordinates in order of rank (vertex keys
    // follow from those), the barycentric weights, and the hash of each vertex
    // key.
    LargeVector<std::int32_t> corner(std::size_t(count) * dim);
    LargeVector<std::int8_t> pointRank(entries);
    LargeVector<std::uint32_t> hashes(entries);
    pointWeight_.resize(entries);
    std::atomic<bool> badFeature{false};
    parallelRanges(count, 2048, [&](int begin, int end) {
        float elevated[maxDim + 1];
        float offset[maxDim + 1];
        int nearest[maxDim + 1];
        int rank[maxDim + 1];
        float bary[maxDim + 2];
        const float invD1 = 1.0f / float(d1);
        for (int p = begin; p < end; ++p) {
            const float* f = features + std::size_t(p) * dim;
            bool ok = true;
            for (int i = 0; i < dim; ++i)
                ok = ok && std::isfinite(f[i]) && std::fabs(f[i]) <= kMaxFeature;
            if (!ok) {
                badFeature = true;
                continue;
            }
            float running = 0.0f;
            for (int j = dim; j > 0; --j) {
                const float scaled = f[j - 1] * axisScale[j - 1];
                elevated[j] = running - float(j) * scaled;
                running += scaled;
            }
            elevated[0] = running;

            // Nearest point whose coordinates are all multiples of d+1 (a
            // "remainder-0" point; ties round down) ...
            int coordinateSum = 0;
            for (int i = 0; i < d1; ++i) {
                const float v = elevated[i] * invD1;
                // floor and ceil by integer conversion (|v| < 2^24 here), without
                // branches: the library calls and mispredicted branches cost more
                // than the rest of this loop.
                const int truncated = int(v);
                const int below = truncated - int(float(truncated) > v);
                const int above = below + int(float(below) != v);
                const float up = float(above * d1);
                const float down = float(below * d1);
                nearest[i] = up - elevated[i] < elevated[i] - down ? above * d1 : below * d1;
                coordinateSum += nearest[i];
            }
            coordinateSum /= d1;

            // ... and the order of the residuals, largest first (rank 0). Among
            // equal residuals the later coordinate ranks higher; such points lie on
            // a simplex face, where either choice gives the same interpolation.
            for (int i = 0; i < d1; ++i) {
                rank[i] = 0;
                offset[i] = elevated[i] - float(nearest[i]);
            }
            // (Written without branches: the comparisons are unpredictable.)
            for (int i = 0; i < dim; ++i)
                for (int j = i + 1; j < d1; ++j) {
                    const int smaller = offset[i] < offset[j] ? 1 : 0;
                    rank[i] += smaller;
                    rank[j] += 1 - smaller;
                }

            // The rounded point may have left the hyperplane (coordinate sum not
            // zero); moving the extreme coordinates by d+1 brings it back and
            // rotates the ranks accordingly.
            for (int i = 0; i < d1; ++i) {
                rank[i] += coordinateSum;
                if (rank[i] < 0) {
                    rank[i] += d1;
                    nearest[i] += d1;
                } else if (rank[i] > dim) {
                    rank[i] -= d1;
                    nearest[i] -= d1;
                }
            }

            // Barycentric coordinates within the simplex (Adams et al., section 4).
            std::fill(bary, bary + d1 + 1, 0.0f);
            for (int i = 0; i < d1; ++i) {
                const float v = (elevated[i] - float(nearest[i])) * invD1;
                bary[dim - rank[i]] += v;
                bary[dim - rank[i] + 1] -= v;
            }
            bary[0] += 1.0f + bary[d1];

            std::copy(nearest, nearest + dim, corner.data() + std::size_t(p) * dim);
            std::int8_t* ranks = pointRank.data() + std::size_t(p) * d1;
            for (int i = 0; i < d1; ++i)
                ranks[i] = std::int8_t(rank[i]);
            simplexHashes<FixedDim>(nearest, rank, hashes.data() + std::size_t(p) * d1, dim);
            for (int r = 0; r < d1; ++r)
                pointWeight_[std::size_t(p) * d1 + r] = bary[r];
        }
    });
    if (badFeature)
        throw Error("PermutohedralLattice: a feature is not finite or larger than 1e5 in "
                    "magnitude");

    // Pass 2: give each distinct vertex a number, in order of first touch
    // (point by point), so that the numbering (and every sum below) is
    // independent of the thread count. One table filled sequentially, or a
    // table per band of points on each thread merged in band order (see
    // vertextable_p.h): the same numbers either way.
    pointVertex_.resize(entries);
    const LargeVector<std::int32_t> vertexKeys = detail::numberVertices<FixedDim>(
        dim, count, detail::vertexTableBands(count), corner.data(), pointRank.data(),
        hashes.data(), pointVertex_.data());
    LargeVector<std::int32_t>().swap(corner);
    LargeVector<std::int8_t>().swap(pointRank);
    LargeVector<std::uint32_t>().swap(hashes);
    vertices_ = int(vertexKeys.size() / std::size_t(dim));
    dim_ = dim;
    points_ = count;

    // Pass 3: neighbours along each lattice direction. Direction j moves by
    // (d+1) e_j - (1, ..., 1), i.e. -1 in every coordinate but +d in coordinate j.
    // Only the "plus" neighbour is looked up: translation along j is one-to-one,
    // so v is the "minus" neighbour of its plus neighbour and each such slot is
    // written by exactly one vertex, without races.
    // Sorting the packed keys finds them with sequential reads (see
    // latticebuild_p.h); the probes below are the fallback.
    neighbours_.assign(std::size_t(2) * d1 * vertices_, 0);
    const bool sorted =
        detail::preferredNeighbourSearch() == detail::NeighbourSearch::Sorted &&
        detail::sortedLatticeNeighbours(vertexKeys.data(), dim, vertices_, neighbours_.data());
    VertexTable<FixedDim> table(dim, sorted ? 0 : std::size_t(vertices_));
    if (!sorted) {
        for (int v = 0; v < vertices_; ++v) {
            const std::int32_t* key = vertexKeys.data() + std::size_t(v) * dim;
            table.insert(key, hashKey<FixedDim>(key, dim));
        }
    }
    if (!sorted) parallelRanges(vertices_, 4096, [&](int begin, int end) {
        std::int32_t plus[maxDim + 1][maxDim];
        std::uint32_t plusHash[maxDim + 1];
        for (int v = begin; v < end; ++v) {
            const std::int32_t* key = table.key(v);
            // All d+1 slots are requested before the first is read, so that
            // their cache misses overlap.
            for (int j = 0; j < d1; ++j) {
                for (int i = 0; i < dim; ++i)
                    plus[j][i] = key[i] + 1;
                if (j < dim)
                    plus[j][j] = key[j] - dim;
                plusHash[j] = hashKey<FixedDim>(plus[j], dim);
                table.prefetch(plusHash[j]);
            }
            for (int j = 0; j < d1; ++j) {
                const int u = table.find(plus[j], plusHash[j]);
                if (u < 0)
                    continue;
                std::int32_t* row = neighbours_.data() + 2 * std::size_t(j) * vertices_;
                row[2 * std::size_t(v) + 1] = u + 1;
                row[2 * std::size_t(u)] = v + 1;
            }
        }
    });

    // Pass 4: transpose the point -> vertex map into vertex -> points, by a
    // counting sort over a fixed number of point chunks so that the counting and
    // filling run in parallel. Each vertex lists chunk 0's points first, then
    // chunk 1's, ...: in increasing point order, whatever the thread count.
    constexpr int kChunks = 4;
    const std::size_t m = std::size_t(vertices_);
    LargeVector<std::int32_t> cursor(kChunks * m, 0);
    auto chunkEntries = [&](int c) {
        const std::size_t first = std::size_t(count) * std::size_t(c) / kChunks;
        const std::size_t last = std::size_t(count) * std::size_t(c + 1) / kChunks;
        return std::make_pair(first * d1, last * d1);
    };
    parallelRanges(kChunks, 1, [&](int begin, int end) {
        for (int c = begin; c < end; ++c) {
            const auto [from, to] = chunkEntries(c);
            std::int32_t* counts = cursor.data() + std::size_t(c) * m;
            for (std::size_t e = from; e < to; ++e)
                ++counts[std::size_t(pointVertex_[e]) - 1];
        }
    });
    splatStart_.resize(m + 1);
    std::int32_t running = 0;
    for (std::size_t v = 0; v < m; ++v) {
        splatStart_[v] = running;
        for (int c = 0; c < kChunks; ++c) {
            const std::int32_t n = cursor[std::size_t(c) * m + v];
            cursor[std::size_t(c) * m + v] = running;
            running += n;
        }
    }
    splatStart_[m] = running;
    splatPoint_.resize(entries);
    splatWeight_.resize(entries);
    parallelRanges(kChunks, 1, [&](int begin, int end) {
        for (int c = begin; c < end; ++c) {
            const auto [from, to] = chunkEntries(c);
            std::int32_t* next = cursor.data() + std::size_t(c) * m;
            for (std::size_t e = from; e < to; ++e) {
                const std::size_t slot = std::size_t(next[std::size_t(pointVertex_[e]) - 1]++);
                splatPoint_[slot] = std::int32_t(e / std::size_t(d1));
                splatWeight_[slot] = pointWeight_[e];
            }
        }
    });
}

void PermutohedralLattice::filter(const float* in, float* out, int channels, Workspace& workspace,
                                  const float* preScale, const float* postScale,
                                  bool accumulate) const
{
    filterWith(in, out, channels, workspace, preScale, postScale, accumulate, nullptr);
}

void PermutohedralLattice::filter(const float* in, float* out, int channels, Workspace& workspace,
                                  const Companions& companions, bool accumulate) const
{
    filterWith(in, out, channels, workspace, nullptr, nullptr, accumulate, &companions);
}

void PermutohedralLattice::filterWith(const float* in, float* out, int channels,
                                      Workspace& workspace, const float* preScale,
                                      const float* postScale, bool accumulate,
                                      const Companions* companions) const
{
    if (empty())
        throw Error("PermutohedralLattice::filter: the lattice is empty");
    if (channels < 1)
        throw Error("PermutohedralLattice::filter: channels must be at least 1");
    if (!in || !out)
        throw Error("PermutohedralLattice::filter: null input or output");

    const detail::CrfKernel kernel = detail::preferredCrfKernel();
    const std::size_t k = std::size_t(channels);
    const std::size_t slots = (std::size_t(vertices_) + 1) * k;
    float* current = alignedFloats(workspace.a, slots);
    float* next = alignedFloats(workspace.b, slots);
    const detail::GatherHint hint{slots * sizeof(float) >= kPrefetchMinBytes ? kPrefetchDistance
                                                                             : 0};
    // Slot 0 is the absent neighbour and must read as zero.
    std::fill(current, current + k, 0.0f);
    std::fill(next, next + k, 0.0f);
    detail::LatticeTables tables;
    tables.d1 = dim_ + 1;
    tables.pointVertex = pointVertex_.data();
    tables.pointWeight = pointWeight_.data();
    tables.splatStart = splatStart_.data();
    tables.splatPoint = splatPoint_.data();
    tables.splatWeight = splatWeight_.data();

    // Splat: each vertex gathers its points' values with barycentric weights.
    // A companion's work shares the region: its stripes first, then the
    // splat's, handed out to the threads as they come free.
    auto splat = [&](int begin, int end) {
        detail::splatVertices(tables, in, current, k, begin, end, preScale, hint, kernel);
    };
    const int alongside = companions && companions->alongside ? companions->alongsideCount : 0;
    if (alongside > 0) {
        const int splatStripes = std::max(vertices_ / 1024, 1);
        const int alongsideStripes = std::max(alongside / 1024, 1);
        const int stripes = splatStripes + alongsideStripes;
        auto stripe = [&](int i) {
            if (i < alongsideStripes)
                companions->alongside(int(std::int64_t(alongside) * i / alongsideStripes),
                                      int(std::int64_t(alongside) * (i + 1) / alongsideStripes));
            else {
                const int j = i - alongsideStripes;
                splat(int(std::int64_t(vertices_) * j / splatStripes),
                      int(std::int64_t(vertices_) * (j + 1) / splatStripes));
            }
        };
        cv::parallel_for_(
            cv::Range(0, stripes),
            [&](const cv::Range& r) {
                for (int i = r.start; i < r.end; ++i)
                    stripe(i);
            },
            double(stripes));
    } else {
        parallelRanges(vertices_, 1024, splat);
    }

    // Blur: 1/2-1-1/2 along each of the d+1 lattice directions in turn.
    for (int j = 0; j <= dim_; ++j) {
        const std::int32_t* nb = neighbours_.data() + 2 * std::size_t(j) * vertices_;
        parallelRanges(vertices_, 2048, [&](int begin, int end) {
            detail::blurVertices(nb, current, next, k, begin, end, hint, kernel);
        });
        std::swap(current, next);
    }

    // Slice: interpolate back with the splatting weights. The blur above is not
    // normalised; alpha makes the result approximate a unit-height Gaussian.
    const float alpha = 1.0f / (1.0f + std::pow(2.0f, -float(dim_)));
    parallelRanges(points_, 1024, [&](int begin, int end) {
        detail::slicePoints(tables, current, out, k, begin, end, alpha, postScale, accumulate,
                            hint, kernel);
        if (companions && companions->afterSlice)
            companions->afterSlice(begin, end);
    });
}

void PermutohedralLattice::scalePoints(const float* pre, const float* post)
{
    if (empty())
        throw Error("PermutohedralLattice::scalePoints: the lattice is empty");
    const std::size_t d1 = std::size_t(dim_) + 1;
    if (pre) {
        parallelRanges(int(splatPoint_.size()), 1 << 16, [&](int begin, int end) {
            for (int s = begin; s < end; ++s)
                splatWeight_[std::size_t(s)] *= pre[splatPoint_[std::size_t(s)]];
        });
    }
    if (post) {
        parallelRanges(points_, 1 << 14, [&](int begin, int end) {
            for (int p = begin; p < end; ++p)
                for (std::size_t r = 0; r < d1; ++r)
                    pointWeight_[std::size_t(p) * d1 + r] *= post[p];
        });
    }
}

std::vector<float> PermutohedralLattice::filter(const std::vector<float>& in, int channels) const
{
    if (channels < 1 || in.size() != std::size_t(points_) * std::size_t(channels))
        throw Error("PermutohedralLattice::filter: expected " + std::to_string(points_) + " x " +
                    std::to_string(channels) + " values, got " + std::to_string(in.size()));
    std::vector<float> out(in.size());
    Workspace workspace;
    filter(in.data(), out.data(), channels, workspace);
    return out;
}

} // namespace primaps
