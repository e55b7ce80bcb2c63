// SPDX-License-Identifier: MIT
// PriMaPs decomposition speed (goal: <= 6 ms for a 40x40x384 map without CRF,
// steps 1-4 plus the grid label map). The CPU column is the whole process's
// (every thread's), and faults_per_call counts the pages the kernel had to map
// and zero per call: each costs microseconds on this virtual machine.
#include "decompose/gramproduct_p.h"
#include "decompose/primaps.h"
#include "support/runtime.h"

#include <benchmark/benchmark.h>

#include <sys/resource.h>

#include <random>

namespace {

long minorFaults()
{
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_minflt;
}

// A DINO-like map: a handful of region prototypes in a large shared direction
// plus per-position noise, so PCA has real structure and the loop runs ~10 times.
primaps::FeatureMap syntheticFeatures(int c, int h, int w, int regions, unsigned seed)
{
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<std::vector<float>> prototypes(static_cast<std::size_t>(regions),
                                               std::vector<float>(static_cast<std::size_t>(c)));
    std::vector<float> shared(static_cast<std::size_t>(c));
    for (float& v : shared)
        v = normal(rng);
    for (auto& p : prototypes)
        for (int k = 0; k < c; ++k)
            p[std::size_t(k)] = 0.7f * shared[std::size_t(k)] + normal(rng);
    std::vector<std::pair<float, float>> centres;
    std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
    for (int r = 0; r < regions; ++r)
        centres.emplace_back(uniform(rng) * h, uniform(rng) * w);
    primaps::FeatureMap f(c, h, w);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            int best = 0;
            float bestD = 1e30f;
            for (int r = 0; r < regions; ++r) {
                const float dy = y - centres[std::size_t(r)].first, dx = x - centres[std::size_t(r)].second;
                if (dy * dy + dx * dx < bestD) {
                    bestD = dy * dy + dx * dx;
                    best = r;
                }
            }
            for (int k = 0; k < c; ++k)
                f.at(k, y, x) = prototypes[std::size_t(best)][std::size_t(k)] + 0.6f * normal(rng);
        }
    return f;
}

void BM_PrimapsDecompose40x40x384(benchmark::State& state)
{
    primaps::configureThreads();
    const primaps::FeatureMap features = syntheticFeatures(384, 40, 40, 12, 7);
    primaps::PrimapsParams params;
    std::size_t iterations = 0;
    const long faultsBefore = minorFaults();
    for (auto _ : state) {
        const primaps::PrimapsTrace trace = primaps::decompose(features, params);
        const primaps::MaskStack masks = primaps::buildMaskStack(trace);
        benchmark::DoNotOptimize(primaps::labelsAtGrid(masks).data);
        iterations = trace.iterations.size();
    }
    state.counters["masks"] = double(iterations);
    state.counters["faults_per_call"] =
        benchmark::Counter(double(minorFaults() - faultsBefore), benchmark::Counter::kAvgIterations);
}

BENCHMARK(BM_PrimapsDecompose40x40x384)
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime()
    ->UseRealTime();

// One covariance product X^T (X v) of `rows` x 384 in two halves with the best kernel
// (second argument 0) or the AVX2 one (1): what the 512-bit registers gain, by size.
// Above ~1,300 rows the rows no longer fit this Xeon's 2 MB L2.
void BM_GramProductHalves(benchmark::State& state)
{
    const int rows = int(state.range(0)), c = 384;
    const int split = primaps::detail::gramSecondHalf(rows);
    const auto kernel =
        state.range(1) ? primaps::detail::GramKernel::Avx2 : primaps::detail::GramKernel::Best;
    std::mt19937 rng(3);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> x(std::size_t(rows) * c), v(c), out(c), second(c);
    for (float& value : x)
        value = normal(rng);
    for (float& value : v)
        value = normal(rng);
    bool secondHalfFirst = false;
    for (auto _ : state) {
        if (kernel == primaps::detail::GramKernel::Best) {
            primaps::detail::gramProductInHalves(x.data(), rows, c, v.data(), 1.0f, out.data(),
                                                 second.data(), secondHalfFirst);
            secondHalfFirst = !secondHalfFirst;
        } else {
            primaps::detail::gramProduct(x.data(), split, c, v.data(), 1.0f, out.data(), kernel);
            primaps::detail::gramProduct(x.data() + std::size_t(split) * c, rows - split, c,
                                         v.data(), 1.0f, second.data(), kernel);
        }
        benchmark::DoNotOptimize(out.data());
        benchmark::DoNotOptimize(second.data());
    }
}
BENCHMARK(BM_GramProductHalves)
    ->ArgsProduct({{64, 400, 800, 1600}, {0, 1}})
    ->Unit(benchmark::kMicrosecond)
    ->MeasureProcessCPUTime()
    ->UseRealTime();

} // namespace
