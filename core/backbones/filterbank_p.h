// SPDX-License-Identifier: MIT
#pragma once
// Shared by the two filter-bank versions (filterbank.cpp, filterbankcontext.cpp).

#include "support/featuremap.h"

#include <opencv2/core/mat.hpp>
#include <string>

namespace primaps {

/// Throws primaps::Error, prefixed with `name`, unless `rgb` is non-empty CV_8UC3
/// with rows and cols multiples of the 8-pixel patch.
void checkFilterBankInput(const cv::Mat& rgb, const std::string& name);

/// Version 1's 50 filter responses pooled per 8x8 patch, in its channel layout
/// (FilterBankV1Backbone), before standardisation. `rgb` must pass the check above.
FeatureMap filterBankResponses(const cv::Mat& rgb);

/// Each channel to zero mean and unit standard deviation over the positions; a
/// channel that is constant up to float rounding becomes all zeros.
void standardiseChannels(FeatureMap& features);

} // namespace primaps
