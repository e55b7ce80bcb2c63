// SPDX-License-Identifier: MIT
#pragma once
// The state of an EM fit, shared by emfit.cpp (the steps) and emfitstate.cpp
// (checkpoints, the job). No LibTorch here.

#include "em/emfit.h"
#include "em/emfit_p.h"
#include "em/emgradient_p.h"
#include "support/error.h"
#include "support/workerteam_p.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace at {
class Tensor;
}

namespace primaps::detail {

inline constexpr int kStateVersion = 1;
// Robust protocol (docs/em-quality.md): feature positions and restarts of the
// spherical k-means initialisation; a prototype is starved when it receives
// less than this share of its fair part (1 / K) of the pseudo-labels counted
// between two checks, which run every kReseedEvery EM steps.
inline constexpr int kInitPositions = 65536;
inline constexpr int kInitRestarts = 16;
// Robust PriMaPs-EM starts from the restart whose partition keeps the masks of
// an image apart (detail::chooseStart) when that is clear, counted on up to this many
// of the initialisation's images.
inline constexpr int kContrastImages = 512;
// Robust protocol: a mask passes its vote on as a pseudo-label only when at least
// this share of its pixels agree; a mask split between two clusters would
// otherwise hand all its pixels to the larger one, and the E-step would move the
// boundary between them step by step (docs/em-quality.md, "Session 5").
inline constexpr double kMinVoteShare = 0.7;
// The whitening's sample is drawn from its own generator, so that turning it on
// or off leaves every other random draw of the fit as it was, and a restored
// fit estimates the same transform again.
inline constexpr std::uint64_t kWhiteningStream = 0x77686974656e696eull;
// Robust PriMaPs-EM also builds a start from the masks grouped by texture
// (kTextureWords texton words) and tries both starts for a few EM epochs, from
// the same image order (their own generator); the trial that ends at the higher
// k-means objective gives the fit its start (docs/em-quality.md, "Session 14").
inline constexpr int kTextureWords = 96;
inline constexpr std::uint64_t kTrialStream = 0x747269616c2d656dull;
inline constexpr int kMinTrialSteps = 12;
inline constexpr std::int64_t kScoreStride = 4;
inline int trialEpochs(int emEpochs)
{
    return std::clamp(emEpochs / 8, 1, 6);
}
// A tenth of the fair part: a class that owns few whole masks (grass among
// gravel) keeps 4-5 % of the pseudo-labels at K = 6 and is not dead; at a
// quarter (the setting until session 14) one 10-step window below 4.2 % had it
// re-seeded, and a class-like partition at 85 mIoU ended at 67 (docs/em-quality.md,
// "Session 14"). Collapsing prototypes fall far below a tenth.
inline constexpr double kStarvedShare = 0.1;
inline constexpr int kReseedEvery = 10;

// Adam exactly as torch.optim.Adam (betas 0.9/0.999, eps 1e-8, no weight decay).
struct Adam
{
    std::int64_t step = 0;
    std::vector<float> m, v;

    void reset(std::size_t n)
    {
        step = 0;
        m.assign(n, 0.0f);
        v.assign(n, 0.0f);
    }
    void update(std::vector<float>& params, const std::vector<float>& grad, float lr)
    {
        ++step;
        const float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
        const float bc1 = 1.0f - std::pow(beta1, float(step));
        const float bc2 = 1.0f - std::pow(beta2, float(step));
        const float stepSize = lr / bc1;
        const float bc2Sqrt = std::sqrt(bc2);
        for (std::size_t i = 0; i < params.size(); ++i) {
            m[i] = beta1 * m[i] + (1.0f - beta1) * grad[i];
            v[i] = beta2 * v[i] + (1.0f - beta2) * grad[i] * grad[i];
            params[i] -= stepSize * m[i] / (std::sqrt(v[i]) / bc2Sqrt + eps);
        }
    }
};

} // namespace primaps::detail

