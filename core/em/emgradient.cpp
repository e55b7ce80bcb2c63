// SPDX-License-Identifier: MIT
#include "em/emgradient_p.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>

// The per-pixel loops run over the K classes; compiled twice (AVX2 and the
// baseline) and picked at load time. Neither clone enables FMA, so both round
// every operation the same way and give the same bits.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define PRIMAPS_EM_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define PRIMAPS_EM_CLONES
#endif

namespace primaps::detail {

namespace {

// One axis of upsample_bilinear2d with align_corners = false: the source
// position of output pixel o is (o + 0.5) * in / out - 0.5, clamped at 0.
struct BilinearAxis
{
    std::vector<int> first, second;
    std::vector<float> firstWeight, secondWeight;
};

BilinearAxis bilinearAxis(int in, int out)
{
    BilinearAxis axis;
    axis.first.resize(std::size_t(out));
    axis.second.resize(std::size_t(out));
    axis.firstWeight.resize(std::size_t(out));
    axis.secondWeight.resize(std::size_t(out));
    const float scale = float(in) / float(out);
    for (int o = 0; o < out; ++o) {
        const float source = std::max(float(scale * (o + 0.5) - 0.5), 0.0f);
        const int i0 = std::min(int(source), in - 1);
        const float lambda = std::min(std::max(source - float(i0), 0.0f), 1.0f);
        axis.first[std::size_t(o)] = i0;
        axis.second[std::size_t(o)] = i0 < in - 1 ? i0 + 1 : i0;
        axis.secondWeight[std::size_t(o)] = lambda;
        axis.firstWeight[std::size_t(o)] = 1.0f - lambda;
    }
    return axis;
}

// Probabilities below exp(-69) ~ 1e-30 change nothing here; the floor keeps
// their products with interpolation weights out of the slow denormal range.
constexpr float kLowestExponent = -69.0f;

// e^x for x <= 0 (the softmax's shifted logits) in plain arithmetic that the
// compiler vectorises: x = n ln 2 + r with |r| <= ln 2 / 2 (ln 2 split in two
// parts so that r is exact), e^r from its Taylor series to r^7 / 7!, and 2^n
// written into the exponent bits. Relative error about 1e-7.
inline float expNonPositive(float x)
{
    x = x < kLowestExponent ? kLowestExponent : x; // std::max, without a branch
    const float roundingShift = 12582912.0f; // 1.5 * 2^23: adding it rounds to an integer
    const float n = (x * 1.44269504088896341f + roundingShift) - roundingShift;
    const float r = (x - n * 0.693145751953125f) - n * 1.42860682030941723212e-6f;
    float e = 1.0f / 5040.0f;
    e = e * r + 1.0f / 720.0f;
    e = e * r + 1.0f / 120.0f;
    e = e * r + 1.0f / 24.0f;
    e = e * r + 1.0f / 6.0f;
    e = e * r + 0.5f;
    e = e * r + 1.0f;
    e = e * r + 1.0f;
    const std::int32_t exponent = (std::int32_t(n) + 127) << 23;
    float power;
    std::memcpy(&power, &exponent, sizeof power);
    return e * power;
}

// The softmax, loss terms and adjoint of each label row. The row's K x labelWidth
// logits are planar, so the per-pixel maximum, exponential and sum run across
// pixels in vector lanes, each lane going through the classes in order: every
// value is rounded as in a pixel-by-pixel loop over the classes.
PRIMAPS_EM_CLONES void accumulatePixels(const float* __restrict rows, int classes, int width,
                                        const std::int32_t* target, const BilinearAxis& ay,
                                        const BilinearAxis& ax, EmImageTerms& terms)
{
    const int labelHeight = int(ay.first.size()), labelWidth = int(ax.first.size());
    const std::size_t planeSize = std::size_t(terms.positions) * classes;
    const std::size_t rowSize = std::size_t(classes) * labelWidth;
    const std::size_t columns = std::size_t(labelWidth), count = std::size_t(classes);
    std::vector<float> logitBuffer(rowSize), probabilityBuffer(rowSize), peakBuffer(columns),
        sumBuffer(columns), inverseBuffer(columns), pixelBuffer(count), rowConfidenceBuffer(count);
    float* __restrict z = logitBuffer.data();
    float* __restrict p = probabilityBuffer.data();
    float* __restrict peak = peakBuffer.data();
    float* __restrict sum = sumBuffer.data();
    float* __restrict inverse = inverseBuffer.data();
    float* __restrict q = pixelBuffer.data();
    float* __restrict rowConfidence = rowConfidenceBuffer.data();
    for (int y = 0; y < labelHeight; ++y) {
        const float* top = rows + std::size_t(ay.first[y]) * rowSize;
        const float* bottom = rows + std::size_t(ay.second[y]) * rowSize;
        const float wy0 = ay.firstWeight[y], wy1 = ay.secondWeight[y];
        for (std::size_t i = 0; i < rowSize; ++i)
            z[i] = wy0 * top[i] + wy1 * bottom[i];
        for (int x = 0; x < labelWidth; ++x)
            peak[x] = z[x];
        for (int k = 1; k < classes; ++k) {
            const float* zk = z + std::size_t(k) * labelWidth;
            for (int x = 0; x < labelWidth; ++x)
                peak[x] = peak[x] < zk[x] ? zk[x] : peak[x]; // std::max(peak, z)
        }
        for (int k = 0; k < classes; ++k) {
            const float* zk = z + std::size_t(k) * labelWidth;
            float* pk = p + std::size_t(k) * labelWidth;
            for (int x = 0; x < labelWidth; ++x)
                pk[x] = expNonPositive(zk[x] - peak[x]);
        }
        std::fill(sum, sum + labelWidth, 0.0f);
        for (int k = 0; k < classes; ++k) {
            const float* pk = p + std::size_t(k) * labelWidth;
            for (int x = 0; x < labelWidth; ++x)
                sum[x] += pk[x];
        }
        for (int x = 0; x < labelWidth; ++x)
            inverse[x] = 1.0f / sum[x];
        for (int k = 0; k < classes; ++k) {
            float* pk = p + std::size_t(k) * labelWidth;
            for (int x = 0; x < labelWidth; ++x)
                pk[x] *= inverse[x];
        }
        std::fill(rowConfidence, rowConfidence + classes, 0.0f);
        for (int x = 0; x < labelWidth; ++x) {
            for (int k = 0; k < classes; ++k)
                q[k] = p[std::size_t(k) * labelWidth + x];
            for (int k = 0; k < classes; ++k)
                rowConfidence[k] += q[k];
            const int label = target[std::size_t(y) * labelWidth + x];
            if (label < 0)
                continue;
            terms.nll[std::size_t(label)] +=
                double(std::log(sum[x])) -
                double(z[std::size_t(label) * labelWidth + x] - peak[x]);
            q[label] -= 1.0f;
            // The adjoint of the interpolation: the pixel's (p - onehot) goes back
            // to its four feature positions with the weights it was read with.
            float* plane = terms.adjoints.data() +
                           std::size_t(terms.slotOfClass[std::size_t(label)]) * planeSize;
            const int columnsOf[2] = {ax.first[x], ax.second[x]};
            const float columnWeights[2] = {ax.firstWeight[x], ax.secondWeight[x]};
            const int rowsOf[2] = {ay.first[y], ay.second[y]};
            const float rowWeights[2] = {wy0, wy1};
            for (int i = 0; i < 2; ++i)
                for (int j = 0; j < 2; ++j) {
                    const float weight = rowWeights[i] * columnWeights[j];
                    float* __restrict out =
                        plane + (std::size_t(rowsOf[i]) * width + columnsOf[j]) * classes;
                    for (int k = 0; k < classes; ++k)
                        out[k] += weight * q[k];
                }
        }
        for (int k = 0; k < classes; ++k)
            terms.confidence[std::size_t(k)] += double(rowConfidence[k]);
    }
}

// Per feature row and class, the label width's values interpolated along x
// (rows[(r * classes + k) * labelWidth + x]), so that the passes over the label
// rows run along x, vectorised across pixels. The logit of class k at feature
// position i is logits[k * classStride + i * positionStride] (planar: P and 1;
// pixel-major: 1 and K).
PRIMAPS_EM_CLONES void interpolatePlanarRows(const float* __restrict logits, int classes,
                                             int height, int width, std::size_t classStride,
                                             std::size_t positionStride, const BilinearAxis& ax,
                                             float* __restrict rows)
{
    const int labelWidth = int(ax.first.size());
    const int* first = ax.first.data();
    const int* second = ax.second.data();
    const float* wa = ax.firstWeight.data();
    const float* wb = ax.secondWeight.data();
    for (int r = 0; r < height; ++r)
        for (int k = 0; k < classes; ++k) {
            const float* source =
                logits + std::size_t(k) * classStride + std::size_t(r) * width * positionStride;
            float* out = rows + (std::size_t(r) * classes + k) * labelWidth;
            for (int x = 0; x < labelWidth; ++x)
                out[x] = wa[x] * source[std::size_t(first[x]) * positionStride] +
                         wb[x] * source[std::size_t(second[x]) * positionStride];
        }
}

// The second half: each label row from its two feature rows, the running
// maximum over the classes kept per pixel (strictly greater: ties keep the
// lower class, as torch.argmax does).
PRIMAPS_EM_CLONES void argmaxRows(const float* __restrict rows, int classes,
                                  const BilinearAxis& ay, int labelWidth, float* __restrict best,
                                  std::int32_t* __restrict out)
{
    const int labelHeight = int(ay.first.size());
    const std::size_t rowSize = std::size_t(classes) * labelWidth;
    for (int y = 0; y < labelHeight; ++y) {
        const float* top = rows + std::size_t(ay.first[y]) * rowSize;
        const float* bottom = rows + std::size_t(ay.second[y]) * rowSize;
        const float w0 = ay.firstWeight[y], w1 = ay.secondWeight[y];
        std::int32_t* arg = out + std::size_t(y) * labelWidth;
        for (int x = 0; x < labelWidth; ++x) {
            best[x] = w0 * top[x] + w1 * bottom[x];
            arg[x] = 0;
        }
        for (int k = 1; k < classes; ++k) {
            const float* t = top + std::size_t(k) * labelWidth;
            const float* b = bottom + std::size_t(k) * labelWidth;
            for (int x = 0; x < labelWidth; ++x) {
                const float v = w0 * t[x] + w1 * b[x];
                const bool greater = v > best[x];
                best[x] = greater ? v : best[x];
                arg[x] = greater ? k : arg[x];
            }
        }
    }
}

} // namespace

void argmaxAtLabelResolution(const float* planarLogits, int classes, int height, int width,
                             int labelHeight, int labelWidth, std::int32_t* out)
{
    const BilinearAxis ay = bilinearAxis(height, labelHeight);
    const BilinearAxis ax = bilinearAxis(width, labelWidth);
    std::vector<float> rows(std::size_t(height) * classes * labelWidth);
    std::vector<float> best(static_cast<std::size_t>(labelWidth));
    interpolatePlanarRows(planarLogits, classes, height, width, std::size_t(height) * width, 1,
                          ax, rows.data());
    argmaxRows(rows.data(), classes, ay, labelWidth, best.data(), out);
}

void accumulateEmImage(const float* lowLogits, int classes, int height, int width,
                       const std::int32_t* target, int labelHeight, int labelWidth,
                       EmImageTerms& terms)
{
    terms.classes = classes;
    terms.positions = height * width;
    terms.confidence.assign(std::size_t(classes), 0.0);
    terms.nll.assign(std::size_t(classes), 0.0);
    terms.slotOfClass.assign(std::size_t(classes), -1);
    int slots = 0;
    const std::size_t labelPixels = std::size_t(labelHeight) * labelWidth;
    for (std::size_t i = 0; i < labelPixels; ++i)
        if (target[i] >= 0 && terms.slotOfClass[std::size_t(target[i])] < 0)
            terms.slotOfClass[std::size_t(target[i])] = slots++;
    terms.adjoints.assign(std::size_t(slots) * terms.positions * classes, 0.0f);

    const BilinearAxis ay = bilinearAxis(height, labelHeight);
    const BilinearAxis ax = bilinearAxis(width, labelWidth);
    std::vector<float> rows(std::size_t(height) * labelWidth * classes);
    interpolatePlanarRows(lowLogits, classes, height, width, 1, std::size_t(classes), ax,
                          rows.data());
    accumulatePixels(rows.data(), classes, width, target, ay, ax, terms);
}

void emLowResolutionGradient(const EmImageTerms& terms, const float* focal, double pixels,
                             float* out)
{
    const std::size_t planeSize = std::size_t(terms.positions) * terms.classes;
    std::fill(out, out + planeSize, 0.0f);
    for (int label = 0; label < terms.classes; ++label) {
        const int slot = terms.slotOfClass[std::size_t(label)];
        if (slot < 0)
            continue;
        const float scale = float(double(focal[label]) / pixels);
        const float* plane = terms.adjoints.data() + std::size_t(slot) * planeSize;
        for (std::size_t i = 0; i < planeSize; ++i)
            out[i] += scale * plane[i];
    }
}

} // namespace primaps::detail
