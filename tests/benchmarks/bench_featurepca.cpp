// SPDX-License-Identifier: MIT
// Feature PCA of the studio's Features dock: the top eight components and their
// projections (what the dock computes per image), and the per-step projections.
#include "decompose/featurepca.h"
#include "decompose/primaps.h"
#include "support/runtime.h"

#include <benchmark/benchmark.h>

#include <random>

namespace {

// Region prototypes plus noise (like a ViT map): a spectrum with structure.
primaps::FeatureMap regionFeatures(int c, int h, int w, unsigned seed)
{
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    constexpr int kRegions = 8;
    std::vector<std::vector<float>> prototypes(kRegions, std::vector<float>(std::size_t(c)));
    for (auto& p : prototypes)
        for (float& v : p)
            v = normal(rng);
    primaps::FeatureMap f(c, h, w);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            const int r = (y * 3 / h) * 3 + (x * 3 / w);
            for (int k = 0; k < c; ++k)
                f.at(k, y, x) = prototypes[std::size_t(r % kRegions)][std::size_t(k)] + 0.8f * normal(rng);
        }
    return f;
}

void BM_FeaturePca(benchmark::State& state)
{
    primaps::configureThreads();
    const int side = int(state.range(0)), c = int(state.range(1));
    const primaps::FeatureMap f = regionFeatures(c, side, side, 3);
    for (auto _ : state)
        benchmark::DoNotOptimize(primaps::computeFeaturePca(f));
}
BENCHMARK(BM_FeaturePca)->Args({40, 384})->Args({64, 768})->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_IterationProjections(benchmark::State& state)
{
    primaps::configureThreads();
    const primaps::FeatureMap f = regionFeatures(384, 40, 40, 3);
    const primaps::PrimapsTrace trace = primaps::decompose(f, primaps::PrimapsParams{});
    for (auto _ : state)
        benchmark::DoNotOptimize(primaps::iterationProjections(f, trace));
    state.counters["steps"] = double(trace.iterations.size());
}
BENCHMARK(BM_IterationProjections)->Unit(benchmark::kMillisecond)->UseRealTime();

} // namespace
