// SPDX-License-Identifier: MIT
// Private to core: the first steps of a PriMaPs decomposition without LibTorch's
// generic reductions, which ran them as one long dependency chain per value.
#pragma once

#include <cstddef>
#include <vector>

namespace primaps::detail {

/// True when unitColumns() runs its vector kernel (AVX2 and FMA) on this processor.
bool unitColumnsVectorised();

/// Columns of a c x n matrix in blocks of 32: block b holds columns 32b .. 32b + 31 as
/// c rows of 32 floats (c * 32 floats in a row, the last block padded with zeros), so a
/// product over all rows reads each block as one stream instead of c strided ones.
constexpr int kColumnBlock = 32;
inline std::size_t columnBlocksSize(int c, int n)
{
    return std::size_t((n + kColumnBlock - 1) / kColumnBlock) * std::size_t(c) * kColumnBlock;
}
/// The c x n row-major matrix in column blocks (columnBlocksSize(c, n) floats).
std::vector<float> toColumnBlocks(const float* values, int c, int n);

/// Sets the padding of the last column block (columns n .. of a partial block) to 0.
void zeroColumnBlockPadding(float* blocks, int c, int n);

/// out = values / max(|column|, 1e-12) for the n columns of a c x n row-major matrix
/// (F.normalize(x, dim = 0)). Each column's squared norm is summed in float, one fused
/// multiply-add per row in row order, then rounded through sqrt and one division per
/// value: the order LibTorch 1.13's vectorised kernels use for
/// `x / x.norm(2, {0}, true).clamp_min(1e-12)`, so the bits are the same (tst_primaps
/// compares them). With `blocked`, `out` is in column blocks (columnBlocksSize(c, n)
/// floats, padding included). Only call it when unitColumnsVectorised(); `out` must not
/// alias.
void unitColumns(const float* values, int c, int n, float* out, bool blocked = false);

/// Which kernel similarityToColumns() uses: Best takes two blocks at a time, with
/// 512-bit registers when the processor has AVX512F; TwoBlocks forces the 256-bit
/// registers, OneBlock one block at a time with four accumulators (the first kernel).
/// Every lane is one column's chain in all three, so the bits are the same.
enum class SimilarityKernel
{
    Best,
    TwoBlocks,
    OneBlock,
};

/// out[i] = sum_k v[k] * columns[k][i] for the n columns of a c x n matrix given in
/// column blocks (toColumnBlocks) whose `include[i]` is non-zero, 0 for the others; each
/// sum is one fused multiply-add per row in row order (the order OpenBLAS's sgemm
/// kernels use for a 1 x c by c x n product on this processor, except at most its last
/// columns when n is not a multiple of 32). Blocks without an included column are not
/// read. Only call it when unitColumnsVectorised(); `out` must not alias the inputs.
void similarityToColumns(const float* blocks, int c, int n, const float* v,
                         const unsigned char* include, float* out,
                         SimilarityKernel kernel = SimilarityKernel::Best);

/// rows = the transpose of the c x n row-major matrix `values` (n rows of c), and
/// sums[k] = the sum of row k of `values` in double, taken in position order: the same
/// bits as a plain sequential loop per channel, with the channels side by side in
/// vector lanes instead of one long chain. One pass over the values (OpenCV's transpose
/// and a second pass for the sums were 8 % of a decomposition).
void transposeWithColumnSums(const float* values, int c, int n, float* rows, double* sums);

/// Subtracts mean[k] from column k of every row of a n x c row-major matrix (in float),
/// and sums the centred columns in double, each in row order (the same bits as a
/// sequential loop per column).
void centreColumns(float* rows, int n, int c, const float* mean, double* sums);

} // namespace primaps::detail
