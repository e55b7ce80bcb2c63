// SPDX-License-Identifier: MIT
#include "decompose/primaps.h"

#include "support/blasthreads_p.h"
#include "decompose/eigen.h"
#include "support/error.h"
#include "support/largebuffer.h"
#include "decompose/gramproduct_p.h"
#include "decompose/unitcolumns_p.h"

#include <algorithm>
#include <ATen/ATen.h>
#include <cmath>
#include <cstdint>
#include <limits>

namespace primaps {

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

namespace {

// A matrix for the probes below: a scalar tail, a zero column, values of both signs.
std::vector<float> probeMatrix(int c, int n)
{
    std::vector<float> values(std::size_t(c) * n);
    std::uint32_t state = 12345;
    for (float& v : values) {
        state = state * 1664525u + 1013904223u;
        v = float(int(state >> 8) - (1 << 23)) * 0x1p-17f;
    }
    for (int k = 0; k < c; ++k)
        values[std::size_t(k) * n + 3] = 0.0f;
    return values;
}

// Whether detail::unitColumns() rounds as LibTorch does in this process. LibTorch
// picks its kernels at run time (the processor, ATEN_CPU_CAPABILITY); its plain
// kernel does not fuse the multiply-adds. So ask once and fall back to LibTorch
// when the bits differ.
bool unitColumnsAgreeWithLibTorch()
{
    static const bool agree = [] {
        if (!detail::unitColumnsVectorised())
            return false;
        const int c = 37, n = 75;
        std::vector<float> values = probeMatrix(c, n);
        const at::Tensor raw = at::from_blob(values.data(), {c, n}, at::kFloat);
        const at::Tensor expected = (raw / raw.norm(2, {0}, true).clamp_min(1e-12)).contiguous();
        std::vector<float> out(values.size());
        detail::unitColumns(values.data(), c, n, out.data());
        return std::equal(out.begin(), out.end(), expected.data_ptr<float>());
    }();
    return agree;
}

// The same question for detail::similarityToColumns() and the BLAS's 1 x c by c x n
// product (OpenBLAS here), on a width of whole 32-column blocks.
bool similarityAgreesWithBlas()
{
    static const bool agree = [] {
        if (!detail::unitColumnsVectorised())
            return false;
        const int c = 37, n = 96;
        std::vector<float> values = probeMatrix(c, n);
        std::vector<float> v = probeMatrix(1, c);
        const at::Tensor expected =
            at::mm(at::from_blob(v.data(), {1, c}, at::kFloat),
                   at::from_blob(values.data(), {c, n}, at::kFloat))
                .contiguous();
        std::vector<float> out(static_cast<std::size_t>(n));
        const std::vector<unsigned char> all(static_cast<std::size_t>(n), 1);
        detail::similarityToColumns(detail::toColumnBlocks(values.data(), c, n).data(), c, n,
                                    v.data(), all.data(), out.data());
        return std::equal(out.begin(), out.end(), expected.data_ptr<float>());
    }();
    return agree;
}

} // namespace

struct PrimapsDecomposer::Impl
{
    PrimapsTrace trace;
    int n = 0;             // positions
    int c = 0;             // channels
    at::Tensor normalised; // c x n float: F.normalize(features, dim = 0), contiguous
                           // (undefined when normalisedBlocks holds it)
    // With the vector kernels: the same values in column blocks (detail::kColumnBlock),
    // read by detail::similarityToColumns instead of LibTorch's product.
    bool vectorSimilarity = false;
    // The two large buffers (2.5 MB each at 40 x 40 x 384) are kept for the next
    // decomposition (LargeVector): freshly mapped, their first touch cost more than
    // a third of a decomposition in page faults (docs/primaps-performance.md). Both
    // are written in full as they are made, so they are not zeroed first.
    UninitialisedLargeVector<float> normalisedBlocks;
    // The features of the positions still in `remaining`, minus the global mean,
    // as rows in position order; compacted after every iteration, so each
    // iteration reads only what is left.
    UninitialisedLargeVector<float> rows;
    std::vector<int> rowPosition;
    std::vector<double> rowSum; // sum of `rows`, for the mean of the remaining features
    std::vector<unsigned char> remaining;
    int remainingCount = 0;
    std::vector<int> remainingHistory; // remaining count after each iteration

