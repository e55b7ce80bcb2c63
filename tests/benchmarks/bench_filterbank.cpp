// SPDX-License-Identifier: MIT
// Speed of the default backbone at the recommended 320x320: the target is a median of at
// most 50 ms on a two-core machine (--benchmark_repetitions=10).
#include "filterbank.h"

#include <benchmark/benchmark.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>

namespace {

void BM_FilterBankExtract320(benchmark::State& state)
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

    primaps::FilterBankBackbone backbone;
    for (auto _ : state) {
        primaps::FeatureMap features = backbone.extract(rgb);
        benchmark::DoNotOptimize(features.values.data());
    }
}

} // namespace

BENCHMARK(BM_FilterBankExtract320)->Unit(benchmark::kMillisecond)->UseRealTime();
