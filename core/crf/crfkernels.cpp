// SPDX-License-Identifier: MIT
#include "crf/crfkernels_p.h"
#include "support/cpufeatures.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <initializer_list>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define PRIMAPS_CRF_AVX2 1
#include <immintrin.h>
#endif

// Every supported compiler (GCC, Clang, MSVC) spells it this way.
#define PRIMAPS_RESTRICT __restrict

namespace primaps::detail {

namespace {

std::atomic<CrfKernel> preferred{CrfKernel::Best};
std::atomic<std::size_t> rowQuantum{4};
std::atomic<bool> fusedRegions{true};

inline void prefetchRow(const float* row, std::size_t k)
{
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(row);
    __builtin_prefetch(row + k - 1);
#else
    (void)row;
    (void)k;
#endif
}

// Smallest exponent of the mean-field softmax: exp(-69) is about 1e-30.
// Probabilities below that change nothing, but once multiplied by filter
// weights they would become denormal floats, which are many times slower.
constexpr float kMinExponent = -69.0f;

// exp(x) for x in [kMinExponent, 0]: 2^(x / ln 2) split into an integer power
// built in the exponent bits and 2^f, |f| <= 1/2, from its degree-6 Taylor
// polynomial; relative error below 3e-7. Written so that the compiler
// vectorises it (the library's expf is a call per element).
inline float expInRange(float x)
{
    const float t = x * 1.44269504088896341f;
    // Round to nearest by the 1.5 * 2^23 trick (exact for |t| < 2^22).
    const float n = (t + 12582912.0f) - 12582912.0f;
    const float f = t - n;
    float p = 1.5403530393381609e-4f;
    p = p * f + 1.3333558146428443e-3f;
    p = p * f + 9.6181291076284772e-3f;
    p = p * f + 5.5504108664821580e-2f;
    p = p * f + 2.4022650695910071e-1f;
    p = p * f + 6.9314718055994531e-1f;
    p = p * f + 1.0f;
    const std::int32_t bits = (std::int32_t(n) + 127) << 23;
    float scale;
    std::memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

// ---- portable kernels ----------------------------------------------------------------------
// With FixedChannels > 0 the row length is a compile-time constant and the loops
// unroll into a few vector instructions (about 2x for typical label counts); the
// restrict parameters tell the compiler the rows do not overlap, without which it
// would not vectorise them.

template <int FixedChannels> inline std::size_t channelCount(std::size_t k)
{
    return FixedChannels > 0 ? std::size_t(FixedChannels) : k;
}

template <int FixedChannels>
inline void addScaledRow(float* PRIMAPS_RESTRICT dst, const float* PRIMAPS_RESTRICT src, float w,
                         std::size_t k)
{
    for (std::size_t c = 0; c < channelCount<FixedChannels>(k); ++c)
        dst[c] += w * src[c];
}

template <int FixedChannels>
inline void scaleRow(float* PRIMAPS_RESTRICT dst, const float* PRIMAPS_RESTRICT src, float w,
                     std::size_t k)
{
    for (std::size_t c = 0; c < channelCount<FixedChannels>(k); ++c)
        dst[c] = w * src[c];
}

// A per-thread accumulator row: on the stack for a fixed channel count.
template <int FixedChannels> class Row
{
public:
    explicit Row(std::size_t) {}
    float* data() { return values_; }
    void clear(std::size_t) { std::fill(values_, values_ + FixedChannels, 0.0f); }

private:
    float values_[FixedChannels];
};

template <> class Row<0>
{
public:
    explicit Row(std::size_t k) : values_(k) {}
    float* data() { return values_.data(); }
    void clear(std::size_t) { std::fill(values_.begin(), values_.end(), 0.0f); }

private:
    std::vector<float> values_;
};

template <int F>
void splatPortable(const LatticeTables& t, const float* in, float* values, std::size_t k,
                   int begin, int end, const float* preScale, std::size_t prefetch)
{
    Row<F> acc(k);
    const std::size_t last = std::size_t(t.splatStart[std::size_t(end)]);
    for (int v = begin; v < end; ++v) {
        acc.clear(k);
        const std::size_t stop = std::size_t(t.splatStart[std::size_t(v) + 1]);
        for (std::size_t s = std::size_t(t.splatStart[std::size_t(v)]); s < stop; ++s) {
            if (prefetch && s + prefetch < last)
                prefetchRow(in + std::size_t(t.splatPoint[s + prefetch]) * k, k);
            const std::size_t p = std::size_t(t.splatPoint[s]);
            const float w = preScale ? t.splatWeight[s] * preScale[p] : t.splatWeight[s];
            addScaledRow<F>(acc.data(), in + p * k, w, k);
        }
        float* PRIMAPS_RESTRICT dst = values + (std::size_t(v) + 1) * k;
        for (std::size_t c = 0; c < channelCount<F>(k); ++c)
            dst[c] = acc.data()[c];
    }
}

template <int F>
void blurPortable(const std::int32_t* nb, const float* current, float* next, std::size_t k,
                  int begin, int end, std::size_t prefetch)
{
    for (int v = begin; v < end; ++v) {
        const std::size_t ahead = std::size_t(v) + prefetch;
        if (prefetch && ahead < std::size_t(end)) {
            prefetchRow(current + std::size_t(nb[2 * ahead]) * k, k);
            prefetchRow(current + std::size_t(nb[2 * ahead + 1]) * k, k);
        }
        float* PRIMAPS_RESTRICT dst = next + (std::size_t(v) + 1) * k;
        const float* PRIMAPS_RESTRICT self = current + (std::size_t(v) + 1) * k;
        const float* PRIMAPS_RESTRICT minus = current + std::size_t(nb[2 * std::size_t(v)]) * k;
        const float* PRIMAPS_RESTRICT plus = current + std::size_t(nb[2 * std::size_t(v) + 1]) * k;
        for (std::size_t c = 0; c < channelCount<F>(k); ++c)
            dst[c] = self[c] + 0.5f * (minus[c] + plus[c]);
    }
}

template <int F>
void slicePortable(const LatticeTables& t, const float* values, float* out, std::size_t k,
                   int begin, int end, float alpha, const float* postScale, bool accumulate,
                   std::size_t prefetch)
{
    Row<F> acc(k);
    const std::size_t d1 = std::size_t(t.d1);
    const std::size_t last = std::size_t(end) * d1;
    for (int p = begin; p < end; ++p) {
        acc.clear(k);
        for (std::size_t r = 0; r < d1; ++r) {
            const std::size_t e = std::size_t(p) * d1 + r;
            if (prefetch && e + prefetch < last)
                prefetchRow(values + std::size_t(t.pointVertex[e + prefetch]) * k, k);
            addScaledRow<F>(acc.data(), values + std::size_t(t.pointVertex[e]) * k,
                            t.pointWeight[e], k);
        }
        const float scale = postScale ? alpha * postScale[p] : alpha;
        float* dst = out + std::size_t(p) * k;
        if (accumulate)
            addScaledRow<F>(dst, acc.data(), scale, k);
        else
            scaleRow<F>(dst, acc.data(), scale, k);
    }
}

template <int F>
void matrixPortable(const std::int32_t* rowStart, const std::int32_t* column, const float* weight,
                    const float* in, float* out, std::size_t k, int begin, int end,
                    bool accumulate)
{
    Row<F> acc(k);
    for (int i = begin; i < end; ++i) {
        acc.clear(k);
        for (std::int32_t e = rowStart[i]; e < rowStart[i + 1]; ++e)
            addScaledRow<F>(acc.data(), in + std::size_t(column[e]) * k, weight[e], k);
        float* dst = out + std::size_t(i) * k;
        if (accumulate)
            addScaledRow<F>(dst, acc.data(), 1.0f, k);
        else
            scaleRow<F>(dst, acc.data(), 1.0f, k);
    }
}

// Runs CALL with the constant F set to the channel count when it is 1..16 (the
// portable loops then unroll), else to 0.
#define PRIMAPS_BY_CHANNELS(k, CALL)                                                              \
    switch (k) {                                                                                  \
    case 1: { constexpr int F = 1; CALL; } break;                                                 \
    case 2: { constexpr int F = 2; CALL; } break;                                                 \
    case 3: { constexpr int F = 3; CALL; } break;                                                 \
    case 4: { constexpr int F = 4; CALL; } break;                                                 \
    case 5: { constexpr int F = 5; CALL; } break;                                                 \
    case 6: { constexpr int F = 6; CALL; } break;                                                 \
    case 7: { constexpr int F = 7; CALL; } break;                                                 \
    case 8: { constexpr int F = 8; CALL; } break;                                                 \
    case 9: { constexpr int F = 9; CALL; } break;                                                 \
    case 10: { constexpr int F = 10; CALL; } break;                                               \
    case 11: { constexpr int F = 11; CALL; } break;                                               \
    case 12: { constexpr int F = 12; CALL; } break;                                               \
    case 13: { constexpr int F = 13; CALL; } break;                                               \
    case 14: { constexpr int F = 14; CALL; } break;                                               \
    case 15: { constexpr int F = 15; CALL; } break;                                               \
    case 16: { constexpr int F = 16; CALL; } break;                                               \
    default: { constexpr int F = 0; CALL; } break;                                                \
    }

// Pixels per block of the portable mean-field update: the block's rows stay in
// L1 cache between its passes.
constexpr int kSoftmaxBlock = 64;

void meanFieldPortable(float* PRIMAPS_RESTRICT q, const float* PRIMAPS_RESTRICT message,
                       const float* PRIMAPS_RESTRICT unary, std::size_t labels, std::size_t stride,
                       int begin, int end)
{
    const std::size_t perBlock = kSoftmaxBlock;
    std::vector<float> buffer(perBlock * labels);
    float* PRIMAPS_RESTRICT block = buffer.data();
    for (std::size_t first = std::size_t(begin); first < std::size_t(end); first += perBlock) {
        const std::size_t rows = std::min(std::size_t(end) - first, perBlock);
        // Gather the block's labels contiguously (no padding), so that the flat
        // loops below vectorise across rows.
        for (std::size_t i = 0; i < rows; ++i) {
            const float* m = message + (first + i) * stride;
            const float* u = unary + (first + i) * stride;
            for (std::size_t l = 0; l < labels; ++l)
                block[i * labels + l] = m[l] - u[l];
        }
        for (std::size_t i = 0; i < rows; ++i) {
            float* row = block + i * labels;
            float top = row[0];
            for (std::size_t l = 1; l < labels; ++l)
                top = std::max(top, row[l]);
            for (std::size_t l = 0; l < labels; ++l)
                row[l] -= top;
        }
        expInPlace(block, rows * labels);
        for (std::size_t i = 0; i < rows; ++i) {
            const float* row = block + i * labels;
            // In-order float sums do not vectorise; kept apart from the loops
            // above so that those do.
            float sum = 0.0f;
            for (std::size_t l = 0; l < labels; ++l)
                sum += row[l];
            const float inv = 1.0f / sum;
            float* dst = q + (first + i) * stride;
            for (std::size_t l = 0; l < labels; ++l)
                dst[l] = row[l] * inv;
            for (std::size_t l = labels; l < stride; ++l)
                dst[l] = 0.0f;
        }
    }
}

#ifdef PRIMAPS_CRF_AVX2

// ---- AVX2 kernels --------------------------------------------------------------------------
// A row is V registers of eight labels (V = 0: a run-time count). Rows start on
// 32-byte boundaries (the callers' buffers are aligned and their strides
// multiples of eight), so no load straddles a cache line; each row operation is
// V fused multiply-adds instead of the portable loops' scalar tails.

#define PRIMAPS_AVX2 __attribute__((target("avx2,fma")))

// Rows of Q = k / 4 quads: Q / 2 full registers and, for odd Q, a 128-bit tail.
// V > 0: V registers and the tail known at compile time (up to 64 labels: the
// row stays in registers); V = 0: counts at run time, in chunks of eight
// registers. Rows are 16-byte aligned (strides are multiples of four floats).
template <int V> inline std::size_t vectorCount(std::size_t k)
{
    return V > 0 ? std::size_t(V) : k / kCrfLanes;
}

template <int V, bool Tail> inline bool hasTail(std::size_t k)
{
    return V > 0 ? Tail : (k % kCrfLanes) != 0;
}

// Accumulators in registers for V <= 8; beyond that the row is processed in
// chunks of eight registers.
constexpr std::size_t kMaxRegisters = 8;

template <int V, bool Tail>
PRIMAPS_AVX2 void splatAvx2(const LatticeTables& t, const float* in, float* values,
                            std::size_t k, int begin, int end, const float* preScale,
                            std::size_t prefetch)
{
    const std::size_t vectors = vectorCount<V>(k);
    const bool tail = hasTail<V, Tail>(k);
    const std::size_t last = std::size_t(t.splatStart[std::size_t(end)]);
    for (int v = begin; v < end; ++v) {
        const std::size_t first = std::size_t(t.splatStart[std::size_t(v)]);
        const std::size_t stop = std::size_t(t.splatStart[std::size_t(v) + 1]);
        float* dst = values + (std::size_t(v) + 1) * k;
        // One pass per chunk of eight registers; the tail rides with the last.
        for (std::size_t chunk = 0; chunk < std::max<std::size_t>(vectors, 1);
             chunk += kMaxRegisters) {
            const std::size_t n = vectors > chunk ? std::min(kMaxRegisters, vectors - chunk) : 0;
            const bool withTail = tail && chunk + kMaxRegisters >= vectors;
            __m256 acc[kMaxRegisters];
            __m128 accTail = _mm_setzero_ps();
            for (std::size_t j = 0; j < n; ++j)
                acc[j] = _mm256_setzero_ps();
            for (std::size_t s = first; s < stop; ++s) {
                if (chunk == 0 && prefetch && s + prefetch < last)
                    prefetchRow(in + std::size_t(t.splatPoint[s + prefetch]) * k, k);
                const std::size_t p = std::size_t(t.splatPoint[s]);
                const float weight = preScale ? t.splatWeight[s] * preScale[p] : t.splatWeight[s];
                const __m256 w = _mm256_set1_ps(weight);
                const float* src = in + p * k + chunk * kCrfLanes;
                for (std::size_t j = 0; j < n; ++j)
                    acc[j] = _mm256_fmadd_ps(w, _mm256_loadu_ps(src + j * kCrfLanes), acc[j]);
                if (withTail)
                    accTail = _mm_fmadd_ps(_mm256_castps256_ps128(w),
                                           _mm_load_ps(src + n * kCrfLanes), accTail);
            }
            for (std::size_t j = 0; j < n; ++j)
                _mm256_storeu_ps(dst + (chunk + j) * kCrfLanes, acc[j]);
            if (withTail)
                _mm_store_ps(dst + (chunk + n) * kCrfLanes, accTail);
        }
    }
}

template <int V, bool Tail>
PRIMAPS_AVX2 void blurAvx2(const std::int32_t* nb, const float* current, float* next,
                           std::size_t k, int begin, int end, std::size_t prefetch)
{
    const std::size_t vectors = vectorCount<V>(k);
    const bool tail = hasTail<V, Tail>(k);
    const __m256 half = _mm256_set1_ps(0.5f);
    for (int v = begin; v < end; ++v) {
        const std::size_t ahead = std::size_t(v) + prefetch;
        if (prefetch && ahead < std::size_t(end)) {
            prefetchRow(current + std::size_t(nb[2 * ahead]) * k, k);
            prefetchRow(current + std::size_t(nb[2 * ahead + 1]) * k, k);
        }
        float* dst = next + (std::size_t(v) + 1) * k;
        const float* self = current + (std::size_t(v) + 1) * k;
        const float* minus = current + std::size_t(nb[2 * std::size_t(v)]) * k;
        const float* plus = current + std::size_t(nb[2 * std::size_t(v) + 1]) * k;
        for (std::size_t j = 0; j < vectors; ++j) {
            const std::size_t o = j * kCrfLanes;
            const __m256 sum = _mm256_add_ps(_mm256_loadu_ps(minus + o), _mm256_loadu_ps(plus + o));
            _mm256_storeu_ps(dst + o, _mm256_fmadd_ps(sum, half, _mm256_loadu_ps(self + o)));
        }
        if (tail) {
            const std::size_t o = vectors * kCrfLanes;
            const __m128 sum = _mm_add_ps(_mm_load_ps(minus + o), _mm_load_ps(plus + o));
            _mm_store_ps(dst + o, _mm_fmadd_ps(sum, _mm256_castps256_ps128(half),
                                               _mm_load_ps(self + o)));
        }
    }
}

template <int V, bool Tail>
PRIMAPS_AVX2 void sliceAvx2(const LatticeTables& t, const float* values, float* out,
                            std::size_t k, int begin, int end, float alpha,
                            const float* postScale, bool accumulate, std::size_t prefetch)
{
    const std::size_t vectors = vectorCount<V>(k);
    const bool tail = hasTail<V, Tail>(k);
    const std::size_t d1 = std::size_t(t.d1);
    const std::size_t last = std::size_t(end) * d1;
    for (int p = begin; p < end; ++p) {
        const std::size_t base = std::size_t(p) * d1;
        const __m256 scale = _mm256_set1_ps(postScale ? alpha * postScale[p] : alpha);
        float* dst = out + std::size_t(p) * k;
        for (std::size_t chunk = 0; chunk < std::max<std::size_t>(vectors, 1);
             chunk += kMaxRegisters) {
            const std::size_t n = vectors > chunk ? std::min(kMaxRegisters, vectors - chunk) : 0;
            const bool withTail = tail && chunk + kMaxRegisters >= vectors;
            __m256 acc[kMaxRegisters];
            __m128 accTail = _mm_setzero_ps();
            for (std::size_t j = 0; j < n; ++j)
                acc[j] = _mm256_setzero_ps();
            for (std::size_t r = 0; r < d1; ++r) {
                const std::size_t e = base + r;
                if (chunk == 0 && prefetch && e + prefetch < last)
                    prefetchRow(values + std::size_t(t.pointVertex[e + prefetch]) * k, k);
                const __m256 w = _mm256_set1_ps(t.pointWeight[e]);
                const float* src = values + std::size_t(t.pointVertex[e]) * k + chunk * kCrfLanes;
                for (std::size_t j = 0; j < n; ++j)
                    acc[j] = _mm256_fmadd_ps(w, _mm256_loadu_ps(src + j * kCrfLanes), acc[j]);
                if (withTail)
                    accTail = _mm_fmadd_ps(_mm256_castps256_ps128(w),
                                           _mm_load_ps(src + n * kCrfLanes), accTail);
            }
            float* o = dst + chunk * kCrfLanes;
            for (std::size_t j = 0; j < n; ++j) {
                const __m256 r = accumulate
                                     ? _mm256_fmadd_ps(acc[j], scale,
                                                       _mm256_loadu_ps(o + j * kCrfLanes))
                                     : _mm256_mul_ps(acc[j], scale);
                _mm256_storeu_ps(o + j * kCrfLanes, r);
            }
            if (withTail) {
                const __m128 s4 = _mm256_castps256_ps128(scale);
                float* ot = o + n * kCrfLanes;
                _mm_store_ps(ot, accumulate ? _mm_fmadd_ps(accTail, s4, _mm_load_ps(ot))
                                            : _mm_mul_ps(accTail, s4));
            }
        }
    }
}

template <int V, bool Tail>
PRIMAPS_AVX2 void matrixAvx2(const std::int32_t* rowStart, const std::int32_t* column,
                             const float* weight, const float* in, float* out, std::size_t k,
                             int begin, int end, bool accumulate)
{
    const std::size_t vectors = vectorCount<V>(k);
    const bool tail = hasTail<V, Tail>(k);
    for (int i = begin; i < end; ++i) {
        float* dst = out + std::size_t(i) * k;
        for (std::size_t chunk = 0; chunk < std::max<std::size_t>(vectors, 1);
             chunk += kMaxRegisters) {
            const std::size_t n = vectors > chunk ? std::min(kMaxRegisters, vectors - chunk) : 0;
            const bool withTail = tail && chunk + kMaxRegisters >= vectors;
            __m256 acc[kMaxRegisters];
            __m128 accTail = _mm_setzero_ps();
            for (std::size_t j = 0; j < n; ++j)
                acc[j] = _mm256_setzero_ps();
            for (std::int32_t e = rowStart[i]; e < rowStart[i + 1]; ++e) {
                const __m256 w = _mm256_set1_ps(weight[e]);
                const float* src = in + std::size_t(column[e]) * k + chunk * kCrfLanes;
                for (std::size_t j = 0; j < n; ++j)
                    acc[j] = _mm256_fmadd_ps(w, _mm256_loadu_ps(src + j * kCrfLanes), acc[j]);
                if (withTail)
                    accTail = _mm_fmadd_ps(_mm256_castps256_ps128(w),
                                           _mm_load_ps(src + n * kCrfLanes), accTail);
            }
            float* o = dst + chunk * kCrfLanes;
            for (std::size_t j = 0; j < n; ++j)
                _mm256_storeu_ps(o + j * kCrfLanes,
                                 accumulate ? _mm256_add_ps(acc[j], _mm256_loadu_ps(o + j * kCrfLanes))
                                            : acc[j]);
            if (withTail) {
                float* ot = o + n * kCrfLanes;
                _mm_store_ps(ot, accumulate ? _mm_add_ps(accTail, _mm_load_ps(ot)) : accTail);
            }
        }
    }
}

// expInRange() on eight lanes, the same polynomial.
PRIMAPS_AVX2 inline __m256 exp256(__m256 x)
{
    const __m256 t = _mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f));
    const __m256 n = _mm256_round_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m256 f = _mm256_sub_ps(t, n);
    __m256 p = _mm256_set1_ps(1.5403530393381609e-4f);
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.3333558146428443e-3f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(9.6181291076284772e-3f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(5.5504108664821580e-2f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(2.4022650695910071e-1f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(6.9314718055994531e-1f));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
    const __m256i bits =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

PRIMAPS_AVX2 inline float horizontalMax(__m256 x)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

PRIMAPS_AVX2 inline float horizontalSum(__m256 x)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// Register j of a row at `p`: eight floats, or for the half register of a row
// with a tail, four (the upper lanes read as zero and are never stored).
template <bool Half> PRIMAPS_AVX2 inline __m256 loadLanes(const float* p)
{
    if constexpr (Half)
        return _mm256_insertf128_ps(_mm256_setzero_ps(), _mm_load_ps(p), 0);
    else
        return _mm256_loadu_ps(p);
}

template <bool Half> PRIMAPS_AVX2 inline void storeLanes(float* p, __m256 x)
{
    if constexpr (Half)
        _mm_store_ps(p, _mm256_castps256_ps128(x));
    else
        _mm256_storeu_ps(p, x);
}

// The lanes of register `j` that hold labels (all ones) and those that hold
// padding (zero), for rows of `labels` labels.
PRIMAPS_AVX2 inline __m256 labelMask(std::size_t labels, std::size_t j)
{
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i first = _mm256_set1_epi32(int(labels) - int(j * kCrfLanes));
    return _mm256_castsi256_ps(_mm256_cmpgt_epi32(first, lane));
}

// One row at a time. For up to 64 labels (V > 0) the row stays in registers:
// V full registers and, with T, a half one. Lanes past `labels` are -infinity
// before the exponential and zero after it.
template <int V, bool T>
PRIMAPS_AVX2 void meanFieldAvx2(float* q, const float* message, const float* unary,
                                std::size_t labels, std::size_t stride, int begin, int end)
{
    const __m256 minusInf = _mm256_set1_ps(-__builtin_inff());
    const __m256 floor = _mm256_set1_ps(kMinExponent);
    if constexpr (V == 0 && !T) {
        // Many labels: three passes over the row in memory, whole registers and
        // a half one for a stride of 4 mod 8.
        const std::size_t full = stride / kCrfLanes;
        const bool half = stride % kCrfLanes != 0;
        const std::size_t count = full + (half ? 1 : 0);
        for (int i = begin; i < end; ++i) {
            const std::size_t o = std::size_t(i) * stride;
            __m256 top = minusInf;
            for (std::size_t j = 0; j < count; ++j) {
                const std::size_t at = o + j * kCrfLanes;
                const bool isHalf = j == full;
                __m256 x = _mm256_sub_ps(isHalf ? loadLanes<true>(message + at)
                                                : loadLanes<false>(message + at),
                                         isHalf ? loadLanes<true>(unary + at)
                                                : loadLanes<false>(unary + at));
                x = _mm256_blendv_ps(minusInf, x, labelMask(labels, j));
                top = _mm256_max_ps(top, x);
                isHalf ? storeLanes<true>(q + at, x) : storeLanes<false>(q + at, x);
            }
            const __m256 shift = _mm256_set1_ps(horizontalMax(top));
            __m256 sum = _mm256_setzero_ps();
            for (std::size_t j = 0; j < count; ++j) {
                const std::size_t at = o + j * kCrfLanes;
                const bool isHalf = j == full;
                __m256 e = isHalf ? loadLanes<true>(q + at) : loadLanes<false>(q + at);
                e = exp256(_mm256_max_ps(_mm256_sub_ps(e, shift), floor));
                e = _mm256_and_ps(e, labelMask(labels, j));
                sum = _mm256_add_ps(sum, e);
                isHalf ? storeLanes<true>(q + at, e) : storeLanes<false>(q + at, e);
            }
            const __m256 inv = _mm256_set1_ps(1.0f / horizontalSum(sum));
            for (std::size_t j = 0; j < count; ++j) {
                const std::size_t at = o + j * kCrfLanes;
                if (j == full)
                    storeLanes<true>(q + at, _mm256_mul_ps(loadLanes<true>(q + at), inv));
                else
                    storeLanes<false>(q + at, _mm256_mul_ps(loadLanes<false>(q + at), inv));
            }
        }
        return;
    } else {
        constexpr std::size_t R = std::size_t(V) + (T ? 1 : 0);
        __m256 keep[R];
        for (std::size_t j = 0; j < R; ++j)
            keep[j] = labelMask(labels, j);
        for (int i = begin; i < end; ++i) {
            const std::size_t o = std::size_t(i) * stride;
            __m256 x[R];
            __m256 top = minusInf;
            for (std::size_t j = 0; j < std::size_t(V); ++j)
                x[j] = _mm256_sub_ps(loadLanes<false>(message + o + j * kCrfLanes),
                                     loadLanes<false>(unary + o + j * kCrfLanes));
            if constexpr (T)
                x[V] = _mm256_sub_ps(loadLanes<true>(message + o + V * kCrfLanes),
                                     loadLanes<true>(unary + o + V * kCrfLanes));
            for (std::size_t j = 0; j < R; ++j) {
                x[j] = _mm256_blendv_ps(minusInf, x[j], keep[j]);
                top = _mm256_max_ps(top, x[j]);
            }
            const __m256 shift = _mm256_set1_ps(horizontalMax(top));
            __m256 sum = _mm256_setzero_ps();
            for (std::size_t j = 0; j < R; ++j) {
                x[j] = exp256(_mm256_max_ps(_mm256_sub_ps(x[j], shift), floor));
                x[j] = _mm256_and_ps(x[j], keep[j]);
                sum = _mm256_add_ps(sum, x[j]);
            }
            const __m256 inv = _mm256_set1_ps(1.0f / horizontalSum(sum));
            for (std::size_t j = 0; j < std::size_t(V); ++j)
                storeLanes<false>(q + o + j * kCrfLanes, _mm256_mul_ps(x[j], inv));
            if constexpr (T)
                storeLanes<true>(q + o + V * kCrfLanes, _mm256_mul_ps(x[V], inv));
        }
    }
}

// Runs CALL with the constants V (full registers per row) and T (a 128-bit
// tail) set for rows of up to 64 labels (the row then stays in registers), else
// with V = 0 (counts at run time).
#define PRIMAPS_BY_QUADS(k, ...)                                                                    \
    switch ((k) / 4) {                                                                            \
    case 1: { constexpr int V = 0; constexpr bool T = true; __VA_ARGS__; } break;                        \
    case 2: { constexpr int V = 1; constexpr bool T = false; __VA_ARGS__; } break;                       \
    case 3: { constexpr int V = 1; constexpr bool T = true; __VA_ARGS__; } break;                        \
    case 4: { constexpr int V = 2; constexpr bool T = false; __VA_ARGS__; } break;                       \
    case 5: { constexpr int V = 2; constexpr bool T = true; __VA_ARGS__; } break;                        \
    case 6: { constexpr int V = 3; constexpr bool T = false; __VA_ARGS__; } break;                       \
    case 7: { constexpr int V = 3; constexpr bool T = true; __VA_ARGS__; } break;                        \
    case 8: { constexpr int V = 4; constexpr bool T = false; __VA_ARGS__; } break;                       \
    case 9: { constexpr int V = 4; constexpr bool T = true; __VA_ARGS__; } break;                        \
    case 10: { constexpr int V = 5; constexpr bool T = false; __VA_ARGS__; } break;                      \
    case 11: { constexpr int V = 5; constexpr bool T = true; __VA_ARGS__; } break;                       \
    case 12: { constexpr int V = 6; constexpr bool T = false; __VA_ARGS__; } break;                      \
    case 13: { constexpr int V = 6; constexpr bool T = true; __VA_ARGS__; } break;                       \
    case 14: { constexpr int V = 7; constexpr bool T = false; __VA_ARGS__; } break;                      \
    case 15: { constexpr int V = 7; constexpr bool T = true; __VA_ARGS__; } break;                       \
    case 16: { constexpr int V = 8; constexpr bool T = false; __VA_ARGS__; } break;                      \
    default: { constexpr int V = 0; constexpr bool T = false; __VA_ARGS__; } break;                      \
    }

#endif

// The AVX2 kernels need rows of whole quads on 16-byte boundaries.
bool useVectors(CrfKernel kernel, std::size_t k, std::initializer_list<const float*> rows)
{
    if (kernel != CrfKernel::Best || !crfKernelsVectorised() || k % 4 != 0)
        return false;
    for (const float* p : rows)
        if (reinterpret_cast<std::uintptr_t>(p) % 16 != 0)
            return false;
    return true;
}

} // namespace

bool crfKernelsVectorised()
{
#ifdef PRIMAPS_CRF_AVX2
    return cpuHasAvx2Fma();
#else
    return false;
#endif
}

CrfKernel preferredCrfKernel()
{
    return preferred.load(std::memory_order_relaxed);
}

void setPreferredCrfKernel(CrfKernel kernel)
{
    preferred.store(kernel, std::memory_order_relaxed);
}

std::size_t crfRowStride(std::size_t labels, CrfKernel kernel)
{
    if (kernel == CrfKernel::Best && crfKernelsVectorised()) {
        const std::size_t quantum = crfRowQuantum();
        return (labels + quantum - 1) / quantum * quantum;
    }
    return labels;
}

std::size_t crfRowQuantum()
{
    return rowQuantum.load(std::memory_order_relaxed);
}

void setCrfRowQuantum(std::size_t quantum)
{
    if (quantum == 4 || quantum == kCrfLanes)
        rowQuantum.store(quantum, std::memory_order_relaxed);
}

void AlignedFloats::resize(std::size_t n)
{
    // 16 spare floats: room to move data() to the next 64-byte boundary.
    if (storage_.size() < n + 16) {
        storage_.resize(n + 16);
        const auto address = reinterpret_cast<std::uintptr_t>(storage_.data());
        aligned_ = storage_.data() + ((64 - address % 64) % 64) / sizeof(float);
    }
    size_ = n;
}

bool crfFusedRegions()
{
    return fusedRegions.load(std::memory_order_relaxed);
}

void setCrfFusedRegions(bool fused)
{
    fusedRegions.store(fused, std::memory_order_relaxed);
}

void splatVertices(const LatticeTables& t, const float* in, float* values, std::size_t k,
                   int begin, int end, const float* preScale, GatherHint hint, CrfKernel kernel)
{
#ifdef PRIMAPS_CRF_AVX2
    if (useVectors(kernel, k, {in, values})) {
        PRIMAPS_BY_QUADS(k, splatAvx2<V, T>(t, in, values, k, begin, end, preScale, hint.prefetch))
        return;
    }
#endif
    PRIMAPS_BY_CHANNELS(k, splatPortable<F>(t, in, values, k, begin, end, preScale, hint.prefetch))
}

void blurVertices(const std::int32_t* neighbours, const float* current, float* next,
                  std::size_t k, int begin, int end, GatherHint hint, CrfKernel kernel)
{
#ifdef PRIMAPS_CRF_AVX2
    if (useVectors(kernel, k, {current, next})) {
        PRIMAPS_BY_QUADS(k, blurAvx2<V, T>(neighbours, current, next, k, begin, end, hint.prefetch))
        return;
    }
#endif
    PRIMAPS_BY_CHANNELS(k, blurPortable<F>(neighbours, current, next, k, begin, end, hint.prefetch))
}

void slicePoints(const LatticeTables& t, const float* values, float* out, std::size_t k,
                 int begin, int end, float alpha, const float* postScale, bool accumulate,
                 GatherHint hint, CrfKernel kernel)
{
#ifdef PRIMAPS_CRF_AVX2
    if (useVectors(kernel, k, {values, out})) {
        PRIMAPS_BY_QUADS(k, sliceAvx2<V, T>(t, values, out, k, begin, end, alpha, postScale,
                                           accumulate, hint.prefetch))
        return;
    }
#endif
    PRIMAPS_BY_CHANNELS(k, slicePortable<F>(t, values, out, k, begin, end, alpha, postScale,
                                            accumulate, hint.prefetch))
}

void matrixRows(const std::int32_t* rowStart, const std::int32_t* column, const float* weight,
                const float* in, float* out, std::size_t k, int begin, int end, bool accumulate,
                CrfKernel kernel)
{
#ifdef PRIMAPS_CRF_AVX2
    if (useVectors(kernel, k, {in, out})) {
        PRIMAPS_BY_QUADS(k, matrixAvx2<V, T>(rowStart, column, weight, in, out, k, begin, end,
                                             accumulate))
        return;
    }
#endif
    PRIMAPS_BY_CHANNELS(k, matrixPortable<F>(rowStart, column, weight, in, out, k, begin, end,
                                             accumulate))
}

void meanFieldRows(float* q, const float* message, const float* unary, std::size_t labels,
                   std::size_t stride, int begin, int end, CrfKernel kernel)
{
#ifdef PRIMAPS_CRF_AVX2
    if (labels >= 1 && useVectors(kernel, stride, {q, message, unary}) &&
        stride - labels < kCrfLanes) {
        PRIMAPS_BY_QUADS(stride, meanFieldAvx2<V, T>(q, message, unary, labels, stride, begin, end))
        return;
    }
#endif
    meanFieldPortable(q, message, unary, labels, stride, begin, end);
}

void expInPlace(float* PRIMAPS_RESTRICT values, std::size_t count)
{
    // Two flat loops over a contiguous array: the form GCC reliably vectorises.
    // The clamping is a loop of its own: inside expInRange() it makes GCC split
    // the loop into branches that it then refuses to vectorise.
    for (std::size_t j = 0; j < count; ++j)
        values[j] = std::max(values[j], kMinExponent);
    for (std::size_t j = 0; j < count; ++j)
        values[j] = expInRange(values[j]);
}

} // namespace primaps::detail
