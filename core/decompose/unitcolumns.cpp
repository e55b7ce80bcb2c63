// SPDX-License-Identifier: MIT
#include "decompose/unitcolumns_p.h"
#include "support/cpufeatures.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define PRIMAPS_UNIT_COLUMNS_AVX2 1
#include <immintrin.h>
#endif

namespace primaps::detail {

void columnSums(const float* rows, int n, int c, double* sums)
{
    std::fill(sums, sums + std::max(c, 0), 0.0);
    // The inner loop runs across the columns, so each column's sum keeps its
    // sequential order while the compiler fills vector lanes with columns.
    for (int i = 0; i < n; ++i) {
        const float* row = rows + std::size_t(i) * c;
        for (int k = 0; k < c; ++k)
            sums[k] += double(row[k]);
    }
}

void centreColumns(float* rows, int n, int c, const float* mean, double* sums)
{
    std::fill(sums, sums + std::max(c, 0), 0.0);
    for (int i = 0; i < n; ++i) {
        float* row = rows + std::size_t(i) * c;
        for (int k = 0; k < c; ++k) {
            row[k] -= mean[k];
            sums[k] += double(row[k]);
        }
    }
}

#ifdef PRIMAPS_UNIT_COLUMNS_AVX2

namespace {

// Why blocks of 64 columns: every row of the block is a whole cache line (or two
// halves), and eight independent accumulators hide the fused multiply-add's latency.
// A lane's arithmetic is exactly the scalar chain acc = fma(x, x, acc) over the rows.
// Where column i of row k goes: row-major c x n, or column blocks.
struct Destination
{
    float* out;
    int c, n;
    bool blocked;
    float* at(int k, int i) const
    {
        if (!blocked)
            return out + std::size_t(k) * n + i;
        return out + std::size_t(i / kColumnBlock) * std::size_t(c) * kColumnBlock +
               std::size_t(k) * kColumnBlock + std::size_t(i % kColumnBlock);
    }
};

template <int Vectors>
__attribute__((target("avx2,fma"))) void unitBlock(const float* values, int c, int n, int i,
                                                   const Destination& to)
{
    __m256 acc[Vectors];
    for (int j = 0; j < Vectors; ++j)
        acc[j] = _mm256_setzero_ps();
    for (int k = 0; k < c; ++k) {
        const float* row = values + std::size_t(k) * n + i;
        for (int j = 0; j < Vectors; ++j) {
            const __m256 x = _mm256_loadu_ps(row + 8 * j);
            acc[j] = _mm256_fmadd_ps(x, x, acc[j]);
        }
    }
    const __m256 floor = _mm256_set1_ps(1e-12f);
    __m256 norm[Vectors];
    for (int j = 0; j < Vectors; ++j)
        norm[j] = _mm256_max_ps(_mm256_sqrt_ps(acc[j]), floor);
    for (int k = 0; k < c; ++k) {
        const float* row = values + std::size_t(k) * n + i;
        // Eight columns from a multiple of 8 never straddle a block of 32.
        for (int j = 0; j < Vectors; ++j)
            _mm256_storeu_ps(to.at(k, i + 8 * j),
                             _mm256_div_ps(_mm256_loadu_ps(row + 8 * j), norm[j]));
    }
}

__attribute__((target("avx2,fma"))) void unitColumnsAvx2(const float* values, int c, int n,
                                                         const Destination& to)
{
    int i = 0;
    for (; i + 64 <= n; i += 64)
        unitBlock<8>(values, c, n, i, to);
    for (; i + 8 <= n; i += 8)
        unitBlock<1>(values, c, n, i, to);
    for (; i < n; ++i) { // the last n % 8 columns, the same chain in scalar form
        float acc = 0.0f;
        for (int k = 0; k < c; ++k) {
            const float x = values[std::size_t(k) * n + i];
            acc = std::fma(x, x, acc);
        }
        const float norm = std::max(std::sqrt(acc), 1e-12f);
        for (int k = 0; k < c; ++k)
            *to.at(k, i) = values[std::size_t(k) * n + i] / norm;
    }
}

// One block of 32 columns: each lane is the chain acc = fma(v[k], x[k], acc).
__attribute__((target("avx2,fma"))) void similarityBlock(const float* block, int c,
                                                         const float* v, float* out)
{
    __m256 acc[4];
    for (int j = 0; j < 4; ++j)
        acc[j] = _mm256_setzero_ps();
    for (int k = 0; k < c; ++k) {
        const __m256 vk = _mm256_set1_ps(v[k]);
        const float* row = block + std::size_t(k) * kColumnBlock;
        for (int j = 0; j < 4; ++j)
            acc[j] = _mm256_fmadd_ps(vk, _mm256_loadu_ps(row + 8 * j), acc[j]);
    }
    for (int j = 0; j < 4; ++j)
        _mm256_storeu_ps(out + 8 * j, acc[j]);
}

__attribute__((target("avx2,fma"))) void similarityAvx2(const float* blocks, int c, int n,
                                                        const float* v,
                                                        const unsigned char* include, float* out)
{
    float lanes[kColumnBlock];
    for (int i = 0; i < n; i += kColumnBlock) {
        const int count = std::min(kColumnBlock, n - i);
        bool any = false;
        for (int j = 0; j < count; ++j)
            any = any || include[i + j];
        if (!any) {
            std::fill(out + i, out + i + count, 0.0f);
            continue;
        }
        similarityBlock(blocks + std::size_t(i / kColumnBlock) * std::size_t(c) * kColumnBlock, c,
                        v, lanes);
        for (int j = 0; j < count; ++j)
            out[i + j] = include[i + j] ? lanes[j] : 0.0f;
    }
}

} // namespace

#endif

void similarityToColumns(const float* blocks, int c, int n, const float* v,
                         const unsigned char* include, float* out)
{
#ifdef PRIMAPS_UNIT_COLUMNS_AVX2
    if (c > 0 && n > 0)
        similarityAvx2(blocks, c, n, v, include, out);
#else
    (void)blocks, (void)c, (void)n, (void)v, (void)include, (void)out;
#endif
}

std::vector<float> toColumnBlocks(const float* values, int c, int n)
{
    std::vector<float> blocks(columnBlocksSize(c, n), 0.0f);
    for (int k = 0; k < c; ++k)
        for (int i = 0; i < n; ++i)
            blocks[std::size_t(i / kColumnBlock) * std::size_t(c) * kColumnBlock +
                   std::size_t(k) * kColumnBlock + std::size_t(i % kColumnBlock)] =
                values[std::size_t(k) * n + i];
    return blocks;
}

void zeroColumnBlockPadding(float* blocks, int c, int n)
{
    const int used = n % kColumnBlock;
    if (used == 0 || c < 1)
        return;
    float* last = blocks + std::size_t(n / kColumnBlock) * std::size_t(c) * kColumnBlock;
    for (int k = 0; k < c; ++k)
        std::fill(last + std::size_t(k) * kColumnBlock + used,
                  last + std::size_t(k + 1) * kColumnBlock, 0.0f);
}

bool unitColumnsVectorised()
{
#ifdef PRIMAPS_UNIT_COLUMNS_AVX2
    return cpuHasAvx2Fma();
#else
    return false;
#endif
}

void unitColumns(const float* values, int c, int n, float* out, bool blocked)
{
#ifdef PRIMAPS_UNIT_COLUMNS_AVX2
    if (c > 0 && n > 0)
        unitColumnsAvx2(values, c, n, Destination{out, c, n, blocked});
#else
    (void)values, (void)c, (void)n, (void)out, (void)blocked;
#endif
}

} // namespace primaps::detail
