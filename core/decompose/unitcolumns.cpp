// SPDX-License-Identifier: MIT
#include "decompose/unitcolumns_p.h"

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

#ifdef PRIMAPS_UNIT_COLUMNS_AVX2

namespace {

// Why blocks of 64 columns: every row of the block is a whole cache line (or two
// halves), and eight independent accumulators hide the fused multiply-add's latency.
// A lane's arithmetic is exactly the scalar chain acc = fma(x, x, acc) over the rows.
template <int Vectors>
__attribute__((target("avx2,fma"))) void unitBlock(const float* values, int c, int n, int i,
                                                   float* out)
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
        float* to = out + std::size_t(k) * n + i;
        for (int j = 0; j < Vectors; ++j)
            _mm256_storeu_ps(to + 8 * j, _mm256_div_ps(_mm256_loadu_ps(row + 8 * j), norm[j]));
    }
}

__attribute__((target("avx2,fma"))) void unitColumnsAvx2(const float* values, int c, int n,
                                                         float* out)
{
    int i = 0;
    for (; i + 64 <= n; i += 64)
        unitBlock<8>(values, c, n, i, out);
    for (; i + 8 <= n; i += 8)
        unitBlock<1>(values, c, n, i, out);
    for (; i < n; ++i) { // the last n % 8 columns, the same chain in scalar form
        float acc = 0.0f;
        for (int k = 0; k < c; ++k) {
            const float x = values[std::size_t(k) * n + i];
            acc = std::fma(x, x, acc);
        }
        const float norm = std::max(std::sqrt(acc), 1e-12f);
        for (int k = 0; k < c; ++k)
            out[std::size_t(k) * n + i] = values[std::size_t(k) * n + i] / norm;
    }
}

// Columns [i, i + 8 * Vectors): each lane is the chain acc = fma(v[k], x[k], acc).
template <int Vectors>
__attribute__((target("avx2,fma"))) void similarityBlock(const float* columns, int c, int n,
                                                         const float* v, int i, float* out)
{
    __m256 acc[Vectors];
    for (int j = 0; j < Vectors; ++j)
        acc[j] = _mm256_setzero_ps();
    for (int k = 0; k < c; ++k) {
        const __m256 vk = _mm256_set1_ps(v[k]);
        const float* row = columns + std::size_t(k) * n + i;
        for (int j = 0; j < Vectors; ++j)
            acc[j] = _mm256_fmadd_ps(vk, _mm256_loadu_ps(row + 8 * j), acc[j]);
    }
    for (int j = 0; j < Vectors; ++j)
        _mm256_storeu_ps(out + i + 8 * j, acc[j]);
}

__attribute__((target("avx2,fma"))) void similarityAvx2(const float* columns, int c, int n,
                                                        const float* v,
                                                        const unsigned char* include, float* out)
{
    auto any = [&](int begin, int end) {
        for (int i = begin; i < end; ++i)
            if (include[i])
                return true;
        return false;
    };
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        if (any(i, i + 32))
            similarityBlock<4>(columns, c, n, v, i, out);
        else
            std::fill(out + i, out + i + 32, 0.0f);
    }
    for (; i + 8 <= n; i += 8)
        similarityBlock<1>(columns, c, n, v, i, out);
    for (; i < n; ++i) {
        float acc = 0.0f;
        for (int k = 0; k < c; ++k)
            acc = std::fma(v[k], columns[std::size_t(k) * n + i], acc);
        out[i] = acc;
    }
    for (i = 0; i < n; ++i)
        if (!include[i])
            out[i] = 0.0f;
}

} // namespace

#endif

void similarityToColumns(const float* columns, int c, int n, const float* v,
                         const unsigned char* include, float* out)
{
#ifdef PRIMAPS_UNIT_COLUMNS_AVX2
    if (c > 0 && n > 0)
        similarityAvx2(columns, c, n, v, include, out);
#else
    (void)columns, (void)c, (void)n, (void)v, (void)include, (void)out;
#endif
}

bool unitColumnsVectorised()
{
#ifdef PRIMAPS_UNIT_COLUMNS_AVX2
    static const bool available = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return available;
#else
    return false;
#endif
}

void unitColumns(const float* values, int c, int n, float* out)
{
#ifdef PRIMAPS_UNIT_COLUMNS_AVX2
    if (c > 0 && n > 0)
        unitColumnsAvx2(values, c, n, out);
#else
    (void)values, (void)c, (void)n, (void)out;
#endif
}

} // namespace primaps::detail
