// SPDX-License-Identifier: MIT
#include "backbones/attentionkernel_p.h"
#include "backbones/softmaxrows_p.h"

#include <algorithm>
#include <cmath>
#include <type_traits>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define PRIMAPS_ATTENTION_AVX512 1
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's AVX-512 intrinsics start from _mm512_undefined_ps(), a self-initialised
// variable that -Wuninitialized reports inside every inlined use (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#endif

namespace primaps::detail {

#ifdef PRIMAPS_ATTENTION_AVX512

namespace {

constexpr int kDim = 64;
constexpr int kPanel = 32; // keys per panel of the packed keys

// q k^T for Rows query rows and 32 keys (two 16-lane column blocks; the masks limit
// the stores of the last panel): Rows x 2 accumulators stay in registers over the 64
// dimensions, each step two loads of the panel and Rows broadcasts of q. With Rows = 12
// that is 24 of the 32 vector registers and two FMAs per broadcast.
template <int Rows>
__attribute__((target("avx512f"))) inline void logitsTile(const float* q, std::ptrdiff_t ldq,
                                                          const float* panel, __mmask16 mask0,
                                                          __mmask16 mask1, float scale,
                                                          float* out, std::ptrdiff_t ldl,
                                                          __m512* rowMax)
{
    __m512 acc[Rows][2];
    for (int r = 0; r < Rows; ++r)
        acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int d = 0; d < kDim; ++d) {
        const __m512 b0 = _mm512_loadu_ps(panel + d * kPanel);
        const __m512 b1 = _mm512_loadu_ps(panel + d * kPanel + 16);
        for (int r = 0; r < Rows; ++r) {
            const __m512 a = _mm512_set1_ps(q[r * ldq + d]);
            acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);
        }
    }
    const __m512 s = _mm512_set1_ps(scale);
    for (int r = 0; r < Rows; ++r) {
        const __m512 t0 = _mm512_mul_ps(acc[r][0], s), t1 = _mm512_mul_ps(acc[r][1], s);
        _mm512_mask_storeu_ps(out + r * ldl, mask0, t0);
        _mm512_mask_storeu_ps(out + r * ldl + 16, mask1, t1);
        rowMax[r] = _mm512_mask_max_ps(rowMax[r], mask0, rowMax[r], t0);
        rowMax[r] = _mm512_mask_max_ps(rowMax[r], mask1, rowMax[r], t1);
    }
}

template <int Rows>
__attribute__((target("avx512f"))) void logitsRows(const float* q, std::ptrdiff_t ldq,
                                                   const float* kT, std::ptrdiff_t n, float scale,
                                                   float* logits, std::ptrdiff_t ldl,
                                                   float* maxima)
{
    // Each row's maximum on the way (the softmax's first pass, while the tile is in
    // registers), in memory: the accumulators take the registers.
    __m512 rowMax[Rows];
    for (int r = 0; r < Rows; ++r)
        rowMax[r] = _mm512_set1_ps(-INFINITY);
    std::ptrdiff_t j = 0;
    for (; j + kPanel <= n; j += kPanel)
        logitsTile<Rows>(q, ldq, kT + j * kDim, 0xffff, 0xffff, scale, logits + j, ldl, rowMax);
    if (j < n) {
        const std::ptrdiff_t left = n - j;
        const auto maskOf = [](std::ptrdiff_t count) {
            return count >= 16 ? __mmask16(0xffff)
                               : count <= 0 ? __mmask16(0) : __mmask16((1u << count) - 1);
        };
        logitsTile<Rows>(q, ldq, kT + j * kDim, maskOf(left), maskOf(left - 16), scale,
                         logits + j, ldl, rowMax);
    }
    if (maxima)
        for (int r = 0; r < Rows; ++r)
            maxima[r] = _mm512_reduce_max_ps(rowMax[r]);
}

// p v for Rows query rows: Rows x 4 accumulators hold the 64 output columns; each of
// the n steps loads one row of v (four vectors) and broadcasts Rows probabilities.
template <int Rows>
__attribute__((target("avx512f"))) void valuesRows(const float* p, std::ptrdiff_t ldp,
                                                   const float* v, std::ptrdiff_t ldv,
                                                   std::ptrdiff_t n, float* out,
                                                   std::ptrdiff_t ldo, const float* rowScale)
{
    __m512 acc[Rows][4];
    for (int r = 0; r < Rows; ++r)
        for (int c = 0; c < 4; ++c)
            acc[r][c] = _mm512_setzero_ps();
    for (std::ptrdiff_t j = 0; j < n; ++j) {
        const float* row = v + j * ldv;
        const __m512 v0 = _mm512_loadu_ps(row), v1 = _mm512_loadu_ps(row + 16),
                     v2 = _mm512_loadu_ps(row + 32), v3 = _mm512_loadu_ps(row + 48);
        for (int r = 0; r < Rows; ++r) {
            const __m512 a = _mm512_set1_ps(p[r * ldp + j]);
            acc[r][0] = _mm512_fmadd_ps(a, v0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(a, v1, acc[r][1]);
            acc[r][2] = _mm512_fmadd_ps(a, v2, acc[r][2]);
            acc[r][3] = _mm512_fmadd_ps(a, v3, acc[r][3]);
        }
    }
    for (int r = 0; r < Rows; ++r) {
        const __m512 s = _mm512_set1_ps(rowScale ? rowScale[r] : 1.0f);
        for (int c = 0; c < 4; ++c)
            _mm512_storeu_ps(out + r * ldo + 16 * c,
                             rowScale ? _mm512_mul_ps(acc[r][c], s) : acc[r][c]);
    }
}

// Calls dispatch(std::integral_constant<int, rows>()) for 1 <= rows <= Max: a row tail
// gets its own fully unrolled tile.
template <int Max, typename Dispatch>
void forRows(int rows, Dispatch&& dispatch)
{
    if constexpr (Max >= 1) {
        if (rows == Max)
            dispatch(std::integral_constant<int, Max>());
        else
            forRows<Max - 1>(rows, dispatch);
    }
}

} // namespace

