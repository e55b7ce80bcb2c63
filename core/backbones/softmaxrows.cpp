// SPDX-License-Identifier: MIT
#include "backbones/softmaxrows_p.h"
#include "support/cpufeatures.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define PRIMAPS_SOFTMAX_AVX2 1
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's AVX-512 intrinsics start from _mm512_undefined_ps(), a self-initialised
// variable that -Wuninitialized reports inside every inlined use (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#endif

namespace primaps::detail {

namespace {

// exp(x) = 2^n exp(r), n = round(x / ln 2), r = x - n ln 2 with ln 2 split in two
// (the first part exact in float), exp(r) on |r| <= ln 2 / 2 by a degree-6
// polynomial (Cephes' expf coefficients).
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2High = 0.693359375f;
constexpr float kLn2Low = -2.12194440e-4f;
constexpr float kLowest = -87.3f; // below, exp(x) < 2^-126 and the result is 0
constexpr float kP[6] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                         4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};

} // namespace

float softmaxExp(float x)
{
    if (x < kLowest)
        return 0.0f;
    const float n = std::nearbyint(x * kLog2e);
    float r = std::fma(n, -kLn2High, x);
    r = std::fma(n, -kLn2Low, r);
    float p = kP[0];
    for (int i = 1; i < 6; ++i)
        p = std::fma(p, r, kP[i]);
    const float y = std::fma(p, r * r, r) + 1.0f;
    const std::int32_t bits = (std::int32_t(n) + 127) << 23;
    float scale;
    std::memcpy(&scale, &bits, sizeof scale);
    return y * scale;
}

#ifdef PRIMAPS_SOFTMAX_AVX2

namespace {

__attribute__((target("avx2,fma"))) inline __m256 exp8(__m256 x)
{
    const __m256 tooSmall = _mm256_cmp_ps(x, _mm256_set1_ps(kLowest), _CMP_LT_OQ);
    x = _mm256_max_ps(x, _mm256_set1_ps(kLowest));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fmadd_ps(n, _mm256_set1_ps(-kLn2High), x);
    r = _mm256_fmadd_ps(n, _mm256_set1_ps(-kLn2Low), r);
    __m256 p = _mm256_set1_ps(kP[0]);
    for (int i = 1; i < 6; ++i)
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP[i]));
    const __m256 y = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
    const __m256i bits = _mm256_slli_epi32(
        _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(tooSmall, _mm256_mul_ps(y, _mm256_castsi256_ps(bits)));
}

__attribute__((target("avx2,fma"))) inline float horizontalSum(__m256 x)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma"))) inline float horizontalMax(__m256 x)
{
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// One row, three passes while it sits in L1: the maximum, the exponentials and
// their sum, the scaling.
__attribute__((target("avx2,fma"))) void softmaxRow(float* row, std::ptrdiff_t cols)
{
    const std::ptrdiff_t vectorEnd = cols & ~std::ptrdiff_t(7);
    float top = -INFINITY;
    if (vectorEnd > 0) {
        __m256 m = _mm256_loadu_ps(row);
        for (std::ptrdiff_t i = 8; i < vectorEnd; i += 8)
            m = _mm256_max_ps(m, _mm256_loadu_ps(row + i));
        top = horizontalMax(m);
    }
    for (std::ptrdiff_t i = vectorEnd; i < cols; ++i)
        top = std::max(top, row[i]);

    const __m256 shift = _mm256_set1_ps(top);
    __m256 sum[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    std::ptrdiff_t i = 0;
    for (; i + 16 <= vectorEnd; i += 16)
        for (int j = 0; j < 2; ++j) {
            const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(row + i + 8 * j), shift));
            _mm256_storeu_ps(row + i + 8 * j, e);
            sum[j] = _mm256_add_ps(sum[j], e);
        }
    for (; i < vectorEnd; i += 8) {
        const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(row + i), shift));
        _mm256_storeu_ps(row + i, e);
        sum[0] = _mm256_add_ps(sum[0], e);
    }
    float total = horizontalSum(_mm256_add_ps(sum[0], sum[1]));
    for (; i < cols; ++i) {
        row[i] = softmaxExp(row[i] - top);
        total += row[i];
    }

    const float inverse = 1.0f / total;
    const __m256 scale = _mm256_set1_ps(inverse);
    for (i = 0; i < vectorEnd; i += 8)
        _mm256_storeu_ps(row + i, _mm256_mul_ps(_mm256_loadu_ps(row + i), scale));
    for (; i < cols; ++i)
        row[i] *= inverse;
}

// The same row in 16 lanes where the processor has AVX-512F (asked at run time), with
// the same numbers as softmaxRow(): every lane does the same operations on the same
// value, and the sum keeps softmaxRow()'s order (lanes 0-7 of the 16-lane accumulator
// are its sum[0], lanes 8-15 its sum[1], a last group of eight goes into sum[0]).
__attribute__((target("avx512f,avx2,fma"))) inline __m512 exp16(__m512 x)
{
    const __mmask16 tooSmall = _mm512_cmp_ps_mask(x, _mm512_set1_ps(kLowest), _CMP_LT_OQ);
    x = _mm512_max_ps(x, _mm512_set1_ps(kLowest));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(kLog2e)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-kLn2High), x);
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(-kLn2Low), r);
    __m512 p = _mm512_set1_ps(kP[0]);
    for (int i = 1; i < 6; ++i)
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP[i]));
    const __m512 y = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
    const __m512i bits = _mm512_slli_epi32(
        _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_mask_mov_ps(_mm512_mul_ps(y, _mm512_castsi512_ps(bits)), tooSmall,
                              _mm512_setzero_ps());
}

