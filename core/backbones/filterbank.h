// SPDX-License-Identifier: MIT
#pragma once

#include "backbones/backbone.h"

#include <array>
#include <vector>

namespace primaps {

/// Version 1 of the default backbone, selectable as `filterbank-v1` (and what runs
/// recorded as `filterbank` without a version used): classical multi-scale filter responses in the spirit of
/// ilastik's pixel-classification features, average-pooled per 8x8 patch. It needs no
/// weights and finds colour/texture segments, not semantics.
///
/// The image is converted to CIE Lab (L 0..100). Every filter runs at each of the five
/// scales sigma = 0.7, 1.0, 1.6, 3.5, 5.0 (index s = 0..4), and the channels are laid out
/// filter-major, channel = 5 * filter + s:
///
/// | channels | filter                                                            | on |
/// |----------|-------------------------------------------------------------------|----|
/// |  0 ..  4 | Gaussian smoothing                                                | L  |
/// |  5 ..  9 | Gaussian smoothing                                                | a  |
/// | 10 .. 14 | Gaussian smoothing                                                | b  |
/// | 15 .. 19 | Laplacian of Gaussian, magnitude                                  | L  |
/// | 20 .. 24 | Gaussian gradient magnitude                                       | L  |
/// | 25 .. 29 | difference of Gaussians G(sigma) - G(0.66 sigma), magnitude       | L  |
/// | 30 .. 34 | structure tensor max eigenvalue (gradients sigma, window sigma/2) | L  |
/// | 35 .. 39 | structure tensor min eigenvalue (same scales)                     | L  |
/// | 40 .. 44 | Hessian of Gaussian max eigenvalue                                | L  |
/// | 45 .. 49 | Hessian of Gaussian min eigenvalue                                | L  |
///
/// Colour enters through the smoothed Lab channels; at sigma 0.7 they are, after pooling,
/// the patch's mean colour, so no separate unsmoothed copy is kept. Texture is measured on
/// lightness only: chroma rarely carries texture that lightness lacks, and the budget goes
/// to scales instead. The two linear zero-mean filters (LoG, DoG) are pooled as magnitudes
/// because their signed responses cancel over a textured 8x8 patch (on the threshold
/// sweep's scenes this lifts the best mIoU from 0.78 to 0.87).
///
/// Each channel is finally standardised over the image's patch positions (zero mean, unit
/// standard deviation); a channel that is constant up to float rounding becomes all zeros.
/// The result is deterministic: the same image always gives bit-identical features.
///
/// Threading: extract() keeps no state between calls, so one instance may even be shared
/// by several threads. Internally it spreads the filters over cv::parallel_for_.
class FilterBankV1Backbone : public Backbone
{
public:
    static constexpr int kPatchSize = 8;
    static constexpr std::array<double, 5> kScales{0.7, 1.0, 1.6, 3.5, 5.0};
    static constexpr int kFilterCount = 10;
    static constexpr int kDim = kFilterCount * int(kScales.size());

    std::string name() const override { return "filterbank-v1"; }
    int patchSize() const override { return kPatchSize; }
    int dim() const override { return kDim; }
    /// Chosen by the threshold sweep in tests/core/tst_filterbank.cpp
    /// (recommendedThresholdIsNearBest), which prints its table to the test log.
    float recommendedThreshold() const override;
    int recommendedResize() const override { return 320; }

    /// Features of `rgb` (CV_8UC3, RGB order, rows and cols multiples of 8): a kDim x
    /// rows/8 x cols/8 map. Throws primaps::Error when the image is empty, not CV_8UC3, or
    /// its size is not a multiple of 8.
    FeatureMap extract(const cv::Mat& rgb) override;
};

/// How version 2 of the filter bank builds its features from version 1's responses
/// (see FilterBankBackbone). The defaults are the measured choice
/// (docs/filterbank.md); the benchmark bench_decompose_quality sweeps the others.
struct FilterBankDesign
{
    /// Weight (standard deviation) of the colour and the texture group in each block:
    /// a group's summed variance is its weight squared, however many channels it has.
    double colourWeight = 1.5;
    double textureWeight = 1.0;
    /// Weight of the patch's own descriptor, the first block.
    double localWeight = 0.5;
    /// Regional context: Gaussian windows on the patch grid (sigma in patches) and
    /// the weight of each block.
    std::vector<double> contextSigmas{1.0, 2.0, 4.0, 8.0};
    std::vector<double> contextWeights{1.0, 1.0, 1.0, 1.0};
    /// Texture energies as log(1 + e): a contrast change becomes a shift.
    bool compressTexture = true;
    /// Adds the patch's rg chromaticity r/(r+g+b), g/(r+g+b) to the colour group.
    bool chromaticity = true;
};

/// The default backbone (version 2): version 1's filter responses turned into a
/// descriptor that sees each patch's surroundings, so that PriMaPs' similarity maps
/// are coherent on real photographs. No weights, no network.
///
/// Per patch, a local descriptor of two groups:
/// - colour: Lab a and b and lightness L at sigma 1.6 and 5.0, and (design) the rg
///   chromaticity of the patch mean, which shading scales away;
/// - texture: version 1's 35 texture energies (LoG, gradient magnitude, DoG,
///   structure-tensor and Hessian eigenvalues at five scales), log-compressed.
/// Each channel is standardised over the image and each group scaled to a fixed share
/// of the variance (FilterBankDesign), so neither the 35 texture channels outvote the
/// colour nor the other way round. Regional context: the local descriptor averaged
/// under Gaussian windows of 1, 2, 4 and 8 patches (8-64 pixels) on the patch grid,
/// each scale standardised and weighted alike. The channels are the local descriptor,
/// then each context scale in turn (5 x 43 = 215 with the default design).
///
/// Deterministic (bit-identical features for the same image); threading as version 1.
class FilterBankBackbone : public Backbone
{
public:
    static constexpr int kPatchSize = 8;
    /// The version recorded in run.json and the feature cache key.
    static constexpr int kVersion = 2;

    explicit FilterBankBackbone(const FilterBankDesign& design = {});

    std::string name() const override { return "filterbank"; }
    int patchSize() const override { return kPatchSize; }
    int dim() const override { return dim_; }
    /// Measured on real photographs (docs/filterbank.md).
    float recommendedThreshold() const override;
    int recommendedResize() const override { return 320; }

    const FilterBankDesign& design() const { return design_; }
    /// Channels of the local descriptor (the first block; each context scale repeats
    /// the layout), of which the first colourDim() are the colour group.
    int localDim() const;
    int colourDim() const;

    /// Features of `rgb` (CV_8UC3, RGB order, rows and cols multiples of 8): a dim() x
    /// rows/8 x cols/8 map. Throws primaps::Error when the image is empty, not CV_8UC3,
    /// or its size is not a multiple of 8.
    FeatureMap extract(const cv::Mat& rgb) override;

private:
    FilterBankDesign design_;
    int dim_ = 0;
};

} // namespace primaps
