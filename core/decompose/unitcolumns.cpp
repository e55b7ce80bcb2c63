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

// The transposition in tiles of 8 positions x 16 channels (two 8 x 8 transposes in
// registers; each row of the output tile is one whole cache line when c is a multiple
// of 16). The channels' double sums follow the tile's rows in position order, four
// vectors of four channels: every lane is the sequential sum of one channel.
__attribute__((target("avx2,fma"))) inline void transpose8x8(__m256 r[8])
{
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
    r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
    r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

__attribute__((target("avx2,fma"))) void transposeWithSumsAvx2(const float* values, int c,
                                                               int n, float* rows,
                                                               double* sums)
{
    const int tileEnd = n & ~7;
    int k0 = 0;
    for (; k0 + 16 <= c; k0 += 16) {
        __m256d acc[4];
        for (int j = 0; j < 4; ++j)
            acc[j] = _mm256_setzero_pd();
        for (int i0 = 0; i0 < tileEnd; i0 += 8) {
            __m256 low[8], high[8]; // channels k0 .. k0 + 7 and k0 + 8 .. k0 + 15
            for (int j = 0; j < 8; ++j) {
                low[j] = _mm256_loadu_ps(values + std::size_t(k0 + j) * n + i0);
                high[j] = _mm256_loadu_ps(values + std::size_t(k0 + 8 + j) * n + i0);
            }
            transpose8x8(low);
            transpose8x8(high);
            for (int p = 0; p < 8; ++p) {
                float* row = rows + std::size_t(i0 + p) * c + k0;
                _mm256_storeu_ps(row, low[p]);
                _mm256_storeu_ps(row + 8, high[p]);
                acc[0] = _mm256_add_pd(acc[0], _mm256_cvtps_pd(_mm256_castps256_ps128(low[p])));
                acc[1] = _mm256_add_pd(acc[1], _mm256_cvtps_pd(_mm256_extractf128_ps(low[p], 1)));
                acc[2] = _mm256_add_pd(acc[2], _mm256_cvtps_pd(_mm256_castps256_ps128(high[p])));
                acc[3] = _mm256_add_pd(acc[3], _mm256_cvtps_pd(_mm256_extractf128_ps(high[p], 1)));
            }
        }
        for (int j = 0; j < 4; ++j)
            _mm256_storeu_pd(sums + k0 + 4 * j, acc[j]);
        for (int k = k0; k < k0 + 16; ++k) // the last n % 8 positions, still in order
            for (int i = tileEnd; i < n; ++i) {
                const float x = values[std::size_t(k) * n + i];
                rows[std::size_t(i) * c + k] = x;
                sums[k] += double(x);
            }
    }
    for (int k = k0; k < c; ++k) { // the last c % 16 channels
        double sum = 0;
        for (int i = 0; i < n; ++i) {
            const float x = values[std::size_t(k) * n + i];
            rows[std::size_t(i) * c + k] = x;
            sum += double(x);
        }
        sums[k] = sum;
    }
}

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

// Two blocks at once, each lane the same chain: eight independent accumulators
// instead of four, so the fused multiply-adds' latency no longer sets the pace.
__attribute__((target("avx2,fma"))) void similarityTwoBlocks(const float* first,
                                                             const float* second, int c,
                                                             const float* v, float* outFirst,
                                                             float* outSecond)
{
    __m256 acc[8];
    for (int j = 0; j < 8; ++j)
        acc[j] = _mm256_setzero_ps();
    for (int k = 0; k < c; ++k) {
        const __m256 vk = _mm256_set1_ps(v[k]);
        const float* a = first + std::size_t(k) * kColumnBlock;
        const float* b = second + std::size_t(k) * kColumnBlock;
        for (int j = 0; j < 4; ++j) {
            acc[j] = _mm256_fmadd_ps(vk, _mm256_loadu_ps(a + 8 * j), acc[j]);
            acc[4 + j] = _mm256_fmadd_ps(vk, _mm256_loadu_ps(b + 8 * j), acc[4 + j]);
        }
    }
    for (int j = 0; j < 4; ++j) {
        _mm256_storeu_ps(outFirst + 8 * j, acc[j]);
        _mm256_storeu_ps(outSecond + 8 * j, acc[4 + j]);
    }
}

// The same with 512-bit registers (each lane is still one column's chain, so the
// bits cannot differ from the AVX2 kernels').
__attribute__((target("avx512f,avx2,fma"))) void similarityTwoBlocksAvx512(
    const float* first, const float* second, int c, const float* v, float* outFirst,
    float* outSecond)
{
    __m512 acc[4];
    for (int j = 0; j < 4; ++j)
        acc[j] = _mm512_setzero_ps();
    for (int k = 0; k < c; ++k) {
        const __m512 vk = _mm512_set1_ps(v[k]);
        const float* a = first + std::size_t(k) * kColumnBlock;
        const float* b = second + std::size_t(k) * kColumnBlock;
        acc[0] = _mm512_fmadd_ps(vk, _mm512_loadu_ps(a), acc[0]);
        acc[1] = _mm512_fmadd_ps(vk, _mm512_loadu_ps(a + 16), acc[1]);
        acc[2] = _mm512_fmadd_ps(vk, _mm512_loadu_ps(b), acc[2]);
        acc[3] = _mm512_fmadd_ps(vk, _mm512_loadu_ps(b + 16), acc[3]);
    }
    _mm512_storeu_ps(outFirst, acc[0]);
    _mm512_storeu_ps(outFirst + 16, acc[1]);
    _mm512_storeu_ps(outSecond, acc[2]);
    _mm512_storeu_ps(outSecond + 16, acc[3]);
}

bool wideSimilarity()
{
    static const bool available = cpuHasAvx2Fma() && __builtin_cpu_supports("avx512f");
    return available;
}

void similarityAvx2(const float* blocks, int c, int n, const float* v,
                    const unsigned char* include, float* out, SimilarityKernel kernel)
{
    // The blocks holding an included column, computed two at a time.
    const int blockCount = (n + kColumnBlock - 1) / kColumnBlock;
    std::vector<float> lanes(std::size_t(blockCount) * kColumnBlock);
    std::vector<int> needed;
    needed.reserve(std::size_t(blockCount));
    for (int b = 0; b < blockCount; ++b) {
        const int i = b * kColumnBlock;
        const int count = std::min(kColumnBlock, n - i);
        if (std::any_of(include + i, include + i + count, [](unsigned char x) { return x != 0; }))
            needed.push_back(b);
    }
    auto block = [&](int b) { return blocks + std::size_t(b) * std::size_t(c) * kColumnBlock; };
    auto lane = [&](int b) { return lanes.data() + std::size_t(b) * kColumnBlock; };
    const bool wide = kernel == SimilarityKernel::Best && wideSimilarity();
    std::size_t j = 0;
    for (; j + 2 <= needed.size(); j += 2) {
        const int a = needed[j], b = needed[j + 1];
        if (wide)
            similarityTwoBlocksAvx512(block(a), block(b), c, v, lane(a), lane(b));
        else if (kernel == SimilarityKernel::OneBlock) {
            similarityBlock(block(a), c, v, lane(a));
            similarityBlock(block(b), c, v, lane(b));
        } else
            similarityTwoBlocks(block(a), block(b), c, v, lane(a), lane(b));
    }
    if (j < needed.size())
        similarityBlock(block(needed[j]), c, v, lane(needed[j]));
    for (int i = 0; i < n; ++i)
        out[i] = include[i] ? lanes[std::size_t(i)] : 0.0f;
}

} // namespace

#endif

void transposeWithColumnSums(const float* values, int c, int n, float* rows, double* sums)
{
    if (c < 1)
        return;
#ifdef PRIMAPS_UNIT_COLUMNS_AVX2
    if (unitColumnsVectorised()) {
        transposeWithSumsAvx2(values, c, n, rows, sums);
        return;
    }
#endif
    std::fill(sums, sums + c, 0.0);
    for (int i = 0; i < n; ++i) {
        float* row = rows + std::size_t(i) * c;
        for (int k = 0; k < c; ++k) {
            row[k] = values[std::size_t(k) * n + i];
            sums[k] += double(row[k]);
        }
    }
}

void similarityToColumns(const float* blocks, int c, int n, const float* v,
                         const unsigned char* include, float* out, SimilarityKernel kernel)
{
#ifdef PRIMAPS_UNIT_COLUMNS_AVX2
    if (c > 0 && n > 0)
        similarityAvx2(blocks, c, n, v, include, out, kernel);
#else
    (void)blocks, (void)c, (void)n, (void)v, (void)include, (void)out, (void)kernel;
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
