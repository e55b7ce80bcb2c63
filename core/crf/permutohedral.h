// SPDX-License-Identifier: MIT
#pragma once

#include "support/largebuffer.h"

#include <cstdint>
#include <functional>
#include <vector>

namespace primaps {

/// A lattice's filtering written out as a sparse matrix (see
/// PermutohedralLattice::toMatrix()): row i lists the points j with their weight,
/// out_i = sum_j weight_ij in_j. Rows are in point order, their entries in
/// increasing j. Immutable once made; apply() may run concurrently.
struct LatticeMatrix
{
    LargeVector<std::int32_t> rowStart; ///< points() + 1 offsets into column and weight
    LargeVector<std::int32_t> column;
    LargeVector<float> weight;

    bool empty() const { return rowStart.empty(); }
    int points() const { return rowStart.empty() ? 0 : int(rowStart.size()) - 1; }
    /// Entries per row on average.
    double density() const { return empty() ? 0.0 : double(column.size()) / points(); }

    /// out = M in (or out += M in with `accumulate`), `channels` values per point,
    /// point-major like PermutohedralLattice::filter(); `out` must not alias `in`.
    /// Spreads over OpenCV's thread pool. Throws primaps::Error when the matrix is
    /// empty, channels < 1 or a pointer is null.
    void apply(const float* in, float* out, int channels, bool accumulate = false) const;
};

/// High-dimensional Gaussian filtering on the permutohedral lattice (Adams, Baek &
/// Davis, "Fast High-Dimensional Filtering Using the Permutohedral Lattice",
/// Eurographics 2010), in the variant used by the dense CRF of Kraehenbuehl &
/// Koltun: every point is splatted onto the d+1 vertices of its enclosing simplex
/// with barycentric weights, the lattice is blurred with a 1-2-1 kernel along each
/// of its d+1 directions, and the result is sliced back with the same weights.
///
/// For points with features f (already divided by the kernel's standard
/// deviations) filter() approximates
///     out_i = c * sum_j exp(-|f_i - f_j|^2 / 2) * in_j,
/// the sum including j = i, with a constant c of about 0.9 for d = 2 and 0.5 for
/// d = 5. The lattice's kernel is slightly wider than the Gaussian, cut off beyond
/// about 3.5 standard deviations and, in higher dimensions, varies with a point's
/// position inside its simplex. Normalised filtering (K v / K 1) of smooth
/// signals is within 1-5% of exact Gaussian filtering (measured in
/// tests/core/tst_densecrf.cpp); the dense CRF normalises its kernels.
///
/// Building costs as much as five to ten filterings of ten channels; build once
/// per feature set and reuse the lattice for every channel and every iteration.
///
/// Threading: construction and filter() spread their work over OpenCV's thread
/// pool (cv::parallel_for_; cv::setNumThreads() bounds it). The results do not
/// depend on the number of threads. A built lattice is immutable: filter() may be
/// called concurrently from several threads as long as each passes its own
/// Workspace.
class PermutohedralLattice
{
public:
    /// Largest supported feature dimension.
    static constexpr int maxDim = 16;

    /// Scratch memory of filter(). Reusing one across calls avoids reallocating
    /// and zeroing a few megabytes per call.
    struct Workspace
    {
        LargeVector<float> a;
        LargeVector<float> b;
    };

    /// An empty lattice (points() == 0); filter() on it throws.
    PermutohedralLattice() = default;

    /// Builds the lattice of `count` points with `dim` features each, stored
    /// point-major: features[i * dim + f]. The features are copied from; the
    /// pointer need not outlive the call.
    /// Throws primaps::Error when dim is outside 1..maxDim, count < 1 or so large
    /// that count * (dim + 1) overflows 32 bits, features is null, or a feature
    /// is not finite or so large (|f| > 1e5) that the lattice coordinates lose
    /// their precision.
    PermutohedralLattice(const float* features, int dim, int count);

    int dim() const { return dim_; }
    int points() const { return points_; }
    /// Number of lattice vertices that received at least one point.
    int vertices() const { return vertices_; }
    bool empty() const { return points_ == 0; }
    /// The vertices of each point's simplex, points() * (dim() + 1) 1-based
    /// numbers (corner r of point p at [p * (dim() + 1) + r]), numbered in
    /// order of first touch: what the tests compare between ways of building.
    const std::int32_t* pointVertices() const { return pointVertex_.data(); }

