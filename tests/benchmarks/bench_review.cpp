// SPDX-License-Identifier: MIT
// The review's interactive paths: re-scoring a split after a match edit (from the
// stored counts, no prediction), re-scoring every image for sorting, and reading
// a 5,000-image counts file when a run is reopened.
#include "runs/fitrun.h"
#include "runs/matchedits.h"
#include "runs/runreview.h"

#include <benchmark/benchmark.h>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
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

// A run fitted once per process on four generated 640x480 photos at the
// filterbank's resolution 320, in a temporary folder.
struct FittedFixture
{
    std::filesystem::path root;
    FittedFixture()
    {
        root = std::filesystem::temp_directory_path() /
               ("bench_review_" + std::to_string(std::random_device{}()));
        std::filesystem::create_directories(root / "ds" / "images");
        std::mt19937 rng(3);
        std::uniform_int_distribution<int> colour(0, 255);
        for (int i = 0; i < 4; ++i) {
            cv::Mat bgr(480, 640, CV_8UC3);
            for (int b = 0; b < 12; ++b) // blocks of flat colour
                bgr(cv::Rect((b % 4) * 160, (b / 4) * 160, 160, 160))
                    .setTo(cv::Scalar(colour(rng), colour(rng), colour(rng)));
            cv::imwrite((root / "ds" / "images" / ("im" + std::to_string(i) + ".png")).string(),
                        bgr);
        }
        std::ofstream(root / "ds" / "classes.txt") << "a\nb\nc\n";
        FitRunSettings s;
        s.runDir = (root / "run").string();
        s.resolution = 320;
        s.em.epochs = 1;
        s.em.batchSize = 2;
        s.em.classes = 8;
        DatasetFitJob fit(dataset(), s);
        JobControl control;
        runJob(fit, control);
    }
    ~FittedFixture() { std::filesystem::remove_all(root); }
    Dataset dataset() const
    {
        DatasetOptions o;
        o.root = (root / "ds").string();
        return Dataset::open(o);
    }
};

// All layers of one image whose features and masks are cached (paging through
// a reviewed split), without and with the dense CRF on the prediction.
void BM_ReviewCachedImage(benchmark::State& state)
{
    static FittedFixture fixture;
    RunReview review((fixture.root / "run").string(), fixture.dataset());
    const ReviewPrediction prediction{"r", state.range(0) != 0};
    review.review(0, prediction); // fills the evaluation cache
    for (auto _ : state)
        benchmark::DoNotOptimize(review.review(0, prediction));
}
BENCHMARK(BM_ReviewCachedImage)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

} // namespace

BENCHMARK_MAIN();
