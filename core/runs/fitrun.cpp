// SPDX-License-Identifier: MIT
#include "runs/fitrun.h"

#include "dataset/defaultsplit.h"

#include "backbones/backbone.h"
#include "evaluation/evaluation.h"
#include "runs/rundescription_p.h"
#include "runs/runfolderguard.h"
#include "support/atomicfile.h"
#include "support/error.h"
#include "support/jsontext_p.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <system_error>

namespace primaps {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string formatNumber(double value, int digits)
{
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.*g", digits, value);
    return buffer;
}

std::string absolutePath(const std::string& path)
{
    std::error_code ec;
    const fs::path p = fs::absolute(fs::path(path), ec);
    return ec ? path : p.lexically_normal().string();
}

} // namespace

std::string runFilePath(const std::string& runDir, const char* name)
{
    return (fs::path(runDir) / name).string();
}

FitRunFolder readFitRunFolder(const std::string& runDir)
{
    const std::string path = runFilePath(runDir, "run.json");
    std::error_code ec;
    if (!fs::is_regular_file(path, ec))
        throw Error("'" + runDir + "' holds no fit (no run.json)");
    json j;
    try {
        j = json::parse(readFile(path));
    } catch (const json::exception& e) {
        throw Error("'" + path + "': not a run description (" + e.what() + ")");
    }
    if (!isFitRunDescription(j))
        throw Error("'" + path + "' is not a run description");
    FitRunFolder run;
    try {
        run.dataset.kind = datasetKindFromString(j.at("dataset").get<std::string>());
        run.dataset.root = j.at("root").get<std::string>();
        run.dataset.split = j.value("split", std::string());
        // 0: no hold-out (runs written before it existed have none); otherwise
        // what --holdout accepts.
        run.dataset.holdout =
            j.contains("holdout") && !(j.at("holdout").is_number() && j.at("holdout") == 0)
                ? jsonNumber(j.at("holdout"), "field 'holdout'", 0.0, 1.0, true, true)
                : 0.0;
        FitRunSettings& s = run.settings;
        // "clusters" (the prototypes) may exceed "classes" (the dataset's); runs
        // written before over-clustering have only "classes", and both were equal.
        const int classes = jsonInt(j.at("classes"), "field 'classes'");
        s.em.classes = jsonIntOr(j, "clusters", classes, "field 'clusters'");
        if (run.dataset.kind == DatasetKind::Folder)
            run.dataset.classes = classes;
        // Runs written before the filter bank had versions used version 1.
        s.backbone =
            backboneFromRecord(j.at("backbone").get<std::string>(),
                               jsonIntOr(j, "backbone_version", 0, "field 'backbone_version'"));
        s.weights = j.value("weights", std::string());
        s.resolution = jsonInt(j.at("resolution"), "field 'resolution'");
        // Floating-point settings in the ranges `primaps fit` accepts for them.
        s.threshold = float(jsonNumber(j.at("threshold"), "field 'threshold'", 0.0, 1.0, true));
        s.maskCrf = j.value("mask_crf", true);
        s.cacheDir = j.value("cache", std::string());
        s.runDir = runDir;
        s.em.method = emMethodFromString(j.at("method").get<std::string>());
        // Runs written before protocols existed followed the paper's procedure.
        s.em.protocol = emProtocolFromString(j.value("protocol", std::string("paper")));
        s.em.epochs = jsonInt(j.at("epochs"), "field 'epochs'");
        s.em.initEpochs = jsonInt(j.at("init_epochs"), "field 'init_epochs'");
        s.em.batchSize = jsonInt(j.at("batch_size"), "field 'batch_size'");
        const json& seed = j.at("seed");
        s.em.seed = seed.is_string() ? std::stoull(seed.get<std::string>())
                                     : jsonUnsigned64(seed, "field 'seed'");
        s.em.learningRate =
            float(jsonNumber(j.at("learning_rate"), "field 'learning_rate'", 0.0, 1e3, true));
        s.em.emaDecay = float(jsonNumber(j.at("ema_decay"), "field 'ema_decay'", 0.0, 1.0));
        s.em.emaEvery = jsonInt(j.at("ema_every"), "field 'ema_every'");
        s.em.pcaImages = jsonIntOr(j, "pca_images", s.em.pcaImages, "field 'pca_images'");
        // Runs written before the robust protocol whitened fitted raw features.
        s.em.whitenRidge =
            j.contains("whiten_ridge")
                ? float(jsonNumber(j.at("whiten_ridge"), "field 'whiten_ridge'", 0.0, 1e3))
                : 0.0f;
        s.em.studentAugmentation = j.value("student_augmentation", false);
        const int views = jsonIntOr(j, "student_views", 0, "field 'student_views'");
        s.studentViews = views > 0 ? views : 1;
        s.checkpointEvery =
            jsonIntOr(j, "checkpoint_every", s.checkpointEvery, "field 'checkpoint_every'");
        s.validationSplit = j.value("val_split", std::string());
        s.validationEvery = jsonIntOr(j, "val_every", 0, "field 'val_every'");
        run.complete = j.value("complete", false);
        run.steps = j.contains("steps") ? jsonInteger(j.at("steps"), "field 'steps'", 0,
                                                      std::numeric_limits<std::int64_t>::max())
                                        : 0;
    } catch (const Error& e) {
        throw Error("'" + path + "': " + e.what());
    } catch (const std::exception& e) {
        throw Error("'" + path + "': incomplete run description (" + e.what() + ")");
    }
    return run;
}

