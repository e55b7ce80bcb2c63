// SPDX-License-Identifier: MIT
#include "decompose/gramproduct_p.h"
#include "support/cpufeatures.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define PRIMAPS_GRAM_AVX2 1
#include <immintrin.h>
#endif

namespace primaps::detail {

namespace {

// Plain loops; four partial sums let the compiler vectorise the dot product
// without reassociating additions on its own.
void gramProductPortable(const float* rows, int count, int c, const float* v, float* out)
{
    for (int r = 0; r < count; ++r) {
        const float* row = rows + std::size_t(r) * c;
        float partial[4] = {0, 0, 0, 0};
        int k = 0;
        for (; k + 4 <= c; k += 4)
            for (int j = 0; j < 4; ++j)
                partial[j] += row[k + j] * v[k + j];
        float t = (partial[0] + partial[1]) + (partial[2] + partial[3]);
        for (; k < c; ++k)
            t += row[k] * v[k];
        for (k = 0; k < c; ++k)
            out[k] += t * row[k];
    }
}

#ifdef PRIMAPS_GRAM_AVX2

__attribute__((target("avx2,fma"))) inline float horizontalSum(__m256 x)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma"))) void gramRowsOneByOne(const float* rows, int r, int count,
                                                          int c, const float* v, float* out);

// The channels after the last whole group of eight, for a block of eight rows: the dot
// products' tails, then the block's update of `out`. One copy for both vector kernels,
// with the fused multiply-adds written out: left to the compiler, GCC fused some of
// these products with their sums in one kernel and not in the other (its contraction
// depends on how the loop was inlined and vectorised), and the two kernels' bits
// differed whenever c % 8 != 0.
__attribute__((target("avx2,fma"), noinline)) void blockDotTail(const float* p, int c,
                                                                int vectorEnd, const float* v,
                                                                float* t)
{
    for (int i = 0; i < 8; ++i) {
        const float* row = p + std::size_t(i) * c;
        for (int k = vectorEnd; k < c; ++k)
            t[i] = std::fma(row[k], v[k], t[i]);
    }
}

__attribute__((target("avx2,fma"), noinline)) void blockUpdateTail(const float* p, int c,
                                                                   int vectorEnd, const float* t,
                                                                   float* out)
{
    for (int k = vectorEnd; k < c; ++k) {
        float sum = 0;
        for (int i = 0; i < 8; ++i)
            sum = std::fma(t[i], p[std::size_t(i) * c + k], sum);
        out[k] += sum;
    }
}

// Why this shape: with the dot product and the update as two separate passes the
// rows (up to 2.4 MB for a 40x40x384 map, more than this core's L2) came from
// L3 twice, and each product was bound by that traffic. Here a block of eight
// rows is read from memory once: eight independent accumulators (enough to hide
// the fused multiply-add latency) share each load of v, and the block's update of
// `out` reuses the rows from L1. Measured 2.2x faster per product than the
// two-pass loops at 1600 rows of 384 (49 vs 108 us) on a Zen 4. gramProductAvx512
// below does the same arithmetic with wider registers.
__attribute__((target("avx2,fma"))) void gramProductAvx2(const float* rows, int count, int c,
                                                         const float* v, float* out)
{
    constexpr int B = 8; // rows per block
    const int vectorEnd = c & ~7;
    int r = 0;
    for (; r + B <= count; r += B) {
        const float* p = rows + std::size_t(r) * c;
        __m256 acc[B];
        for (int i = 0; i < B; ++i)
            acc[i] = _mm256_setzero_ps();
        for (int k = 0; k < vectorEnd; k += 8) {
            const __m256 vk = _mm256_loadu_ps(v + k);
            for (int i = 0; i < B; ++i)
                acc[i] = _mm256_fmadd_ps(_mm256_loadu_ps(p + std::size_t(i) * c + k), vk, acc[i]);
        }
        float t[B];
        for (int i = 0; i < B; ++i)
            t[i] = horizontalSum(acc[i]);
        blockDotTail(p, c, vectorEnd, v, t);
        __m256 w[B];
        for (int i = 0; i < B; ++i)
            w[i] = _mm256_set1_ps(t[i]);
        for (int k = 0; k < vectorEnd; k += 8) {
            // Two chains of four instead of one of eight: shorter dependency.
            __m256 even = _mm256_mul_ps(_mm256_loadu_ps(p + k), w[0]);
            __m256 odd = _mm256_mul_ps(_mm256_loadu_ps(p + std::size_t(c) + k), w[1]);
            for (int i = 2; i < B; i += 2) {
                even = _mm256_fmadd_ps(_mm256_loadu_ps(p + std::size_t(i) * c + k), w[i], even);
                odd = _mm256_fmadd_ps(_mm256_loadu_ps(p + std::size_t(i + 1) * c + k), w[i + 1],
                                      odd);
            }
            _mm256_storeu_ps(out + k, _mm256_add_ps(_mm256_loadu_ps(out + k),
                                                    _mm256_add_ps(even, odd)));
        }
        blockUpdateTail(p, c, vectorEnd, t, out);
    }
    gramRowsOneByOne(rows, r, count, c, v, out);
}

// The last count % 8 rows, one at a time (both vector kernels).
__attribute__((target("avx2,fma"))) void gramRowsOneByOne(const float* rows, int r, int count,
                                                          int c, const float* v, float* out)
{
    const int vectorEnd = c & ~7;
    for (; r < count; ++r) {
        const float* row = rows + std::size_t(r) * c;
        __m256 acc = _mm256_setzero_ps();
        for (int k = 0; k < vectorEnd; k += 8)
            acc = _mm256_fmadd_ps(_mm256_loadu_ps(row + k), _mm256_loadu_ps(v + k), acc);
        float t = horizontalSum(acc);
        for (int k = vectorEnd; k < c; ++k)
            t = std::fma(row[k], v[k], t);
        const __m256 w = _mm256_set1_ps(t);
        for (int k = 0; k < vectorEnd; k += 8)
            _mm256_storeu_ps(out + k,
                             _mm256_fmadd_ps(_mm256_loadu_ps(row + k), w, _mm256_loadu_ps(out + k)));
        for (int k = vectorEnd; k < c; ++k)
            out[k] = std::fma(t, row[k], out[k]);
    }
}

// The AVX2 kernel's arithmetic, bit for bit, in 512-bit registers
// (docs/primaps-performance.md, "PriMaPs on the Xeon"). A 16-float dot product
// would sum each row in another order, so a register holds
// channels k .. k + 7 of two rows (i and i + 4): every lane is still the AVX2
// kernel's chain over k, k + 8, ..., and each 256-bit half is summed by the same
// horizontalSum(). The block's update of `out` is element-wise (each element's
// operations in the AVX2 order), so it simply runs on 16 channels at a time.
// GCC 12 warns that the intrinsics' own "undefined" upper halves (casts, extracts) may
// be used uninitialised; they are not read.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
__attribute__((target("avx512f,avx512dq,avx2,fma"))) void gramProductAvx512(const float* rows,
                                                                           int count, int c,
                                                                           const float* v,
                                                                           float* out)
{
    constexpr int B = 8; // rows per block, as in the AVX2 kernel
    const int vectorEnd = c & ~7;
    const int wideEnd = c & ~15;
    int r = 0;
    for (; r + B <= count; r += B) {
        const float* p = rows + std::size_t(r) * c;
        __m512 acc[B / 2];
        for (int i = 0; i < B / 2; ++i)
            acc[i] = _mm512_setzero_ps();
        for (int k = 0; k < vectorEnd; k += 8) {
            const __m512 vk = _mm512_broadcast_f32x8(_mm256_loadu_ps(v + k));
            for (int i = 0; i < B / 2; ++i) {
                const __m512 x = _mm512_insertf32x8(
                    _mm512_castps256_ps512(_mm256_loadu_ps(p + std::size_t(i) * c + k)),
                    _mm256_loadu_ps(p + std::size_t(i + B / 2) * c + k), 1);
                acc[i] = _mm512_fmadd_ps(x, vk, acc[i]);
            }
        }
        float t[B];
        for (int i = 0; i < B / 2; ++i) {
            t[i] = horizontalSum(_mm512_castps512_ps256(acc[i]));
            t[i + B / 2] = horizontalSum(_mm512_extractf32x8_ps(acc[i], 1));
        }
        blockDotTail(p, c, vectorEnd, v, t);
        __m512 w[B];
        for (int i = 0; i < B; ++i)
            w[i] = _mm512_set1_ps(t[i]);
        for (int k = 0; k < wideEnd; k += 16) {
            __m512 even = _mm512_mul_ps(_mm512_loadu_ps(p + k), w[0]);
            __m512 odd = _mm512_mul_ps(_mm512_loadu_ps(p + std::size_t(c) + k), w[1]);
            for (int i = 2; i < B; i += 2) {
                even = _mm512_fmadd_ps(_mm512_loadu_ps(p + std::size_t(i) * c + k), w[i], even);
                odd = _mm512_fmadd_ps(_mm512_loadu_ps(p + std::size_t(i + 1) * c + k), w[i + 1],
                                      odd);
            }
            _mm512_storeu_ps(out + k, _mm512_add_ps(_mm512_loadu_ps(out + k),
                                                    _mm512_add_ps(even, odd)));
        }
        for (int k = wideEnd; k < vectorEnd; k += 8) { // at most one group of eight
            __m256 even = _mm256_mul_ps(_mm256_loadu_ps(p + k), _mm512_castps512_ps256(w[0]));
            __m256 odd = _mm256_mul_ps(_mm256_loadu_ps(p + std::size_t(c) + k),
                                       _mm512_castps512_ps256(w[1]));
            for (int i = 2; i < B; i += 2) {
                even = _mm256_fmadd_ps(_mm256_loadu_ps(p + std::size_t(i) * c + k),
                                       _mm512_castps512_ps256(w[i]), even);
                odd = _mm256_fmadd_ps(_mm256_loadu_ps(p + std::size_t(i + 1) * c + k),
                                      _mm512_castps512_ps256(w[i + 1]), odd);
            }
            _mm256_storeu_ps(out + k, _mm256_add_ps(_mm256_loadu_ps(out + k),
                                                    _mm256_add_ps(even, odd)));
        }
        blockUpdateTail(p, c, vectorEnd, t, out);
    }
    gramRowsOneByOne(rows, r, count, c, v, out);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif

} // namespace

bool gramKernelVectorised()
{
#ifdef PRIMAPS_GRAM_AVX2
    return cpuHasAvx2Fma();
#else
    return false;
#endif
}

bool gramKernelWide()
{
#ifdef PRIMAPS_GRAM_AVX2
    // GCC's and Clang's run-time checks include the operating system's saving of
    // the 512-bit registers.
    static const bool available = cpuHasAvx2Fma() && __builtin_cpu_supports("avx512f") &&
                                  __builtin_cpu_supports("avx512dq");
    return available;
#else
    return false;
#endif
}

void gramProduct(const float* rows, int count, int c, const float* v, float scale, float* out,
                 GramKernel kernel)
{
    std::fill(out, out + std::max(c, 0), 0.0f);
    if (count < 1 || c < 1)
        return;
#ifdef PRIMAPS_GRAM_AVX2
    if (kernel == GramKernel::Best && gramKernelWide())
        gramProductAvx512(rows, count, c, v, out);
    else if (kernel != GramKernel::Portable && gramKernelVectorised())
        gramProductAvx2(rows, count, c, v, out);
    else
        gramProductPortable(rows, count, c, v, out);
#else
    (void)kernel;
    gramProductPortable(rows, count, c, v, out);
#endif
    for (int k = 0; k < c; ++k)
        out[k] *= scale;
}

int gramSecondHalf(int count)
{
    return (count / 2) & ~7;
}

void gramProductInHalves(const float* rows, int count, int c, const float* v, float scale,
                         float* out, float* second, bool secondHalfFirst)
{
    const int split = gramSecondHalf(std::max(count, 0));
    auto first = [&] { gramProduct(rows, split, c, v, 1.0f, out); };
    auto last = [&] {
        gramProduct(rows + std::size_t(split) * std::max(c, 0), count - split, c, v, 1.0f, second);
    };
    if (secondHalfFirst) {
        last();
        first();
    } else {
        first();
        last();
    }
    for (int k = 0; k < c; ++k)
        out[k] = (out[k] + second[k]) * scale;
}

} // namespace primaps::detail