namespace primaps {

using detail::Adam;
using detail::Rng;
using detail::permutation;

using detail::kContrastImages;
using detail::kInitPositions;
using detail::kInitRestarts;
using detail::kMinTrialSteps;
using detail::kMinVoteShare;
using detail::kReseedEvery;
using detail::kScoreStride;
using detail::kStarvedShare;
using detail::kStateVersion;
using detail::kTextureWords;
using detail::kTrialStream;
using detail::kWhiteningStream;

/// One image of an EM batch: what was read for it, then what pass 1 made of it.
struct EmBatchImage
{
    std::uint32_t index = 0;
    FeatureMap teacher; ///< the E-step's features when theta_R sees augmented ones
    FeatureMap input;   ///< what theta_R sees (kept for the gradient's product)
    cv::Mat masks;
    detail::EmImageTerms terms;
    std::vector<detail::MaskSummary> summaries; ///< robust protocol
    std::int64_t labelled = 0;                 ///< pixels with a pseudo-label
};

struct EmFit::Impl
{
    const EmDataSource& data;
    EmParams params;
    std::size_t imageCount = 0;

    EmPhase phase = EmPhase::Pca;
    int epoch = 0;
    int batchInEpoch = 0;
    std::int64_t stepsDone = 0;
    std::vector<std::uint32_t> order;
    Rng rng;

    Prototypes thetaM, thetaR;
    Adam adamGain, adamDirection;
    std::int64_t emSteps = 0;
    std::int64_t emaCalls = 0;
    // Robust protocol: pseudo-labelled pixels per cluster since the last check
    // for starved prototypes, and how many were re-seeded in the whole fit.
    std::vector<double> pseudoPixels;
    std::int64_t reseeds = 0;
    EmInitChoice initChoice;
    std::vector<EmStepInfo> history;
    // Robust protocol with whitening: the data the fit sees, and the prototypes
    // folded back onto the raw features for the accessors.
    std::unique_ptr<detail::WhitenedSource> whitened;
    mutable Prototypes foldedM, foldedR;
    // Threads that share an EM step's images (made at the first step).
    std::unique_ptr<detail::WorkerTeam> workers;

    Impl(const EmDataSource& source, const EmParams& p) : data(source), params(p) {}

    bool whitens() const
    {
        return params.protocol == EmProtocol::Robust && params.whitenRidge > 0;
    }
    const EmDataSource& source() const { return whitened ? *whitened : data; }

    void estimateWhitening(const detail::InitTick& sampled = {})
    {
        Rng r{params.seed ^ kWhiteningStream};
        const std::vector<std::uint32_t> sample = permutation(imageCount, r);
        const std::size_t count =
            std::min<std::size_t>(sample.size(), std::size_t(std::max(1, params.pcaImages)));
        whitened = std::make_unique<detail::WhitenedSource>(
            data, detail::estimateWhitening(
                      data,
                      std::vector<std::uint32_t>(sample.begin(),
                                                 sample.begin() + std::ptrdiff_t(count)),
                      kInitPositions, params.whitenRidge, r, sampled));
    }

    const Prototypes& rawSpace(const Prototypes& p, Prototypes& folded) const
    {
        if (!whitened || p.classes == 0)
            return p;
        folded = whitened->whitening().foldIntoRawSpace(p);
        return folded;
    }

    int batchSize() const
    {
        return int(std::min<std::size_t>(std::size_t(params.batchSize), imageCount));
    }
    int stepsPerEpoch() const
    {
        const std::size_t b = std::size_t(batchSize());
        return int(params.dropLast ? imageCount / b : (imageCount + b - 1) / b);
    }
    int kmeansEpochs() const
    {
        return params.method == EmMethod::KMeans ? params.epochs : params.initEpochs;
    }
    int emEpochs() const { return params.method == EmMethod::KMeans ? 0 : params.epochs; }

    std::vector<std::uint32_t> batch() const
    {
        const std::size_t b = std::size_t(batchSize());
        const std::size_t begin = std::size_t(batchInEpoch) * b;
        const std::size_t end = std::min(order.size(), begin + b);
        return std::vector<std::uint32_t>(order.begin() + std::ptrdiff_t(begin),
                                          order.begin() + std::ptrdiff_t(end));
    }

