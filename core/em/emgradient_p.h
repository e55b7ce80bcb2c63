// SPDX-License-Identifier: MIT
#pragma once
// theta_R's side of a PriMaPs-EM step for one image, fused per label pixel
// (no LibTorch here). The reference upsamples theta_R's K x h x w logits to the
// label resolution, takes a log-softmax over the classes, keeps the K x H x W
// probabilities of every image of the batch until the focal weights are known,
// then forms w_y (p - onehot(y)) and takes the upsampling's adjoint. Here each
// label pixel is interpolated, normalised and pushed back through the adjoint
// at once; what has to wait for the focal weights is kept at the feature
// resolution, split by the pixel's pseudo-label y (the focal weight depends on
// y only). A 40 x 40 image at 320 x 320 then keeps (classes present) x 1,600 x K
// floats instead of 102,400 x K.

#include <cstdint>
#include <vector>

namespace primaps::detail {

/// The loss terms and the deferred gradient of one image.
struct EmImageTerms
{
    int classes = 0;
    int positions = 0; ///< h * w of the feature map
    /// Sum over the label pixels of theta_R's probability of each class.
    std::vector<double> confidence;
    /// Sum of -log p_y over the labelled pixels of each pseudo-label y.
    std::vector<double> nll;
    /// Slot of each class in `adjoints`, -1 when no pixel carries it.
    std::vector<int> slotOfClass;
    /// Per slot: positions x classes (feature-resolution pixel-major), the
    /// upsampling's adjoint of (p - onehot(y)) over the pixels labelled y.
    std::vector<float> adjoints;
};

/// Fills `terms` from theta_R's logits at the feature resolution, `lowLogits`
/// (h * w rows of K, pixel-major), and the pseudo-labels at the label resolution
/// (`target`: lh * lw, row-major, 0..K-1, negative where a pixel has none). The
/// interpolation is upsample_bilinear2d's with align_corners = false.
void accumulateEmImage(const float* lowLogits, int classes, int height, int width,
                       const std::int32_t* target, int labelHeight, int labelWidth,
                       EmImageTerms& terms);

/// theta_M's class at every label pixel, the E-step's prediction: the argmax over
/// the classes of `planarLogits` (classes x height x width) upsampled as
/// upsample_bilinear2d with align_corners = false does, ties to the lowest class.
/// Only two rows of K interpolated logits exist at a time, instead of the
/// K x labelHeight x labelWidth upsampled tensor. `out`: labelHeight x labelWidth.
void argmaxAtLabelResolution(const float* planarLogits, int classes, int height, int width,
                             int labelHeight, int labelWidth, std::int32_t* out);

/// dLoss/dlogits at the feature resolution, positions x K pixel-major:
/// sum over y of focal[y] * adjoint_y / pixels.
void emLowResolutionGradient(const EmImageTerms& terms, const float* focal, double pixels,
                             float* out);

} // namespace primaps::detail
