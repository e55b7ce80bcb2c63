// SPDX-License-Identifier: MIT
// ViT-S/8 features of one 320x320 image on the CPU (random weights in the official
// layout), against this machine's single-matmul throughput measured in the same run:
// a 1601x384 by 384x1152 sgemm, ViT-S/8's qkv projection at 320x320. Target: the ViT
// reaches >= 80% of that matmul's GFLOP/s (counter of_sgemm). The threading modes run
// in the same process: Arg 0 is the default (VitThreading::Auto, RowParallel with
// Debian's OpenBLAS), Arg 4 the same with LibTorch's softmax in the attention, Arg 5
// with the BLAS's attention products (the previous defaults), Arg 2 the threading
// before that (SerialElementwise).
//
// The build machine is shared, so its speed drifts from second to second. The ViT
// benchmark therefore times the reference sgemm right before every forward pass and
// reports the median of the per-pass ratios (of_sgemm) next to the plain numbers.
// Run e.g.
//   bench_core --benchmark_filter='Sgemm|Vit' --benchmark_repetitions=3
// BM_VitS8Stages splits a forward pass into the steps it performs (12 blocks each, same
// buffers and threading as VisionTransformer), to show where the time goes;
// BM_VitS8AttentionThread times one row thread's attention, the BLAS's products against
// the project's kernels (docs/vit-performance.md). PRIMAPS_BENCH_VIT_CHUNK_BYTES sets
// VitOptions::attentionChunkBytes of BM_VitS8Features320, to try other chunks.
#include "backbones/checkpoint.h"
#include "backbones/checkpoint_p.h"
#include "backbones/attentionkernel_p.h"
#include "backbones/softmaxrows_p.h"
#include "support/blasthreads_p.h"
#include "support/runtime.h"
#include "backbones/vit.h"