    // Drops the rows whose positions left `remaining`, taking them out of rowSum:
    // the rows that leave are read once in all, where summing the rows that stay
    // after every iteration read most of them again each time.
    void compactRows()
    {
        std::size_t kept = 0;
        for (std::size_t r = 0; r < rowPosition.size(); ++r) {
            const float* from = rows.data() + r * c;
            if (!remaining[std::size_t(rowPosition[r])]) {
                for (int k = 0; k < c; ++k)
                    rowSum[std::size_t(k)] -= double(from[k]);
                continue;
            }
            if (kept != r)
                std::copy_n(from, c, rows.data() + kept * c);
            rowPosition[kept++] = rowPosition[r];
        }
        rowPosition.resize(kept);
        rows.resize(kept * c);
    }

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

    // F.normalize(features, dim = 0), rounded exactly as LibTorch rounds it (the
    // reference's similarities): with the vector kernel when LibTorch's own kernels
    // are its vectorised ones (same order of operations), else through LibTorch.
    // The input is only read.
    const at::Tensor raw =
        at::from_blob(const_cast<float*>(features.values.data()), {d->c, d->n}, at::kFloat);
    const bool vectorUnit = unitColumnsAgreeWithLibTorch();
    d->vectorSimilarity = vectorUnit && similarityAgreesWithBlas();
    if (d->vectorSimilarity) {
        d->normalisedBlocks.resize(detail::columnBlocksSize(d->c, d->n));
        detail::unitColumns(features.values.data(), d->c, d->n, d->normalisedBlocks.data(),
                            /*blocked=*/true);
        detail::zeroColumnBlockPadding(d->normalisedBlocks.data(), d->c, d->n);
    } else if (vectorUnit) {
        d->normalised = at::empty({d->c, d->n}, at::kFloat);
        detail::unitColumns(features.values.data(), d->c, d->n, d->normalised.data_ptr<float>());
    } else {
        d->normalised = raw / raw.norm(2, {0}, true).clamp_min(1e-12);
    }
    // Rows = positions, minus the global mean of each channel. The channel sums
    // double as the finiteness check: a double sum of floats cannot overflow, so
    // it is finite exactly when every value is.
    d->rows.resize(std::size_t(d->n) * d->c);
    std::vector<double> channelTotal(static_cast<std::size_t>(d->c));
    detail::transposeWithColumnSums(features.values.data(), d->c, d->n, d->rows.data(),
                                    channelTotal.data());
    std::vector<float> channelMean(static_cast<std::size_t>(d->c));
    for (int k = 0; k < d->c; ++k) {
        const double total = channelTotal[std::size_t(k)];
        if (!std::isfinite(total))
            throw Error("PriMaPs: the features contain NaN or infinite values (channel " +
                        std::to_string(k) + ")");
        channelMean[std::size_t(k)] = float(total / d->n);
    }
    d->rowSum.resize(std::size_t(d->c));
    detail::centreColumns(d->rows.data(), d->n, d->c, channelMean.data(), d->rowSum.data());
    d->rowPosition.resize(std::size_t(d->n));
    for (int i = 0; i < d->n; ++i)
        d->rowPosition[std::size_t(i)] = i;
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
    // The covariance of the remaining rows X is applied as an operator,
    // C v = X^T (X v) / count - mean (mean . v), inside Lanczos: one pass over X
    // per step instead of forming the c x c matrix, which costs far more. X is
    // globally centred, which keeps the float rounding of X^T X small.
    const int count = s.remainingCount;
    std::vector<double> mean(s.rowSum);
    for (double& m : mean)
        m /= count;
    std::vector<float> in32(static_cast<std::size_t>(s.c)), out32(static_cast<std::size_t>(s.c)),
        second32(static_cast<std::size_t>(s.c));
    bool secondHalfFirst = false;
    const SymmetricEigen top = topEigenvector(
        [&](const double* in, double* out) {
            double meanDotIn = 0;
            for (int k = 0; k < s.c; ++k) {
                in32[std::size_t(k)] = float(in[k]);
                meanDotIn += mean[std::size_t(k)] * in[k];
            }
            // Alternating which half goes first keeps the rows read last in the cache
            // for the next product (the same bits either way).
            detail::gramProductInHalves(s.rows.data(), count, s.c, in32.data(),
                                        1.0f / float(count), out32.data(), second32.data(),
                                        secondHalfFirst);
            secondHalfFirst = !secondHalfFirst;
            for (int k = 0; k < s.c; ++k)
                out[k] = double(out32[std::size_t(k)]) - mean[std::size_t(k)] * meanDotIn;
        },
        s.c, 1e-5);
    it.explainedVariance = float(top.value);

