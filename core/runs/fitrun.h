// SPDX-License-Identifier: MIT
#pragma once

#include "dataset/dataset.h"
#include "runs/datasetjobs.h"
#include "em/emfit.h"
#include "support/job.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace primaps {

/// The stage after which a dataset run stops.
enum class FitStage
{
    Features, ///< cache backbone features (and student views) only
    Masks,    ///< ... and PriMaPs masks (`primaps masks`)
    Fit,      ///< ... and the EM fit into the run folder (`primaps fit`, the studio)
};

/// Everything that decides a dataset run: the training data, the features and
/// masks it is fitted on, the fit's parameters and where the run lives. The CLI
/// fills it from its options, the studio from its fit dialog or from a run
/// folder (fitRunSettingsFromFolder()).
struct FitRunSettings
{
    std::string backbone = "filterbank";
    std::string weights;  ///< checkpoint or TorchScript file; empty = the backbone's default
    std::string runDir;   ///< required for FitStage::Fit
    std::string cacheDir; ///< features and masks; empty = runDir/cache
    int resolution = 0;   ///< shorter side before the crop; 0 = the backbone's
    float threshold = 0;  ///< PriMaPs tau; 0 = the backbone's
    bool maskCrf = true;  ///< refine the cached masks with the dense CRF
    /// em.classes <= 0 takes the dataset's class count.
    EmParams em;
    int studentViews = 1;     ///< augmented views cached per image (em.studentAugmentation)
    int checkpointEvery = 50; ///< steps between checkpoints
    /// Labelled split evaluated while fitting (Acc and mIoU of theta_M); empty = none.
    std::string validationSplit;
    int validationEvery = 0; ///< steps between validations; 0 = once per epoch
    bool restart = false;    ///< discard an existing checkpoint
    FitStage lastStage = FitStage::Fit;
    Shard shard;         ///< per-image stages only (not with FitStage::Fit)
    bool strict = false; ///< stop at the first unusable item instead of skipping it
};

/// What a run folder's run.json says: the settings it was started with (the
/// dataset options in `dataset`), whether it finished and after how many steps.
struct FitRunFolder
{
    DatasetOptions dataset;
    FitRunSettings settings;
    bool complete = false;
    std::int64_t steps = 0; ///< steps of a complete run; 0 otherwise
};

/// Reads RUN_DIR/run.json (written by DatasetFitJob, i.e. by `primaps fit` or the
/// studio). Throws primaps::Error naming the file when it is missing or not a
/// run description. Any thread.
FitRunFolder readFitRunFolder(const std::string& runDir);

/// The split a finished run is evaluated and reviewed on unless the user picks
/// another: the validation split it was fitted with, else defaultSplit(dataset,
/// "val"): "val" for the benchmark layouts and a held-out folder, ROOT/val.txt for
/// a folder that lists it, else the whole folder (empty). Review opens the same
/// split as Evaluate on purpose: its counts fill the same Evaluation dock and its
/// saved cluster-to-class match is scored on them, so the two views must agree;
/// the fit's own images (legitimate to review as pseudo-labels) are one choice
/// away (Review's Open dialog or --split). Where the split holds images the fit
/// saw, fitOverlap() tells, and both views say so. Reads the directory entry of
/// ROOT/val.txt; any thread.
std::string runEvaluationSplit(const FitRunFolder& folder);

/// Steps done by the checkpoint RUN_DIR/state.json, without loading the data;
/// -1 when there is no readable checkpoint. Any thread.
std::int64_t readFitCheckpointStep(const std::string& runDir);

/// What a run folder's checkpoint has done so far: the steps of RUN_DIR/state.json
/// and the validations of RUN_DIR/metrics.csv up to its last step. Empty when
/// there is no readable checkpoint. Any thread.
struct FitHistory
{
    std::vector<EmStepInfo> steps;
    std::vector<std::pair<std::int64_t, EmFitJob::Metrics>> validations;
};
FitHistory readFitHistory(const std::string& runDir);

