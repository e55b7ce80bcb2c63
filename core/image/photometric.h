// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>
#include <opencv2/core/mat.hpp>

namespace primaps {

/// The photometric "student" view of PriMaPs-EM's optional augmentation (the
/// reference's --student-augs): a Gaussian blur (21 x 21 kernel, sigma uniform in
/// [0.1, 2], reflected borders), then with probability 1/2 a colour jitter that is
/// applied with probability 0.3 (brightness, contrast and saturation factors in
/// [0.9, 1.1] and a hue shift of up to 0.1 turns, in random order), otherwise a
/// conversion to grey with probability 0.1. Geometry is unchanged, so masks and
/// labels stay aligned.
///
/// Difference to the reference, on purpose: the reference applies these
/// operations to the ImageNet-normalised tensor, where the jitter's clamping to
/// [0, 1] cuts off all negative values; here they act on the 8-bit image, as the
/// operations are defined.
///
/// `rgb` must be CV_8UC3 (RGB order); returns a new CV_8UC3 image. Deterministic
/// for a seed; thread-safe. Throws primaps::Error on another image type.
cv::Mat photometricAugment(const cv::Mat& rgb, std::uint64_t seed);

} // namespace primaps
