// SPDX-License-Identifier: MIT
#pragma once
// Feature positions drawn for the robust protocol's statistics (the k-means
// initialisation and the whitening). LibTorch inside: include only from em/*.cpp.

#include "em/emfit_p.h"

#include <ATen/ATen.h>
#include <cstdint>
#include <vector>

namespace primaps::detail {

/// Up to `maxPositions` feature positions (rows, float, N x C) drawn evenly
/// from `images`, so that one large image does not dominate and the memory
/// stays bounded whatever the dataset's size. Throws primaps::Error when
/// `images` is empty or the images' channels differ. `sampled` (when set) ticks
/// before the first image and after each.
at::Tensor sampleFeaturePositions(const EmDataSource& data,
                                  const std::vector<std::uint32_t>& images, int maxPositions,
                                  Rng& rng, const InitTick& sampled = {});

} // namespace primaps::detail
