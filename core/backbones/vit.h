// SPDX-License-Identifier: MIT
#pragma once

#include "support/featuremap.h"

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace primaps {

class StateDict;

/// The two ViT families of the paper's table. They differ in details that change the
/// numbers (docs/ALGORITHM.md, "DINO and DINOv2 ViTs"): DINOv2 has LayerScale and scales the queries before q.k,
/// DINO v1 scales the logits after it.
enum class VitFamily
{
    Dino,   ///< DINO v1 (Caron et al. 2021), facebookresearch/dino
    Dinov2, ///< DINOv2 (Oquab et al. 2023), facebookresearch/dinov2, without registers
};

/// "DINO" / "DINOv2".
const char* toString(VitFamily family);

/// Hyper-parameters of a ViT, as detected from a checkpoint's keys and shapes.
struct VitConfig
{
    VitFamily family = VitFamily::Dino;
    int patchSize = 16;
    int embedDim = 384;
    int depth = 12;
    int numHeads = 6;
    int mlpHidden = 1536;
    int posGrid = 14;        ///< side M of the pre-training positional grid (M x M patches)
    bool layerScale = false; ///< DINOv2 blocks scale both residual branches by a learnt gamma
    bool qkvBias = true;
    bool projBias = true;
    bool mlpBias = true;

    /// "S", "B", "L", "g" for the standard sizes, "" for any other.
    std::string sizeLetter() const;
    /// Registry name of the standard model ("dino_vits8", "dinov2_vitb14"), or "" when
    /// the configuration is not one of the six the catalogue lists.
    std::string registryName() const;
    /// "DINO ViT-S/8 (384-d, 12 blocks, 6 heads)".
    std::string description() const;
};

/// How features() shares the cores between LibTorch's OpenMP pool (elementwise steps,
/// softmax, LayerNorm) and the BLAS (the matrix products).
enum class VitThreading
{
    /// RowParallel when the BLAS is OpenBLAS with its own pthreads pool (Debian's
    /// libopenblas0-pthread) and LibTorch has more than one thread, Shared otherwise.
    Auto,
    /// Elementwise steps on the calling thread only, the BLAS keeps all its threads. Two
    /// pools that take turns fight over the cores: libgomp's workers busy-wait ~3 ms after
    /// every parallel region while OpenBLAS's threads wait for them, which made a ViT-S/8
    /// forward pass 2-3x slower on the 2-core build machine (tests/benchmarks/bench_vit.cpp).
    SerialElementwise,
    /// LibTorch's intra-op setting (configureThreads()) for everything.
    Shared,
    /// A team of as many threads as LibTorch's intra-op setting splits every block by
    /// token rows (attention by query rows), each thread running its share of every step
    /// with a single-threaded BLAS; the threads wait for each other once per block (the
    /// keys and values of all tokens). Needs OpenBLAS (falls back to SerialElementwise).
    RowParallel,
};

/// Options for VisionTransformer.
struct VitOptions
{
    /// Attention heads; 0 = embedDim / 64 (every released DINO/DINOv2 model has 64-d
    /// heads; a checkpoint does not record the count).
    int numHeads = 0;
    /// Run on CUDA. Throws primaps::Error at construction when the linked LibTorch has
    /// no CUDA or no device is present.
    bool useCuda = false;
    /// CPU threading of features(); see VitThreading.
    VitThreading threading = VitThreading::Auto;
    /// Upper bound, in bytes, of each thread's attention logits (query rows x tokens,
    /// float32). Longer token sequences are attended in chunks of query rows, which
    /// gives the same numbers (every row's softmax is its own): a 1024x1024-pixel
    /// image through a /8 ViT has 16,385 tokens, whose full logits would take 1 GB per
    /// thread. The default changes nothing at the paper's sizes (1,601 tokens).
    std::size_t attentionChunkBytes = std::size_t(64) << 20;
    /// The attention's row softmax by the project's AVX2 kernel (a polynomial exponential
    /// within 1 ULP, three passes over each row while it is in L1) instead of LibTorch's
    /// (SLEEF's 1-ULP exponential), which took a ninth of a ViT-S/8 forward pass on the
    /// build machine. Features move by about 1e-7 (docs/performance.md, "The ViT");
    /// false gives LibTorch's numbers. Without AVX2 and FMA LibTorch's kernel runs anyway.
    bool vectorSoftmax = true;
    /// The attention's products (q.k^T and attn.v) for 64-d heads by the project's
    /// AVX-512 register-tile kernels instead of the BLAS: OpenBLAS reached about three
    /// quarters of its large-sgemm rate on these shapes (docs/vit-performance.md).
    /// Goes with vectorSoftmax: the softmax is fused into them (row maxima from q.k^T,
    /// the normalisation applied to attn.v's sums); vectorSoftmax false gives the BLAS. Features move by a few float roundings
    /// (within 1e-6 of the largest feature in tst_vit); false gives the BLAS's numbers.
    /// Used with VitThreading::RowParallel (the default with OpenBLAS) or one thread;
    /// without AVX-512F, with other head sizes or the other threadings (which give the
    /// products to the BLAS's threads) the BLAS runs anyway.
    bool vectorAttention = true;
};

/// Detects the architecture of the ViT whose weights `weights` holds. Accepts DINO's
/// released backbone files and DINOv2's (`blocks.<i>.` and the chunked
/// `blocks.<chunk>.<i>.` layouts). Throws primaps::Error naming the file and what
/// is missing, unexpected or unsupported (e.g. DINOv2 register tokens, SwiGLU FFNs).
VitConfig detectVitConfig(const StateDict& weights, const VitOptions& options = {});

/// A DINO or DINOv2 Vision Transformer evaluated natively with LibTorch, numerically
/// faithful to the reference implementations (docs/ALGORITHM.md, "DINO and DINOv2 ViTs").
///
/// Construction copies every parameter from the state dict, checking each name and
/// shape; it fails rather than load partially. Threading: features() may be called
/// from any thread but from one at a time (it reuses a cache of interpolated positional
/// embeddings); create one instance per concurrent worker.
class VisionTransformer
{
public:
    /// Throws primaps::Error naming the file and the problem (missing key, unexpected
    /// key or shape, unknown architecture).
    explicit VisionTransformer(const StateDict& weights, const VitOptions& options = {});
    ~VisionTransformer();
    VisionTransformer(VisionTransformer&&) noexcept;
    VisionTransformer& operator=(VisionTransformer&&) noexcept;

    const VitConfig& config() const;

    /// The last block's tokens after the final LayerNorm, without the CLS token, as
    /// embedDim x (height / patch) x (width / patch): what DINO's
    /// get_intermediate_layers(x, n=1) and DINOv2's get_intermediate_layers(x, 1,
    /// reshape=True) return. `normalized` is 3 x height x width float32, channel-major,
    /// already ImageNet-normalised (imagenetNormalize()). Throws primaps::Error when the
    /// sizes are not positive multiples of the patch size or the buffer is too small.
    FeatureMap features(const float* normalized, int height, int width);
    FeatureMap features(const std::vector<float>& normalized, int height, int width);

    /// Multiply-adds x 2 of one features() call at this image size (matrix products,
    /// the patch embedding and attention); for throughput reports.
    double flops(int height, int width) const;

private:
    struct Impl;
    std::unique_ptr<Impl> d_;
};

} // namespace primaps