    /// Filters `channels` values per point. `in` and `out` are point-major
    /// (in[i * channels + c]) with points() * channels floats each; out may be the
    /// same array as in. With `preScale` (one float per point) the input of point j
    /// is multiplied by preScale[j] before filtering, with `postScale` the output of
    /// point i by postScale[i]; with `accumulate` the result is added to `out`
    /// instead of overwriting it. This is what the dense CRF's normalised kernels
    /// need without extra passes over the data.
    /// Throws primaps::Error when the lattice is empty, channels < 1 or a pointer
    /// is null.
    void filter(const float* in, float* out, int channels, Workspace& workspace,
                const float* preScale = nullptr, const float* postScale = nullptr,
                bool accumulate = false) const;

    /// Work that filter() runs inside its own parallel regions instead of in
    /// separate ones, each of which costs a wake-up of the thread pool and a
    /// wait for its slowest thread (the dense CRF's spatial matrix and softmax,
    /// ten regions a step before). Both bodies receive index ranges and must be
    /// safe to run concurrently on disjoint ranges.
    struct Companions
    {
        /// Run over [0, alongsideCount) in the splat's region, spread with it
        /// over the threads. It may write `out` (the slice comes later), not
        /// `in`.
        int alongsideCount = 0;
        std::function<void(int, int)> alongside;
        /// Run on each range of points right after the slice wrote their output
        /// (and only then), in the slice's region.
        std::function<void(int, int)> afterSlice;
    };

    /// filter() with `companions` run inside its parallel regions (see
    /// Companions). The same results as filter() followed by the companions'
    /// work, for any thread count.
    void filter(const float* in, float* out, int channels, Workspace& workspace,
                const Companions& companions, bool accumulate) const;

    /// Folds per-point scales into the lattice (one float per point each, either
    /// may be null): afterwards filter() computes what it computed before with
    /// the input of point j multiplied by pre[j] and the output of point i by
    /// post[i]. Saves filter()'s own preScale/postScale work when the scales are
    /// the same for every call, as for a normalised kernel. Not thread-safe
    /// against concurrent filter() calls. Throws primaps::Error on an empty
    /// lattice.
    void scalePoints(const float* pre, const float* post);

    /// The filtering as an explicit matrix, with the scales folded in so far: the
    /// same results as filter() up to float rounding (another summation order).
    /// For lattices whose points reach only a few others (a spatial kernel of a
    /// pixel or two) applying it moves a fraction of the memory filter() moves,
    /// and its reads stay in cache; for wide kernels it would be huge, so when a
    /// row would exceed `maxPerRow` entries the result is empty. Throws
    /// primaps::Error on an empty lattice.
    LatticeMatrix toMatrix(int maxPerRow) const;

    /// Convenience: filters points() * channels values, returns a new array.
    /// Throws primaps::Error as above, or when in.size() != points() * channels.
    std::vector<float> filter(const std::vector<float>& in, int channels) const;

private:
    template <int FixedDim> void build(const float* features, int dim, int count);
    void filterWith(const float* in, float* out, int channels, Workspace& workspace,
                    const float* preScale, const float* postScale, bool accumulate,
                    const Companions* companions) const;

    int dim_ = 0;
    int points_ = 0;
    int vertices_ = 0;
    // Slicing: for point i and simplex corner r, the vertex (1-based: value slot 0
    // stays zero and stands for "no vertex") and the barycentric weight.
    LargeVector<std::int32_t> pointVertex_;
    LargeVector<float> pointWeight_;
    // Splatting as a gather: the points that touch vertex v (0-based) are
    // splatPoint_[splatStart_[v] .. splatStart_[v + 1]), with their weights. A
    // gather lets threads own disjoint vertices, so no atomics and the sums come
    // out the same for any thread count.
    LargeVector<std::int32_t> splatStart_;
    LargeVector<std::int32_t> splatPoint_;
    LargeVector<float> splatWeight_;
    // Blurring: for direction j and vertex v (0-based), the two neighbours along
    // j as 1-based slots (0 = absent) at neighbours_[2 * (j * vertices_ + v)].
    LargeVector<std::int32_t> neighbours_;
};

} // namespace primaps
