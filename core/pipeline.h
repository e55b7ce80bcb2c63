// SPDX-License-Identifier: MIT
#pragma once

#include "backbone.h"
#include "densecrf.h"
#include "preprocess.h"
#include "primaps.h"

#include <opencv2/core/mat.hpp>

namespace primaps {

/// Settings for decomposing one image end to end.
struct PipelineParams
{
    PreprocessParams preprocess; ///< patchSize is taken from the backbone
    PrimapsParams primaps;
    /// Use the backbone's recommendedThreshold() instead of primaps.threshold.
    bool useRecommendedThreshold = true;
    /// Use the backbone's recommendedResize() instead of preprocess.shorterSide.
    bool useRecommendedResize = true;
    /// Step 5: refine the upsampled masks with the dense CRF (DESIGN 3.3). Off
    /// gives the plain argmax of the bilinearly upsampled masks.
    bool crf = true;
    DenseCrfParams crfParams;
};

/// Wall-clock time per stage, in milliseconds.
struct StageTimings
{
    double preprocess = 0;
    double features = 0;
    double decompose = 0;
    double labels = 0; ///< upsampling and argmax, CRF excluded
    double crf = 0;
};

/// The result of decomposing one image, everything a viewer or writer needs.
struct ImageDecomposition
{
    PreparedImage prepared; ///< what the backbone saw
    FeatureMap features;
    PrimapsTrace trace;
    MaskStack masks;
    cv::Mat labels;          ///< CV_8U mask ids at prepared.rgb's size (0 = background)
    cv::Mat labelsBeforeCrf; ///< the same without the CRF (equal to labels when it did not run)
    bool crfApplied = false;
    DenseCrfParams crfParams; ///< the CRF settings used, when crfApplied
    StageTimings timings;

    /// Mask ids at the original image's size (nearest neighbour; padding dropped).
    cv::Mat labelsAtOriginalSize() const { return labelsToOriginal(labels, prepared); }
};

/// image -> preprocess -> backbone features -> PriMaPs -> mask ids (DESIGN 2).
/// `rgb` is CV_8UC3 RGB. Throws primaps::Error on bad input. May be called from
/// any thread; `backbone` must not be used by another thread meanwhile.
ImageDecomposition decomposeImage(const cv::Mat& rgb, Backbone& backbone, const PipelineParams& params);

/// Re-runs the decomposition and step 5 on the features `result` already holds,
/// e.g. after a threshold change: the expensive feature extraction is not
/// repeated. `result` must come from decomposeImage(). Throws primaps::Error.
void redecompose(ImageDecomposition& result, const PrimapsParams& params, bool crf,
                 const DenseCrfParams& crfParams = {});

/// Decomposes features that came from elsewhere (a .npy file): trace, masks and
/// mask ids at the feature grid's resolution. There is no image, so no CRF.
ImageDecomposition decomposeFeatures(const FeatureMap& features, const PrimapsParams& params);

} // namespace primaps
