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

/// Every scale's bit in filterBankResponses()' `chromaScales`.
constexpr unsigned kAllChromaScales = ~0u;

/// Version 1's 50 filter responses pooled per 8x8 patch, in its channel layout
/// (FilterBankV1Backbone), before standardisation. `rgb` must pass the check above.
/// The smoothed a and b channels are computed only at the scales whose bit is set in
/// `chromaScales` (bit s for FilterBankV1Backbone::kScales[s]) and left at 0 at the
/// others: version 2 reads them at two of the five scales, and the three others were
/// a tenth of its filtering.
FeatureMap filterBankResponses(const cv::Mat& rgb, unsigned chromaScales = kAllChromaScales);

/// Each channel to zero mean and unit standard deviation over the positions; a
/// channel that is constant up to float rounding becomes all zeros.
void standardiseChannels(FeatureMap& features);

} // namespace primaps
