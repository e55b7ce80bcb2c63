// SPDX-License-Identifier: MIT
#include "primaps.h"

#include "blasthreads_p.h"
#include "eigen.h"
#include "error.h"

#include <algorithm>
#include <ATen/ATen.h>
#include <cmath>
#include <limits>
#include <opencv2/imgproc.hpp>

namespace primaps {

namespace {

// The two products of the covariance operator, written out rather than taken
// from BLAS: OpenBLAS threads every call of this size, and over the hundreds of
// small calls of one decomposition its thread hand-offs cost more than the
// arithmetic (4x slower with two threads on a busy machine, measured). Cloned
// for AVX+FMA with a portable fallback, selected by a feature test ("arch=..."
// clones are selected by CPU model and never run on AMD processors). Partial
// sums in fixed lanes vectorise without reassociating floating-point additions.

// t[r] = <rows[r], v> for the `count` rows of length c. 32 partial sums: four
// independent vector accumulators hide the latency of the fused multiply-adds.
__attribute__((target_clones("fma", "default"))) void projectRows(const float* __restrict rows,
                                                                  int count, int c,
                                                                  const float* __restrict v,
                                                                  float* __restrict t)
{
    for (int r = 0; r < count; ++r) {
        const float* __restrict row = rows + std::size_t(r) * c;
        float acc[32] = {};
        int k = 0;
        for (; k + 32 <= c; k += 32)
            for (int j = 0; j < 32; ++j)
                acc[j] += row[k + j] * v[k + j];
        for (int j = 8; j < 32; ++j)
            acc[j % 8] += acc[j];
        float sum =
            ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        for (; k < c; ++k)
            sum += row[k] * v[k];
        t[r] = sum;
    }
}

// out = scale * sum_r t[r] * rows[r].
__attribute__((target_clones("fma", "default"))) void
combineRows(const float* __restrict rows, int count, int c, const float* __restrict t, float scale,
            float* __restrict out)
{
    std::fill(out, out + c, 0.0f);
    for (int r = 0; r < count; ++r) {
        const float* __restrict row = rows + std::size_t(r) * c;
        const float w = t[r] * scale;
        for (int k = 0; k < c; ++k)
            out[k] += w * row[k];
    }
}

} // namespace

const char* toString(StopReason reason)
{
    switch (reason) {
    case StopReason::Running:
        return "running";
    case StopReason::Coverage:
        return "coverage";
    case StopReason::NothingPositive:
        return "nothing_positive";
    case StopReason::Stalled:
        return "stalled";
    case StopReason::IterationCap:
        return "iteration_cap";
    }
    return "unknown";
}

struct PrimapsDecomposer::Impl
{
    PrimapsTrace trace;
    int n = 0;               // positions
    int c = 0;               // channels
    at::Tensor centred;      // n x c float: features minus their global mean (rows = positions)
    at::Tensor normalised;   // c x n float: F.normalize(features, dim = 0)
    std::vector<float> rows; // the remaining rows of `centred`, gathered per iteration
    std::vector<unsigned char> remaining;
    int remainingCount = 0;
    std::vector<int> remainingHistory; // remaining count after each iteration

