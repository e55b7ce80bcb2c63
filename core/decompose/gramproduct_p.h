// SPDX-License-Identifier: MIT
// Private to core: the product with a Gram matrix, X^T (X v), for the covariance
// operator of PriMaPs step 2a (applied ~10 times per mask inside Lanczos).
#pragma once

namespace primaps::detail {

/// Which implementation gramProduct() uses. Best picks the AVX-512 kernel when the
/// processor has it (AVX512F and DQ), else the AVX2+FMA kernel when it has that; Avx2
/// forces the AVX2 kernel (when there is one), Portable the plain C++ loops. The two
/// vector kernels give the same bits (tests compare them).
enum class GramKernel
{
    Best,
    Avx2,
    Portable,
};

/// True when GramKernel::Best and Avx2 run a vector kernel on this processor.
bool gramKernelVectorised();
/// True when GramKernel::Best runs the 512-bit kernel on this processor.
bool gramKernelWide();

/// out[k] = scale * sum_r <rows[r], v> rows[r][k] for the `count` rows of length c
/// (row-major, rows[r] at rows + r * c), in float with float accumulation.
/// One pass over the rows: the dot products of a block of eight rows are formed
/// together, and the block is added into `out` while it is still in L1, so the
/// rows stream from memory once per product instead of twice. Deterministic for a
/// given kernel. `out` must not alias `rows` or `v`.
void gramProduct(const float* rows, int count, int c, const float* v, float scale, float* out,
                 GramKernel kernel = GramKernel::Best);

/// The first row of the second half in gramProductInHalves(): half the rows, rounded
/// down to a whole block of eight.
int gramSecondHalf(int count);

/// The same product as two fixed halves of the rows, each summed by gramProduct() (the
/// second into `second`, c floats of scratch), then out[k] = scale * (first[k] + second[k]).
/// The halves are independent sums, so the order they run in does not change a bit:
/// `secondHalfFirst` lets consecutive products alternate it, so that each starts with
/// the rows the one before read last, still in the cache when the rows do not all fit
/// (the 2.4 MB of a 40 x 40 x 384 map against a 2 MB L2). `out` and `second` must not
/// alias each other or the inputs.
void gramProductInHalves(const float* rows, int count, int c, const float* v, float scale,
                         float* out, float* second, bool secondHalfFirst);

} // namespace primaps::detail
