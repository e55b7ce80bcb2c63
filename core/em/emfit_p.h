// SPDX-License-Identifier: MIT
#pragma once
// Internals shared by emfit.cpp and emrobust.cpp (no LibTorch here).

#include "em/emfit.h"

#include <cstdint>
#include <functional>
#include <vector>

namespace at {
class Tensor;
}

namespace primaps::detail {

// splitmix64: tiny, fast, and its whole state is one integer, so checkpoints carry
// it exactly. The standard library's distributions are implementation-defined,
// hence the own bounded draw.
struct Rng
{
    std::uint64_t state = 0;

    std::uint64_t next()
    {
        std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    std::uint64_t below(std::uint64_t n)
    {
        const std::uint64_t limit = ~std::uint64_t(0) - (~std::uint64_t(0) % n);
        std::uint64_t x;
        do {
            x = next();
        } while (x >= limit);
        return x % n;
    }
    /// Uniform in [0, 1).
    double unit() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }
};

std::vector<std::uint32_t> permutation(std::size_t n, Rng& rng);

/// The initialisation's progress hook, called with (done, total) of its loops
/// (images read, restarts); it throws InitStopped to stop the initialisation.
using InitTick = std::function<void(int done, int total)>;
/// Thrown by an InitTick when the monitor asks the PCA initialisation to stop.
struct InitStopped
{
};

/// One restart of the spherical k-means: its unit directions (gain 1) and its
/// objective, the mean best cosine over the sampled positions.
struct KMeansStart
{
    Prototypes prototypes;
    double meanBestCosine = -2;
};

/// The robust protocol's initialisation: spherical k-means (cosine Lloyd
/// iterations) on up to `maxPositions` unit-normalised feature positions drawn
/// evenly from `images`, seeded by k-means++ and restarted `restarts` times.
/// Throws primaps::Error when there are fewer positions than `k`. `sampled`
/// ticks per image read, `restarted` per restart and Lloyd iteration (done =
/// restarts finished). chooseStart() picks among the restarts.
/// `positions`, when given, receives the sampled positions as unit rows (N x C).
std::vector<KMeansStart>
sphericalKMeansStarts(const EmDataSource& data, const std::vector<std::uint32_t>& images, int k,
                      int maxPositions, int restarts, Rng& rng, const InitTick& sampled = {},
                      const InitTick& restarted = {}, at::Tensor* positions = nullptr);

/// How often starts put two PriMaPs masks of one image into one cluster: per
/// image, every mask takes the cluster most of its pixels are nearest to
/// (nearest feature cell, unit gains); a pair of masks weighs as many pixels as
/// the smaller mask has. The masks of one image are proposals the image's own
/// principal directions separated, so a partition that merges them goes against
/// the masks (docs/em-quality.md, "Session 12").
struct MaskPairCounts
{
    std::vector<double> pairWeight;         ///< per image with two masks or more
    std::vector<std::vector<double>> shared; ///< per start, per such image: weight in one cluster
    /// The share of the pairs' weight that start `s` puts into one cluster; NaN
    /// when no image has two masks.
    double share(std::size_t s) const;
};

/// Counts the pairs of `images` for every start. `read` ticks per image.
MaskPairCounts countSharedMaskPairs(const EmDataSource& data,
                                    const std::vector<std::uint32_t>& images,
                                    const std::vector<KMeansStart>& starts,
                                    const InitTick& read = {});

/// The start PriMaPs-EM begins from. The restart with the highest objective,
/// unless the restart that shares the fewest mask pairs shares clearly fewer:
/// over the images, the per-image difference in shared pair weight must be
/// positive with a paired t above the one-sided 1 % level of Student's t
/// (images - 1 degrees of freedom; 2.37 for 80 images). Without counts (the
/// baseline) the objective alone decides. Restarts are numbered from 1 in the
/// result, as run.json and the log show them.
EmInitChoice chooseStart(const std::vector<KMeansStart>& starts, const MaskPairCounts* counts);

/// The t with P(T > t) = upperTail for Student's t with `dof` degrees of freedom
/// (upperTail in (0, 0.5), dof >= 1). Throws primaps::Error otherwise.
double studentQuantile(double upperTail, int dof);

/// One mask of an EM batch: the cluster its pixels were given, its pixel count
/// and its mean feature (features weighted by the mask's pixels in each cell).
struct MaskSummary
{
    int cluster = -1;
    double pixels = 0;
    std::vector<float> meanFeature;
};

/// Summaries of the masks 1..254 of one image: `masks` at label resolution,
/// `modes` the cluster of each mask id (-1: none), `features` C x h x w.
std::vector<MaskSummary> summariseMasks(const FeatureMap& features, const cv::Mat& masks,
                                        const std::vector<int>& modes);

/// Re-seeds the prototypes that received less than `minShare` of the
/// pseudo-labelled pixels counted in `pixelsPerCluster`: each takes the mean
/// feature of a mask of `candidates` (one mask per dead prototype), chosen from
/// the cluster with most pixels as the masks that fit their prototype worst
/// (lowest cosine), then from the next largest. The new direction gets the mean
/// row norm and the mean gain; the row's Adam moments are cleared. Returns the
/// re-seeded cluster ids.
std::vector<int> reseedDeadPrototypes(Prototypes& thetaR, Prototypes& thetaM,
                                      std::vector<float>& adamDirectionM,
                                      std::vector<float>& adamDirectionV,
                                      std::vector<float>& adamGainM, std::vector<float>& adamGainV,
                                      const std::vector<double>& pixelsPerCluster,
                                      const std::vector<MaskSummary>& candidates, double minShare);

/// The robust protocol's feature whitening (emwhitening.cpp): z = matrix * x,
/// matrix = s (S + ridge * mean(eig S) * I)^(-1/2), symmetric, dim x dim.
struct Whitening
{
    int dim = 0;
    float ridge = 0;
    std::vector<float> matrix; ///< dim x dim, row-major

    /// z of every position of `f`. Throws primaps::Error when the channels differ.
    FeatureMap apply(const FeatureMap& f) const;
    /// Prototypes of the whitened space as prototypes of the raw features: the
    /// same logits, gain * <direction / |direction|, x>, for every x.
    Prototypes foldIntoRawSpace(const Prototypes& whitened) const;
};

/// Estimates the whitening from up to `maxPositions` positions drawn evenly from
/// `images`. Throws primaps::Error on no data, mixed dimensions or ridge <= 0.
/// `sampled` ticks per image read.
Whitening estimateWhitening(const EmDataSource& data, const std::vector<std::uint32_t>& images,
                            int maxPositions, float ridge, Rng& rng, const InitTick& sampled = {});

/// `inner` seen through a whitening: the fit's data in the robust protocol.
class WhitenedSource final : public EmDataSource
{
public:
    WhitenedSource(const EmDataSource& inner, Whitening whitening);
    std::size_t size() const override;
    FeatureMap features(std::size_t index) const override;
    cv::Mat masks(std::size_t index) const override;
    bool hasStudentFeatures() const override;
    FeatureMap studentFeatures(std::size_t index, std::uint64_t view) const override;
    const Whitening& whitening() const { return whitening_; }

private:
    const EmDataSource& inner_;
    Whitening whitening_;
};

} // namespace primaps::detail