std::string runEvaluationSplit(const FitRunFolder& folder)
{
    if (!folder.settings.validationSplit.empty())
        return folder.settings.validationSplit;
    return defaultSplit(folder.dataset, "val");
}

std::int64_t readFitCheckpointStep(const std::string& runDir)
{
    try {
        const json s = json::parse(readFile(runFilePath(runDir, "state.json")));
        return jsonInteger(s.at("steps_done"), "steps_done", 0,
                           std::numeric_limits<std::int64_t>::max());
    } catch (const std::exception&) {
        return -1;
    }
}

FitHistory readFitHistory(const std::string& runDir)
{
    FitHistory history;
    try {
        history.steps = emHistoryFromState(readFile(runFilePath(runDir, "state.json")));
    } catch (const std::exception&) {
        return {};
    }
    const std::int64_t last = history.steps.empty() ? 0 : history.steps.back().step;
    std::ifstream metrics(runFilePath(runDir, "metrics.csv"));
    std::string line;
    std::getline(metrics, line); // header
    while (std::getline(metrics, line)) {
        long long step = 0;
        double acc = 0, miou = 0;
        if (std::sscanf(line.c_str(), "%lld,%lf,%lf", &step, &acc, &miou) != 3 || step > last)
            continue;
        // A validation that was repeated after a resume replaces the earlier one.
        while (!history.validations.empty() && history.validations.back().first >= step)
            history.validations.pop_back();
        history.validations.push_back(
            {std::int64_t(step), EmFitJob::Metrics{{"val_acc", acc}, {"val_miou", miou}}});
    }
    return history;
}

// The caches the stages share; they live for one run().
struct DatasetFitJob::Resources
{
    CacheKey featureKey;
    std::optional<FeatureCache> features;
    std::optional<FeatureCache> student;
    std::optional<MaskCache> masks;
    FeatureSettings featureSettings;
    PrimapsParams primaps;
};

DatasetFitJob::DatasetFitJob(Dataset dataset, FitRunSettings settings)
    : dataset_(std::move(dataset)), settings_(std::move(settings))
{
    FitRunSettings& s = settings_;
    if (s.shard.count < 1 || s.shard.index < 0 || s.shard.index >= s.shard.count)
        throw Error("invalid shard");
    if (s.lastStage == FitStage::Fit && s.shard.count != 1)
        throw Error("a shard covers only part of the images; the fit needs all of them");
    if (s.lastStage == FitStage::Fit && s.runDir.empty())
        throw Error("the fit needs a run folder");
    if (!s.runDir.empty())
        requireFitRunFolder(s.runDir, s.cacheDir);
    if (s.cacheDir.empty()) {
        if (s.runDir.empty())
            throw Error("a cache folder or a run folder is required");
        s.cacheDir = runFilePath(s.runDir, "cache");
    }
    if (s.studentViews < 1)
        throw Error("student views must be at least 1");
    if (s.checkpointEvery < 1)
        throw Error("the checkpoint interval must be at least 1 step");
    BackboneOptions options;
    options.weightsPath = s.weights;
    backbone_ = createBackbone(s.backbone, options);
    if (s.resolution <= 0)
        s.resolution = backbone_->recommendedResize();
    if (s.resolution < minimumResolution(backbone_->patchSize()))
        throw Error("resolution " + std::to_string(s.resolution) + " is too small for backbone '" +
                    backbone_->name() + "': the shorter side must be at least " +
                    std::to_string(minimumResolution(backbone_->patchSize())) + " pixels (two " +
                    std::to_string(backbone_->patchSize()) +
                    "-pixel patches, so that each image gives PriMaPs a feature map of at least "
                    "2x2 positions)");
    if (!(s.threshold > 0.0f))
        s.threshold = backbone_->recommendedThreshold();
    if (!(s.threshold > 0.0f && s.threshold <= 1.0f))
        throw Error("the PriMaPs threshold must be in (0, 1]");
    if (s.em.classes <= 0)
        s.em.classes = dataset_.classCount();
    else if (dataset_.classCount() > 0 && s.em.classes < dataset_.classCount())
        throw Error("the fit needs at least as many clusters as the dataset has classes (" +
                    std::to_string(dataset_.classCount()) + "); more clusters over-cluster");
    if (s.em.classes < 1 && s.lastStage == FitStage::Fit)
        throw Error("the dataset has no class list (classes.txt): give the number of classes");
}

