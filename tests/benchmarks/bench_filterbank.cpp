// SPDX-License-Identifier: MIT
// Speed of the default backbone at the recommended 320x320, version 2 beside version 1
// in the same run (their ratio survives a loaded machine): the target is a median of at
// most 30 ms for version 2 on a two-core machine (--benchmark_repetitions=10). The CPU
// column is the whole process's: the filters run on both cores.
#include "backbones/filterbank.h"

#include <benchmark/benchmark.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>

namespace {

template <class FilterBank> void extract320(benchmark::State& state)
{
    const std::string path = PRIMAPS_SAMPLES_DIR "/astronaut.jpg";
    const cv::Mat bgr = cv::imread(path, cv::IMREAD_COLOR);
    if (bgr.empty()) {
        state.SkipWithError(("cannot read " + path).c_str());
        return;
    }
    cv::Mat rgb;
    cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
    cv::resize(rgb, rgb, cv::Size(320, 320), 0, 0, cv::INTER_AREA);

    FilterBank backbone;
    for (auto _ : state) {
        primaps::FeatureMap features = backbone.extract(rgb);
        benchmark::DoNotOptimize(features.values.data());
    }
}

void BM_FilterBankExtract320(benchmark::State& state)
{
    extract320<primaps::FilterBankBackbone>(state);
}

void BM_FilterBankV1Extract320(benchmark::State& state)
{
    extract320<primaps::FilterBankV1Backbone>(state);
}

} // namespace

BENCHMARK(BM_FilterBankExtract320)
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime()
    ->UseRealTime();
BENCHMARK(BM_FilterBankV1Extract320)
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime()
    ->UseRealTime();