    float assignedFraction() const
    {
        // float32 like the reference's tensor division, so the 0.95 test agrees.
        return float(n - remainingCount) / float(n);
    }
};

PrimapsDecomposer::PrimapsDecomposer(const FeatureMap& features, const PrimapsParams& params)
    : d(std::make_unique<Impl>())
{
    if (features.empty() || features.channels < 1 || features.height < 1 || features.width < 1)
        throw Error("PriMaPs needs a non-empty feature map");
    if (features.values.size() != std::size_t(features.channels) * features.positions())
        throw Error("PriMaPs: feature map size does not match its dimensions");
    for (float v : features.values)
        if (!std::isfinite(v))
            throw Error("PriMaPs: the features contain NaN or infinite values");
    if (!(params.threshold > 0.0f && params.threshold <= 1.0f))
        throw Error("PriMaPs threshold must be in (0, 1], got " + std::to_string(params.threshold));
    if (!(params.coverage > 0.0f && params.coverage <= 1.0f))
        throw Error("PriMaPs coverage must be in (0, 1], got " + std::to_string(params.coverage));
    if (params.stallWindow < 2)
        throw Error("PriMaPs stall window must be at least 2");
    if (params.maxIterations < 1 || params.maxIterations > 254)
        throw Error("PriMaPs iteration cap must be in 1..254 (mask ids are 8-bit)");

    // The LibTorch work here is small; on the calling thread it does not keep
    // OpenMP workers spinning while OpenBLAS's threads do the heavy products.
    const detail::SerialAtenOps serial(true);
    d->trace.params = params;
    d->trace.channels = features.channels;
    d->trace.height = features.height;
    d->trace.width = features.width;
    d->c = features.channels;
    d->n = int(features.positions());

    // F.normalize(features, dim = 0) through LibTorch, so the similarities round
    // exactly as the reference's do; the input is only read.
    const at::Tensor raw =
        at::from_blob(const_cast<float*>(features.values.data()), {d->c, d->n}, at::kFloat);
    d->normalised = raw / raw.norm(2, {0}, true).clamp_min(1e-12);
    // Rows = positions, minus the global mean: a plain transposing loop is several
    // times faster than LibTorch's strided copy on one thread.
    d->centred = at::empty({d->n, d->c}, at::kFloat);
    {
        float* out = d->centred.data_ptr<float>();
        for (int k = 0; k < d->c; ++k) {
            const float* channel = features.channel(k);
            double total = 0;
            for (int i = 0; i < d->n; ++i)
                total += channel[i];
            const float mean = float(total / d->n);
            for (int i = 0; i < d->n; ++i)
                out[std::size_t(i) * d->c + k] = channel[i] - mean;
        }
    }
    d->remaining.assign(std::size_t(d->n), 1);
    d->remainingCount = d->n;
}

PrimapsDecomposer::~PrimapsDecomposer() = default;

bool PrimapsDecomposer::done() const
{
    return d->trace.stopReason != StopReason::Running;
}

const PrimapsTrace& PrimapsDecomposer::trace() const
{
    return d->trace;
}

const PrimapsTrace& PrimapsDecomposer::run()
{
    while (!done())
        step();
    return d->trace;
}

const PrimapsIteration* PrimapsDecomposer::step()
{
    Impl& s = *d;
    if (done())
        throw Error("PriMaPs: step() called after the decomposition stopped");
    const PrimapsParams& params = s.trace.params;
    const detail::SerialAtenOps serial(true);

    auto stop = [&](StopReason reason) -> const PrimapsIteration* {
        s.trace.stopReason = reason;
        s.trace.finalCoverage = s.assignedFraction();
        return nullptr;
    };
    if (!(s.assignedFraction() < params.coverage))
        return stop(StopReason::Coverage);
    if (int(s.trace.iterations.size()) >= params.maxIterations)
        return stop(StopReason::IterationCap);

    PrimapsIteration it;
    it.remainingBefore = s.remainingCount;
    it.coverageBefore = s.assignedFraction();

    // 2a. First principal direction of the remaining raw features.
    // The covariance of the remaining rows is applied as an operator,
    // C v = X^T (X v) / n - mean (mean . v), with X the gathered rows (globally
    // centred, which keeps float rounding small): two matrix-vector products per
    // Lanczos step instead of forming the c x c matrix, which costs far more.
    const int count = s.remainingCount;
    s.rows.resize(std::size_t(count) * s.c);
    std::vector<double> mean(static_cast<std::size_t>(s.c), 0.0);
    {
        const float* all = s.centred.data_ptr<float>();
        float* out = s.rows.data();
        for (int i = 0; i < s.n; ++i) {
            if (!s.remaining[std::size_t(i)])
                continue;
            const float* row = all + std::size_t(i) * s.c;
            std::copy_n(row, s.c, out);
            out += s.c;
            for (int k = 0; k < s.c; ++k)
                mean[std::size_t(k)] += row[k];
        }
        for (double& m : mean)
            m /= count;
    }
    std::vector<float> in32(static_cast<std::size_t>(s.c)),
        projected(static_cast<std::size_t>(count)), out32(static_cast<std::size_t>(s.c));
    const SymmetricEigen top = topEigenvector(
        [&](const double* in, double* out) {
            double meanDotIn = 0;
            for (int k = 0; k < s.c; ++k) {
                in32[std::size_t(k)] = float(in[k]);
                meanDotIn += mean[std::size_t(k)] * in[k];
            }
            projectRows(s.rows.data(), count, s.c, in32.data(), projected.data());
            combineRows(s.rows.data(), count, s.c, projected.data(), 1.0f / float(count),
                        out32.data());
            for (int k = 0; k < s.c; ++k)
                out[k] = double(out32[std::size_t(k)]) - mean[std::size_t(k)] * meanDotIn;
        },
        s.c, 1e-5);
    it.explainedVariance = float(top.value);

    // Sign rule: (x0 - mean) . v < 0 for the first remaining position x0.
    int first = 0;
    while (!s.remaining[std::size_t(first)])
        ++first;
    const float* x0 = s.centred.data_ptr<float>() + std::size_t(first) * s.c;
    const double* m = mean.data();
    double side = 0;
    for (int k = 0; k < s.c; ++k)
        side += (double(x0[k]) - m[k]) * top.vector[std::size_t(k)];
    const double sign = side > 0 ? -1.0 : 1.0;
    it.principalDirection.resize(std::size_t(s.c));
    for (int k = 0; k < s.c; ++k)
        it.principalDirection[std::size_t(k)] = float(sign * top.vector[std::size_t(k)]);

    // 2b. Cosine similarity of every position to v; 0 outside `remaining`.
    auto similarityTo = [&](const float* direction) {
        const at::Tensor v = at::from_blob(const_cast<float*>(direction), {1, s.c}, at::kFloat);
        const at::Tensor sim = at::mm(v, s.normalised).contiguous();
        std::vector<float> out(sim.data_ptr<float>(), sim.data_ptr<float>() + s.n);
        for (int i = 0; i < s.n; ++i)
            if (!s.remaining[std::size_t(i)])
                out[std::size_t(i)] = 0.0f;
        return out;
    };
    it.similarity = similarityTo(it.principalDirection.data());

    // 2c. Nearest-neighbour refinement: the first position (row-major) holding
    // the maximum, which may lie outside `remaining` when every remaining
    // similarity is negative (exactly as the reference behaves).
    it.seedIndex =
        int(std::max_element(it.similarity.begin(), it.similarity.end()) - it.similarity.begin());
    const at::Tensor seed = s.normalised.select(1, it.seedIndex).contiguous();
    it.refinedSimilarity = similarityTo(seed.data_ptr<float>());

    // 2d. Threshold relative to the maximum, then scale the maximum to 1.
    it.refinedMax = *std::max_element(it.refinedSimilarity.begin(), it.refinedSimilarity.end());
    if (!(it.refinedMax > 0.0f)) {
        // The reference divides by zero here and poisons the image with NaN;
        // we stop and keep the proposals found so far (DESIGN 3.2 2f).
        return stop(StopReason::NothingPositive);
    }
    const float cut = params.threshold * it.refinedMax;
    it.mask.resize(it.refinedSimilarity.size());
    int taken = 0;
    for (int i = 0; i < s.n; ++i) {
        const float v = it.refinedSimilarity[std::size_t(i)];
        const float scaled = v < cut ? 0.0f : v / it.refinedMax;
        it.mask[std::size_t(i)] = scaled;
        // 2e. Positions with a positive soft mask leave `remaining`.
        if (scaled > 0.0f && s.remaining[std::size_t(i)]) {
            s.remaining[std::size_t(i)] = 0;
            ++taken;
        }
    }
    it.assigned = taken;
    s.remainingCount -= it.assigned;
    it.remainingAfter = s.remainingCount;

    s.trace.iterations.push_back(std::move(it));
    s.trace.finalCoverage = s.assignedFraction();

    // 2f. Stall rule, as the reference checks it: once more than `window`
    // iterations ran, stop if the last `window` remaining sets are equal.
    // (`remaining` only shrinks, so equal counts mean equal sets.) With the
    // NothingPositive stop above this is a safeguard: a positive maximum always
    // removes at least the seed.
    s.remainingHistory.push_back(s.remainingCount);
    const int window = params.stallWindow;
    const int t = int(s.remainingHistory.size());
    if (t > window) {
        bool same = true;
        for (int k = t - window; k < t; ++k)
            same = same && s.remainingHistory[std::size_t(k)] == s.remainingCount;
        if (same)
            s.trace.stopReason = StopReason::Stalled;
    }
    return &s.trace.iterations.back();
}

PrimapsTrace decompose(const FeatureMap& features, const PrimapsParams& params)
{
    PrimapsDecomposer decomposer(features, params);
    return decomposer.run();
}

namespace {

// 3x3 median with reflect padding (PyTorch 'reflect' = OpenCV BORDER_REFLECT_101);
// the median of 9 values is the 5th smallest. Dimensions of 1 cannot be
// reflected; they are replicated instead.
void median3x3(const float* in, float* out, int h, int w)
{
    auto reflect = [](int i, int size) {
        if (size == 1)
            return 0;
        if (i < 0)
            return -i;
        if (i >= size)
            return 2 * size - 2 - i;
        return i;
    };
    float window[9];
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            int k = 0;
            for (int dy = -1; dy <= 1; ++dy)
                for (int dx = -1; dx <= 1; ++dx)
                    window[k++] = in[reflect(y + dy, h) * w + reflect(x + dx, w)];
            std::nth_element(window, window + 4, window + 9);
            out[y * w + x] = window[4];
        }
}

} // namespace

