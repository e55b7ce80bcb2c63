// SPDX-License-Identifier: MIT
#include "crf/latticebuild_p.h"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <limits>
#include <opencv2/core.hpp>
#include <vector>

namespace primaps::detail {

namespace {

std::atomic<NeighbourSearch> preferred{NeighbourSearch::Sorted};

struct PackedKey
{
    std::uint64_t key;
    std::int32_t vertex;
};

// Least significant digit first radix sort by `key`, 11 bits a pass, skipping
// the digits above `bits`. Stable, so equal keys (there are none) would keep
// their order.
void radixSort(std::vector<PackedKey>& items, int bits)
{
    constexpr int kDigit = 11;
    constexpr std::size_t kBuckets = std::size_t(1) << kDigit;
    std::vector<PackedKey> scratch(items.size());
    std::vector<std::size_t> count(kBuckets);
    for (int shift = 0; shift < bits; shift += kDigit) {
        std::fill(count.begin(), count.end(), 0);
        for (const PackedKey& item : items)
            ++count[(item.key >> shift) & (kBuckets - 1)];
        std::size_t running = 0;
        for (std::size_t& c : count) {
            const std::size_t n = c;
            c = running;
            running += n;
        }
        for (const PackedKey& item : items)
            scratch[count[(item.key >> shift) & (kBuckets - 1)]++] = item;
        items.swap(scratch);
    }
}

} // namespace

NeighbourSearch preferredNeighbourSearch()
{
    return preferred.load(std::memory_order_relaxed);
}

void setPreferredNeighbourSearch(NeighbourSearch search)
{
    preferred.store(search, std::memory_order_relaxed);
}

bool sortedLatticeNeighbours(const std::int32_t* keys, int dim, int vertices,
                             std::int32_t* neighbours)
{
    if (vertices < 1 || dim < 1)
        return true;
    const std::size_t d = std::size_t(dim);
    const std::size_t m = std::size_t(vertices);

    // Each coordinate becomes an unsigned bit field. The fields leave room for a
    // step of dim + 1 beyond the keys' range on both sides, so that a key plus a
    // direction never carries from one field into the next: a shifted key that
    // leaves the range matches no vertex, as it should.
    std::int64_t low[32];
    std::int64_t high[32];
    for (std::size_t i = 0; i < d; ++i) {
        low[i] = std::numeric_limits<std::int64_t>::max();
        high[i] = std::numeric_limits<std::int64_t>::min();
    }
    for (std::size_t v = 0; v < m; ++v)
        for (std::size_t i = 0; i < d; ++i) {
            low[i] = std::min<std::int64_t>(low[i], keys[v * d + i]);
            high[i] = std::max<std::int64_t>(high[i], keys[v * d + i]);
        }
    int shift[32];
    int bits = 0;
    for (std::size_t i = 0; i < d; ++i) {
        low[i] -= dim + 1;
        const std::uint64_t span = std::uint64_t(high[i] + dim + 1 - low[i]);
        int width = 1;
        while (width < 63 && (span >> width) != 0)
            ++width;
        shift[i] = bits;
        bits += width;
        if (bits > 64)
            return false;
    }

    std::vector<PackedKey> sorted(m);
    for (std::size_t v = 0; v < m; ++v) {
        std::uint64_t packed = 0;
        for (std::size_t i = 0; i < d; ++i)
            packed += std::uint64_t(keys[v * d + i] - low[i]) << shift[i];
        sorted[v] = PackedKey{packed, std::int32_t(v)};
    }
    radixSort(sorted, bits);

    // Direction j as a packed offset (two's complement: unsigned addition then
    // adds the signed per-field steps exactly, fields never carrying, see above).
    // One merge per direction: the shifted keys are in the same order as the
    // keys, so one cursor walks each list once.
    const int directions = dim + 1;
    cv::parallel_for_(cv::Range(0, directions), [&](const cv::Range& range) {
        for (int j = range.start; j < range.end; ++j) {
            std::uint64_t offset = 0;
            for (std::size_t i = 0; i < d; ++i) {
                const std::int64_t step = std::size_t(j) == i ? -std::int64_t(dim) : 1;
                offset += std::uint64_t(step) << shift[i];
            }
            std::int32_t* row = neighbours + 2 * std::size_t(j) * m;
            std::size_t cursor = 0;
            for (std::size_t s = 0; s < m; ++s) {
                const std::uint64_t target = sorted[s].key + offset;
                while (cursor < m && sorted[cursor].key < target)
                    ++cursor;
                if (cursor == m)
                    break;
                if (sorted[cursor].key != target)
                    continue;
                const std::size_t v = std::size_t(sorted[s].vertex);
                const std::size_t u = std::size_t(sorted[cursor].vertex);
                row[2 * v + 1] = std::int32_t(u + 1);
                row[2 * u] = std::int32_t(v + 1);
            }
        }
    });
    return true;
}

} // namespace primaps::detail