DatasetFitJob::~DatasetFitJob() = default;

std::string DatasetFitJob::prototypesPath() const
{
    return runFilePath(settings_.runDir, "theta_m.json");
}

bool DatasetFitJob::runStage(JobControl& control, Job& job, const char* stage,
                             const StageReport& report)
{
    if (!control.proceed())
        return false;
    control.markStarted();
    try {
        job.run(control);
    } catch (...) {
        if (stageDone_)
            stageDone_(stage, report);
        throw;
    }
    if (stageDone_)
        stageDone_(stage, report);
    someFailed_ = someFailed_ || !report.failures.empty();
    return !control.isCanceled();
}

void DatasetFitJob::run(JobControl& control)
{
    const FitRunSettings& s = settings_;
    Resources r;
    r.featureSettings.resolution = s.resolution;
    r.primaps.threshold = s.threshold;
    r.featureKey = featureCacheKey(dataset_, backbone_->name(), s.weights, r.featureSettings);
    r.features.emplace(s.cacheDir, r.featureKey);
    FeatureJob features(dataset_, *backbone_, *r.features, r.featureSettings, s.shard, s.strict);
    if (!runStage(control, features, "features", features.report()))
        return;

    // The student views go through the backbone once per view and are cached
    // like the plain features (same shards, same resume).
    if (s.em.studentAugmentation) {
        FeatureSettings student = r.featureSettings;
        student.studentViews = s.studentViews;
        student.augmentationSeed = s.em.seed;
        r.student.emplace(s.cacheDir,
                          featureCacheKey(dataset_, backbone_->name(), s.weights, student));
        FeatureJob studentJob(dataset_, *backbone_, *r.student, student, s.shard, s.strict);
        if (!runStage(control, studentJob, "student features", studentJob.report()))
            return;
    }
    if (s.lastStage == FitStage::Features)
        return;

    r.masks.emplace(s.cacheDir, maskCacheKey(r.featureKey, r.primaps, s.maskCrf));
    MaskJob masks(dataset_, *r.features, *r.masks, r.featureSettings, r.primaps, s.maskCrf, s.shard,
                  s.strict);
    if (!runStage(control, masks, "masks", masks.report()))
        return;
    if (s.lastStage == FitStage::Masks)
        return;
    if (!control.proceed())
        return;
    control.markStarted();
    fit(control, r);
}

