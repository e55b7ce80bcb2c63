// SPDX-License-Identifier: MIT
// `primaps decompose` end to end on each bundled sample, as the CLI runs it: the
// filterbank backbone at its recommended 320 short side and threshold, PriMaPs, the
// upsampling and the dense CRF at the processing resolution (goal: <= 150 ms per image
// on two cores). Reading the file is left out. Besides the wall time, the counters
// give the process CPU time (every thread; what the work costs when the shared machine
// makes the wall clock wait), the number of masks and each stage's median. With two
// threads the CRF's lattices are built beside the features and PriMaPs: crf_ms is then
// the mean-field part, lattice_wait_ms what step 5 still waited for the lattices.
#include "backbones/backbone.h"
#include "crf/latticebuild_p.h"
#include "image/imageio.h"
#include "pipeline/pipeline.h"
#include "support/runtime.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <benchmark/benchmark.h>
#include <chrono>
#include <ctime>
#include <string>
#include <vector>

namespace {

const char* const kSamples[] = {"astronaut", "chelsea", "coffee", "rocket"};

double processCpuMs()
{
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return double(t.tv_sec) * 1e3 + double(t.tv_nsec) / 1e6;
}

double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
}

void BM_DecomposeSample(benchmark::State& state)
{
    primaps::configureThreads();
    const std::string name = kSamples[state.range(0)];
    const cv::Mat rgb =
        primaps::loadImageRgb8(std::string(PRIMAPS_SAMPLES_DIR) + "/" + name + ".jpg");
    auto backbone = primaps::createBackbone("filterbank");
    const primaps::PipelineParams params; // the CLI's defaults
    std::vector<double> wall, cpu, features, decompose, labels, crf, latticeWait;
    std::size_t masks = 0;
    for (auto _ : state) {
        const double cpuStart = processCpuMs();
        const auto start = std::chrono::steady_clock::now();
        const primaps::ImageDecomposition d = primaps::decomposeImage(rgb, *backbone, params);
        wall.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count());
        cpu.push_back(processCpuMs() - cpuStart);
        features.push_back(d.timings.preprocess + d.timings.features);
        decompose.push_back(d.timings.decompose);
        labels.push_back(d.timings.labels);
        crf.push_back(d.timings.crf);
        latticeWait.push_back(d.timings.crfLatticeWait);
        masks = d.trace.iterations.size();
        benchmark::DoNotOptimize(d.labels.data);
    }
    state.counters["ms"] = median(wall);
    state.counters["cpu_ms"] = median(cpu);
    state.counters["features_ms"] = median(features);
    state.counters["primaps_ms"] = median(decompose);
    state.counters["labels_ms"] = median(labels);
    state.counters["crf_ms"] = median(crf);
    state.counters["lattice_wait_ms"] = median(latticeWait);
    state.counters["masks"] = double(masks);
    state.SetLabel(name);
}
BENCHMARK(BM_DecomposeSample)->DenseRange(0, 3)->Unit(benchmark::kMillisecond)->UseRealTime();

// The CRF's lattices built beside the features and PriMaPs (the default) against
// after them, on the same sample in the same iteration, the order alternating:
// A/B pairs that see the same load. The lattices only overlap with work that
// leaves a core idle, so the gain is a wall-clock one on a machine with a free
// core; the process CPU should not change.
void BM_DecomposeLatticesAlongside(benchmark::State& state)
{
    primaps::configureThreads();
    const std::string name = kSamples[state.range(0)];
    const cv::Mat rgb =
        primaps::loadImageRgb8(std::string(PRIMAPS_SAMPLES_DIR) + "/" + name + ".jpg");
    auto backbone = primaps::createBackbone("filterbank");
    primaps::PipelineParams alongside, after;
    after.crfLatticesAlongside = false;
    std::vector<double> wallAlongside, wallAfter, cpuAlongside, cpuAfter, ratios;
    bool alongsideFirst = true;
    for (auto _ : state) {
        double wall[2] = {}, cpu[2] = {};
        for (int pass = 0; pass < 2; ++pass) {
            const bool isAlongside = (pass == 0) == alongsideFirst;
            const double cpuStart = processCpuMs();
            const auto start = std::chrono::steady_clock::now();
            benchmark::DoNotOptimize(
                primaps::decomposeImage(rgb, *backbone, isAlongside ? alongside : after)
                    .labels.data);
            wall[isAlongside ? 0 : 1] =
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                    .count();
            cpu[isAlongside ? 0 : 1] = processCpuMs() - cpuStart;
        }
        alongsideFirst = !alongsideFirst;
        wallAlongside.push_back(wall[0]);
        wallAfter.push_back(wall[1]);
        cpuAlongside.push_back(cpu[0]);
        cpuAfter.push_back(cpu[1]);
        ratios.push_back(wall[0] / wall[1]);
    }
    state.counters["ms_alongside"] = median(wallAlongside);
    state.counters["ms_after"] = median(wallAfter);
    state.counters["alongside_over_after"] = median(ratios);
    state.counters["cpu_ms_alongside"] = median(cpuAlongside);
    state.counters["cpu_ms_after"] = median(cpuAfter);
    state.SetLabel(name);
}
BENCHMARK(BM_DecomposeLatticesAlongside)
    ->DenseRange(0, 3)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// What the CLI pays on a folder of photos of different sizes: every photo's CRF
