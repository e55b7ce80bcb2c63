// SPDX-License-Identifier: MIT
#pragma once

#include "support/featuremap.h"
#include "decompose/featurepca.h"

#include <vector>

namespace primaps {

/// The raw feature vector (C values) at grid cell (col, row). Throws
/// primaps::Error when the cell lies outside the map.
std::vector<float> patchFeature(const FeatureMap& features, int col, int row);

/// Cosine similarity of `query` (C values) to the feature at every position of
/// `features`: h x w values in [-1, 1], row-major. A position (or a query)
/// whose feature is all zeros has similarity 0. Throws primaps::Error when the
/// channel counts differ or the map is empty. Thread-safe.
std::vector<float> cosineSimilarityMap(const FeatureMap& features, const std::vector<float>& query);

/// cosineSimilarityMap() of the patch at (col, row) to every patch of the same map.
std::vector<float> patchSimilarityMap(const FeatureMap& features, int col, int row);

/// One principal-component basis for several feature maps (e.g. every image
/// loaded in the studio), so that PCA-RGB colours mean the same in each: the
/// mean, directions and colour ranges come from the positions of all maps
/// together (every position while there are at most `maxPositions`, else an
/// even sample of each map), with the sign rule of computeFeaturePca() applied
/// to the first position of the first map. The result's projections are those
/// of the pooled positions (height 1); use projectOntoPca() for one map's.
/// Throws primaps::Error when there are no maps, their channel counts differ,
/// or as computeFeaturePca(). Thread-safe.
FeaturePca computeJointFeaturePca(const std::vector<const FeatureMap*>& maps,
                                  const FeaturePcaParams& params = {},
                                  std::size_t maxPositions = 200000);

/// `features` projected onto `basis` (from computeFeaturePca() or
/// computeJointFeaturePca()): the basis's mean, directions, variances and colour
/// ranges with this map's projections, ready for pcaRgb(). Throws
/// primaps::Error when the channel counts differ.
FeaturePca projectOntoPca(const FeaturePca& basis, const FeatureMap& features);

} // namespace primaps