MaskStack buildMaskStack(const PrimapsTrace& trace)
{
    MaskStack stack;
    stack.count = int(trace.iterations.size());
    stack.height = trace.height;
    stack.width = trace.width;
    const std::size_t plane = std::size_t(trace.height) * trace.width;
    stack.proposals.assign(std::size_t(stack.count) * plane, 0.0f);
    double nonZeroSum = 0;
    std::size_t nonZeroCount = 0;
    for (int k = 0; k < stack.count; ++k) {
        float* out = stack.proposals.data() + std::size_t(k) * plane;
        median3x3(trace.iterations[std::size_t(k)].mask.data(), out, trace.height, trace.width);
        for (std::size_t i = 0; i < plane; ++i) {
            out[i] = std::clamp(out[i] * 10.0f, 0.0f, 1.0f);
            if (out[i] != 0.0f) {
                nonZeroSum += out[i];
                ++nonZeroCount;
            }
        }
    }
    // Step 4. With no non-zero proposal value the reference's mean is NaN; we
    // make every position background instead.
    const float level = nonZeroCount ? float(nonZeroSum / double(nonZeroCount)) : 1.0f;
    stack.background.resize(plane);
    for (std::size_t i = 0; i < plane; ++i) {
        float total = 0.0f;
        for (int k = 0; k < stack.count; ++k)
            total += stack.proposals[std::size_t(k) * plane + i];
        stack.background[i] = std::clamp(level - total, 0.0f, 1.0f);
    }
    return stack;
}

