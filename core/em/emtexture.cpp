// SPDX-License-Identifier: MIT
// PriMaPs-EM's texture start (robust protocol): the masks grouped by which
// feature modes they mix. On hand-made features a texture class is often
// several modes, which k-means on positions splits and pairs with other
// classes' modes; the histogram of modes over a mask keeps such a class one
// thing (docs/em-quality.md, "Session 13" and "Session 14").
#include "em/emfitimpl_p.h"
#include "em/emsampling_p.h"
#include "support/blasthreads_p.h"
#include "support/error.h"

#include <algorithm>
#include <cmath>
#include <tuple>

namespace primaps::detail {

namespace {

constexpr int kVocabularyRuns = 4;
constexpr int kGroupRestarts = 16;

// One image's features as unit columns (C x positions), checked against the
// positions' dimension.
at::Tensor unitColumns(const FeatureMap& f, std::uint32_t index, std::int64_t dim)
{
    if (f.positions() == 0 || f.values.size() != std::size_t(f.channels) * f.positions())
        throw Error("image " + std::to_string(index) + ": empty or inconsistent features");
    if (f.channels != dim)
        throw Error("image " + std::to_string(index) + ": features have " +
                    std::to_string(f.channels) + " channels, the initialisation " +
                    std::to_string(dim));
    const at::Tensor x = at::from_blob(const_cast<float*>(f.values.data()),
                                       {f.channels, std::int64_t(f.positions())}, at::kFloat);
    return x / x.norm(2, {0}, true).clamp_min(1e-12);
}

at::Tensor directionsOf(const KMeansStart& s)
{
    return at::from_blob(const_cast<float*>(s.prototypes.direction.data()),
                         {s.prototypes.classes, s.prototypes.dim}, at::kFloat)
        .clone();
}

const KMeansStart& bestOf(const std::vector<KMeansStart>& starts)
{
    return *std::max_element(starts.begin(), starts.end(),
                             [](const KMeansStart& a, const KMeansStart& b) {
                                 return a.meanBestCosine < b.meanBestCosine;
                             });
}

} // namespace

std::optional<TextureStart> textureGroupStart(const EmDataSource& data,
                                              const std::vector<std::uint32_t>& images,
                                              const at::Tensor& unitPositions, int k, int words,
                                              Rng& rng, const InitTicks& tick)
{
    auto ticker = [&tick](const char* task) { return tick ? tick(task) : InitTick{}; };
    const std::int64_t dim = unitPositions.size(1);
    words = int(std::min<std::int64_t>(words, unitPositions.size(0)));
    if (k < 1 || words < 1)
        return std::nullopt;
    const at::Tensor vocabulary = directionsOf(bestOf(
        sphericalKMeans(unitPositions, {}, words, kVocabularyRuns, rng, ticker("texture words"))));

    // Pass 1: every mask's word histogram and pixel count.
    const int total = int(images.size());
    const InitTick histogramsRead = ticker("texture histograms");
    std::vector<float> histograms; // masks x words
    std::vector<float> area;
    std::vector<int> slotsOf; // per image, as pass 2 must find them again
    for (std::uint32_t index : images) {
        if (histogramsRead)
            histogramsRead(int(slotsOf.size()), total);
        const cv::Mat masks = checkedMasks(data, index);
        const FeatureMap f = data.features(index);
        const at::Tensor word =
            vocabulary.mm(unitColumns(f, index, dim)).argmax(0).to(at::kInt).contiguous();
        const std::int32_t* wordOf = word.data_ptr<std::int32_t>();
        int slots = 0;
        const std::vector<MaskCell> entries = maskCells(masks, f.height, f.width, slots);
        slotsOf.push_back(slots);
        const std::size_t first = area.size();
        area.resize(first + std::size_t(slots), 0.0f);
        histograms.resize(area.size() * std::size_t(words), 0.0f);
        for (const MaskCell& e : entries) {
            const std::size_t mask = first + std::size_t(e.slot);
            histograms[mask * std::size_t(words) + std::size_t(wordOf[e.cell])] += float(e.pixels);
            area[mask] += float(e.pixels);
        }
    }
    if (histogramsRead)
        histogramsRead(total, total);
    const std::int64_t masks = std::int64_t(area.size());
    if (masks < k)
        return std::nullopt;
    const at::Tensor described =
        unitRows(at::from_blob(histograms.data(), {masks, words}, at::kFloat).sqrt());
    const at::Tensor weight = at::from_blob(area.data(), {masks}, at::kFloat).clone();
    const at::Tensor centres = directionsOf(bestOf(
        sphericalKMeans(described, weight, k, kGroupRestarts, rng, ticker("texture groups"))));
    const at::Tensor groupOfMask = described.mm(centres.t()).argmax(1).to(at::kInt).contiguous();

    // Pass 2: each group's prototype, the sum of its masks' pixels' unit features.
    const InitTick prototypesRead = ticker("texture prototypes");
    at::Tensor sums = at::zeros({k, dim}, at::kFloat);
    std::int64_t mask = 0;
    for (std::size_t i = 0; i < images.size(); ++i) {
        const std::uint32_t index = images[i];
        if (prototypesRead)
            prototypesRead(int(i), total);
        const FeatureMap f = data.features(index);
        const at::Tensor unit = unitColumns(f, index, dim);
        int slots = 0;
        const std::vector<MaskCell> entries =
            maskCells(checkedMasks(data, index), f.height, f.width, slots);
        if (slots != slotsOf[i])
            throw Error("image " + std::to_string(index) + ": masks changed between two reads");
        // Pixels per (group, cell) of this image, then one product with the features.
        at::Tensor counts = at::zeros({k, std::int64_t(f.positions())}, at::kFloat);
        float* c = counts.data_ptr<float>();
        for (const MaskCell& e : entries) {
            const int group = groupOfMask.data_ptr<std::int32_t>()[mask + e.slot];
            c[std::int64_t(group) * std::int64_t(f.positions()) + e.cell] += float(e.pixels);
        }
        sums += counts.mm(unit.t());
        mask += slots;
    }
    if (prototypesRead)
        prototypesRead(total, total);
    // A group without pixels (its masks all empty) starts at a random position.
    for (int g = 0; g < k; ++g)
        if (sums[g].abs().sum().item<float>() == 0)
            sums[g] = unitPositions[std::int64_t(rng.below(std::uint64_t(unitPositions.size(0))))];
    const at::Tensor directions = unitRows(sums).contiguous();
    TextureStart out;
    out.words = words;
    out.prototypes.classes = k;
    out.prototypes.dim = int(dim);
    out.prototypes.gain.assign(std::size_t(k), 1.0f);
    out.prototypes.direction.assign(directions.data_ptr<float>(),
                                    directions.data_ptr<float>() + directions.numel());
    return out;
}

} // namespace primaps::detail