void DatasetFitJob::fit(JobControl& control, Resources& r)
{
    const FitRunSettings& s = settings_;
    auto log = [this](const std::string& line) {
        if (log_)
            log_(line);
    };
    const CachedEmData data(dataset_, *r.features, *r.masks, r.student ? &*r.student : nullptr,
                            s.studentViews);
    if (!data.missing().empty()) {
        const std::string line =
            std::to_string(data.missing().size()) +
            " image(s) lack cached features or masks and are left out of the fit (first: '" +
            data.missing().front() + "')";
        if (s.strict)
            throw Error(line + " (stopping: strict)");
        log(line);
    }
    if (data.size() == 0)
        throw Error("no image has both features and masks; nothing to fit");

    std::error_code ec;
    fs::create_directories(s.runDir, ec);
    if (!fs::is_directory(s.runDir))
        throw Error("cannot create run folder '" + s.runDir + "'");
    const std::string statePath = runFilePath(s.runDir, "state.json");
    EmFit fit(data, s.em);
    if (fs::exists(statePath) && !s.restart) {
        try {
            fit.restoreState(readFile(statePath));
        } catch (const std::exception& e) {
            checkpointRejected_ = true;
            throw Error(std::string(e.what()) + " ('" + statePath +
                        "'; start over to discard it, or use another run folder)");
        }
        resumedFrom_ = fit.stepsDone();
        if (fit.stepsDone() > 0) // a checkpoint of a fit canceled in its PCA has none
            log("resuming from step " + std::to_string(fit.stepsDone()) + " of " +
                std::to_string(fit.totalSteps()));
    }

    if (s.em.method != EmMethod::KMeans) {
        // theta_M, the fit's result, moves only with the EMA updates; a fit too
        // short for one ends exactly at its k-means initialisation.
        const std::int64_t emSteps = std::int64_t(fit.stepsPerEpoch()) * s.em.epochs;
        if (s.em.emaEvery <= 0)
            log("note: with --ema-every 0 theta_M (the fit's result) is never updated and stays "
                "at its k-means initialisation");
        else if (emSteps < s.em.emaEvery)
            log("note: theta_M (the fit's result) is updated every " +
                std::to_string(s.em.emaEvery) + " EM steps and this fit makes " +
                std::to_string(emSteps) + " (" + std::to_string(fit.stepsPerEpoch()) +
                " per epoch x " + std::to_string(s.em.epochs) +
                " epochs), so it stays at its k-means initialisation; give more --epochs, or a "
                "smaller --batch-size or --ema-every");
    }

    json names = json::array();
    for (const std::string& name : dataset_.classNames())
        names.push_back(name);
    json runInfo = {
        {"format", "primaps-run"},
        {"version", 1},
        {"dataset", toString(dataset_.kind())},
        {"root", dataset_.root()},
        {"split", dataset_.split()},
        {"holdout", dataset_.holdout()},
        {"classes", dataset_.classCount() > 0 ? dataset_.classCount() : s.em.classes},
        {"clusters", s.em.classes},
        {"class_names", names},
        {"backbone", backbone_->name()},
        {"backbone_version", backboneVersion(backbone_->name())},
        {"weights", s.weights},
        {"resolution", s.resolution},
        {"threshold", double(s.threshold)},
        {"mask_crf", s.maskCrf},
        {"cache", absolutePath(s.cacheDir)},
        {"feature_cache_key", r.featureKey.text()},
        {"method", toString(s.em.method)},
        {"protocol", toString(s.em.protocol)},
        {"epochs", s.em.epochs},
        {"init_epochs", s.em.initEpochs},
        {"batch_size", s.em.batchSize},
        {"seed", std::to_string(s.em.seed)},
        {"learning_rate", double(s.em.learningRate)},
        {"ema_decay", double(s.em.emaDecay)},
        {"ema_every", s.em.emaEvery},
        {"pca_images", s.em.pcaImages},
        {"whiten_ridge", s.em.protocol == EmProtocol::Robust ? double(s.em.whitenRidge) : 0.0},
        {"student_augmentation", s.em.studentAugmentation},
        {"student_views", s.em.studentAugmentation ? s.studentViews : 0},
        {"checkpoint_every", s.checkpointEvery},
        {"val_split", s.validationSplit},
        {"val_every", s.validationEvery},
        {"images", int(data.size())},
        {"reseeded_prototypes", fit.reseeds()},
        {"complete", false},
    };
    const std::string runJson = runFilePath(s.runDir, "run.json");
    writeFileAtomic(runJson, runInfo.dump(4) + "\n");

    EmFitJob job(fit, statePath, s.checkpointEvery);
    job.setInitialisedCallback([&](const EmFit& initialised) {
        if (initialised.initChoice().restarts > 0)
            log(initialised.initChoice().describe());
    });
    // Validation on a labelled split: flip-averaged features cached like eval's.
    std::optional<Dataset> valDataset;
    std::optional<FeatureCache> valCache;
    FeatureSettings valSettings = r.featureSettings;
    valSettings.flipAverage = true;
    const std::string metricsPath = runFilePath(s.runDir, "metrics.csv");
    if (!s.validationSplit.empty()) {
        DatasetOptions vo;
        vo.kind = dataset_.kind();
        vo.root = dataset_.root();
        vo.split = s.validationSplit;
        vo.holdout = dataset_.holdout();
        vo.classes = dataset_.classCount() > 0 ? dataset_.classCount() : s.em.classes;
        valDataset = Dataset::open(vo);
        if (!valDataset->hasLabels())
            throw Error("validation split '" + vo.split + "' has no labels");
        valCache.emplace(s.cacheDir,
                         featureCacheKey(*valDataset, backbone_->name(), s.weights, valSettings));
        if (!fs::exists(metricsPath) || s.restart)
            writeFileAtomic(metricsPath, "step,acc,miou\n");
        const int every = s.validationEvery > 0 ? s.validationEvery : fit.stepsPerEpoch();
        job.setValidation(every, [&](const EmFit& current) {
            EvaluationJob evaluation(*valDataset, *backbone_, *valCache, valSettings,
                                     current.thetaM(), false);
            // The evaluation reports as "validation" in the fit's progress, and
            // a cancel of the fit stops it after the current image.
            const JobProgress fitProgress = control.progress();
            JobControl inner;
            inner.setProgressCallback([&](const JobProgress& p) {
                if (control.isCanceled()) {
                    inner.cancel();
                    return;
                }
                JobProgress shown = fitProgress;
                shown.stage = "validation";
                shown.values.clear();
                shown.message =
                    "validation " + std::to_string(p.step) + "/" + std::to_string(p.totalSteps);
                control.report(shown);
            });
            const JobState state = runJob(evaluation, inner);
            if (state == JobState::Canceled)
                return EmFitJob::Metrics{};
            if (state != JobState::Finished)
                throw Error("validation failed: " + inner.error());
            const EvaluationResult result = evaluate(evaluation.confusion());
            std::ofstream(metricsPath, std::ios::app)
                << current.stepsDone() << "," << result.accuracy << "," << result.meanIoU << "\n";
            return EmFitJob::Metrics{{"val_acc", result.accuracy}, {"val_miou", result.meanIoU}};
        });
    }
    if (!fit.done())
        job.run(control);
    stepsDone_ = fit.stepsDone();
    totalSteps_ = fit.totalSteps();
    images_ = data.size();
    history_ = fit.history();
    if (control.isCanceled())
        return;

    writeFileAtomic(runFilePath(s.runDir, "theta_m.json"), prototypesToJson(fit.thetaM()));
    writeFileAtomic(runFilePath(s.runDir, "theta_r.json"), prototypesToJson(fit.thetaR()));
    std::string csv = "step,phase,epoch,loss,ema_decay,labelled_fraction\n";
    for (const EmStepInfo& step : fit.history())
        csv += std::to_string(step.step) + "," + toString(step.phase) + "," +
               std::to_string(step.epoch) + "," + formatNumber(step.loss, 9) + "," +
               (step.emaDecay >= 0 ? formatNumber(step.emaDecay, 6) : std::string()) + "," +
               formatNumber(step.labelledFraction, 6) + "\n";
    writeFileAtomic(runFilePath(s.runDir, "history.csv"), csv);
    runInfo["complete"] = true;
    runInfo["steps"] = fit.stepsDone();
    runInfo["reseeded_prototypes"] = fit.reseeds();
    if (const EmInitChoice& c = fit.initChoice(); c.restarts > 0) {
        // Which k-means restart the fit began from, and why (docs/em-quality.md,
        // "Session 12"); restarts count from 1; evidence_t null means infinite.
        nlohmann::json init = {{"restarts", c.restarts},
                               {"chosen_restart", c.chosen},
                               {"chosen_by", c.rule},
                               {"best_objective_restart", c.byObjective}};
        if (!std::isnan(c.sharedPairs)) { // PriMaPs-EM: the masks were counted
            init["images_with_mask_pairs"] = c.images;
            init["mask_pair_weight_in_one_cluster"] = c.sharedPairs;
            init["mask_pair_weight_in_one_cluster_best_objective"] = c.sharedPairsByObjective;
            init["fewest_mask_pairs_restart"] = c.fewest;
            init["mask_pair_weight_in_one_cluster_fewest"] = c.sharedPairsFewest;
            init["evidence_t"] = c.evidence;
            init["evidence_needed_t"] = c.threshold;
        }
        if (c.textureWords > 0) { // the texture start was built and tried (session 14)
            init["start"] = c.fromTexture ? "texture groups" : "k-means restart";
            init["texture_words"] = c.textureWords;
            init["trial_epochs"] = c.trialEpochs;
            init["trial_objective_restart"] = c.trialObjective;
            init["trial_objective_texture"] = c.trialObjectiveTexture;
        }
        runInfo["initialisation"] = init;
    }
    writeFileAtomic(runJson, runInfo.dump(4) + "\n");
}

} // namespace primaps