std::vector<float> MaskStack::logProbabilities() const
{
    const std::size_t plane = std::size_t(height) * width;
    const int channels = count + 1;
    std::vector<float> out(std::size_t(channels) * plane);
    std::copy(background.begin(), background.end(), out.begin());
    std::copy(proposals.begin(), proposals.end(), out.begin() + std::ptrdiff_t(plane));
    for (std::size_t i = 0; i < plane; ++i) {
        float top = -std::numeric_limits<float>::infinity();
        for (int k = 0; k < channels; ++k)
            top = std::max(top, out[k * plane + i]);
        double total = 0;
        for (int k = 0; k < channels; ++k)
            total += std::exp(double(out[k * plane + i] - top));
        const float logTotal = float(std::log(total));
        for (int k = 0; k < channels; ++k)
            out[k * plane + i] = out[k * plane + i] - top - logTotal;
    }
    return out;
}

cv::Mat argmaxLabels(const std::vector<float>& values, int channels, int height, int width)
{
    const std::size_t plane = std::size_t(height) * width;
    if (channels < 1 || values.size() != std::size_t(channels) * plane)
        throw Error("argmaxLabels: array size does not match its dimensions");
    if (channels > 256)
        throw Error("argmaxLabels: more than 256 channels do not fit 8-bit labels");
    cv::Mat labels(height, width, CV_8U);
    for (std::size_t i = 0; i < plane; ++i) {
        int best = 0;
        float bestValue = values[i];
        for (int k = 1; k < channels; ++k) {
            const float v = values[std::size_t(k) * plane + i];
            if (v > bestValue) { // strict: ties go to the lowest channel
                best = k;
                bestValue = v;
            }
        }
        labels.data[i] = static_cast<unsigned char>(best);
    }
    return labels;
}

