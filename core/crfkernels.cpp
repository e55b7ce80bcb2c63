// SPDX-License-Identifier: MIT
#include "crfkernels_p.h"

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

template <int V> inline std::size_t vectorCount(std::size_t k)
{
    return V > 0 ? std::size_t(V) : k / kCrfLanes;
}

// Accumulators in registers for V <= 8; beyond that the row is processed in
// chunks of eight registers.
constexpr std::size_t kMaxRegisters = 8;

template <int V>
PRIMAPS_AVX2 void splatAvx2(const LatticeTables& t, const float* in, float* values,
                            std::size_t k, int begin, int end, const float* preScale,
                            std::size_t prefetch)
{
    const std::size_t vectors = vectorCount<V>(k);
    const std::size_t last = std::size_t(t.splatStart[std::size_t(end)]);
    for (int v = begin; v < end; ++v) {
        const std::size_t first = std::size_t(t.splatStart[std::size_t(v)]);
        const std::size_t stop = std::size_t(t.splatStart[std::size_t(v) + 1]);
        float* dst = values + (std::size_t(v) + 1) * k;
        for (std::size_t chunk = 0; chunk < vectors; chunk += kMaxRegisters) {
            const std::size_t n = std::min(kMaxRegisters, vectors - chunk);
            __m256 acc[kMaxRegisters];
            for (std::size_t j = 0; j < n; ++j)
                acc[j] = _mm256_setzero_ps();
            for (std::size_t s = first; s < stop; ++s) {
                if (chunk == 0 && prefetch && s + prefetch < last)
                    prefetchRow(in + std::size_t(t.splatPoint[s + prefetch]) * k, k);
                const std::size_t p = std::size_t(t.splatPoint[s]);
                const __m256 w = _mm256_set1_ps(preScale ? t.splatWeight[s] * preScale[p]
                                                         : t.splatWeight[s]);
                const float* src = in + p * k + chunk * kCrfLanes;
                for (std::size_t j = 0; j < n; ++j)
                    acc[j] = _mm256_fmadd_ps(w, _mm256_load_ps(src + j * kCrfLanes), acc[j]);
            }
            for (std::size_t j = 0; j < n; ++j)
                _mm256_store_ps(dst + (chunk + j) * kCrfLanes, acc[j]);
        }
    }
}

template <int V>
PRIMAPS_AVX2 void blurAvx2(const std::int32_t* nb, const float* current, float* next,
                           std::size_t k, int begin, int end, std::size_t prefetch)
{
    const std::size_t vectors = vectorCount<V>(k);
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
            const __m256 sum = _mm256_add_ps(_mm256_load_ps(minus + o), _mm256_load_ps(plus + o));
            _mm256_store_ps(dst + o, _mm256_fmadd_ps(sum, half, _mm256_load_ps(self + o)));
        }
    }
}

