// SPDX-License-Identifier: MIT
#pragma once

#include "support/featuremap.h"
#include "support/job.h"

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <opencv2/core/mat.hpp>
#include <string>
#include <utility>
#include <vector>

namespace primaps {

/// K class prototypes in weight-normalised form, as the reference's 1x1
/// convolutions: logit_k(f) = gain_k * <direction_k / |direction_k|, f> on the raw
/// features f. With gain 1 the argmax is the class of highest cosine similarity.
struct Prototypes
{
    int classes = 0;
    int dim = 0;
    std::vector<float> direction; ///< classes x dim, row-major; rows need not be unit length
    std::vector<float> gain;      ///< classes

    /// gain_k * direction_k / |direction_k| (classes x dim).
    std::vector<float> weights() const;
};

/// Cluster logits of one feature map at `size` (bilinear upsampling of the
/// per-patch logits, align_corners = false; equal to applying the prototypes to
/// bilinearly upsampled features, as the reference does, since both are linear).
/// Returns classes x size.height x size.width. Throws primaps::Error when the
/// feature dimension does not match. Thread-safe.
std::vector<float> clusterLogits(const FeatureMap& features, const Prototypes& prototypes,
                                 cv::Size size);

/// Argmax of clusterLogits() (ties to the lowest id), CV_32SC1 of `size`.
cv::Mat predictClusters(const FeatureMap& features, const Prototypes& prototypes, cv::Size size);

/// Element-wise mean of a feature map and the horizontally mirrored features of
/// the mirrored image (docs/ALGORITHM.md, "Flip averaging": evaluation averages both). `flipped` must have
/// the same shape; it is mirrored back here. Throws primaps::Error otherwise.
FeatureMap averageWithFlipped(const FeatureMap& features, const FeatureMap& flipped);

/// The training data of an EM fit: per image its features and its PriMaPs mask ids.
/// Implementations read caches, or generate data in tests. Called from the fit's
/// thread only; the object must outlive the fit.
class EmDataSource
{
public:
    virtual ~EmDataSource() = default;
    virtual std::size_t size() const = 0;
    /// Features of image `index`: C x h x w. Throws primaps::Error when unavailable.
    virtual FeatureMap features(std::size_t index) const = 0;
    /// Mask ids at label resolution (CV_8UC1): 0 = background (ignored), 1..254 =
    /// masks, 255 = ignored. The size is the label resolution of the fit.
    virtual cv::Mat masks(std::size_t index) const = 0;
    /// True when studentFeatures() is available.
    virtual bool hasStudentFeatures() const { return false; }
    /// Features of a photometrically augmented view of image `index` (same shape as
    /// features()); `view` picks one of the available views deterministically.
    virtual FeatureMap studentFeatures(std::size_t index, std::uint64_t view) const;
};

enum class EmMethod
{
    PrimapsEm, ///< PCA init, k-means warm start, then PriMaPs-EM (the paper's "+PriMaPs")
    KMeans,    ///< PCA init, then cosine k-means for all epochs (the paper's "Baseline")
};
const char* toString(EmMethod method);
/// "primaps-em" or "kmeans"; throws primaps::Error otherwise.
EmMethod emMethodFromString(const std::string& name);

/// Which procedure a fit follows (recorded in run.json and the checkpoint).
enum class EmProtocol
{
    /// The reference's training step for step: PCA directions, 2 epochs of
    /// gradient k-means, then PriMaPs-EM exactly as the official code runs it.
    Paper,
    /// The default: the same model and losses, with the changes that keep every
    /// prototype alive on real data (docs/em-quality.md): a k-means++ seeded
    /// Lloyd initialisation with restarts, and dead prototypes re-seeded during
    /// EM from the worst-fitting masks.
    Robust,
};
const char* toString(EmProtocol protocol);
/// "paper" or "robust"; throws primaps::Error otherwise.
EmProtocol emProtocolFromString(const std::string& name);

enum class EmPhase
{
    Pca,
    KMeans,
    Em,
    Done
};
const char* toString(EmPhase phase);

/// Settings of a fit; the defaults are the reference's (docs/ALGORITHM.md, "PriMaPs-EM").
struct EmParams
{
    EmMethod method = EmMethod::PrimapsEm;
    EmProtocol protocol = EmProtocol::Robust;
    /// Number of prototypes (clusters); may exceed the dataset's classes
    /// (over-clustering, evaluated by a many-to-one match).
    int classes = 27;
    /// Epochs of the final phase: EM for PrimapsEm, k-means for KMeans.
    int epochs = 50;
    /// k-means epochs that initialise PrimapsEm (the reference's init run: 2).
    int initEpochs = 2;
    int batchSize = 32;
    std::uint64_t seed = 0;
    /// Adam, both phases; defaultLearningRate(protocol) unless a user asks.
    float learningRate = 1e-3f;
    float emaDecay = 0.98f;     ///< theta_M <- EMA(theta_M, theta_R), the warm-up caps at this
    int emaEvery = 10;          ///< EM steps between EMA updates
    float focalGamma = 2.0f;
    /// Images whose features are pooled for the PCA initialisation (reference: 93
    /// batches of 32).
    int pcaImages = 2976;
    /// theta_R sees EmDataSource::studentFeatures() (photometric augmentation); the
    /// E-step always uses the plain features.
    bool studentAugmentation = false;
    /// Drop the last incomplete batch of an epoch, as the reference's loader does
    /// (an epoch always has at least one batch).
    bool dropLast = true;
    /// Robust protocol: the ridge of the feature whitening (docs/em-quality.md),
    /// relative to the features' mean eigenvalue; 0 fits the raw features. The
    /// struct's 0 is "no whitening"; what a user gets when they do not choose is
    /// defaultWhitenRidge(). The paper's protocol never whitens.
    float whitenRidge = 0.0f;
};

/// The learning rate each protocol defaults to: the reference's 5e-3 for the
/// paper's, 1e-3 for the robust one (docs/em-quality.md: at 5e-3 the E-step's
/// votes move the prototypes away from the k-means solution faster than the
/// votes improve, and with twelve classes clusters starve).
float defaultLearningRate(EmProtocol protocol);

/// The whitening ridge a fit uses unless a user chooses one: 0.3 for the robust
/// protocol on the hand-made features of `filterbank` (version 2; measured on the real-photograph
/// benchmark: k-means and PriMaPs-EM up by 1.5-4.6 mIoU on both class sets and every
/// seed, ridges from 0.1 up giving the same partition for every seed; smaller ridges
/// are seed-dependent), 0 for learned backbones, whose features were trained to be
/// compared by cosine as they are and on which we could not measure it, and always 0
/// for the paper's protocol.
float defaultWhitenRidge(EmProtocol protocol, const std::string& backbone);

/// What one step() did.
struct EmStepInfo
{
    EmPhase phase = EmPhase::Pca;
    int epoch = 0;               ///< within the phase
    std::int64_t step = 0;       ///< 1-based count of steps done in the whole fit
    double loss = 0;             ///< k-means: -mean max cosine; EM: focal cross-entropy; PCA: 0
    double emaDecay = -1;        ///< decay applied by an EMA update at this step; -1 if none
    double labelledFraction = 0; ///< EM: pixels with a pseudo-label / all pixels
};

/// How the robust protocol's initialisation picked its start (run.json
/// "initialisation"). Among the k-means restarts PriMaPs-EM takes the one that
/// puts the least mask-pair weight of an image into one cluster when that is
/// clear over the images (paired t above `threshold`), otherwise, like the
/// baseline, the restart with the highest k-means objective (docs/em-quality.md,
/// "Session 12"); then it runs a short trial EM from that restart and from the
/// masks grouped by texture, and the fit begins afresh from the start whose trial
/// ended at the higher objective ("Session 14"). Restarts are numbered from 1.
struct EmInitChoice
{
    int restarts = 0;   ///< 0: no choice made (paper protocol, or not yet)
    int chosen = 0;     ///< the restart the fit started from, 1..restarts
    int byObjective = 0; ///< the restart with the best k-means objective
    int fewest = 0;     ///< the restart with the least shared pair weight (0: not counted)
    std::string rule;   ///< "mask contrast" or "objective"
    int images = 0;     ///< images with two masks or more that were counted
    /// Share of the mask-pair weight in one cluster (NaN: not counted): the
    /// chosen restart's, the objective's and the fewest's.
    double sharedPairs = std::numeric_limits<double>::quiet_NaN();
    double sharedPairsByObjective = std::numeric_limits<double>::quiet_NaN();
    double sharedPairsFewest = std::numeric_limits<double>::quiet_NaN();
    double evidence = 0;  ///< paired t of the difference over images (+inf: no spread)
    double threshold = 0; ///< the t the masks needed (0: nothing to compare)
    /// PriMaPs-EM's second candidate, the masks grouped by texture: the texton
    /// words it was built with (0: not built), the epochs of the two trial EM
    /// runs, and the k-means objective (mean best cosine) each ended at, from
    /// restart `chosen` and from the texture groups. With `fromTexture` the fit
    /// began from the texture groups, not from restart `chosen`.
    int textureWords = 0;
    int trialEpochs = 0;
    double trialObjective = std::numeric_limits<double>::quiet_NaN();
    double trialObjectiveTexture = std::numeric_limits<double>::quiet_NaN();
    bool fromTexture = false;

