// SPDX-License-Identifier: MIT
#pragma once

#include "crf/permutohedral.h"

#include <memory>
#include <vector>

namespace cv {
class Mat;
}

namespace primaps {

/// Parameters of the fully connected CRF. The defaults are the reference values
/// of PriMaPs (docs/ALGORITHM.md, "Dense CRF"). A kernel whose weight is 0 is skipped entirely.
struct DenseCrfParams
{
    int iterations = 10;          ///< mean-field steps run by DenseCrf::run() and denseCrf()
    float gaussianSxy = 1.0f;     ///< spatial kernel: standard deviation in pixels
    float gaussianWeight = 3.0f;  ///< spatial kernel: Potts weight
    float bilateralSxy = 67.0f;   ///< bilateral kernel: standard deviation in pixels
    float bilateralSrgb = 3.0f;   ///< bilateral kernel: standard deviation in 8-bit colour units
    float bilateralWeight = 4.0f; ///< bilateral kernel: Potts weight
};

/// The part of the dense CRF that depends on the image only: the spatial and the
/// bilateral lattice of one image at one resolution, with their normalisations
/// and Potts weights folded in. Building it costs about as much as three to five
/// mean-field steps at 10 labels; keep one per image and hand it to DenseCrf for
/// every run on that image (another threshold, another number of masks).
///
/// Immutable once built: one instance may be shared (std::shared_ptr<const>)
/// by any number of DenseCrf objects on any threads.
class DenseCrfImage
{
public:
    /// Builds the lattices for `rgb`, an 8-bit 3-channel image (CV_8UC3) in RGB
    /// order, which is only read during the call. The spatial lattice depends on
    /// the image size alone: the most recent one (for images up to 1 megapixel,
    /// about 80 MB at that size, and under half a megapixel its matrix, 250 bytes per
    /// pixel) is kept process-wide and shared, so that a run
    /// of same-size images (a dataset's crops) builds it once. The two lattices
    /// are built on two threads unless OpenCV is limited to one.
    /// Throws primaps::Error when the image is empty or of another type, when
    /// iterations < 0, or when a kernel with a non-zero weight has a
    /// non-positive or non-finite standard deviation or a non-finite weight.
    explicit DenseCrfImage(const cv::Mat& rgb, const DenseCrfParams& params = {});

    int height() const { return height_; }
    int width() const { return width_; }
    const DenseCrfParams& params() const { return params_; }
    /// Null when the kernel's weight is 0.
    const PermutohedralLattice* spatial() const;
    const PermutohedralLattice* bilateral() const { return bilateral_.get(); }
    /// The spatial lattice's filtering as a sparse matrix (about 30 entries per
    /// pixel at sxy = 1), which the mean-field steps apply instead of the lattice:
    /// the same numbers up to rounding, with a quarter of the memory traffic.
    /// Null when the kernel's weight is 0 or it is too wide for a matrix.
    const LatticeMatrix* spatialMatrix() const;

    /// The spatial kernel: its lattice and, when narrow enough, its matrix.
    struct Spatial;

private:
    DenseCrfParams params_;
    int height_ = 0;
    int width_ = 0;
    std::shared_ptr<const Spatial> spatial_;
    std::shared_ptr<const PermutohedralLattice> bilateral_;
};

/// Fully connected CRF with Gaussian edge potentials and mean-field inference
/// (Kraehenbuehl & Koltun, NeurIPS 2011), filtering on the permutohedral lattice,
/// with exactly the semantics of the reference binding (pydensecrf) as PriMaPs
/// uses it:
///   p   = softmax over labels of the input scores, per pixel;
///   U   = -log(clip(p, 1e-5, 1));  Q0 = clip(p, 1e-5, 1) renormalised;
///   each step  Q = softmax(-U + wg * Kg(Q) + wb * Kb(Q)),
/// where Kg, Kb filter Q label by label with a spatial Gaussian (features x/sxy,
/// y/sxy) and a bilateral Gaussian, both symmetrically normalised
/// (D^-1/2 K D^-1/2, D = K 1) and keeping each pixel's own contribution; the
/// positive sign is the reference's Potts compatibility (-w) subtracted in its
/// update. The bilateral features are (x/sxy, y/sxy, B/srgb, G/srgb, R/srgb): the
/// reference feeds its 8-bit image in BGR order and the lattice is not invariant
/// under swapping axes, so the colours are taken in that order here too (from our
/// RGB image) to reproduce its numbers.
///
/// The lattices (DenseCrfImage) depend only on the image, so one DenseCrf serves
/// any number of inputs on the same image, and a DenseCrfImage kept by the
/// caller serves any number of DenseCrf objects.
///
/// Cost: the values of a pixel and of a lattice vertex are a vector over the
/// labels, padded to a multiple of four and filtered with AVX2 where the
/// processor has it (portable loops otherwise), so a step costs a fixed part
/// (the lattice's indexing) plus a part that grows with the padded label count.
///
/// Layouts: scores and marginals are K x H x W float32, label-major and row-major
/// (values[(k * H + y) * W + x]), the layout of FeatureMap and of
/// upsampleBilinear() in primaps.h.
///
/// Threading: an instance is used from one thread at a time; different instances
/// may run concurrently. Internally the work spreads over OpenCV's thread pool
/// (cv::setNumThreads() bounds it). Results are identical for any thread count.
class DenseCrf
{
public:
    /// Builds the lattices for `rgb` (see DenseCrfImage). Throws primaps::Error
    /// like DenseCrfImage.
    explicit DenseCrf(const cv::Mat& rgb, const DenseCrfParams& params = {});

