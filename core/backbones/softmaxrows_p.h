// SPDX-License-Identifier: MIT
// Private to core: the attention's row softmax without LibTorch's kernel, whose
// exponential (SLEEF's 1-ULP expf) was a ninth of a ViT-S/8 forward pass.
#pragma once

#include <cstddef>

namespace primaps::detail {

/// True when softmaxRows() runs its vector kernel (AVX2 and FMA) on this processor.
bool softmaxRowsVectorised();

/// In place, every row of `rows` x `cols` floats (row r at values + r * stride):
/// x -> exp(x - max) / sum exp(x - max). The exponential is a degree-6 polynomial
/// after the usual reduction by ln 2 (within 1 ULP of the exact value on [-87.3, 0]
/// in tst_vit's sweep, as LibTorch's SLEEF kernel), the sum is taken in eight float lanes and
/// each value is multiplied by the sum's reciprocal. Results below 2^-126 before
/// normalisation become 0. Rows must be finite. Only call it when
/// softmaxRowsVectorised(). Where the processor has AVX-512F the same arithmetic runs
/// in 16 lanes (the same numbers bit for bit, in the same order); `allowAvx512` false
/// keeps to 8 lanes (for tests).
void softmaxRows(float* values, std::ptrdiff_t rows, std::ptrdiff_t cols, std::ptrdiff_t stride,
                 bool allowAvx512 = true);

/// True when softmaxRows() uses 16 lanes on this processor.
bool softmaxRowsWide();

/// softmaxRows()' second pass alone, for callers that have each row's maximum
/// (rowMax[r], the largest value of row r) and normalise later: every value x -> exp(x -
/// max) in place, sums[r] their sum; the same numbers as softmaxRows() before its
/// scaling. Only call it when softmaxRowsWide().
void expRows(float* values, std::ptrdiff_t rows, std::ptrdiff_t cols, std::ptrdiff_t stride,
             const float* rowMax, float* sums);

/// The scalar form of the kernel's exponential, for tests (same arithmetic per lane).
float softmaxExp(float x);

} // namespace primaps::detail