#include <algorithm>
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <c10/core/InferenceMode.h>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start)
{
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// CPU seconds of every thread of the process: on a shared machine the wall time also
// counts the waits for a core, the CPU time does not (spinning threads do count).
double processCpuSeconds()
{
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

// ViT-S/8 as released: 384-d, 12 blocks, 6 heads, 28 x 28 pre-training grid.
primaps::StateDict randomVitS8()
{
    c10::InferenceMode guard;
    at::manual_seed(0);
    const std::int64_t d = 384, hidden = 1536, p = 8, grid = 28;
    primaps::StateDict sd;
    auto& impl = sd.impl();
    impl.source = "random ViT-S/8";
    auto add = [&](const std::string& name, at::IntArrayRef shape, double std, double mean = 0.0) {
        impl.add(name, at::randn(shape) * std + mean);
    };
    add("cls_token", {1, 1, d}, 0.02);
    add("pos_embed", {1, 1 + grid * grid, d}, 0.02);
    add("patch_embed.proj.weight", {d, 3, p, p}, 0.02);
    add("patch_embed.proj.bias", {d}, 0.02);
    for (int i = 0; i < 12; ++i) {
        const std::string b = "blocks." + std::to_string(i) + ".";
        add(b + "norm1.weight", {d}, 0.02, 1.0);
        add(b + "norm1.bias", {d}, 0.02);
        add(b + "attn.qkv.weight", {3 * d, d}, 0.02);
        add(b + "attn.qkv.bias", {3 * d}, 0.02);
        add(b + "attn.proj.weight", {d, d}, 0.02);
        add(b + "attn.proj.bias", {d}, 0.02);
        add(b + "norm2.weight", {d}, 0.02, 1.0);
        add(b + "norm2.bias", {d}, 0.02);
        add(b + "mlp.fc1.weight", {hidden, d}, 0.02);
        add(b + "mlp.fc1.bias", {hidden}, 0.02);
        add(b + "mlp.fc2.weight", {d, hidden}, 0.02);
        add(b + "mlp.fc2.bias", {d}, 0.02);
    }
    add("norm.weight", {d}, 0.02, 1.0);
    add("norm.bias", {d}, 0.02);
    return sd;
}

/// The reference matmul: best FLOP/s of `runs` products 1601x384 by 384x1152, and
/// (in `perCpuSecond`) its FLOP per process CPU second over the runs.
double sgemmRate(int runs, double* perCpuSecond = nullptr)
{
    c10::InferenceMode guard;
    static const at::Tensor a = at::randn({1601, 384});
    static const at::Tensor b = at::randn({384, 1152});
    static at::Tensor c = at::empty({1601, 1152});
    double best = 1e30;
    const double cpuStart = processCpuSeconds();
    for (int i = 0; i < runs; ++i) {
        const auto start = Clock::now();
        at::mm_out(c, a, b);
        best = std::min(best, secondsSince(start));
    }
    const double flop = 2.0 * 1601 * 384 * 1152;
    if (perCpuSecond)
        *perCpuSecond = flop * runs / (processCpuSeconds() - cpuStart);
    return flop / best;
}

void BM_Sgemm1601x384x1152(benchmark::State& state)
{
    primaps::configureThreads();
    double rate = 0.0;
    for (auto _ : state)
        rate = std::max(rate, sgemmRate(1));
    state.counters["GFLOP/s"] = rate / 1e9;
    state.counters["threads"] = primaps::computeThreads();
}

// Arg 0: VitThreading::Auto (RowParallel with Debian's OpenBLAS), 1: Shared,
// 2: SerialElementwise, 3: RowParallel.
void BM_VitS8Features320(benchmark::State& state)
{
    primaps::configureThreads();
    primaps::VitOptions options;
    static const primaps::VitThreading modes[] = {
        primaps::VitThreading::Auto, primaps::VitThreading::Shared,
        primaps::VitThreading::SerialElementwise, primaps::VitThreading::RowParallel};
    static const char* const labels[] = {"threading auto", "threading shared",
                                         "threading serial elementwise", "threading row parallel",
                                         "threading auto, LibTorch's softmax",
                                         "threading auto, the BLAS's attention products"};
    // Arg 4 and 5: the default threading with LibTorch's softmax in the attention or
    // the BLAS's attention products (the previous defaults), for same-run comparisons
    // with Arg 0.
    options.threading = state.range(0) >= 4 ? primaps::VitThreading::Auto : modes[state.range(0)];
    options.vectorSoftmax = state.range(0) != 4;
    options.vectorAttention = state.range(0) != 5;
    // For trying other attention chunks without rebuilding: bytes per thread's logits.
    if (const char* chunk = std::getenv("PRIMAPS_BENCH_VIT_CHUNK_BYTES"))
        options.attentionChunkBytes = std::size_t(std::atoll(chunk));
    primaps::VisionTransformer vit(randomVitS8(), options);
    at::manual_seed(1);
    const at::Tensor image = at::randn({3, 320, 320});
    const float* pixels = image.data_ptr<float>();
    const double flops = vit.flops(320, 320);
    vit.features(pixels, 320, 320); // warm-up: buffers, positional-embedding cache

    std::vector<double> ratios, cpuRatios, times, peaks;
    for (auto _ : state) {
        state.PauseTiming();
        double sgemmPerCpuSecond = 0.0;
        const double peak = sgemmRate(5, &sgemmPerCpuSecond);
        state.ResumeTiming();
        const auto start = Clock::now();
        const double cpuStart = processCpuSeconds();
        primaps::FeatureMap features = vit.features(pixels, 320, 320);
        const double seconds = secondsSince(start);
        cpuRatios.push_back(flops / (processCpuSeconds() - cpuStart) / sgemmPerCpuSecond);
        benchmark::DoNotOptimize(features.values.data());
        times.push_back(seconds);
        peaks.push_back(peak);
        ratios.push_back(flops / seconds / peak);
    }
    auto median = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
    };
    state.counters["GFLOP"] = flops / 1e9;
    state.counters["GFLOP/s"] = flops / median(times) / 1e9;
    state.counters["sgemm_GFLOP/s"] = median(peaks) / 1e9;
    state.counters["of_sgemm"] = median(ratios);
    state.counters["of_sgemm_cpu"] = median(cpuRatios);
    state.counters["best_s"] = *std::min_element(times.begin(), times.end());
    state.SetLabel(labels[state.range(0)]);
}

// The steps of one ViT-S/8 forward pass at 320x320 (1601 tokens), each run for all 12
// blocks with the buffers and the threading (ATen on one thread) of VisionTransformer.
void BM_VitS8Stages(benchmark::State& state)
{
    primaps::configureThreads();
    c10::InferenceMode guard;
    at::set_num_threads(1); // as VitThreading::SerialElementwise
    const std::int64_t n = 1601, d = 384, heads = 6, hd = 64, hidden = 1536;
    at::Tensor x = at::randn({n, d});
    const at::Tensor wqkv = at::randn({3 * d, d}) * 0.02, bqkv = at::zeros({3 * d});
    const at::Tensor wproj = at::randn({d, d}) * 0.02, bproj = at::zeros({d});
    const at::Tensor w1 = at::randn({hidden, d}) * 0.02, b1 = at::zeros({hidden});
    const at::Tensor w2 = at::randn({d, hidden}) * 0.02, b2 = at::zeros({d});
    const at::Tensor g = at::ones({d}), b = at::zeros({d});
    at::Tensor qkv = at::empty({n, 3 * d}), heads_out = at::empty({n, d});
    at::Tensor logits = at::randn({n, n}), h = at::randn({n, hidden});
    const at::Tensor hiddenInput = h.clone();
    at::addmm_out(qkv, bqkv, x, wqkv.t());
    const int stage = int(state.range(0));
    for (auto _ : state) {
        for (int block = 0; block < 12; ++block) {
            at::Tensor out;
            switch (stage) {
            case 0:
                out = at::layer_norm(x, {d}, g, b, 1e-6);
                out = at::layer_norm(x, {d}, g, b, 1e-6);
                x.add_(out);
                x.add_(out);
                break;
            case 1:
                at::addmm_out(qkv, bqkv, x, wqkv.t());
                break;
            case 2:
                for (std::int64_t i = 0; i < heads; ++i)
                    at::addmm_out(logits, logits, qkv.narrow(1, i * hd, hd),
                                  qkv.narrow(1, d + i * hd, hd).t(), 0.0, 0.125);
                break;
            case 3:
                for (std::int64_t i = 0; i < heads; ++i)
                    at::_softmax_out(logits, logits, -1, false);
                break;
            case 4:
                for (std::int64_t i = 0; i < heads; ++i) {
                    at::Tensor o = heads_out.narrow(1, i * hd, hd);
                    at::mm_out(o, logits, qkv.narrow(1, 2 * d + i * hd, hd));
                }
                break;
            case 5:
                out = at::linear(heads_out, wproj, bproj);
                break;
            case 6:
                at::addmm_out(h, b1, x, w1.t());
                break;
            case 7: // from fresh values: repeated GELUs would shrink negatives to subnormals
                h.copy_(hiddenInput);
                at::gelu_(h);
                break;
            case 8:
                out = at::linear(h, w2, b2);
                break;
            case 9:
                h.copy_(hiddenInput);
                break;
            }
            benchmark::DoNotOptimize(out);
        }
    }
    static const char* const names[] = {"2x layer_norm + 2 residual adds",
                                        "qkv linear",
                                        "6 heads q.k^T (scaled)",
                                        "6 heads softmax",
                                        "6 heads attn.v",
                                        "proj linear",
                                        "fc1 linear",
                                        "gelu (LibTorch's)",
                                        "fc2 linear",
                                        "the copy in the gelu stage"};
    static const double gflop[] = {0,
                                   12 * 2 * 1601.0 * 384 * 1152 / 1e9,
                                   12 * 2 * 1601.0 * 1601 * 384 / 1e9,
                                   0,
                                   12 * 2 * 1601.0 * 1601 * 384 / 1e9,
                                   12 * 2 * 1601.0 * 384 * 384 / 1e9,
                                   12 * 2 * 1601.0 * 384 * 1536 / 1e9,
                                   0,
                                   12 * 2 * 1601.0 * 384 * 1536 / 1e9,
                                   0};
    static_assert(sizeof(gflop) / sizeof(gflop[0]) == sizeof(names) / sizeof(names[0]));
    if (gflop[stage] > 0)
        state.counters["GFLOP/s"] =
            benchmark::Counter(gflop[stage] * 1e9, benchmark::Counter::kIsIterationInvariantRate);
    state.SetLabel(names[stage]);
    primaps::configureThreads();
}


double threadCpuSeconds()
{
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

// One row thread's attention in a ViT-S/8 block at 320x320 (800 of the 1601 query
// rows, six 64-d heads, single-threaded OpenBLAS, the project's softmax), attended
// Arg query rows at a time, timed in thread CPU seconds (robust on a shared machine:
// waiting for a core is not counted), best of the iterations. Against the same
// thread's single-threaded sgemm on the qkv shape of its rows (800x384 by 384x1152).
void BM_VitS8AttentionThread(benchmark::State& state)
{
    c10::InferenceMode guard;
    primaps::detail::SingleThreadedBlas singleThreadedBlas;
    const primaps::detail::SerialAtenOps serial(true);
    const std::int64_t n = 1601, rows = 800, d = 384, heads = 6, hd = 64;
    const std::int64_t chunk = state.range(0);
    const bool kernels = state.range(1) != 0;
    if (kernels && !(primaps::detail::attentionKernelsAvailable() && primaps::detail::softmaxRowsWide())) {
        state.SkipWithError("no AVX-512F");
        return;
    }
    const std::ptrdiff_t packedSize = primaps::detail::packedKeysSize(n);
    std::vector<float> kT(static_cast<std::size_t>(packedSize)), vPacked(static_cast<std::size_t>(hd * n));
    at::manual_seed(2);
    const at::Tensor qkv = at::randn({n, 3 * d});
    at::Tensor logits = at::empty({chunk, n}), out = at::empty({rows, d});
    const at::Tensor a = at::randn({rows, d}), w = at::randn({3 * d, d});
    at::Tensor c = at::empty({rows, 3 * d});
    double bestQk = 1e30, bestSoftmax = 1e30, bestAv = 1e30, bestSgemm = 1e30, bestPack = 1e30;
    for (auto _ : state) {
        double start = threadCpuSeconds();
        at::mm_out(c, a, w.t());
        bestSgemm = std::min(bestSgemm, threadCpuSeconds() - start);
        double qk = 0, softmax = 0, av = 0, pack = 0;
        float* base = qkv.data_ptr<float>();
        // As VisionTransformer: head by head (the kernels' packed keys and values of a
        // head serve all its chunks), chunks of query rows within.
        for (std::int64_t h = 0; h < heads; ++h) {
            if (kernels) {
                start = threadCpuSeconds();
                primaps::detail::packKeys(base + d + h * hd, 3 * d, 0, n, kT.data());
                for (std::int64_t j = 0; j < n; ++j)
                    std::copy_n(base + j * 3 * d + 2 * d + h * hd, hd, vPacked.data() + j * hd);
                pack += threadCpuSeconds() - start;
            }
            for (std::int64_t done = 0; done < rows; done += chunk) {
                const std::int64_t count = std::min(chunk, rows - done);
                at::Tensor l = logits.narrow(0, 0, count);
                // The kernels as VisionTransformer runs them: the softmax fused into them
                // (row maxima from q.k^T, the normalisation in attn.v).
                std::vector<float> maxima(static_cast<std::size_t>(count)),
                    scales(static_cast<std::size_t>(count));
                start = threadCpuSeconds();
                if (kernels)
                    primaps::detail::attentionLogits(base + done * 3 * d + h * hd, 3 * d,
                                                     kT.data(), n, count, 0.125f,
                                                     l.data_ptr<float>(), n, maxima.data());
                else
                    at::addmm_out(l, l, qkv.narrow(0, done, count).narrow(1, h * hd, hd),
                                  qkv.narrow(1, d + h * hd, hd).t(), 0.0, 0.125);
                const double t1 = threadCpuSeconds();
                if (kernels) {
                    primaps::detail::expRows(l.data_ptr<float>(), count, n, n, maxima.data(),
                                             scales.data());
                    for (float& value : scales)
                        value = 1.0f / value;
                } else {
                    primaps::detail::softmaxRows(l.data_ptr<float>(), count, n, n);
                }
                const double t2 = threadCpuSeconds();
                at::Tensor o = out.narrow(0, done, count).narrow(1, h * hd, hd);
                if (kernels)
                    primaps::detail::attentionValues(l.data_ptr<float>(), n, vPacked.data(), hd,
                                                     n, count, o.data_ptr<float>(), d,
                                                     scales.data());
                else
                    at::mm_out(o, l, qkv.narrow(1, 2 * d + h * hd, hd));
                const double t3 = threadCpuSeconds();
                qk += t1 - start;
                softmax += t2 - t1;
                av += t3 - t2;
            }
        }
        bestQk = std::min(bestQk, qk);
        bestPack = std::min(bestPack, pack);
        bestSoftmax = std::min(bestSoftmax, softmax);
        bestAv = std::min(bestAv, av);
        benchmark::DoNotOptimize(out.data_ptr<float>());
    }
    const double productFlop = 2.0 * heads * rows * n * hd;
    state.counters["qk_ms"] = bestQk * 1e3;
    state.counters["pack_ms"] = bestPack * 1e3;
    state.counters["softmax_ms"] = bestSoftmax * 1e3;
    state.counters["av_ms"] = bestAv * 1e3;
    state.counters["total_ms"] = (bestPack + bestQk + bestSoftmax + bestAv) * 1e3;
    state.counters["qk_GFLOP/s"] = productFlop / bestQk / 1e9;
    state.counters["av_GFLOP/s"] = productFlop / bestAv / 1e9;
    state.counters["sgemm_GFLOP/s"] = 2.0 * rows * d * 3 * d / bestSgemm / 1e9;
    state.counters["of_sgemm"] =
        2 * productFlop / (bestPack + bestQk + bestSoftmax + bestAv) /
        (2.0 * rows * d * 3 * d / bestSgemm);
}
} // namespace

BENCHMARK(BM_VitS8AttentionThread)
    ->ArgsProduct({{800, 96, 48}, {0, 1}})
    ->Iterations(7)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Sgemm1601x384x1152)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(50);
BENCHMARK(BM_VitS8Features320)
    ->Arg(0)
    ->Arg(4)
    ->Arg(5)
    ->Arg(2)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(5);
BENCHMARK(BM_VitS8Stages)->DenseRange(0, 9)->Unit(benchmark::kMillisecond)->UseRealTime();
