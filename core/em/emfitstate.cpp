// SPDX-License-Identifier: MIT
// An EM fit's checkpoints (the whole state as JSON, restored exactly), the
// prototypes' JSON form, and the job that runs a fit step by step with
// checkpoints and validation. The steps themselves are in emfit.cpp.
#include "em/emfitimpl_p.h"

#include "support/atomicfile.h"
#include "support/error.h"
#include "support/jsontext_p.h"

#include <nlohmann/json.hpp>
#include <optional>

namespace primaps {

using nlohmann::json;

namespace {

json prototypesJson(const Prototypes& p)
{
    return json{
        {"classes", p.classes}, {"dim", p.dim}, {"gain", p.gain}, {"direction", p.direction}};
}

// The largest step or update count a state may hold. No fit runs 2^53 steps; a
// larger count is damage, and the next step's increment would overflow it.
constexpr std::int64_t kMaxCount = std::int64_t(1) << 53;

// A value of the history: a number, or null, which is how a NaN loss was written
// (nlohmann dumps NaN as null); shown as a gap by the fit monitor, never computed with.
double historyNumber(const json& value, const char* what)
{
    if (value.is_null())
        return std::numeric_limits<double>::quiet_NaN();
    return jsonNumber(value, what, -std::numeric_limits<double>::max(),
                      std::numeric_limits<double>::max());
}

// A state's "history": one [phase, epoch, step, loss, ema decay, labelled] per step.
std::vector<EmStepInfo> historyFrom(const json& history)
{
    std::vector<EmStepInfo> steps;
    for (const json& h : history) {
        EmStepInfo info;
        info.phase = EmPhase(
            jsonInteger(h.at(0), "a history entry's phase", int(EmPhase::Pca), int(EmPhase::Done)));
        info.epoch = jsonInt(h.at(1), "a history entry's epoch");
        info.step = jsonInteger(h.at(2), "a history entry's step", 0,
                                std::numeric_limits<std::int64_t>::max());
        info.loss = historyNumber(h.at(3), "a history entry's loss");
        info.emaDecay = historyNumber(h.at(4), "a history entry's EMA decay");
        info.labelledFraction = historyNumber(h.at(5), "a history entry's labelled fraction");
        steps.push_back(info);
    }
    return steps;
}

// How the initialisation chose its start (kept so that run.json can say it after
// a resume). JSON has no infinity: an infinite t (no spread over the images) is
// written as null and read back as infinity; NaN shares are null too.
json initChoiceJson(const EmInitChoice& c)
{
    return json{{"restarts", c.restarts},
                {"chosen", c.chosen},
                {"by_objective", c.byObjective},
                {"fewest", c.fewest},
                {"rule", c.rule},
                {"images", c.images},
                {"shared_pairs", c.sharedPairs},
                {"shared_pairs_by_objective", c.sharedPairsByObjective},
                {"shared_pairs_fewest", c.sharedPairsFewest},
                {"evidence", c.evidence},
                {"threshold", c.threshold},
                {"texture_words", c.textureWords},
                {"trial_epochs", c.trialEpochs},
                {"trial_objective", c.trialObjective},
                {"trial_objective_texture", c.trialObjectiveTexture},
                {"from_texture", c.fromTexture}};
}

EmInitChoice initChoiceFrom(const json& j)
{
    EmInitChoice c;
    c.restarts = int(jsonInteger(j.at("restarts"), "'init_choice': 'restarts'", 0, 1 << 20));
    // Restarts count from 1; 0 restarts (no choice made) leaves everything 0.
    const int first = c.restarts > 0 ? 1 : 0, last = c.restarts;
    c.chosen = int(jsonInteger(j.at("chosen"), "'init_choice': 'chosen'", first, last));
    c.byObjective =
        int(jsonInteger(j.at("by_objective"), "'init_choice': 'by_objective'", first, last));
    c.fewest = int(jsonInteger(j.at("fewest"), "'init_choice': 'fewest'", 0, last));
    if (!j.at("rule").is_string())
        throw Error("'init_choice': 'rule' is not a string");
    c.rule = j.at("rule").get<std::string>();
    if (c.restarts > 0 && c.rule != "objective" && c.rule != "mask contrast")
        throw Error("'init_choice': unknown rule '" + c.rule + "'");
    c.images = int(jsonInteger(j.at("images"), "'init_choice': 'images'", 0, 1 << 30));
    c.sharedPairs = historyNumber(j.at("shared_pairs"), "'init_choice': 'shared_pairs'");
    c.sharedPairsByObjective =
        historyNumber(j.at("shared_pairs_by_objective"), "'init_choice': 'shared_pairs_by_objective'");
    c.sharedPairsFewest =
        historyNumber(j.at("shared_pairs_fewest"), "'init_choice': 'shared_pairs_fewest'");
    c.evidence = j.at("evidence").is_null()
                     ? std::numeric_limits<double>::infinity()
                     : historyNumber(j.at("evidence"), "'init_choice': 'evidence'");
    c.threshold = historyNumber(j.at("threshold"), "'init_choice': 'threshold'");
    // The texture start (session 14) is absent from the states of earlier fits.
    if (!j.contains("texture_words"))
        return c;
    c.textureWords =
        int(jsonInteger(j.at("texture_words"), "'init_choice': 'texture_words'", 0, 1 << 20));
    c.trialEpochs =
        int(jsonInteger(j.at("trial_epochs"), "'init_choice': 'trial_epochs'", 0, 1 << 20));
    c.trialObjective = historyNumber(j.at("trial_objective"), "'init_choice': 'trial_objective'");
    c.trialObjectiveTexture =
        historyNumber(j.at("trial_objective_texture"), "'init_choice': 'trial_objective_texture'");
    if (!j.at("from_texture").is_boolean())
        throw Error("'init_choice': 'from_texture' is not true or false");
    c.fromTexture = j.at("from_texture").get<bool>();
    if (c.textureWords == 0) {
        // No texture start was built: nothing was tried.
        if (c.trialEpochs != 0 || c.fromTexture || !std::isnan(c.trialObjective) ||
            !std::isnan(c.trialObjectiveTexture))
            throw Error("'init_choice': trials recorded without texture words");
        return c;
    }
    // Objectives are mean cosines; the start follows the higher one.
    auto cosine = [](double v) { return v >= -1.0 && v <= 1.0; };
    if (c.restarts == 0 || c.trialEpochs < 1 || !cosine(c.trialObjective) ||
        !cosine(c.trialObjectiveTexture) ||
        c.fromTexture != (c.trialObjectiveTexture > c.trialObjective))
        throw Error("'init_choice': the texture start's trials are inconsistent");
    return c;
}

// A float parameter of the state, compared with the fit's own: any float's value.
float stateFloat(const json& value, const char* what)
{
    const double largest = double(std::numeric_limits<float>::max());
    return float(jsonNumber(value, what, -largest, largest));
}

Prototypes prototypesFrom(const json& j)
{
    Prototypes p;
    p.classes = jsonInt(j.at("classes"), "prototypes: 'classes'");
    p.dim = jsonInt(j.at("dim"), "prototypes: 'dim'");
    p.gain = jsonFloats(j.at("gain"), "prototypes: 'gain'");
    p.direction = jsonFloats(j.at("direction"), "prototypes: 'direction'");
    if (p.classes < 0 || p.dim < 0 || p.gain.size() != std::size_t(p.classes) ||
        p.direction.size() != std::size_t(p.classes) * std::size_t(p.dim))
        throw Error("prototypes: sizes do not match classes x dim");
    return p;
}

} // namespace

std::string EmFit::saveState() const
{
    const EmParams& p = d->params;
    json history = json::array();
    for (const EmStepInfo& h : d->history)
        history.push_back({int(h.phase), h.epoch, h.step, h.loss, h.emaDecay, h.labelledFraction});
    json state = {
        {"format", "primaps-em-state"},
        {"version", kStateVersion},
        {"params",
         {{"method", toString(p.method)},
          {"protocol", toString(p.protocol)},
          {"classes", p.classes},
          {"epochs", p.epochs},
          {"init_epochs", p.initEpochs},
          {"batch_size", p.batchSize},
          {"seed", p.seed},
          {"learning_rate", p.learningRate},
          {"ema_decay", p.emaDecay},
          {"ema_every", p.emaEvery},
          {"focal_gamma", p.focalGamma},
          {"pca_images", p.pcaImages},
          {"student_augmentation", p.studentAugmentation},
          {"drop_last", p.dropLast},
          {"whiten_ridge", d->whitens() ? p.whitenRidge : 0.0f}}},
        {"images", d->imageCount},
        {"phase", int(d->phase)},
        {"epoch", d->epoch},
        {"batch_in_epoch", d->batchInEpoch},
        {"steps_done", d->stepsDone},
        {"order", d->order},
        {"rng", d->rng.state},
        {"theta_m", prototypesJson(d->thetaM)},
        {"theta_r", prototypesJson(d->thetaR)},
        {"adam_gain", {{"step", d->adamGain.step}, {"m", d->adamGain.m}, {"v", d->adamGain.v}}},
        {"adam_direction",
         {{"step", d->adamDirection.step}, {"m", d->adamDirection.m}, {"v", d->adamDirection.v}}},
        {"em_steps", d->emSteps},
        {"ema_calls", d->emaCalls},
        {"pseudo_pixels", d->pseudoPixels},
        {"reseeds", d->reseeds},
        {"init_choice", initChoiceJson(d->initChoice)},
        {"history", history},
    };
    return state.dump();
}

void EmFit::restoreState(const std::string& text)
{
    Impl restored(d->data, d->params);
    restored.imageCount = d->imageCount;
    try {
        const json s = json::parse(text);
        if (s.at("format") != "primaps-em-state" || s.at("version") != kStateVersion)
            throw Error("not an EM state of this version");
        const json& p = s.at("params");
        const EmParams& mine = d->params;
        const bool same =
            p.at("method") == toString(mine.method) &&
            // States written before protocols existed are the paper's procedure.
            p.value("protocol", std::string("paper")) == toString(mine.protocol) &&
            p.at("classes") == mine.classes &&
            p.at("epochs") == mine.epochs && p.at("init_epochs") == mine.initEpochs &&
            p.at("batch_size") == mine.batchSize && p.at("seed") == mine.seed &&
            stateFloat(p.at("learning_rate"), "'params.learning_rate'") == mine.learningRate &&
            stateFloat(p.at("ema_decay"), "'params.ema_decay'") == mine.emaDecay &&
            p.at("ema_every") == mine.emaEvery &&
            stateFloat(p.at("focal_gamma"), "'params.focal_gamma'") == mine.focalGamma &&
            p.at("pca_images") == mine.pcaImages &&
            p.at("student_augmentation") == mine.studentAugmentation &&
            p.at("drop_last") == mine.dropLast &&
            // States written before the whitening existed fitted raw features.
            (p.contains("whiten_ridge")
                 ? stateFloat(p.at("whiten_ridge"), "'params.whiten_ridge'")
                 : 0.0f) == (d->whitens() ? mine.whitenRidge : 0.0f);
        if (!same)
            throw Error("the state was made with other fit parameters");
        const std::int64_t images =
            jsonInteger(s.at("images"), "'images'", 0, std::numeric_limits<std::int64_t>::max());
        if (std::uint64_t(images) != d->imageCount)
            throw Error("the state was made for " + std::to_string(images) +
                        " images, the data has " + std::to_string(d->imageCount));
        const int phase = jsonInt(s.at("phase"), "'phase'");
        if (phase < int(EmPhase::Pca) || phase > int(EmPhase::Done))
            throw Error("invalid phase");
        restored.phase = EmPhase(phase);
        restored.epoch = jsonInt(s.at("epoch"), "'epoch'");
        restored.batchInEpoch = jsonInt(s.at("batch_in_epoch"), "'batch_in_epoch'");
        restored.stepsDone = jsonInteger(s.at("steps_done"), "'steps_done'", 0, kMaxCount);
        restored.order = jsonIntegers<std::uint32_t>(s.at("order"), "'order'");
        restored.rng.state = jsonUnsigned64(s.at("rng"), "'rng'");
        restored.thetaM = prototypesFrom(s.at("theta_m"));
        restored.thetaR = prototypesFrom(s.at("theta_r"));
        restored.adamGain.step =
            jsonInteger(s.at("adam_gain").at("step"), "'adam_gain.step'", 0, kMaxCount);
        restored.adamGain.m = jsonFloats(s.at("adam_gain").at("m"), "'adam_gain.m'");
        restored.adamGain.v = jsonFloats(s.at("adam_gain").at("v"), "'adam_gain.v'");
        restored.adamDirection.step =
            jsonInteger(s.at("adam_direction").at("step"), "'adam_direction.step'", 0, kMaxCount);
        restored.adamDirection.m =
            jsonFloats(s.at("adam_direction").at("m"), "'adam_direction.m'");
        restored.adamDirection.v =
            jsonFloats(s.at("adam_direction").at("v"), "'adam_direction.v'");
        restored.emSteps = jsonInteger(s.at("em_steps"), "'em_steps'", 0, kMaxCount);
        restored.emaCalls = jsonInteger(s.at("ema_calls"), "'ema_calls'", 0, kMaxCount);
        restored.pseudoPixels.clear();
        if (s.contains("pseudo_pixels")) {
            // Pixel counts per cluster (the robust protocol's re-seeding reads them).
            const json& counts = s.at("pseudo_pixels");
            if (!counts.is_array())
                throw Error("'pseudo_pixels' is not an array");
            for (const json& c : counts)
                restored.pseudoPixels.push_back(jsonNumber(
                    c, "'pseudo_pixels': an element", 0, std::numeric_limits<double>::max()));
        }
        restored.reseeds =
            s.contains("reseeds") ? jsonInteger(s.at("reseeds"), "'reseeds'", 0, kMaxCount) : 0;
        if (s.contains("init_choice"))
            restored.initChoice = initChoiceFrom(s.at("init_choice"));
        restored.history = historyFrom(s.at("history"));
        // Past the initialisation the prototypes are the fit's shape: a finished
        // fit's become the run's result, a running fit's are stepped on (a fit
        // stopped during its initialisation has none yet).
        const Prototypes& r = restored.thetaR;
        if (restored.phase != EmPhase::Pca &&
            (r.classes != d->params.classes || r.dim <= 0 || restored.thetaM.classes != r.classes ||
             restored.thetaM.dim != r.dim))
            throw Error("inconsistent sizes");
        if (restored.phase == EmPhase::KMeans || restored.phase == EmPhase::Em) {
            // Where the fit stands must be a place it can go on from: a batch past the
            // epoch's end would read past the image order, an epoch outside the phase
            // would never finish, and an order that is not a permutation would name
            // images the data does not have.
            if (restored.order.size() != d->imageCount ||
                restored.adamDirection.m.size() != r.direction.size() ||
                restored.adamDirection.v.size() != r.direction.size() ||
                restored.adamGain.m.size() != restored.adamGain.v.size() ||
                (restored.phase == EmPhase::Em &&
                 (restored.adamGain.m.size() != r.gain.size() ||
                  (d->params.protocol == EmProtocol::Robust &&
                   restored.pseudoPixels.size() != std::size_t(d->params.classes)))))
                throw Error("inconsistent sizes");
            const int epochs =
                restored.phase == EmPhase::KMeans ? d->kmeansEpochs() : d->emEpochs();
            if (restored.epoch < 0 || restored.epoch >= epochs)
                throw Error("'epoch' " + std::to_string(restored.epoch) +
                            " is outside the phase's " + std::to_string(epochs) + " epochs");
            if (restored.batchInEpoch < 0 || restored.batchInEpoch >= d->stepsPerEpoch())
                throw Error("'batch_in_epoch' " + std::to_string(restored.batchInEpoch) +
                            " is outside the epoch's " + std::to_string(d->stepsPerEpoch()) +
                            " batches");
            std::vector<bool> seen(d->imageCount, false);
            for (const std::uint32_t i : restored.order) {
                if (i >= d->imageCount || seen[i])
                    throw Error("'order' is not a permutation of the images");
                seen[i] = true;
            }
        }
    } catch (const Error& e) {
        throw Error(std::string("cannot restore the EM state: ") + e.what());
    } catch (const std::exception& e) {
        throw Error(std::string("cannot restore the EM state: malformed (") + e.what() + ")");
    }
    // The whitening is the one step of a restore that reads the data: it comes
    // before anything is committed, so a feature that cannot be read leaves the
    // fit as it was. It depends only on the parameters and the data, so a fit
    // that has estimated it already keeps its own.
    if (!d->whitens() || restored.phase == EmPhase::Pca)
        d->whitened.reset();
    else if (!d->whitened)
        d->estimateWhitening();
    d->phase = restored.phase;
    d->epoch = restored.epoch;
    d->batchInEpoch = restored.batchInEpoch;
    d->stepsDone = restored.stepsDone;
    d->order = std::move(restored.order);
    d->rng = restored.rng;
    d->thetaM = std::move(restored.thetaM);
    d->thetaR = std::move(restored.thetaR);
    d->adamGain = std::move(restored.adamGain);
    d->adamDirection = std::move(restored.adamDirection);
    d->emSteps = restored.emSteps;
    d->emaCalls = restored.emaCalls;
    d->pseudoPixels = std::move(restored.pseudoPixels);
    d->reseeds = restored.reseeds;
    d->initChoice = restored.initChoice;
    d->history = std::move(restored.history);
}

std::string prototypesToJson(const Prototypes& prototypes)
{
    return prototypesJson(prototypes).dump();
}

Prototypes prototypesFromJson(const std::string& text)
{
    try {
        return prototypesFrom(json::parse(text));
    } catch (const Error&) {
        throw;
    } catch (const std::exception& e) {
        throw Error(std::string("malformed prototypes: ") + e.what());
    }
}

EmFitJob::EmFitJob(EmFit& fit, std::string checkpointPath, int checkpointEvery)
    : fit_(fit), checkpointPath_(std::move(checkpointPath)), checkpointEvery_(checkpointEvery)
{
}

void EmFitJob::setValidation(int everySteps, Validator validator)
{
    validateEvery_ = everySteps;
    validator_ = std::move(validator);
}

void EmFitJob::run(JobControl& control)
{
    auto save = [this] {
        if (!checkpointPath_.empty())
            writeFileAtomic(checkpointPath_, fit_.saveState());
    };
    const EmParams& p = fit_.params();
    const double total = double(fit_.totalSteps());
    // The PCA initialisation, a k-means step and an EM step take very different
    // times: each phase's ETA comes from its own steps (none for the PCA, a
    // single step), never from the phase before it; a resumed fit's from the
    // steps made since it resumed.
    std::optional<EmPhase> estimated;
    auto estimatePhase = [&] {
        if (fit_.done() || fit_.phase() == estimated)
            return;
        estimated = fit_.phase();
        control.startEstimate(double(fit_.stepsDone()) / total,
                              double(fit_.phaseEndStep()) / total);
    };
    estimatePhase();
    while (!fit_.done()) {
        if (!control.proceed()) {
            save();
            return;
        }
        const bool initialising = fit_.phase() == EmPhase::Pca;
        const std::optional<EmStepInfo> stepped = fit_.step([&](const EmInitProgress& init) {
            JobProgress progress;
            progress.stage = toString(EmPhase::Pca);
            progress.step = fit_.stepsDone();
            progress.totalSteps = fit_.totalSteps();
            progress.fraction = double(progress.step) / total;
            progress.message = init.describe();
            control.report(progress);
            return control.proceed(); // a pause waits here; a cancel stops the PCA
        });
        if (!stepped) { // canceled during the PCA: the fit is as before it
            save();
            return;
        }
        const EmStepInfo& info = *stepped;
        if (initialising && fit_.phase() != EmPhase::Pca && initialised_)
            initialised_(fit_);
        estimatePhase(); // before the report: the next phase has no rate yet
        JobProgress progress;
        progress.stage = toString(info.phase);
        progress.step = fit_.stepsDone();
        progress.totalSteps = fit_.totalSteps();
        progress.fraction = double(progress.step) / double(progress.totalSteps);
        progress.epoch = info.epoch;
        progress.epochs = info.phase == EmPhase::Em      ? p.epochs
                          : p.method == EmMethod::KMeans ? p.epochs
                                                         : p.initEpochs;
        progress.values.emplace_back("loss", info.loss);
        if (info.phase == EmPhase::Em)
            progress.values.emplace_back("labelled", info.labelledFraction);
        if (info.emaDecay >= 0)
            progress.values.emplace_back("ema_decay", info.emaDecay);
        if (validator_ &&
            ((validateEvery_ > 0 && progress.step % validateEvery_ == 0) || fit_.done())) {
            const Metrics metrics = validator_(fit_);
            validations_.emplace_back(progress.step, metrics);
            progress.values.insert(progress.values.end(), metrics.begin(), metrics.end());
        }
        if (checkpointEvery_ > 0 && progress.step % checkpointEvery_ == 0)
            save();
        control.report(progress);
    }
    save();
}

std::vector<EmStepInfo> emHistoryFromState(const std::string& state)
{
    try {
        return historyFrom(json::parse(state).at("history"));
    } catch (const std::exception& e) {
        throw Error(std::string("not an EM state (") + e.what() + ")");
    }
}

} // namespace primaps