// builds the spatial kernel of its size as well (the process keeps the last
// size's only). Each iteration decomposes the astronaut (320 x 320) and the
// chelsea (488 x 320) in turn, so that no CRF finds its size's kernel kept,
// once with the lattice building of this version (neighbours by sorted keys,
// the spatial matrix by sparse products) and once with the previous one (hash
// probes, per-point paths): A/B in the same run, process CPU per photo.
void BM_DecomposeNewSizes(benchmark::State& state)
{
    primaps::configureThreads();
    auto load = [](const char* name) {
        return primaps::loadImageRgb8(std::string(PRIMAPS_SAMPLES_DIR) + "/" + name + ".jpg");
    };
    const cv::Mat photos[] = {load("astronaut"), load("chelsea")};
    auto backbone = primaps::createBackbone("filterbank");
    const primaps::PipelineParams params;
    namespace d = primaps::detail;
    auto both = [&] {
        for (const cv::Mat& rgb : photos)
            benchmark::DoNotOptimize(primaps::decomposeImage(rgb, *backbone, params).labels.data);
    };
    std::vector<double> now, before, ratios;
    for (auto _ : state) {
        d::setPreferredNeighbourSearch(d::NeighbourSearch::Sorted);
        d::setPreferredMatrixConstruction(d::MatrixConstruction::Products);
        const double a = processCpuMs();
        both();
        const double b = processCpuMs();
        d::setPreferredNeighbourSearch(d::NeighbourSearch::HashTable);
        d::setPreferredMatrixConstruction(d::MatrixConstruction::Paths);
        both();
        const double c = processCpuMs();
        now.push_back((b - a) / 2);
        before.push_back((c - b) / 2);
        ratios.push_back((c - b) / (b - a));
    }
    d::setPreferredNeighbourSearch(d::NeighbourSearch::Sorted);
    d::setPreferredMatrixConstruction(d::MatrixConstruction::Products);
    state.counters["cpu_ms_per_photo"] = median(now);
    state.counters["cpu_ms_per_photo_before"] = median(before);
    state.counters["cpu_before_over_now"] = median(ratios);
}
BENCHMARK(BM_DecomposeNewSizes)->Unit(benchmark::kMillisecond)->UseRealTime();

// The studio on a 12-megapixel photo (a bundled sample enlarged to 4000 x 3000):
// from the slider's release to the refined masks, i.e. what its decompose job does
// for a new threshold on cached features: PriMaPs and the masks without the CRF (the
// preview), then the CRF at the studio's 640 x 480 on the lattices kept for the photo
// (goal: <= 1.5 s). Thresholds alternate so that every iteration decomposes anew.
void BM_StudioBigPhotoRelease(benchmark::State& state)
{
    primaps::configureThreads();
    cv::Mat big;
    cv::resize(primaps::loadImageRgb8(std::string(PRIMAPS_SAMPLES_DIR) + "/coffee.jpg"), big,
               cv::Size(4000, 3000), 0, 0, cv::INTER_CUBIC);
    auto backbone = primaps::createBackbone("filterbank");
    primaps::PipelineParams params;
    params.crf = false;
    primaps::ImageDecomposition d = primaps::decomposeImage(big, *backbone, params);
    const int crfPixels = 640 * 480; // DecomposeRequest::kStudioCrfMaxPixels
    primaps::applyCrf(d, {}, crfPixels); // the photo's first CRF builds its lattices
    std::vector<double> preview, total, cpu;
    bool other = false;
    for (auto _ : state) {
        primaps::PrimapsParams threshold;
        threshold.threshold = other ? 0.55f : 0.6f;
        other = !other;
        const double cpuStart = processCpuMs();
        const auto start = std::chrono::steady_clock::now();
        primaps::redecompose(d, threshold, false);
        preview.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count());
        primaps::applyCrf(d, {}, crfPixels);
        total.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count());
        cpu.push_back(processCpuMs() - cpuStart);
    }
    state.counters["preview_ms"] = median(preview);
    state.counters["refined_ms"] = median(total);
    state.counters["cpu_ms"] = median(cpu);
    state.counters["masks"] = double(d.trace.iterations.size());
    state.counters["crf_pixels"] = double(d.crfSize.area());
}
BENCHMARK(BM_StudioBigPhotoRelease)->Unit(benchmark::kMillisecond)->UseRealTime();

} // namespace
