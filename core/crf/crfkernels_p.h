// SPDX-License-Identifier: MIT
// Private to core: the inner loops of the permutohedral lattice's filtering
// (splat, blur, slice) and of the dense CRF's mean-field update, in two
// implementations chosen at run time: AVX2+FMA over the labels of a row (the
// values of a lattice vertex or a pixel are a K-vector, padded to a multiple of
// four: whole 256-bit registers and at most one 128-bit half), and portable
// loops that the compiler vectorises as it can.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace primaps::detail {

/// Which implementation the CRF's kernels use. Best picks the AVX2 kernels when
/// the processor has AVX2 and FMA and a row's length is a multiple of four;
/// Portable forces the plain loops (tests compare the two).
enum class CrfKernel
{
    Best,
    Portable,
};

/// Labels per AVX2 register: row strides the vector kernels accept.
constexpr std::size_t kCrfLanes = 8;

/// True when CrfKernel::Best runs the AVX2 kernels on this processor.
bool crfKernelsVectorised();

/// The implementation that DenseCrf and PermutohedralLattice::filter() use,
/// process-wide (Best unless a test changed it). Changing it while a filtering
/// or a mean-field step runs is a race; tests set it between runs.
CrfKernel preferredCrfKernel();
void setPreferredCrfKernel(CrfKernel kernel);

/// Whether DenseCrf::step() runs the spatial matrix inside the bilateral
/// splat's parallel region and the softmax inside the slice's (true, the
/// default) or each stage in its own region (the previous way). The same
/// marginals to the last bit; the switch is for the benchmark's A/B.
/// Process-wide; set between runs.
bool crfFusedRegions();
void setCrfFusedRegions(bool fused);

/// The row stride DenseCrf uses for `labels` labels under `kernel`: padded to a
/// multiple of crfRowQuantum() when the vector kernels run, else `labels`.
std::size_t crfRowStride(std::size_t labels, CrfKernel kernel);

/// The padding of the vector kernels' rows, process-wide: 4 (the default: whole
/// registers and a half one; measured faster, see docs/crf.md) or kCrfLanes (whole
/// registers only). For the benchmark's A/B; set between runs, like
/// setPreferredCrfKernel(). Other values are ignored.
std::size_t crfRowQuantum();
void setCrfRowQuantum(std::size_t quantum);

/// A float buffer whose data() is 64-byte aligned (a cache line; AVX2 rows of
/// a multiple of eight floats then never straddle one). Grows, never shrinks;
/// the contents after a grow are unspecified.
class AlignedFloats
{
public:
    float* data() { return aligned_; }
    const float* data() const { return aligned_; }
    std::size_t size() const { return size_; }
    void resize(std::size_t n);
    void clear() { size_ = 0; }

private:
    std::vector<float> storage_;
    float* aligned_ = nullptr;
    std::size_t size_ = 0;
};

/// The lattice as the kernels see it (see PermutohedralLattice's members): for
/// point i and simplex corner r, vertex slot pointVertex[i * d1 + r] (1-based; row
/// 0 of the values is zero) with weight pointWeight[...]; vertex v gathers the
/// points splatPoint[splatStart[v] .. splatStart[v + 1]) with splatWeight.
struct LatticeTables
{
    int d1 = 0;
    const std::int32_t* pointVertex = nullptr;
    const float* pointWeight = nullptr;
    const std::int32_t* splatStart = nullptr;
    const std::int32_t* splatPoint = nullptr;
    const float* splatWeight = nullptr;
};

/// Rows ahead that the gathers prefetch (0 = none; see permutohedral.cpp).
struct GatherHint
{
    std::size_t prefetch = 0;
};

/// values[(v + 1) * k ..] = sum over v's points p of w * (pre ? pre[p] : 1) *
/// in[p * k ..], for vertices [begin, end). k = the row length (channels).
void splatVertices(const LatticeTables& t, const float* in, float* values, std::size_t k,
                   int begin, int end, const float* preScale, GatherHint hint, CrfKernel kernel);

/// next[v + 1] = current[v + 1] + (current[minus] + current[plus]) / 2 for vertices
/// [begin, end) along one direction; neighbours[2v], [2v + 1] are the 1-based
/// minus and plus slots (0 = absent, a zero row).
void blurVertices(const std::int32_t* neighbours, const float* current, float* next,
                  std::size_t k, int begin, int end, GatherHint hint, CrfKernel kernel);

/// out[p] (= or +=) scale_p * sum_r w * values[slot], scale_p = alpha * (post ?
/// post[p] : 1), for points [begin, end).
void slicePoints(const LatticeTables& t, const float* values, float* out, std::size_t k,
                 int begin, int end, float alpha, const float* postScale, bool accumulate,
                 GatherHint hint, CrfKernel kernel);

/// out[i] (= or +=) sum over e in [rowStart[i], rowStart[i + 1]) of weight[e] *
/// in[column[e]], rows of k floats, for rows [begin, end) (LatticeMatrix).
void matrixRows(const std::int32_t* rowStart, const std::int32_t* column, const float* weight,
                const float* in, float* out, std::size_t k, int begin, int end, bool accumulate,
                CrfKernel kernel);

/// The mean-field update of pixels [begin, end): q = softmax(message - unary)
/// over the first `labels` values of each row of `stride` floats. Lanes from
/// `labels` to `stride` are written as zero. Values below exp(-69) are flushed to
/// it, so that later products never become denormal.
void meanFieldRows(float* q, const float* message, const float* unary, std::size_t labels,
                   std::size_t stride, int begin, int end, CrfKernel kernel);

/// values[j] = exp(max(values[j], -69)) for values[j] <= 0: the exponential of the
/// portable mean-field update, vectorisable, relative error below 3e-7.
void expInPlace(float* values, std::size_t count);

} // namespace primaps::detail