    /// One line for logs: "initialisation: k-means restart 12 of 16, chosen by
    /// mask contrast (...)"; empty when no choice was made.
    std::string describe() const;
};

/// Where a running PCA initialisation is (EmFit::step() with a monitor).
struct EmInitProgress
{
    /// What it does: "images" (the paper's protocol pools the images' features),
    /// "whitening" (the robust protocol's feature statistics), "k-means sample"
    /// (the positions its k-means initialisation clusters), "k-means restarts",
    /// "mask contrast" (PriMaPs-EM: the restarts' partitions of each image's masks),
    /// "texture words", "texture histograms", "texture groups", "texture
    /// prototypes" (its texture start) and "trial EM" (its two trial runs, in steps).
    std::string task;
    int done = 0;  ///< images read or restarts made in this task
    int total = 0; ///< images or restarts of this task

    /// "PCA initialisation: 3 of 11 images", "PCA initialisation: 3 of 11 images
    /// (whitening)", "PCA initialisation: k-means restart 4 of 16", "PCA
    /// initialisation: trial EM step 5 of 24".
    std::string describe() const;
};

/// Called by the PCA initialisation when it starts each task, after each image it
/// reads and during each k-means restart; returning false stops it.
using EmInitMonitor = std::function<bool(const EmInitProgress&)>;

/// The dataset-level fit (docs/ALGORITHM.md, "PriMaPs-EM"), one batch per step(), so that a GUI can
/// show every step and tests can run it synchronously.
///
/// Determinism: for the same data, parameters and seed on the same machine and
/// thread count, every step is bit-for-bit reproducible, also across a
/// checkpoint: saveState() + restoreState() + the remaining steps give exactly
/// the uninterrupted result (the state holds theta_M, theta_R, the Adam moments,
/// the counters, the epoch's image order and the random generator).
///
/// Threading: one thread at a time; the data source is read on that thread.
class EmFit
{
public:
    /// `data` must outlive the fit. Throws primaps::Error on invalid parameters
    /// (classes < 1, epochs < 0, batch < 1, ...), an empty data source, or student
    /// augmentation without student features.
    EmFit(const EmDataSource& data, const EmParams& params);
    ~EmFit();
    EmFit(const EmFit&) = delete;
    EmFit& operator=(const EmFit&) = delete;