template <int V>
PRIMAPS_AVX2 void sliceAvx2(const LatticeTables& t, const float* values, float* out,
                            std::size_t k, int begin, int end, float alpha,
                            const float* postScale, bool accumulate, std::size_t prefetch)
{
    const std::size_t vectors = vectorCount<V>(k);
    const std::size_t d1 = std::size_t(t.d1);
    const std::size_t last = std::size_t(end) * d1;
    for (int p = begin; p < end; ++p) {
        const std::size_t base = std::size_t(p) * d1;
        const __m256 scale = _mm256_set1_ps(postScale ? alpha * postScale[p] : alpha);
        float* dst = out + std::size_t(p) * k;
        for (std::size_t chunk = 0; chunk < vectors; chunk += kMaxRegisters) {
            const std::size_t n = std::min(kMaxRegisters, vectors - chunk);
            __m256 acc[kMaxRegisters];
            for (std::size_t j = 0; j < n; ++j)
                acc[j] = _mm256_setzero_ps();
            for (std::size_t r = 0; r < d1; ++r) {
                const std::size_t e = base + r;
                if (chunk == 0 && prefetch && e + prefetch < last)
                    prefetchRow(values + std::size_t(t.pointVertex[e + prefetch]) * k, k);
                const __m256 w = _mm256_set1_ps(t.pointWeight[e]);
                const float* src =
                    values + std::size_t(t.pointVertex[e]) * k + chunk * kCrfLanes;
                for (std::size_t j = 0; j < n; ++j)
                    acc[j] = _mm256_fmadd_ps(w, _mm256_load_ps(src + j * kCrfLanes), acc[j]);
            }
            float* o = dst + chunk * kCrfLanes;
            for (std::size_t j = 0; j < n; ++j) {
                const __m256 r = accumulate
                                     ? _mm256_fmadd_ps(acc[j], scale,
                                                       _mm256_load_ps(o + j * kCrfLanes))
                                     : _mm256_mul_ps(acc[j], scale);
                _mm256_store_ps(o + j * kCrfLanes, r);
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

// One row at a time, all of it in registers for up to 64 labels (V <= 8); the
// lanes past `labels` are -infinity before the exponential and zero after it.
template <int V>
PRIMAPS_AVX2 void meanFieldAvx2(float* q, const float* message, const float* unary,
                                std::size_t labels, std::size_t stride, int begin, int end)
{
    constexpr std::size_t kRows = V > 0 ? std::size_t(V) : 1;
    const std::size_t vectors = V > 0 ? std::size_t(V) : stride / kCrfLanes;
    // Lane mask of the last register.
    const std::size_t tail = labels - (vectors - 1) * kCrfLanes;
    alignas(32) std::int32_t laneMask[kCrfLanes];
    for (std::size_t l = 0; l < kCrfLanes; ++l)
        laneMask[l] = l < tail ? -1 : 0;
    const __m256 keep = _mm256_castsi256_ps(_mm256_load_si256((const __m256i*)laneMask));
    const __m256 minusInf = _mm256_set1_ps(-__builtin_inff());
    const __m256 floor = _mm256_set1_ps(kMinExponent);
    if constexpr (V == 0) {
        // Many labels: three passes over the row in memory.
        for (int i = begin; i < end; ++i) {
            const std::size_t o = std::size_t(i) * stride;
            __m256 top = minusInf;
            for (std::size_t j = 0; j < vectors; ++j) {
                __m256 x = _mm256_sub_ps(_mm256_load_ps(message + o + j * 8),
                                         _mm256_load_ps(unary + o + j * 8));
                if (j + 1 == vectors)
                    x = _mm256_blendv_ps(minusInf, x, keep);
                _mm256_store_ps(q + o + j * 8, x);
                top = _mm256_max_ps(top, x);
            }
            const __m256 shift = _mm256_set1_ps(horizontalMax(top));
            __m256 sum = _mm256_setzero_ps();
            for (std::size_t j = 0; j < vectors; ++j) {
                __m256 e = exp256(_mm256_max_ps(_mm256_sub_ps(_mm256_load_ps(q + o + j * 8), shift),
                                                floor));
                if (j + 1 == vectors)
                    e = _mm256_and_ps(e, keep);
                _mm256_store_ps(q + o + j * 8, e);
                sum = _mm256_add_ps(sum, e);
            }
            const __m256 inv = _mm256_set1_ps(1.0f / horizontalSum(sum));
            for (std::size_t j = 0; j < vectors; ++j)
                _mm256_store_ps(q + o + j * 8, _mm256_mul_ps(_mm256_load_ps(q + o + j * 8), inv));
        }
        return;
    }
    for (int i = begin; i < end; ++i) {
        const std::size_t o = std::size_t(i) * stride;
        __m256 x[kRows];
        __m256 top = minusInf;
        for (std::size_t j = 0; j < kRows; ++j) {
            x[j] = _mm256_sub_ps(_mm256_load_ps(message + o + j * 8),
                                 _mm256_load_ps(unary + o + j * 8));
            if (j + 1 == kRows)
                x[j] = _mm256_blendv_ps(minusInf, x[j], keep);
            top = _mm256_max_ps(top, x[j]);
        }
        const __m256 shift = _mm256_set1_ps(horizontalMax(top));
        __m256 sum = _mm256_setzero_ps();
        for (std::size_t j = 0; j < kRows; ++j) {
            x[j] = exp256(_mm256_max_ps(_mm256_sub_ps(x[j], shift), floor));
            if (j + 1 == kRows)
                x[j] = _mm256_and_ps(x[j], keep);
            sum = _mm256_add_ps(sum, x[j]);
        }
        const __m256 inv = _mm256_set1_ps(1.0f / horizontalSum(sum));
        for (std::size_t j = 0; j < kRows; ++j)
            _mm256_store_ps(q + o + j * 8, _mm256_mul_ps(x[j], inv));
    }
}

// Runs CALL with the constant V set to the registers per row when it is 1..8
// (the row stays in registers), else to 0.
#define PRIMAPS_BY_VECTORS(k, CALL)                                                               \
    switch ((k) / kCrfLanes) {                                                                    \
    case 1: { constexpr int V = 1; CALL; } break;                                                 \
    case 2: { constexpr int V = 2; CALL; } break;                                                 \
    case 3: { constexpr int V = 3; CALL; } break;                                                 \
    case 4: { constexpr int V = 4; CALL; } break;                                                 \
    case 5: { constexpr int V = 5; CALL; } break;                                                 \
    case 6: { constexpr int V = 6; CALL; } break;                                                 \
    case 7: { constexpr int V = 7; CALL; } break;                                                 \
    case 8: { constexpr int V = 8; CALL; } break;                                                 \
    default: { constexpr int V = 0; CALL; } break;                                                \
    }

#endif

// The AVX2 kernels need rows of whole registers on 32-byte boundaries.
bool useVectors(CrfKernel kernel, std::size_t k, std::initializer_list<const float*> rows)
{
    if (kernel != CrfKernel::Best || !crfKernelsVectorised() || k % kCrfLanes != 0)
        return false;
    for (const float* p : rows)
        if (reinterpret_cast<std::uintptr_t>(p) % 32 != 0)
            return false;
    return true;
}

} // namespace

bool crfKernelsVectorised()
{
#ifdef PRIMAPS_CRF_AVX2
    static const bool available = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return available;
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
    if (kernel == CrfKernel::Best && crfKernelsVectorised())
        return (labels + kCrfLanes - 1) / kCrfLanes * kCrfLanes;
    return labels;
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

void splatVertices(const LatticeTables& t, const float* in, float* values, std::size_t k,
                   int begin, int end, const float* preScale, GatherHint hint, CrfKernel kernel)
{
#ifdef PRIMAPS_CRF_AVX2
    if (useVectors(kernel, k, {in, values})) {
        PRIMAPS_BY_VECTORS(k, splatAvx2<V>(t, in, values, k, begin, end, preScale, hint.prefetch))
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
        PRIMAPS_BY_VECTORS(k, blurAvx2<V>(neighbours, current, next, k, begin, end, hint.prefetch))
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
        PRIMAPS_BY_VECTORS(k, sliceAvx2<V>(t, values, out, k, begin, end, alpha, postScale,
                                           accumulate, hint.prefetch))
        return;
    }
#endif
    PRIMAPS_BY_CHANNELS(k, slicePortable<F>(t, values, out, k, begin, end, alpha, postScale,
                                            accumulate, hint.prefetch))
}

void meanFieldRows(float* q, const float* message, const float* unary, std::size_t labels,
                   std::size_t stride, int begin, int end, CrfKernel kernel)
{
#ifdef PRIMAPS_CRF_AVX2
    if (labels >= 1 && useVectors(kernel, stride, {q, message, unary}) &&
        stride - labels < kCrfLanes) {
        PRIMAPS_BY_VECTORS(stride, meanFieldAvx2<V>(q, message, unary, labels, stride, begin, end))
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