bool attentionKernelsAvailable()
{
    static const bool available = __builtin_cpu_supports("avx512f") && softmaxRowsWide();
    return available;
}

std::ptrdiff_t packedKeysSize(std::ptrdiff_t n)
{
    return (n + kPanel - 1) / kPanel * kPanel * kDim;
}

void packKeys(const float* k, std::ptrdiff_t ldk, std::ptrdiff_t first, std::ptrdiff_t count,
              float* packed)
{
    // Key by key: each reads its row of 64 and writes one column of its panel (64
    // floats 128 bytes apart).
    for (std::ptrdiff_t j = first; j < first + count; ++j) {
        const float* row = k + j * ldk;
        float* column = packed + (j / kPanel) * kPanel * kDim + j % kPanel;
        for (int d = 0; d < kDim; ++d)
            column[d * kPanel] = row[d];
    }
}

void attentionLogits(const float* q, std::ptrdiff_t ldq, const float* kT, std::ptrdiff_t n,
                     std::ptrdiff_t rows, float scale, float* logits, std::ptrdiff_t ldl,
                     float* rowMax)
{
    constexpr int kTile = 12;
    for (std::ptrdiff_t r = 0; r < rows; r += kTile) {
        const int count = int(std::min<std::ptrdiff_t>(kTile, rows - r));
        forRows<kTile>(count, [&](auto tile) {
            logitsRows<decltype(tile)::value>(q + r * ldq, ldq, kT, n, scale, logits + r * ldl,
                                              ldl, rowMax ? rowMax + r : nullptr);
        });
    }
}

void attentionValues(const float* p, std::ptrdiff_t ldp, const float* v, std::ptrdiff_t ldv,
                     std::ptrdiff_t n, std::ptrdiff_t rows, float* out, std::ptrdiff_t ldo,
                     const float* rowScale)
{
    constexpr int kTile = 6;
    for (std::ptrdiff_t r = 0; r < rows; r += kTile) {
        const int count = int(std::min<std::ptrdiff_t>(kTile, rows - r));
        forRows<kTile>(count, [&](auto tile) {
            valuesRows<decltype(tile)::value>(p + r * ldp, ldp, v, ldv, n, out + r * ldo, ldo,
                                              rowScale ? rowScale + r : nullptr);
        });
    }
}

void packHeads(const float* qkv, std::ptrdiff_t ld, std::ptrdiff_t heads, std::ptrdiff_t n,
               std::ptrdiff_t first, std::ptrdiff_t count, float* keys, float* values)
{
    const std::ptrdiff_t c = heads * kDim, keysSize = packedKeysSize(n);
    for (std::ptrdiff_t h = 0; h < heads; ++h) {
        packKeys(qkv + c + h * kDim, ld, first, count, keys + h * keysSize);
        float* headValues = values + h * n * kDim;
        for (std::ptrdiff_t j = first; j < first + count; ++j)
            std::copy_n(qkv + j * ld + 2 * c + h * kDim, kDim, headValues + j * kDim);
    }
}

void attendHead(const float* q, std::ptrdiff_t ldq, const float* keys, const float* values,
                std::ptrdiff_t n, std::ptrdiff_t rows, float scale, float* logits,
                std::ptrdiff_t logitsRows, float* out, std::ptrdiff_t ldo)
{
    // 48 query rows at a time: their logits (300 kB at 1601 tokens) stay in L2 from
    // q.k^T through the softmax to attn.v, next to the head's keys and values (0.8 MB);
    // that saved a tenth of the attention over 800 rows at once.
    constexpr std::ptrdiff_t kChunk = 48;
    const std::ptrdiff_t chunk = std::min(kChunk, logitsRows);
    float maxima[kChunk], scales[kChunk];
    for (std::ptrdiff_t done = 0; done < rows; done += chunk) {
        const std::ptrdiff_t count = std::min(chunk, rows - done);
        attentionLogits(q + done * ldq, ldq, keys, n, count, scale, logits, n, maxima);
        expRows(logits, count, n, n, maxima, scales);
        for (std::ptrdiff_t i = 0; i < count; ++i)
            scales[i] = 1.0f / scales[i];
        attentionValues(logits, n, values, kDim, n, count, out + done * ldo, ldo, scales);
    }
}

#else

bool attentionKernelsAvailable()
{
    return false;
}
std::ptrdiff_t packedKeysSize(std::ptrdiff_t n)
{
    return n * 64;
}
void packKeys(const float*, std::ptrdiff_t, std::ptrdiff_t, std::ptrdiff_t, float*) {}
void attentionLogits(const float*, std::ptrdiff_t, const float*, std::ptrdiff_t, std::ptrdiff_t,
                     float, float*, std::ptrdiff_t, float*)
{
}
void attentionValues(const float*, std::ptrdiff_t, const float*, std::ptrdiff_t, std::ptrdiff_t,
                     std::ptrdiff_t, float*, std::ptrdiff_t, const float*)
{
}
void packHeads(const float*, std::ptrdiff_t, std::ptrdiff_t, std::ptrdiff_t, std::ptrdiff_t,
               std::ptrdiff_t, float*, float*)
{
}
void attendHead(const float*, std::ptrdiff_t, const float*, const float*, std::ptrdiff_t,
                std::ptrdiff_t, float, float*, std::ptrdiff_t, float*, std::ptrdiff_t)
{
}

#endif

} // namespace primaps::detail