    /// Runs on lattices built earlier, with their parameters (image->params()).
    /// Throws primaps::Error when `image` is null or its iterations are negative.
    explicit DenseCrf(std::shared_ptr<const DenseCrfImage> image);

    /// Switches to another image, e.g. the next one of a dataset: rebuilds the
    /// bilateral lattice, and the spatial one only for a new size (and then only
    /// when the process-wide one does not fit).
    /// Clears the current input (labels() becomes 0). Throws primaps::Error like
    /// the constructor; on an error the object is unchanged.
    void setImage(const cv::Mat& rgb);

    /// The lattices in use; never null.
    const std::shared_ptr<const DenseCrfImage>& image() const { return image_; }

    int height() const { return image_->height(); }
    int width() const { return image_->width(); }
    const DenseCrfParams& params() const { return image_->params(); }
    /// Number of labels K of the current input; 0 before setScores().
    int labels() const { return labels_; }
    /// Mean-field steps done since the last setScores().
    int iteration() const { return iteration_; }

    /// Sets the input: K x H x W scores whose per-pixel softmax is the label
    /// distribution, i.e. log-probabilities or logits (any per-pixel shift is
    /// irrelevant). To refine probabilities p, pass log(p); -infinity is allowed
    /// as long as every pixel has at least one finite score. Resets Q to Q0 and
    /// iteration() to 0.
    /// Throws primaps::Error when labels < 1, scores.size() != labels * H * W, a
    /// score is NaN or +infinity, or all scores of a pixel are -infinity. On an
    /// error the previous input and state are kept.
    void setScores(const std::vector<float>& scores, int labels);

    /// One mean-field update of Q. Throws primaps::Error before setScores().
    void step();

    /// The current marginals Q (K x H x W, each pixel sums to 1): Q0 right after
    /// setScores(), then the result of the last step(). Empty before setScores().
    std::vector<float> marginals() const;

    /// setScores(), params().iterations steps, marginals(). Throws like
    /// setScores().
    std::vector<float> run(const std::vector<float>& scores, int labels);

private:
    std::shared_ptr<const DenseCrfImage> image_;
    int labels_ = 0;
    int iteration_ = 0;
    // Row stride of the three arrays below: labels_ padded for the vector kernels.
    std::size_t stride_ = 0;

    // Pixel-major (N x stride_) so that every stage reads a pixel's labels
    // contiguously; each starts on a 64-byte boundary inside its vector (see
    // rows()), and the padding lanes of q_ are zero.
    LargeVector<float> unary_;
    LargeVector<float> q_;
    LargeVector<float> message_;
    PermutohedralLattice::Workspace workspace_;
};

/// Runs the dense CRF once: DenseCrf(rgb, params).run(scores, labels). Returns the
/// K x H x W marginals, H x W the image size.
///
/// This is both PriMaPs step 5 (scores = the log-softmaxed [background,
/// proposals] upsampled to the image size) and the optional CRF post-processing
/// of cluster predictions for evaluation (scores = per-pixel class logits or
/// log-probabilities at image size; take the argmax of the result).
/// Throws primaps::Error as DenseCrf's constructor and setScores().
/// Callable from any thread.
std::vector<float> denseCrf(const std::vector<float>& scores, int labels, const cv::Mat& rgb,
                            const DenseCrfParams& params = {});

/// Convenience for inputs at feature resolution: bilinearly upsamples the
/// K x height x width scores to the image size (PyTorch's interpolate with
/// align_corners = false, as the reference does before its CRF; skipped when the
/// sizes already agree) and runs denseCrf(). Returns K x H x W marginals at the
/// image size. Throws primaps::Error when scores.size() != labels * height *
/// width, a dimension is < 1, or as denseCrf(). Callable from any thread.
std::vector<float> denseCrfUpsampled(const std::vector<float>& scores, int labels, int height,
                                     int width, const cv::Mat& rgb,
                                     const DenseCrfParams& params = {});

} // namespace primaps
