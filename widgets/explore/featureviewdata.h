// SPDX-License-Identifier: MIT
// What the Features dock shows, computed off the GUI thread: the PCA of an
// image's features and the projections onto each PriMaPs step's direction.
#pragma once

#include "decompose/featurepca.h"

#include <memory>
#include <vector>
#include <QString>

namespace primaps {

struct ImageDecomposition;

/// Principal components computed, and offered for R, G and B.
constexpr int kFeatureViewComponents = 8;

/// What one computation produced; shared read-only between the pool thread
/// that made it and the GUI thread.
struct FeatureViewData
{
    std::shared_ptr<const ImageDecomposition> decomposition;
    std::shared_ptr<const FeaturePca> pca;
    /// The basis shared by all images the PCA was projected on, or nullptr (its own PCA).
    std::shared_ptr<const FeaturePca> basis;
    std::vector<IterationProjection> iterations;
    /// Per position: the 1-based iteration whose mask took it first, 0 for none.
    std::vector<int> takenBy;
    QString error;
    double ms = 0;
    bool pcaReused = false;
};

/// Computes the feature view of `decomposition`: its own PCA, or `basis`
/// (fitted across images) when given and of the same channel count; the PCA
/// of `previous` is reused when its features are the same (another
/// threshold). Errors land in the result's `error`. Runs on a pool thread;
/// every argument is shared read-only.
std::shared_ptr<const FeatureViewData>
computeFeatureViewData(const std::shared_ptr<const ImageDecomposition>& decomposition,
                       const std::shared_ptr<const FeatureViewData>& previous,
                       const std::shared_ptr<const FeaturePca>& basis);

} // namespace primaps