/// The run folder's files.
std::string runFilePath(const std::string& runDir, const char* name);

/// Runs the stages of a dataset fit as one job, exactly as `primaps fit` does:
/// feature cache (and student views), PriMaPs mask cache, then the EM fit with
/// checkpoints, resume and optional validation, writing the run folder
/// (run.json, state.json, theta_m.json, theta_r.json, history.csv, metrics.csv).
///
/// Progress: JobProgress::stage is "features", "student features", "masks", then
/// the fit's "pca", "k-means" or "em"; the clock (elapsed, ETA) restarts with
/// each stage, so the ETA is the current stage's: the fit's phases are stages
/// of their own for it (EmFitJob). The PCA initialisation reports as it reads
/// images ("pca", step 0, JobProgress::message "PCA initialisation: 3 of 11
/// images", no ETA) and stops there when canceled. Values are the EmFitJob's
/// (loss, labelled, ema_decay, val_acc, val_miou). Canceling keeps the caches
/// and the checkpoint: the same settings resume.
///
/// Threading: construct anywhere, run() on one thread; the callbacks run on
/// that thread. The accessors are for after run() returned.
class DatasetFitJob : public Job
{
public:
    /// Takes the opened training dataset. Creates the backbone (may load
    /// weights: slow) and resolves the defaults (resolution, threshold,
    /// classes, cache folder). Throws primaps::Error on invalid settings
    /// (unknown backbone or method, threshold outside (0, 1], a resolution below
    /// minimumResolution(), unknown class count, a shard with the fit stage, no
    /// run folder for the fit stage, ...), before any image is read.
    DatasetFitJob(Dataset dataset, FitRunSettings settings);
    ~DatasetFitJob() override;

    /// The settings with the defaults resolved.
    const FitRunSettings& settings() const { return settings_; }
    const Dataset& dataset() const { return dataset_; }

    /// One line for the user (resuming, images left out, ...). Set before run().
    void setLogCallback(std::function<void(const std::string&)> log) { log_ = std::move(log); }
    /// Called after each per-image stage ("features", "student features",
    /// "masks") with its report, also when it was canceled or failed.
    void setStageCallback(std::function<void(const std::string&, const StageReport&)> callback)
    {
        stageDone_ = std::move(callback);
    }

    void run(JobControl& control) override;

    /// True when any item of a per-image stage failed (it was skipped).
    bool someItemsFailed() const { return someFailed_; }
    /// The checkpoint in the run folder could not be used (another fit's, or
    /// damaged); restart discards it.
    bool checkpointRejected() const { return checkpointRejected_; }
    /// Step the fit resumed from (0 when it started afresh).
    std::int64_t resumedFromStep() const { return resumedFrom_; }
    /// After a Fit stage that ran: the fit's steps, its images and its history.
    std::int64_t stepsDone() const { return stepsDone_; }
    std::int64_t totalSteps() const { return totalSteps_; }
    std::size_t images() const { return images_; }
    const std::vector<EmStepInfo>& history() const { return history_; }
    /// The run's theta_m.json (written when the fit completed).
    std::string prototypesPath() const;

private:
    struct Resources;
    bool runStage(JobControl& control, Job& job, const char* stage, const StageReport& report);
    void fit(JobControl& control, Resources& r);

    Dataset dataset_;
    FitRunSettings settings_;
    std::unique_ptr<class Backbone> backbone_;
    std::function<void(const std::string&)> log_;
    std::function<void(const std::string&, const StageReport&)> stageDone_;
    bool someFailed_ = false;
    bool checkpointRejected_ = false;
    std::int64_t resumedFrom_ = 0;
    std::int64_t stepsDone_ = 0;
    std::int64_t totalSteps_ = 0;
    std::size_t images_ = 0;
    std::vector<EmStepInfo> history_;
};

} // namespace primaps