    const EmParams& params() const;
    bool done() const;
    /// Runs the next step: the PCA initialisation, one k-means batch or one EM
    /// batch. Throws primaps::Error when done(), when the data source fails, or
    /// when features do not match the fit (dimension, classes > dimension).
    EmStepInfo step();
    /// step(), reporting the PCA initialisation (the first step; on a large
    /// dataset it reads thousands of images and takes minutes) to `monitor`,
    /// which can stop it: step() then returns nothing and the fit is exactly as
    /// before the call, so that the next step() (or a checkpoint saved now)
    /// gives the same result as an uninterrupted fit. The other steps take one
    /// batch and ignore the monitor. Throws as step().
    std::optional<EmStepInfo> step(const EmInitMonitor& monitor);

    EmPhase phase() const;
    /// The stepsDone() at which the current phase ends (1 for the PCA
    /// initialisation; totalSteps() for the last).
    std::int64_t phaseEndStep() const;
    int epoch() const;
    std::int64_t stepsDone() const;
    std::int64_t totalSteps() const;
    int stepsPerEpoch() const;

    /// The EMA prototypes (the fit's result for PrimapsEm; equal to thetaR() for
    /// the baseline). Empty before the PCA step.
    const Prototypes& thetaM() const;
    /// The trained prototypes.
    const Prototypes& thetaR() const;
    /// Prototypes re-seeded so far because the E-step starved them (robust
    /// protocol; always 0 for the paper's).
    std::int64_t reseeds() const;
    /// How the initialisation chose its start (robust protocol; restarts 0 otherwise).
    const EmInitChoice& initChoice() const;
    /// Every step so far (kept across checkpoints).
    const std::vector<EmStepInfo>& history() const;

