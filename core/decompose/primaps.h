// SPDX-License-Identifier: MIT
#pragma once

#include "support/featuremap.h"

#include <opencv2/core/mat.hpp>

#include <memory>
#include <string>
#include <vector>

namespace primaps {

/// Parameters of one PriMaPs decomposition (docs/ALGORITHM.md, "PriMaPs decomposition").
struct PrimapsParams
{
    float threshold = 0.4f; ///< tau: similarities below tau * max are cut (paper: 0.4 for DINO)
    float coverage = 0.95f; ///< stop once this fraction of positions is assigned
    int stallWindow = 3;    ///< stop when `remaining` is unchanged over this many iterations
    int maxIterations = 100; ///< hard cap; mask ids are 8-bit, so at most 254
};

/// Why the decomposition stopped.
enum class StopReason {
    Running,         ///< not stopped yet
    Coverage,        ///< the assigned fraction reached PrimapsParams::coverage (the normal end)
    NothingPositive, ///< no remaining position had a positive refined similarity (docs/ALGORITHM.md, "Clean stop")
    Stalled,         ///< `remaining` did not change over PrimapsParams::stallWindow iterations
    IterationCap,    ///< PrimapsParams::maxIterations proposals were extracted
};

/// Stable lower-case name of a stop reason, as written to trace files.
const char* toString(StopReason reason);

/// Everything one iteration (steps 2a-2e) computed. Maps are h x w, row-major.
struct PrimapsIteration
{
    int remainingBefore = 0;  ///< positions still unassigned before this iteration
    float coverageBefore = 0; ///< assigned fraction before this iteration
    std::vector<float> principalDirection; ///< v, unit length, C values, sign rule applied
    float explainedVariance = 0; ///< largest eigenvalue of the remaining features' covariance
    std::vector<float> similarity;        ///< s = <v, F^>, 0 outside `remaining`
    int seedIndex = 0;                    ///< row-major position of the nearest-neighbour seed
    std::vector<float> refinedSimilarity; ///< s' = <F^[seed], F^>, 0 outside `remaining`
    float refinedMax = 0;                 ///< max(s') used for thresholding and scaling
    std::vector<float> mask;              ///< the soft proposal: thresholded s' / max(s')
    int assigned = 0;                     ///< positions this proposal took out of `remaining`
    int remainingAfter = 0;
};

/// The complete record of a decomposition; the GUI replays it, the CLI writes it.
struct PrimapsTrace
{
    PrimapsParams params;
    int channels = 0;
    int height = 0;
    int width = 0;
    std::vector<PrimapsIteration> iterations;
    StopReason stopReason = StopReason::Running;
    float finalCoverage = 0;
};

/// PriMaPs decomposition of one feature map, one iteration at a time.
///
/// Sign rule for the principal direction (deliberate, see docs/ALGORITHM.md, "Sign rule"): v is
/// oriented so that (x0 - mean) . v < 0, where x0 is the first remaining position
/// in row-major order and mean the mean of the remaining raw features. This is
/// what the reference implementation's randomised PCA does on CPU and it
/// reproduces its label maps exactly.
///
/// Not thread-safe; use one instance per thread. The features are copied.
class PrimapsDecomposer
{
public:
    /// Throws primaps::Error when the features are empty or not finite, or a
    /// parameter is out of range.
    PrimapsDecomposer(const FeatureMap& features, const PrimapsParams& params);
    ~PrimapsDecomposer();
    PrimapsDecomposer(const PrimapsDecomposer&) = delete;
    PrimapsDecomposer& operator=(const PrimapsDecomposer&) = delete;

    /// True once a stop rule has fired; step() must not be called then.
    bool done() const;
    /// Runs one iteration (tests the stop rules first) and returns its record,
    /// or nullptr when the decomposition stops instead. Throws primaps::Error if
    /// called after done().
    const PrimapsIteration* step();
    /// Runs to the end and returns the trace.
    const PrimapsTrace& run();
    const PrimapsTrace& trace() const;

private:
    struct Impl;
    std::unique_ptr<Impl> d;
};

/// Runs a whole decomposition. Throws like PrimapsDecomposer's constructor.
PrimapsTrace decompose(const FeatureMap& features, const PrimapsParams& params);

/// Steps 3-4: the proposals after the 3x3 median filter (reflect padding), scaled
/// by 10 and clamped to [0, 1], and the background channel.
struct MaskStack
{
    int count = 0;  ///< number of proposals k
    int height = 0;
    int width = 0;
    std::vector<float> proposals;  ///< k x h x w
    std::vector<float> background; ///< h x w

    /// [background, proposals] as (k+1) x h x w log-probabilities (log-softmax
    /// over channels), the input of the upsampling and the dense CRF (step 5).
    std::vector<float> logProbabilities() const;
};

/// Builds the mask stack from a finished trace. With no proposals (or only
/// all-zero ones) the background is 1 everywhere: every position is background.
MaskStack buildMaskStack(const PrimapsTrace& trace);

/// Argmax over [background, proposals] at grid resolution, ties to the lowest
/// channel: CV_8U h x w, 0 = background, i = proposal i (1-based, extraction order).
cv::Mat labelsAtGrid(const MaskStack& masks);

/// Step 5 without the CRF: log-softmax, bilinear upsampling (align_corners =
/// false) to `size`, argmax with ties to the lowest channel. CV_8U, ids as
/// labelsAtGrid().
cv::Mat labelsAtSize(const MaskStack& masks, cv::Size size);

/// Bilinear upsampling (PyTorch's interpolate, align_corners = false) of a
/// channels x h x w float array to channels x size.height x size.width.
std::vector<float> upsampleBilinear(const std::vector<float>& values, int channels, int height,
                                    int width, cv::Size size);

/// The same into `out`, resized to channels x size.height x size.width: a buffer that
/// already has that size is overwritten without being cleared or reallocated (a fresh
/// vector of chelsea's 17 x 488 x 320 scores is 10.6 MB of zeros and page faults).
void upsampleBilinear(const std::vector<float>& values, int channels, int height, int width,
                      cv::Size size, std::vector<float>& out);

/// Argmax over channels (channels x h x w), ties to the lowest channel, CV_8U.
cv::Mat argmaxLabels(const std::vector<float>& values, int channels, int height, int width);

} // namespace primaps
