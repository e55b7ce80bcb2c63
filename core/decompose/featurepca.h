// SPDX-License-Identifier: MIT
#pragma once

#include "support/featuremap.h"
#include "image/preprocess.h"

#include <opencv2/core/mat.hpp>

#include <array>
#include <vector>

namespace primaps {

struct PrimapsTrace;

/// How many principal components computeFeaturePca() extracts and how the
/// colour scale of each one is cut.
struct FeaturePcaParams
{
    int components = 8;          ///< clamped to the channels and positions available
    float lowPercentile = 1.0f;  ///< value mapped to 0 (robust against outliers)
    float highPercentile = 99.0f; ///< value mapped to 255
};

/// The principal components of one feature map (all positions, mean-centred,
/// covariance normalised by the number of positions like PriMaPs step 2a).
///
/// Sign rule: component k is oriented so that (x0 - mean) . v_k <= 0, where x0 is
/// the first position in row-major order; this is PriMaPs' rule for its
/// directions (docs/ALGORITHM.md, "Sign rule"), so component 0 is the direction of the first
/// PriMaPs iteration and its projection map the same picture up to scale. When
/// (x0 - mean) . v_k is exactly 0 the coefficient of largest magnitude is made
/// positive instead, so the result is deterministic in every case.
struct FeaturePca
{
    int channels = 0;
    int height = 0;
    int width = 0;
    int components = 0;
    std::vector<float> mean;        ///< C values
    std::vector<float> directions;  ///< components x C; row k is unit length
    std::vector<double> variances;  ///< eigenvalues, descending
    double totalVariance = 0;       ///< trace of the covariance (sum of all eigenvalues)
    std::vector<float> projections; ///< components x h x w: (f - mean) . v_k
    std::vector<float> low;         ///< per component: the lowPercentile of its projection
    std::vector<float> high;        ///< per component: the highPercentile of its projection

    const float* projection(int k) const
    {
        return projections.data() + std::size_t(k) * std::size_t(height) * width;
    }
    /// Share of the total variance that component k explains (0 when there is none).
    double explainedRatio(int k) const
    {
        return totalVariance > 0 ? variances[std::size_t(k)] / totalVariance : 0.0;
    }
};

/// Top principal components of `features`: the covariance is formed with the
/// system BLAS and only the wanted eigenpairs are computed (LAPACK dsyevr).
/// Deterministic for given input. Throws primaps::Error when the map is empty,
/// inconsistent or not finite, or the percentiles are not 0 <= low < high <= 100.
/// Thread-safe; call it off the GUI thread for large maps.
FeaturePca computeFeaturePca(const FeatureMap& features, const FeaturePcaParams& params = {});

/// The p-th percentile (0..100) of `values` with linear interpolation between
/// order statistics (numpy's default). Throws primaps::Error on an empty input.
float percentile(std::vector<float> values, float p);

/// Components `rgb[0..2]` (0-based) of `pca` as an h x w CV_8UC3 RGB image, each
/// scaled linearly from its [low, high] range to 0..255 and clamped. A component
/// whose range is empty maps to 128. Throws primaps::Error on a component index
/// outside 0..components-1.
cv::Mat pcaRgb(const FeaturePca& pca, const std::array<int, 3>& rgb = {0, 1, 2});

/// One PriMaPs iteration seen through the features: the projection of every
/// position onto the iteration's principal direction.
struct IterationProjection
{
    /// h x w: (f - mean of the remaining features) . v, for every position,
    /// including those earlier masks took.
    std::vector<float> values;
    std::vector<unsigned char> remaining; ///< h x w: 1 where the position was still free
    float scale = 0;               ///< 99th percentile of |values| over the remaining positions
    double remainingVariance = 0;  ///< trace of the remaining features' covariance
    double explainedVariance = 0;  ///< the trace's eigenvalue of this iteration
    /// explainedVariance / remainingVariance: how dominant the direction was.
    double explainedRatio() const
    {
        return remainingVariance > 0 ? explainedVariance / remainingVariance : 0.0;
    }
};

/// The projections of every iteration of `trace` (a decomposition of
/// `features`). The remaining set of iteration k is rebuilt from the masks of
/// iterations 0..k-1 (mask > 0), exactly as the decomposition shrank it.
/// Throws primaps::Error when the trace does not belong to a map of this size.
/// Thread-safe.
std::vector<IterationProjection> iterationProjections(const FeatureMap& features,
                                                      const PrimapsTrace& trace);

/// Resamples a grid-resolution map (CV_8UC3 or CV_32F, gridRows x gridCols as
/// the features were, covering prepared.rgb) onto the original image's extent at
/// `target` pixels (any size; the original size gives one value per image
/// pixel). Padding is dropped; nearest neighbour keeps each patch a square,
/// `smooth` interpolates bilinearly between patch centres. Pixels the grid does
/// not cover (centre-cropped evaluation inputs) get `fill`. Throws
/// primaps::Error on an empty grid, another type or a non-positive target.
cv::Mat gridToImage(const cv::Mat& grid, const PreparedImage& prepared, cv::Size target,
                    bool smooth, const cv::Scalar& fill = cv::Scalar(128, 128, 128));

/// The grid cell (x = column, y = row, fractional: cell centres at .5) under a
/// point of the original image, in original pixels. May lie outside the grid.
cv::Point2d imageToGrid(const cv::Point2d& imagePoint, const PreparedImage& prepared,
                        int gridRows, int gridCols);

} // namespace primaps
