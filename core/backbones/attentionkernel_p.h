// SPDX-License-Identifier: MIT
// Private to core: the attention's two products for 64-d heads in AVX-512 register
// tiles. OpenBLAS reaches about three quarters of its large-sgemm rate on them (q.k^T
// has an inner dimension of 64, attn.v 64 output columns: its packing and the zeroing
// of C for beta = 0 weigh on 64 columns of work), and they were half a ViT-S/8 pass.
#pragma once

#include <cstddef>

namespace primaps::detail {

/// True when the kernels below run on this processor (AVX-512F, and the softmax's
/// 16-lane kernel; asked at run time, the project is built for baseline x86-64).
bool attentionKernelsAvailable();

/// Floats that packKeys() writes for n keys.
std::ptrdiff_t packedKeysSize(std::ptrdiff_t n);

/// The keys [first, first + count) of one head (key j at k + j * ldk, 64 floats) put
/// into their places in `packed` (packedKeysSize(n) floats for n keys): transposed in
/// panels of 32 keys, each 64 x 32 and contiguous, the layout attentionLogits() reads
/// in order. Threads may pack disjoint ranges of keys into one buffer at once. The
/// last panel's places beyond n are never written: the caller zero-fills the buffer.
void packKeys(const float* k, std::ptrdiff_t ldk, std::ptrdiff_t first, std::ptrdiff_t count,
              float* packed);

/// logits (rows x n, row r at logits + r * ldl) = scale * q k^T for q (rows x 64, row r
/// at q + r * ldq) and the keys packed by packKeys(). Each value is the dot product
/// summed in order of the 64 dimensions by FMAs, times `scale` once at the end (what a
/// BLAS does with alpha = scale, beta = 0). With `rowMax`, also each row's largest
/// value there (the softmax's first pass, done on the tiles while they are in
/// registers). Only call it when attentionKernelsAvailable().
void attentionLogits(const float* q, std::ptrdiff_t ldq, const float* keys, std::ptrdiff_t n,
                     std::ptrdiff_t rows, float scale, float* logits, std::ptrdiff_t ldl,
                     float* rowMax = nullptr);

/// out (rows x 64, row r at out + r * ldo) = p v for p (rows x n, row r at p + r * ldp)
/// and v (n x 64, row j at v + j * ldv), each value summed over j in order by FMAs.
/// Reads v row after row: with ldv = 64 (the values of one head copied together) it
/// streams through one block of memory instead of touching a page per row.
/// With `rowScale`, row r of the result is multiplied by rowScale[r] once at the end
/// (the softmax's normalisation applied to 64 sums instead of n probabilities). Only
/// call it when attentionKernelsAvailable().
void attentionValues(const float* p, std::ptrdiff_t ldp, const float* v, std::ptrdiff_t ldv,
                     std::ptrdiff_t n, std::ptrdiff_t rows, float* out, std::ptrdiff_t ldo,
                     const float* rowScale = nullptr);

/// Packs the keys and values of tokens [first, first + count) of every head from a qkv
/// buffer (token j's q, k and v at qkv + j * ld, each `heads` x 64 floats side by side)
/// for attendHead(): into `keys` (heads x packedKeysSize(n) floats, zero-filled by the
/// caller; see packKeys()) and `values` (heads x n x 64, each head's contiguous).
/// Threads may pack disjoint ranges of tokens into the same buffers at once.
void packHeads(const float* qkv, std::ptrdiff_t ld, std::ptrdiff_t heads, std::ptrdiff_t n,
               std::ptrdiff_t first, std::ptrdiff_t count, float* keys, float* values);

/// One head's attention for `rows` query rows (q as in attentionLogits()), from one
/// head's packed keys and values: out (rows x 64, row r at out + r * ldo) = softmax(scale
/// q k^T) v, the softmax fused into the products: q.k^T keeps each row's maximum,
/// expRows() takes the exponentials and their sum, attn.v divides its 64 sums by it.
/// `logits` is scratch for logitsRows x n floats (48 rows are used at most). Only call it
/// when attentionKernelsAvailable().
void attendHead(const float* q, std::ptrdiff_t ldq, const float* keys, const float* values,
                std::ptrdiff_t n, std::ptrdiff_t rows, float scale, float* logits,
                std::ptrdiff_t logitsRows, float* out, std::ptrdiff_t ldo);

} // namespace primaps::detail
