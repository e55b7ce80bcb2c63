// SPDX-License-Identifier: MIT
// Private to core: the first steps of a PriMaPs decomposition without LibTorch's
// generic reductions, which ran them as one long dependency chain per value.
#pragma once

namespace primaps::detail {

/// True when unitColumns() runs its vector kernel (AVX2 and FMA) on this processor.
bool unitColumnsVectorised();

/// out = values / max(|column|, 1e-12) for the n columns of a c x n row-major matrix
/// (F.normalize(x, dim = 0)). Each column's squared norm is summed in float, one fused
/// multiply-add per row in row order, then rounded through sqrt and one division per
/// value: the order LibTorch 1.13's vectorised kernels use for
/// `x / x.norm(2, {0}, true).clamp_min(1e-12)`, so the bits are the same (tst_primaps
/// compares them). Only call it when unitColumnsVectorised(); `out` must not alias.
void unitColumns(const float* values, int c, int n, float* out);

/// out[i] = sum_k v[k] * columns[k][i] for the n columns of a c x n row-major matrix
/// whose `include[i]` is non-zero, 0 for the others; each sum is one fused multiply-add
/// per row in row order (the order OpenBLAS's sgemm kernels use for a 1 x c by c x n
/// product on this processor, except at most its last columns when n is not a multiple
/// of 32). Blocks of 32 columns without an included one are not read. Only call it when
/// unitColumnsVectorised(); `out` must not alias the inputs.
void similarityToColumns(const float* columns, int c, int n, const float* v,
                         const unsigned char* include, float* out);

/// The sum of every column of a n x c row-major matrix (rows = positions), in double,
/// each column's sum taken in row order: the same bits as a plain sequential loop per
/// column, with the columns side by side in vector lanes instead of one long chain.
void columnSums(const float* rows, int n, int c, double* sums);

} // namespace primaps::detail