    // Sign rule: (x0 - mean) . v < 0 for the first remaining position x0 (the
    // first row: compaction keeps position order).
    const float* x0 = s.rows.data();
    const double* m = mean.data();
    double side = 0;
    for (int k = 0; k < s.c; ++k)
        side += (double(x0[k]) - m[k]) * top.vector[std::size_t(k)];
    const double sign = side > 0 ? -1.0 : 1.0;
    it.principalDirection.resize(std::size_t(s.c));
    for (int k = 0; k < s.c; ++k)
        it.principalDirection[std::size_t(k)] = float(sign * top.vector[std::size_t(k)]);

    // 2b. Cosine similarity of every position to v; 0 outside `remaining`.
    // With the vector kernels (see the constructor) only the remaining positions are
    // computed, each as LibTorch's product rounds it on this processor.
    auto similarityTo = [&](const float* direction) {
        std::vector<float> out(static_cast<std::size_t>(s.n));
        if (s.vectorSimilarity) {
            detail::similarityToColumns(s.normalisedBlocks.data(), s.c, s.n, direction,
                                        s.remaining.data(), out.data());
            return out;
        }
        const at::Tensor v = at::from_blob(const_cast<float*>(direction), {1, s.c}, at::kFloat);
        const at::Tensor sim = at::mm(v, s.normalised).contiguous();
        std::copy_n(sim.data_ptr<float>(), s.n, out.begin());
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
    std::vector<float> seed(static_cast<std::size_t>(s.c));
    for (int k = 0; k < s.c; ++k) {
        const int i = it.seedIndex;
        seed[std::size_t(k)] =
            s.vectorSimilarity
                ? s.normalisedBlocks[std::size_t(i / detail::kColumnBlock) * std::size_t(s.c) *
                                         detail::kColumnBlock +
                                     std::size_t(k) * detail::kColumnBlock +
                                     std::size_t(i % detail::kColumnBlock)]
                : s.normalised.data_ptr<float>()[std::size_t(k) * s.n + std::size_t(i)];
    }
    it.refinedSimilarity = similarityTo(seed.data());

    // 2d. Threshold relative to the maximum, then scale the maximum to 1.
    it.refinedMax = *std::max_element(it.refinedSimilarity.begin(), it.refinedSimilarity.end());
    if (!(it.refinedMax > 0.0f)) {
        // The reference divides by zero here and poisons the image with NaN;
        // we stop and keep the proposals found so far (docs/ALGORITHM.md, "Clean stop").
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
    s.compactRows();

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

// 3x3 median with reflect padding (PyTorch 'reflect' = OpenCV BORDER_REFLECT_101).
// Dimensions of 1 cannot be reflected; they are replicated instead.
// With each window column sorted into (low, mid, high), the median of the nine
// values is med3(max of the lows, med3 of the mids, min of the highs): exact, and
// branch-free min/max that vectorise, where a selection per window did not (it
// was a tenth of the whole decomposition).
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
    auto med3 = [](float a, float b, float c) {
        return std::max(std::min(a, b), std::min(std::max(a, b), c));
    };
    // Columns -1..w of the padded row, stored at index x + 1.
    std::vector<float> low(std::size_t(w) + 2), mid(std::size_t(w) + 2), high(std::size_t(w) + 2);
    for (int y = 0; y < h; ++y) {
        const float* above = in + std::size_t(reflect(y - 1, h)) * w;
        const float* row = in + std::size_t(y) * w;
        const float* below = in + std::size_t(reflect(y + 1, h)) * w;
        for (int x = -1; x <= w; ++x) {
            const int sx = reflect(x, w);
            const float a = above[sx], b = row[sx], c = below[sx];
            const float lo = std::min(a, b), hi = std::max(a, b);
            low[std::size_t(x + 1)] = std::min(lo, c);
            high[std::size_t(x + 1)] = std::max(hi, c);
            mid[std::size_t(x + 1)] = std::max(lo, std::min(hi, c));
        }
        float* o = out + std::size_t(y) * w;
        for (int x = 0; x < w; ++x) {
            const float maxLow = std::max(std::max(low[std::size_t(x)], low[std::size_t(x) + 1]),
                                          low[std::size_t(x) + 2]);
            const float minHigh = std::min(
                std::min(high[std::size_t(x)], high[std::size_t(x) + 1]), high[std::size_t(x) + 2]);
            const float midMid =
                med3(mid[std::size_t(x)], mid[std::size_t(x) + 1], mid[std::size_t(x) + 2]);
            o[x] = med3(maxLow, midMid, minHigh);
        }
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

} // namespace primaps