    /// The complete state as text (JSON). Thread: the fit's.
    std::string saveState() const;
    /// Restores a state made by saveState() of a fit with the same parameters and
    /// data size. Throws primaps::Error when the text is not such a state or they
    /// differ; the fit is unchanged then.
    void restoreState(const std::string& state);

private:
    struct Impl;
    std::unique_ptr<Impl> d;
};

/// The per-step history that saveState() text holds, without restoring a fit
/// (e.g. to plot a run's checkpoint). Throws primaps::Error when the text is not
/// such a state. Any thread.
std::vector<EmStepInfo> emHistoryFromState(const std::string& state);

/// Prototypes as a small JSON document (classes, dim, gain, direction) and back.
/// fromJson throws primaps::Error on malformed text.
std::string prototypesToJson(const Prototypes& prototypes);
Prototypes prototypesFromJson(const std::string& text);

/// Runs an EmFit to the end as a Job: checks control.proceed() before every
/// step, reports progress (stage, epoch, loss, EMA decay) after each, during the
/// PCA initialisation also as it goes (stage "pca", JobProgress::message from
/// EmInitProgress::describe(); proceed() is checked there too, so a pause or a
/// cancel takes effect within an image), gives each phase its own ETA
/// (JobControl::startEstimate(): none during the PCA), and writes
/// the state atomically to `checkpointPath` every `checkpointEvery` steps, when
/// canceled, and at the end, so that a canceled or killed fit resumes from the
/// file (load it with EmFit::restoreState()). An empty path disables checkpoints.
class EmFitJob : public Job
{
public:
    /// Named metrics of the current prototypes (e.g. validation Acc and mIoU).
    using Metrics = std::vector<std::pair<std::string, double>>;
    using Validator = std::function<Metrics(const EmFit&)>;

    EmFitJob(EmFit& fit, std::string checkpointPath, int checkpointEvery = 50);
    /// Runs `validator` on the job's thread every `everySteps` steps and after the
    /// last step; its metrics join the progress values and validationHistory().
    /// An exception from the validator fails the job.
    void setValidation(int everySteps, Validator validator);
    /// Called on the job's thread right after the PCA initialisation has
    /// finished (not when a fit resumes past it), e.g. to log initChoice().
    void setInitialisedCallback(std::function<void(const EmFit&)> callback)
    {
        initialised_ = std::move(callback);
    }
    void run(JobControl& control) override;
    /// (step, metrics) of every validation so far.
    const std::vector<std::pair<std::int64_t, Metrics>>& validationHistory() const
    {
        return validations_;
    }

private:
    EmFit& fit_;
    std::string checkpointPath_;
    int checkpointEvery_;
    int validateEvery_ = 0;
    Validator validator_;
    std::function<void(const EmFit&)> initialised_;
    std::vector<std::pair<std::int64_t, Metrics>> validations_;
};

} // namespace primaps