cv::Mat labelsAtGrid(const MaskStack& masks)
{
    std::vector<float> stacked(masks.background);
    stacked.insert(stacked.end(), masks.proposals.begin(), masks.proposals.end());
    return argmaxLabels(stacked, masks.count + 1, masks.height, masks.width);
}

std::vector<float> upsampleBilinear(const std::vector<float>& values, int channels, int height,
                                    int width, cv::Size size)
{
    if (channels < 1 || height < 1 || width < 1 ||
        values.size() != std::size_t(channels) * height * width)
        throw Error("upsampleBilinear: array size does not match its dimensions");
    if (size.width < 1 || size.height < 1)
        throw Error("upsampleBilinear: target size must be positive");
    // Source coordinate of each target pixel, PyTorch's align_corners = false
    // convention: (dst + 0.5) * in / out - 0.5, clamped below at 0.
    struct Tap
    {
        int i0, i1;
        float w1;
    };
    auto taps = [](int in, int out) {
        std::vector<Tap> t(static_cast<std::size_t>(out));
        const double scale = double(in) / double(out);
        for (int o = 0; o < out; ++o) {
            const double src = std::max(0.0, (o + 0.5) * scale - 0.5);
            const int i0 = std::min(int(src), in - 1);
            const int i1 = std::min(i0 + 1, in - 1);
            t[std::size_t(o)] = {i0, i1, float(src - i0)};
        }
        return t;
    };
    const std::vector<Tap> ty = taps(height, size.height);
    const std::vector<Tap> tx = taps(width, size.width);
    const std::size_t inPlane = std::size_t(height) * width;
    const std::size_t outPlane = std::size_t(size.height) * size.width;
    std::vector<float> out(std::size_t(channels) * outPlane);
    cv::parallel_for_(cv::Range(0, channels * size.height), [&](const cv::Range& range) {
        for (int r = range.start; r < range.end; ++r) {
            const int k = r / size.height;
            const int y = r % size.height;
            const float* src = values.data() + std::size_t(k) * inPlane;
            const Tap& vy = ty[std::size_t(y)];
            const float* row0 = src + std::size_t(vy.i0) * width;
            const float* row1 = src + std::size_t(vy.i1) * width;
            float* dst = out.data() + std::size_t(k) * outPlane + std::size_t(y) * size.width;
            for (int x = 0; x < size.width; ++x) {
                const Tap& vx = tx[std::size_t(x)];
                const float top = row0[vx.i0] + (row0[vx.i1] - row0[vx.i0]) * vx.w1;
                const float bottom = row1[vx.i0] + (row1[vx.i1] - row1[vx.i0]) * vx.w1;
                dst[x] = top + (bottom - top) * vy.w1;
            }
        }
    });
    return out;
}

cv::Mat labelsAtSize(const MaskStack& masks, cv::Size size)
{
    const std::vector<float> up = upsampleBilinear(masks.logProbabilities(), masks.count + 1,
                                                   masks.height, masks.width, size);
    return argmaxLabels(up, masks.count + 1, size.height, size.width);
}

} // namespace primaps
