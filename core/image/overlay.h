// SPDX-License-Identifier: MIT
#pragma once

#include <opencv2/core/mat.hpp>

#include <array>
#include <vector>

namespace primaps {

/// Colour of mask id `id` as RGB: 0 (background) is a neutral grey; 1..20 come
/// from a qualitative palette chosen for mutual contrast; higher ids cycle hue
/// by the golden angle so neighbours stay distinct.
cv::Vec3b labelColor(int id);

/// The colours of all 256 ids, RGB: labelColor(0..255).
using LabelPalette = std::array<cv::Vec3b, 256>;
const LabelPalette& defaultLabelPalette();

/// Label map (CV_8U) to an RGB picture in `palette`'s colours.
cv::Mat colorizeLabels(const cv::Mat& labels, const LabelPalette& palette = defaultLabelPalette());

/// Blends the label colours over `rgb` (CV_8UC3, same size as `labels`) with
/// `opacity` in [0, 1]; background pixels are dimmed instead of tinted, and mask
/// borders are drawn so adjacent masks stay apart. Returns RGB.
cv::Mat overlayLabels(const cv::Mat& rgb, const cv::Mat& labels, float opacity,
                      const LabelPalette& palette = defaultLabelPalette());

/// Maps an h x w float array to RGB: values in [lo, hi] through a perceptual
/// colour map (viridis) when lo >= 0, or a diverging blue-white-red map centred
/// at 0 when lo < 0 (similarities). Out-of-range values are clamped.
cv::Mat heatmap(const std::vector<float>& values, int height, int width, float lo, float hi);

} // namespace primaps