// exp(x - top) in place over a row, and their sum in softmaxRow()'s order.
__attribute__((target("avx512f,avx2,fma"))) float expAndSum16(float* row, std::ptrdiff_t cols,
                                                             float top)
{
    const std::ptrdiff_t vectorEnd = cols & ~std::ptrdiff_t(7);
    const std::ptrdiff_t wideEnd = cols & ~std::ptrdiff_t(15);
    const __m512 shift = _mm512_set1_ps(top);
    __m512 sum = _mm512_setzero_ps();
    std::ptrdiff_t i = 0;
    for (; i < wideEnd; i += 16) {
        const __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(row + i), shift));
        _mm512_storeu_ps(row + i, e);
        sum = _mm512_add_ps(sum, e);
    }
    __m256 low = _mm512_castps512_ps256(sum);
    const __m256 high = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(sum), 1));
    if (i < vectorEnd) {
        const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(row + i), _mm256_set1_ps(top)));
        _mm256_storeu_ps(row + i, e);
        low = _mm256_add_ps(low, e);
        i += 8;
    }
    float total = horizontalSum(_mm256_add_ps(low, high));
    for (; i < cols; ++i) {
        row[i] = softmaxExp(row[i] - top);
        total += row[i];
    }

    return total;
}

__attribute__((target("avx512f,avx2,fma"))) void softmaxRow16(float* row, std::ptrdiff_t cols)
{
    const std::ptrdiff_t vectorEnd = cols & ~std::ptrdiff_t(7);
    const std::ptrdiff_t wideEnd = cols & ~std::ptrdiff_t(15);
    float top = -INFINITY;
    if (vectorEnd > 0) {
        __m256 m = _mm256_loadu_ps(row);
        if (wideEnd > 0) {
            __m512 wide = _mm512_loadu_ps(row);
            for (std::ptrdiff_t i = 16; i < wideEnd; i += 16)
                wide = _mm512_max_ps(wide, _mm512_loadu_ps(row + i));
            m = _mm256_max_ps(_mm512_castps512_ps256(wide),
                              _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(wide), 1)));
        }
        if (wideEnd < vectorEnd)
            m = _mm256_max_ps(m, _mm256_loadu_ps(row + wideEnd));
        top = horizontalMax(m);
    }
    for (std::ptrdiff_t i = vectorEnd; i < cols; ++i)
        top = std::max(top, row[i]);

    const float total = expAndSum16(row, cols, top);
    const float inverse = 1.0f / total;
    const __m512 scale = _mm512_set1_ps(inverse);
    std::ptrdiff_t i = 0;
    for (; i < wideEnd; i += 16)
        _mm512_storeu_ps(row + i, _mm512_mul_ps(_mm512_loadu_ps(row + i), scale));
    for (; i < cols; ++i)
        row[i] *= inverse;
}

bool hasAvx512()
{
    static const bool available = __builtin_cpu_supports("avx512f");
    return available;
}

} // namespace

#endif

bool softmaxRowsVectorised()
{
#ifdef PRIMAPS_SOFTMAX_AVX2
    return cpuHasAvx2Fma();
#else
    return false;
#endif
}

void expRows(float* values, std::ptrdiff_t rows, std::ptrdiff_t cols, std::ptrdiff_t stride,
             const float* rowMax, float* sums)
{
#ifdef PRIMAPS_SOFTMAX_AVX2
    for (std::ptrdiff_t r = 0; r < rows; ++r)
        sums[r] = cols < 1 ? 0.0f : expAndSum16(values + r * stride, cols, rowMax[r]);
#else
    (void)values, (void)rows, (void)cols, (void)stride, (void)rowMax, (void)sums;
#endif
}

bool softmaxRowsWide()
{
#ifdef PRIMAPS_SOFTMAX_AVX2
    return softmaxRowsVectorised() && hasAvx512();
#else
    return false;
#endif
}

void softmaxRows(float* values, std::ptrdiff_t rows, std::ptrdiff_t cols, std::ptrdiff_t stride,
                 bool allowAvx512)
{
#ifdef PRIMAPS_SOFTMAX_AVX2
    if (cols < 1)
        return;
    if (allowAvx512 && hasAvx512()) {
        for (std::ptrdiff_t r = 0; r < rows; ++r)
            softmaxRow16(values + r * stride, cols);
        return;
    }
    for (std::ptrdiff_t r = 0; r < rows; ++r)
        softmaxRow(values + r * stride, cols);
#else
    (void)values, (void)rows, (void)cols, (void)stride, (void)allowAvx512;
#endif
}

} // namespace primaps::detail
