// SPDX-License-Identifier: MIT
// One PriMaPs-EM epoch over cached features (target: 3,000 maps of 40x40x384 at
// 320x320 label resolution, K = 27, in <= 60 s on 2 cores, i.e. <= 20 s per 1,000
// maps, with peak RssAnon <= 1.5 GB; RssAnon leaves out the memory-mapped cache,
// whose pages the kernel can drop). Counters: s_per_1000_maps (wall),
// cpu_s_per_1000_maps (every thread of the process; on a shared machine the wall
// time mostly measures the queue for a core), peak_rss_anon_MB (sampled every 10 ms
// during the epoch) and peak_rss_MB (getrusage, the cache's pages included). Filling a 3.7 GB cache takes longer than the epoch itself, so
// by default the benchmark runs 320 images (10 batches of 32) and reports the
// per-image time and its extrapolation to 3,000 images; the cost per batch does
// not depend on the dataset size. Set PRIMAPS_BENCH_EM_IMAGES=3000 to run the full
// size (needs ~4 GB in the temporary folder).
#include "em/emfit.h"
#include "dataset/featurecache.h"
#include "support/runtime.h"

#include <atomic>
#include <benchmark/benchmark.h>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <sys/resource.h>
#include <thread>
#include <unistd.h>

namespace {

class CacheSource : public primaps::EmDataSource
{
public:
    CacheSource(const primaps::FeatureCache& features, const primaps::MaskCache& masks, int count)
        : features_(features), masks_(masks), count_(count)
    {
    }
    std::size_t size() const override { return std::size_t(count_); }
    primaps::FeatureMap features(std::size_t i) const override
    {
        return features_.read("img" + std::to_string(i));
    }
    cv::Mat masks(std::size_t i) const override { return masks_.read("img" + std::to_string(i)); }

private:
    const primaps::FeatureCache& features_;
    const primaps::MaskCache& masks_;
    int count_;
};

// DINO-like maps: 12 regions per image from 27 class prototypes plus noise; the
// masks are the regions at 320x320 with a background stripe.
void fillCache(const primaps::FeatureCache& features, const primaps::MaskCache& masks, int count)
{
    const int c = 384, grid = 40, labels = 320;
    std::mt19937 rng(1);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<std::vector<float>> prototypes(27, std::vector<float>(std::size_t(c)));
    for (auto& p : prototypes)
        for (float& v : p)
            v = normal(rng);
    std::uniform_real_distribution<float> noise(-1.0f, 1.0f);
    for (int i = 0; i < count; ++i) {
        int regionClass[12];
        for (int& r : regionClass)
            r = int(rng() % 27);
        primaps::FeatureMap f(c, grid, grid);
        for (int y = 0; y < grid; ++y)
            for (int x = 0; x < grid; ++x) {
                const int region = (y / 10) * 3 + x / 14;
                const auto& p = prototypes[std::size_t(regionClass[std::min(region, 11)])];
                for (int k = 0; k < c; ++k)
                    f.at(k, y, x) = p[std::size_t(k)] + noise(rng);
            }
        features.write("img" + std::to_string(i), f);
        cv::Mat m(labels, labels, CV_8UC1);
        for (int y = 0; y < labels; ++y)
            for (int x = 0; x < labels; ++x)
                m.at<std::uint8_t>(y, x) =
                    x < 16 ? 0 : std::uint8_t(1 + std::min((y / 80) * 3 + x / 112, 11));
        masks.write("img" + std::to_string(i), m);
    }
}

double peakRssMegabytes()
{
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return double(usage.ru_maxrss) / 1024.0; // kilobytes on Linux
}

double rssAnonMegabytes()
{
    std::ifstream status("/proc/self/status");
    std::string key;
    while (status >> key) {
        if (key == "RssAnon:") {
            double kilobytes = 0;
            status >> kilobytes;
            return kilobytes / 1024.0;
        }
        status.ignore(1 << 16, '\n');
    }
    return 0.0;
}

double processCpuSeconds()
{
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

// The largest RssAnon seen while it runs, read every 10 ms on a thread of its own.
class RssAnonSampler
{
public:
    RssAnonSampler()
        : thread_([this] {
              while (!stop_) {
                  const double now = rssAnonMegabytes();
                  if (now > peak_)
                      peak_ = now;
                  std::this_thread::sleep_for(std::chrono::milliseconds(10));
              }
          })
    {
    }
    double stop()
    {
        stop_ = true;
        thread_.join();
        return peak_;
    }

private:
    std::atomic<bool> stop_{false};
    std::atomic<double> peak_{0.0};
    std::thread thread_;
};

// One EM epoch as timed by both benchmarks below, with `threads` compute threads
// (0: the process default, as the CLI runs it).
void runEmEpoch(benchmark::State& state, int threads)
{
    primaps::configureThreads(threads);
    const char* env = std::getenv("PRIMAPS_BENCH_EM_IMAGES");
    const int count = env ? std::max(32, std::atoi(env)) : 320;
    namespace fs = std::filesystem;
    std::string pattern = (fs::temp_directory_path() / "primaps-bench-em-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) {
        state.SkipWithError("cannot create a temporary folder");
        return;
    }
    primaps::CacheKey key;
    key.set("benchmark", "em-epoch");
    const primaps::FeatureCache features(pattern, key);
    const primaps::MaskCache masks(pattern, key);
    fillCache(features, masks, count);
    const CacheSource source(features, masks, count);

    primaps::EmParams params;
    params.classes = 27;
    params.epochs = 1;
    params.initEpochs = 0;
    params.batchSize = 32;
    params.pcaImages = 64;
    std::int64_t steps = 0;
    double cpuSeconds = 0.0, peakAnon = 0.0;
    for (auto _ : state) {
        state.PauseTiming(); // the PCA initialisation is not part of the epoch
        primaps::EmFit fit(source, params);
        fit.step();
        RssAnonSampler sampler;
        const double cpuStart = processCpuSeconds();
        state.ResumeTiming();
        while (!fit.done()) {
            fit.step();
            ++steps;
        }
        state.PauseTiming();
        cpuSeconds += processCpuSeconds() - cpuStart;
        peakAnon = std::max(peakAnon, sampler.stop());
        state.ResumeTiming();
    }
    fs::remove_all(pattern);
    const double images = double(count / 32 * 32) * double(state.iterations());
    state.counters["images"] = double(count / 32 * 32);
    state.counters["steps"] = double(steps) / double(state.iterations());
    state.counters["s_per_image"] =
        benchmark::Counter(images, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
    state.counters["s_per_1000_maps"] = benchmark::Counter(
        images / 1000.0, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
    state.counters["cpu_s_per_1000_maps"] = cpuSeconds / images * 1000.0;
    state.counters["peak_rss_anon_MB"] = peakAnon;
    state.counters["peak_rss_MB"] = peakRssMegabytes();
    primaps::configureThreads();
}

void BM_EmEpochCachedFeatures(benchmark::State& state)
{
    runEmEpoch(state, 0);
}
BENCHMARK(BM_EmEpochCachedFeatures)->Unit(benchmark::kSecond)->Iterations(1)->UseRealTime();

// The same epoch with the batch's images on one thread and on two, in one run:
// what sharing the images among the threads buys (wall; the CPU time per map
// should stay about the same).
void BM_EmEpochThreads(benchmark::State& state)
{
    runEmEpoch(state, int(state.range(0)));
}
BENCHMARK(BM_EmEpochThreads)->Arg(1)->Arg(2)->Unit(benchmark::kSecond)->Iterations(1)->UseRealTime();

} // namespace