namespace primaps {

Prototypes EmFit::Impl::trialEnd(const Prototypes& start, int epochs,
                                 const detail::InitTick& stepped, int& done, int total) const
{
    // The fit's EM phase on the data it sees (already whitened), straight from
    // `start`: no gradient k-means epochs first, a generator of its own.
    EmParams p = params;
    p.method = EmMethod::PrimapsEm;
    p.epochs = epochs;
    p.initEpochs = 0;
    p.whitenRidge = 0;
    Impl trial(source(), p);
    trial.imageCount = imageCount;
    trial.rng = Rng{params.seed ^ kTrialStream};
    trial.thetaR = start;
    trial.thetaM = start;
    trial.enterKMeans();
    trial.team();
    const detail::SerialAtenOps serial(detail::blasHasOwnThreadPool());
    while (trial.phase == EmPhase::Em) {
        trial.batchStep();
        if (stepped)
            stepped(++done, total);
    }
    // theta_R, not the moving average: with a slow EMA (or one that has not
    // updated yet) theta_M would still be the start.
    return trial.thetaR;
}

void EmFit::Impl::tryTextureStart(const std::vector<std::uint32_t>& images, at::Tensor positions,
                                  EmInitChoice& choice, Prototypes& start,
                                  const std::function<detail::InitTick(const char*)>& tick)
{
    const std::optional<detail::TextureStart> texture = detail::textureGroupStart(
        source(), images, positions, params.classes, kTextureWords, rng, tick);
    if (!texture)
        return; // fewer masks than prototypes: nothing to group
    // The trials are scored on every kScoreStride-th sampled position (the
    // sample is drawn evenly over the images); the rest is freed before them.
    const at::Tensor scored = positions.slice(0, 0, positions.size(0), kScoreStride).clone();
    positions = at::Tensor();
    auto objective = [&scored](const Prototypes& p) {
        const at::Tensor directions = detail::unitRows(
            at::from_blob(const_cast<float*>(p.direction.data()), {p.classes, p.dim}, at::kFloat));
        return std::get<0>(scored.mm(directions.t()).max(1)).mean().item<double>();
    };
    // Whole epochs, at least kMinTrialSteps steps: the trial must reach a
    // re-seeding check, as the trials measured did (12 steps on 80 images).
    const int perEpoch = stepsPerEpoch();
    const int epochs =
        std::max(detail::trialEpochs(emEpochs()), (kMinTrialSteps + perEpoch - 1) / perEpoch);
    const int total = 2 * epochs * perEpoch;
    const detail::InitTick stepped = tick("trial EM");
    int done = 0;
    if (stepped)
        stepped(done, total);
    choice.textureWords = texture->words;
    choice.trialEpochs = epochs;
    choice.trialObjective = objective(trialEnd(start, epochs, stepped, done, total));
    choice.trialObjectiveTexture =
        objective(trialEnd(texture->prototypes, epochs, stepped, done, total));
    choice.fromTexture = choice.trialObjectiveTexture > choice.trialObjective;
    if (choice.fromTexture)
        start = texture->prototypes;
}

} // namespace primaps
