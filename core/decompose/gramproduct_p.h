// SPDX-License-Identifier: MIT
// Private to core: the product with a Gram matrix, X^T (X v), for the covariance
// operator of PriMaPs step 2a (applied ~10 times per mask inside Lanczos).
#pragma once

namespace primaps::detail {

class PartnerThread;

/// Which implementation gramProduct() uses. Best picks the AVX2+FMA kernel when the
/// processor has it; Portable forces the plain C++ loops (tests compare the two).
enum class GramKernel
{
    Best,
    Portable,
};

/// True when GramKernel::Best runs the vector kernel on this processor.
bool gramKernelVectorised();

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
/// The halves do not depend on who computes them, so neither does the result: with a
/// `partner` (may be null) the second half usually runs on it, at the same time as the
/// first. `out` and `second` must not alias each other or the inputs.
void gramProductInHalves(const float* rows, int count, int c, const float* v, float scale,
                         float* out, float* second, PartnerThread* partner);

} // namespace primaps::detail
