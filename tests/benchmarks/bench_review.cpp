// SPDX-License-Identifier: MIT
// The review's interactive paths: re-scoring a split after a match edit (from the
// stored counts, no prediction), re-scoring every image for sorting, and reading
// a 5,000-image counts file when a run is reopened.
#include "matchedits.h"
#include "runreview.h"

#include <benchmark/benchmark.h>
#include <random>

namespace {

using namespace primaps;

constexpr int kClasses = 27;

// An image's counts: a few clusters over a few classes, like a real street scene.
ImageCounts randomImage(std::mt19937& rng, int index)
{
    ImageCounts c;
    c.id = "city/image_" + std::to_string(index);
    c.labelled = true;
    c.confusion = ConfusionMatrix(kClasses, kClasses);
    std::vector<std::int64_t> counts(std::size_t(kClasses) * kClasses, 0);
    std::uniform_int_distribution<int> pick(0, kClasses - 1), pixels(100, 20000);
    c.clusterPixels.assign(kClasses, 0);
    for (int i = 0; i < 40; ++i) {
        const int cluster = pick(rng), cls = pick(rng);
        const int n = pixels(rng);
        counts[std::size_t(cluster) * kClasses + std::size_t(cls)] += n;
        c.clusterPixels[std::size_t(cluster)] += n;
    }
    c.confusion.setCounts(counts);
    return c;
}

SplitCounts randomSplit(int images)
{
    std::mt19937 rng(7);
    SplitCounts s;
    s.split = "val";
    s.clusters = kClasses;
    s.classes = kClasses;
    for (int i = 0; i < images; ++i)
        s.images.push_back(randomImage(rng, i));
    return s;
}

MatchEdits someEdits()
{
    MatchEdits e;
    e.overrides[3] = 5;
    e.merges[7] = 3;
    e.ignored.insert(11);
    return e;
}

// After an edit: the split's Acc, mIoU, IoUs and matched matrix from its counts.
void BM_SplitMetricsAfterEdit(benchmark::State& state)
{
    const ConfusionMatrix total = randomSplit(int(state.range(0))).total();
    const EvaluationResult computed = evaluate(total); // once, when the counts arrive
    const MatchEdits edits = someEdits();
    for (auto _ : state) {
        const EditedMatch m = applyMatchEdits(computed, edits);
        benchmark::DoNotOptimize(scoreMatch(total, m.clusterToClass));
    }
}
BENCHMARK(BM_SplitMetricsAfterEdit)->Arg(500)->Unit(benchmark::kMicrosecond);

// The same with the Hungarian match recomputed (evaluateWithEdits()).
void BM_SplitEvaluateWithEdits(benchmark::State& state)
{
    const ConfusionMatrix total = randomSplit(int(state.range(0))).total();
    const MatchEdits edits = someEdits();
    for (auto _ : state)
        benchmark::DoNotOptimize(evaluateWithEdits(total, edits));
}
BENCHMARK(BM_SplitEvaluateWithEdits)->Arg(500)->Unit(benchmark::kMicrosecond);

// Every image re-scored under the edited match (the image list's sort keys).
void BM_ScoreEveryImage(benchmark::State& state)
{
    const SplitCounts split = randomSplit(int(state.range(0)));
    const EditedMatch m = applyMatchEdits(evaluate(split.total()), someEdits());
    for (auto _ : state)
        for (const ImageCounts& image : split.images)
            benchmark::DoNotOptimize(scoreImage(image, m.clusterToClass));
    state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_ScoreEveryImage)->Arg(500)->Arg(5000)->Unit(benchmark::kMillisecond);

// Reopening a run: its stored counts parsed.
void BM_ParseSplitCounts(benchmark::State& state)
{
    const std::string text = splitCountsToJson(randomSplit(int(state.range(0))));
    state.counters["bytes"] = double(text.size());
    for (auto _ : state)
        benchmark::DoNotOptimize(parseSplitCounts(text, "counts.json"));
}
BENCHMARK(BM_ParseSplitCounts)->Arg(5000)->Unit(benchmark::kMillisecond);

} // namespace

BENCHMARK_MAIN();
