// SPDX-License-Identifier: MIT
// Private to core: the product with a Gram matrix, X^T (X v), for the covariance
// operator of PriMaPs step 2a (applied ~10 times per mask inside Lanczos).
#pragma once

namespace primaps::detail {

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

} // namespace primaps::detail