    FeatureMap checkedFeatures(std::size_t index, bool student) const
    {
        FeatureMap f =
            student ? source().studentFeatures(index, studentViewOf(index))
                    : source().features(index);
        if (f.empty() || f.values.size() != std::size_t(f.channels) * f.positions())
            throw Error("image " + std::to_string(index) + ": empty or inconsistent features");
        if (thetaR.dim > 0 && f.channels != thetaR.dim)
            throw Error("image " + std::to_string(index) + ": features have " +
                        std::to_string(f.channels) + " channels, the fit " +
                        std::to_string(thetaR.dim));
        return f;
    }

    // The augmented view an image gets in this epoch: a function of seed, epoch and
    // image only, so resuming reproduces it.
    std::uint64_t studentViewOf(std::size_t index) const
    {
        Rng r{params.seed ^ (std::uint64_t(epoch + 1) * 0x9e3779b97f4a7c15ull) ^
              (std::uint64_t(index) << 32)};
        return r.next();
    }

    // Moves to the next epoch or phase after a finished epoch.
    void advanceEpoch()
    {
        batchInEpoch = 0;
        ++epoch;
        if (phase == EmPhase::KMeans && epoch >= kmeansEpochs()) {
            leaveKMeans();
        } else if (phase == EmPhase::Em && epoch >= emEpochs()) {
            phase = EmPhase::Done;
        }
        if (phase != EmPhase::Done)
            order = permutation(imageCount, rng);
    }

    void enterKMeans()
    {
        phase = EmPhase::KMeans;
        epoch = 0;
        batchInEpoch = 0;
        adamGain.reset(0);
        adamDirection.reset(thetaR.direction.size());
        if (kmeansEpochs() == 0)
            leaveKMeans();
        if (phase != EmPhase::Done)
            order = permutation(imageCount, rng);
    }

    // After the k-means warm start: PriMaPs-EM, or the end for the baseline.
    void leaveKMeans()
    {
        if (emEpochs() > 0)
            enterEm();
        else
            phase = EmPhase::Done;
    }

    // The reference's method run starts from the k-means prototypes with unit gain,
    // theta_M a copy of theta_R, and a fresh optimiser.
    void enterEm()
    {
        phase = EmPhase::Em;
        epoch = 0;
        batchInEpoch = 0;
        std::fill(thetaR.gain.begin(), thetaR.gain.end(), 1.0f);
        thetaM = thetaR;
        adamGain.reset(thetaR.gain.size());
        adamDirection.reset(thetaR.direction.size());
        emSteps = 0;
        emaCalls = 0;
        pseudoPixels.assign(std::size_t(thetaR.classes), 0.0);
    }

    /// The PCA initialisation; `monitor` (may be empty) sees its progress, and
    /// detail::InitStopped leaves when it asks to stop.
    EmStepInfo pcaStep(const EmInitMonitor& monitor);
    /// Robust PriMaPs-EM (emtexture.cpp): builds the texture start from `images`
    /// and, when there is one, runs a short trial EM from it and from `start`;
    /// `start` becomes the texture start when its trial ends at the higher
    /// objective over `positions` (unit rows; released before the trials).
    /// Records both in `choice`.
    void tryTextureStart(const std::vector<std::uint32_t>& images, at::Tensor positions,
                         EmInitChoice& choice, Prototypes& start,
                         const std::function<detail::InitTick(const char*)>& tick);
    /// theta_R after `epochs` EM epochs from `start` on this fit's data, with the
    /// fit's EM settings; `stepped` ticks (done, total) after each step, from `done`.
    Prototypes trialEnd(const Prototypes& start, int epochs, const detail::InitTick& stepped,
                        int& done, int total) const;
    EmStepInfo kmeansStep();
    EmStepInfo emStep();
    /// One k-means or EM batch, then on to the next epoch or phase when it was
    /// the epoch's last (the caller sets up the threads, as EmFit::step() does).
    EmStepInfo batchStep()
    {
        EmStepInfo info = phase == EmPhase::KMeans ? kmeansStep() : emStep();
        if (++batchInEpoch >= stepsPerEpoch())
            advanceEpoch();
        return info;
    }
    double emaUpdate();
    /// Pass 1 of an EM step for one image: pseudo-labels, loss terms, deferred gradient.
    void imageTerms(EmBatchImage& item, const at::Tensor& weightsM,
                    const at::Tensor& weightsR) const;
    detail::WorkerTeam& team();
};

} // namespace primaps
