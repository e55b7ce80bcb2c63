// SPDX-License-Identifier: MIT
// Private to core/crf: the permutohedral lattice's vertex table (integer
// lattice keys to dense vertex numbers) and the numbering of a lattice's
// vertices, sequential or by bands of points on several threads. Both number
// the vertices in order of first touch (point by point, corner by corner), so
// the lattice, and every sum over it, is the same whichever ran.
#pragma once

#include "crf/permutohedral.h"
#include "crf/parallelranges_p.h"
#include "support/largebuffer.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <opencv2/core.hpp>
#include <utility>
#include <vector>

namespace primaps::detail {

// The feature dimension as a compile-time constant where the build is
// specialised for it (see PermutohedralLattice::build), else the runtime value.
// With a constant, the many short loops over coordinates below unroll, which
// takes 40% of the instructions out of building a 5-D lattice.
template <int FixedDim> constexpr int dimension(int dim)
{
    return FixedDim > 0 ? FixedDim : dim;
}

// A key's hash is a sum of independent products (rather than a multiply
// chain: the products run in parallel), mixed by a final avalanche so that the
// low bits used for the slot see every coordinate. The sum is linear in the
// key (modulo 2^32), which simplexHashes() uses.
constexpr std::uint32_t kKeyMultipliers[PermutohedralLattice::maxDim] = {
    0x9E3779B1u, 0x85EBCA77u, 0xC2B2AE3Du, 0x27D4EB2Fu, 0x165667B1u, 0xD3A2646Du,
    0xFD7046C5u, 0xB55A4F09u, 0x8EBC6AF1u, 0xE3779B97u, 0x7FEB352Du, 0x846CA68Bu,
    0x2C1B3C6Du, 0x297A2D39u, 0xCC9E2D51u, 0x1B873593u};

template <int FixedDim> inline std::uint32_t keySum(const std::int32_t* key, int dim)
{
    std::uint32_t h = 0;
    for (int i = 0; i < dimension<FixedDim>(dim); ++i)
        h += std::uint32_t(key[i]) * kKeyMultipliers[i];
    return h;
}

inline std::uint32_t mixHash(std::uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return h;
}

template <int FixedDim> inline std::uint32_t hashKey(const std::int32_t* key, int dim)
{
    return mixHash(keySum<FixedDim>(key, dim));
}

/// The hashes of the d + 1 vertex keys of a simplex (see simplexVertex()),
/// hashKey() of each, without forming the keys: vertex r is vertex r - 1 plus
/// 1 in every coordinate and minus d + 1 in the coordinate ranked d - r + 1, so
/// the hash's sum moves by the sum of the multipliers, less d + 1 times that
/// coordinate's (none for the last coordinate, which keys leave out). Modulo
/// 2^32 the sums are the same to the last bit. `rank` is a permutation of
/// 0 .. d.
template <int FixedDim, typename Rank>
inline void simplexHashes(const std::int32_t* corner, const Rank* rank, std::uint32_t* hashes,
                          int dim)
{
    const int d = dimension<FixedDim>(dim);
    std::uint32_t drop[PermutohedralLattice::maxDim + 1];
    std::uint32_t step = 0;
    for (int i = 0; i < d; ++i)
        step += kKeyMultipliers[i];
    for (int i = 0; i <= d; ++i)
        drop[int(rank[i])] = i < d ? std::uint32_t(d + 1) * kKeyMultipliers[i] : 0u;
    std::uint32_t sum = keySum<FixedDim>(corner, d);
    hashes[0] = mixHash(sum);
    for (int r = 1; r <= d; ++r) {
        sum += step - drop[d - r + 1];
        hashes[r] = mixHash(sum);
    }
}

template <int FixedDim> inline bool sameKey(const std::int32_t* a, const std::int32_t* b, int dim)
{
    bool same = true;
    for (int i = 0; i < dimension<FixedDim>(dim); ++i)
        same = same && a[i] == b[i];
    return same;
}

// Open-addressing table from integer lattice coordinates (the first d of the d+1,
// which sum to zero) to dense vertex indices in insertion order. Each slot keeps
// the key's hash next to the index, so most mismatches are rejected without
// touching the key array.
template <int FixedDim> class VertexTable
{
public:
    VertexTable(int dim, std::size_t expected) : dim_(dimension<FixedDim>(dim))
    {
        std::size_t capacity = 64;
        while (capacity < 2 * expected)
            capacity *= 2;
        slots_.assign(capacity, Slot{0, -1});
        keys_.reserve(expected * std::size_t(dim_));
    }

    int size() const { return count_; }
    /// The keys in index order (dim each); the table is unusable afterwards.
    LargeVector<std::int32_t> takeKeys() { return std::move(keys_); }
    const std::int32_t* key(int index) const
    {
        return keys_.data() + std::size_t(index) * std::size_t(dimension<FixedDim>(dim_));
    }

    int insert(const std::int32_t* key, std::uint32_t hash)
    {
        if (2 * std::size_t(count_ + 1) > slots_.size())
            grow();
        const std::size_t mask = slots_.size() - 1;
        for (std::size_t slot = hash & mask;; slot = (slot + 1) & mask) {
            Slot& entry = slots_[slot];
            if (entry.index < 0) {
                entry = Slot{hash, count_};
                keys_.insert(keys_.end(), key, key + dimension<FixedDim>(dim_));
                return count_++;
            }
            if (entry.hash == hash && sameKey<FixedDim>(this->key(entry.index), key, dim_))
                return entry.index;
        }
    }

    void prefetch(std::uint32_t hash) const
    {
#if defined(__GNUC__) || defined(__clang__)
        __builtin_prefetch(slots_.data() + (hash & (slots_.size() - 1)));
#else
        (void)hash;
#endif
    }

    // Read-only lookup, safe to call from several threads once building is done.
    int find(const std::int32_t* key, std::uint32_t hash) const
    {
        const std::size_t mask = slots_.size() - 1;
        for (std::size_t slot = hash & mask;; slot = (slot + 1) & mask) {
            const Slot& entry = slots_[slot];
            if (entry.index < 0)
                return -1;
            if (entry.hash == hash && sameKey<FixedDim>(this->key(entry.index), key, dim_))
                return entry.index;
        }
    }

private:
    struct Slot
    {
        std::uint32_t hash;
        std::int32_t index;
    };

    void grow()
    {
        LargeVector<Slot> bigger(slots_.size() * 2, Slot{0, -1});
        const std::size_t mask = bigger.size() - 1;
        for (const Slot& entry : slots_) {
            if (entry.index < 0)
                continue;
            std::size_t slot = entry.hash & mask;
            while (bigger[slot].index >= 0)
                slot = (slot + 1) & mask;
            bigger[slot] = entry;
        }
        slots_.swap(bigger);
    }

    int dim_;
    int count_ = 0;
    LargeVector<Slot> slots_;
    LargeVector<std::int32_t> keys_;
};

// How many entries ahead the vertex tables' slots are prefetched (the table
// lookups are cache misses; the hashes are known in advance).
constexpr std::size_t kVertexPrefetchDistance = 32;

/// How many bands of points PermutohedralLattice numbers its vertices in:
/// `requested` when positive (1, the default: one table filled sequentially,
/// the previous way; the tests force several), or with 0 one band per thread
/// of OpenCV's pool, at most 8 and at most one per 4,096 points. Process-wide,
/// like setPreferredNeighbourSearch(). The bands stay opt-in until they
/// measure faster (on a loaded machine they did not: docs/crf.md, fifth pass).
int vertexTableBands(int points);
void setVertexTableBands(int requested);

/// The key of vertex r of a simplex. Vertex 0 is the simplex's remainder-0
/// corner; vertex r+1 is vertex r plus 1 in every coordinate and minus d+1 in
/// the coordinate ranked d-r (Adams et al.'s canonical simplex), so vertex r is
/// the corner plus r, minus d+1 in every coordinate ranked above d-r. Computed
/// afresh for each r rather than stepped in place: stepping one coordinate of
/// an array that is then read as a whole stalled on store forwarding (a fifth
/// of building a 5-D lattice's simplices). Only the first d coordinates are
/// stored: the last follows from the zero sum.
template <int FixedDim, typename Rank>
inline void simplexVertex(const std::int32_t* corner, const Rank* rank, int r, std::int32_t* key,
                          int dim)
{
    const int d = dimension<FixedDim>(dim);
    for (int i = 0; i < d; ++i)
        key[i] = corner[i] + r - (int(rank[i]) > d - r ? d + 1 : 0);
}

/// Numbers the distinct vertices of `count` points' simplices (given by their
/// remainder-0 corners, `dim` each, the ranks of their d + 1 coordinates and
/// the hash of each corner's key) in order of first touch. Writes the 1-based
/// number of each point's corner r to pointVertex[p * (d + 1) + r] and returns
/// the keys in number order (`dim` each).
///
/// With one band, one table is filled point by point. With several, each band
/// of consecutive points fills its own table on its own thread (numbers in
/// first-touch order within the band); a vertex belongs to the first band that
/// has it (found by read-only lookups of the earlier bands' tables, in
/// parallel); a sequential pass over the bands' vertices in band order then
/// hands out the numbers, which is first-touch order over all points.
template <int FixedDim>
LargeVector<std::int32_t> numberVertices(int dim, int count, int bands,
                                         const std::int32_t* corner,
                                         const std::int8_t* pointRank,
                                         const std::uint32_t* hashes,
                                         std::int32_t* pointVertex)
{
    const int d = dimension<FixedDim>(dim);
    const std::size_t d1 = std::size_t(d) + 1;
    bands = std::max(1, std::min(bands, count));
    auto bandBegin = [&](int b) { return int(std::int64_t(count) * b / bands); };

    std::vector<std::unique_ptr<VertexTable<FixedDim>>> tables(static_cast<std::size_t>(bands));
    auto fillBand = [&](int b) {
        const int first = bandBegin(b);
        const int last = bandBegin(b + 1);
        auto table = std::make_unique<VertexTable<FixedDim>>(d, std::size_t(last - first));
        const std::size_t end = std::size_t(last) * d1;
        std::int32_t key[PermutohedralLattice::maxDim];
        for (int p = first; p < last; ++p) {
            const std::size_t base = std::size_t(p) * d1;
            const std::int32_t* pointCorner = corner + std::size_t(p) * std::size_t(d);
            const std::int8_t* rank = pointRank + base;
            for (std::size_t r = 0; r < d1; ++r) {
                const std::size_t e = base + r;
                if (e + kVertexPrefetchDistance < end)
                    table->prefetch(hashes[e + kVertexPrefetchDistance]);
                simplexVertex<FixedDim>(pointCorner, rank, int(r), key, d);
                // 1-based with one band (final); 0-based band-local otherwise.
                pointVertex[e] = table->insert(key, hashes[e]) + (bands == 1 ? 1 : 0);
            }
        }
        tables[std::size_t(b)] = std::move(table);
    };
    if (bands == 1) {
        fillBand(0);
        return tables[0]->takeKeys();
    }
    cv::parallel_for_(
        cv::Range(0, bands),
        [&](const cv::Range& range) {
            for (int b = range.start; b < range.end; ++b)
                fillBand(b);
        },
        double(bands));

    // Band b's vertices are entries offset[b] .. offset[b + 1] of one list.
    std::vector<int> offset(static_cast<std::size_t>(bands) + 1, 0);
    for (int b = 0; b < bands; ++b)
        offset[std::size_t(b) + 1] = offset[std::size_t(b)] + tables[std::size_t(b)]->size();
    const int listed = offset[std::size_t(bands)];
    auto bandOf = [&](int entry) {
        return int(std::upper_bound(offset.begin(), offset.end(), entry) - offset.begin()) - 1;
    };

    // The entry of the same vertex in the first band that has it, or -1 when
    // that band is this one. Band 0 owns all its vertices.
    LargeVector<std::int32_t> owner(static_cast<std::size_t>(listed), -1);
    parallelRanges(listed - offset[1], 4096, [&](int begin, int end) {
        int b = bandOf(offset[1] + begin);
        for (int i = offset[1] + begin; i < offset[1] + end; ++i) {
            while (i >= offset[std::size_t(b) + 1])
                ++b;
            const std::int32_t* key = tables[std::size_t(b)]->key(i - offset[std::size_t(b)]);
            const std::uint32_t hash = hashKey<FixedDim>(key, d);
            for (int earlier = 0; earlier < b; ++earlier) {
                const int found = tables[std::size_t(earlier)]->find(key, hash);
                if (found >= 0) {
                    owner[std::size_t(i)] = offset[std::size_t(earlier)] + found;
                    break;
                }
            }
        }
    });

    // Numbers in band order, each band's vertices in its first-touch order:
    // first touch over all points. An owner always comes before its copies.
    LargeVector<std::int32_t> number(static_cast<std::size_t>(listed));
    int vertices = 0;
    for (std::size_t i = 0; i < std::size_t(listed); ++i)
        number[i] = owner[i] < 0 ? vertices++ : number[std::size_t(owner[i])];

    LargeVector<std::int32_t> keys(std::size_t(vertices) * std::size_t(d));
    parallelRanges(listed, 8192, [&](int begin, int end) {
        int b = bandOf(begin);
        for (int i = begin; i < end; ++i) {
            while (i >= offset[std::size_t(b) + 1])
                ++b;
            if (owner[std::size_t(i)] >= 0)
                continue;
            const std::int32_t* key = tables[std::size_t(b)]->key(i - offset[std::size_t(b)]);
            std::copy(key, key + d, keys.data() + std::size_t(number[std::size_t(i)]) * std::size_t(d));
        }
    });
    parallelRanges(count, 8192, [&](int begin, int end) {
        int b = 0;
        while (begin >= bandBegin(b + 1))
            ++b;
        for (int p = begin; p < end; ++p) {
            while (p >= bandBegin(b + 1))
                ++b;
            const std::size_t listBase = std::size_t(offset[std::size_t(b)]);
            for (std::size_t r = 0; r < d1; ++r) {
                std::int32_t& v = pointVertex[std::size_t(p) * d1 + r];
                v = number[listBase + std::size_t(v)] + 1;
            }
        }
    });
    return keys;
}

} // namespace primaps::detail
