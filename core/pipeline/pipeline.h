// SPDX-License-Identifier: MIT
#pragma once

#include "backbones/backbone.h"
#include "crf/densecrf.h"
#include "image/preprocess.h"
#include "decompose/primaps.h"

#include <memory>
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
    /// Step 5: refine the upsampled masks with the dense CRF (docs/ALGORITHM.md, "Dense CRF"). Off
    /// gives the plain argmax of the bilinearly upsampled masks.
    bool crf = true;
    DenseCrfParams crfParams;
    /// Where step 5 runs. 0 (the default, and the reference's choice): at the
    /// processing resolution, prepared.rgb's size. > 0: at the original image's
    /// resolution scaled down to at most this many pixels, when that is finer
    /// than the processing resolution and the prepared image holds the whole
    /// original (FitMode::PadToPatchMultiple); see ImageDecomposition::fineLabels.
    int crfMaxPixels = 0;
    /// decomposeImage() with the CRF and more than one OpenCV thread: build the
    /// CRF's lattices (they depend on the image alone) on a thread of their own
    /// while the features and PriMaPs run. The same result either way; sooner
    /// when the stages leave a core idle. Off: after them, on the calling thread.
    bool crfLatticesAlongside = true;
};

/// Wall-clock time per stage, in milliseconds.
struct StageTimings
{
    double preprocess = 0;
    double features = 0;
    double decompose = 0;
    double labels = 0; ///< upsampling and argmax, CRF excluded
    double crf = 0;    ///< step 5's CRF, with its lattices when they were built here
    /// decomposeImage() with a second core builds the CRF's lattices beside the
    /// features and PriMaPs (`crf` then excludes them): the time step 5 still
    /// waited for them after the labels, 0 when they were ready or built in `crf`.
    double crfLatticeWait = 0;
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
    /// The resolution the CRF ran at, when crfApplied: prepared.rgb's size, or
    /// that of fineLabels.
    cv::Size crfSize;
    /// When the CRF ran above the processing resolution (crfMaxPixels): the mask
    /// ids after and before it at crfSize, covering exactly the original image
    /// (no padding). `labels` then holds fineLabels sampled down to the prepared
    /// image. Empty otherwise.
    cv::Mat fineLabels;
    cv::Mat fineLabelsBeforeCrf;
    StageTimings timings;

    /// The image as given to decomposeImage() (shared, not copied); the CRF above
    /// the processing resolution reads it.
    cv::Mat original;
    /// The CRF's lattices for this image at crfSize, kept so that the next
    /// threshold's CRF (redecompose(), applyCrf()) does not build them again.
    /// Shared, read-only, by the copies of this decomposition.
    std::shared_ptr<const DenseCrfImage> crfImage;

    /// Mask ids at the original image's size (nearest neighbour; padding dropped).
    cv::Mat labelsAtOriginalSize() const;
};

/// image -> preprocess -> backbone features -> PriMaPs -> mask ids (docs/ARCHITECTURE.md, "Data flow").
/// `rgb` is CV_8UC3 RGB. Throws primaps::Error on bad input. May be called from
/// any thread; `backbone` must not be used by another thread meanwhile.
ImageDecomposition decomposeImage(const cv::Mat& rgb, Backbone& backbone, const PipelineParams& params);

/// Re-runs the decomposition and step 5 on the features `result` already holds,
/// e.g. after a threshold change: the expensive feature extraction is not
/// repeated, and the CRF's lattices are reused (result.crfImage) when the
/// resolution and parameters are the same. `result` must come from
/// decomposeImage(). crfMaxPixels as in PipelineParams. Throws primaps::Error.
void redecompose(ImageDecomposition& result, const PrimapsParams& params, bool crf,
                 const DenseCrfParams& crfParams = {}, int crfMaxPixels = 0);

/// Step 5 alone on the masks `result` holds (after redecompose(..., crf = false),
/// e.g. once its preview is on screen): the dense CRF and the final mask ids,
/// at the resolution crfMaxPixels chooses (as in PipelineParams). Builds the
/// lattices only when result.crfImage does not fit. Throws primaps::Error.
void applyCrf(ImageDecomposition& result, const DenseCrfParams& crfParams = {},
              int crfMaxPixels = 0);

/// The resolution step 5 runs at for `prepared` under crfMaxPixels (see
/// PipelineParams): the original's size scaled down to at most crfMaxPixels
/// pixels, or prepared.rgb's size when that is not finer or not possible.
cv::Size crfResolution(const PreparedImage& prepared, int crfMaxPixels);

/// Decomposes features that came from elsewhere (a .npy file): trace, masks and
/// mask ids at the feature grid's resolution. There is no image, so no CRF.
ImageDecomposition decomposeFeatures(const FeatureMap& features, const PrimapsParams& params);

} // namespace primaps
