// SPDX-License-Identifier: MIT
// DINO and DINOv2 Vision Transformers as LibTorch modules whose parameter names are the
// official checkpoint keys, so loading is a name-by-name, shape-checked copy. The forward
// pass follows the reference implementations operation by operation (docs/ALGORITHM.md, "DINO and DINOv2 ViTs"); the
// comments name the places where the two families differ.
#include "backbones/vit.h"
#include "backbones/vitconfig_p.h"

#include "support/blasthreads_p.h"
#include "backbones/checkpoint.h"
#include "backbones/checkpoint_p.h"
#include "support/error.h"
#include "backbones/attentionkernel_p.h"
#include "backbones/softmaxrows_p.h"
#include "support/workerteam_p.h"

#include <algorithm>
#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <c10/core/InferenceMode.h>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

namespace primaps {

namespace {

using detail::detect;
using detail::fail;
using detail::normalisedKeys;
using detail::shapeOf;
using detail::TensorMap;

// ---- the modules ----------------------------------------------------------------------------
// Parameters are registered uninitialised (they are always loaded from a checkpoint)
// and without gradients: this network only ever runs inference.

at::Tensor uninitialised(at::IntArrayRef shape)
{
    return at::empty(shape, at::kFloat);
}

// The token rows [begin, begin + count) that one thread of the team computes.
struct RowRange
{
    std::int64_t begin = 0, count = 0;
};

// Intermediate buffers reused by every block and every call. Large temporaries would
// otherwise be fresh mmap'ed memory each time (glibc serves blocks above 32 MB with mmap):
// the page faults of a batched 6 x 1601 x 1601 attention matrix cost about 30 ms per
// ViT-S/8 block on the build machine, more than the softmax over it.
struct Workspace
{
    // N x 3C, for even and odd blocks: a thread may still read block b's keys and
    // values while another already writes block b + 1's rows.
    at::Tensor qkv[2];
    at::Tensor heads;               // N x C, the heads' outputs side by side
    at::Tensor hidden;              // N x hidden
    std::vector<at::Tensor> logits; // per thread: a chunk of its rows x N, one head at a time
    // For the attention kernels (64-d heads), next to qkv[]: every head's keys in the
    // panels of detail::packKeys() and values contiguous, written by each thread for its
    // own rows right after their projection (while they are in cache), read by all.
    // Sized at first use; zero-filled once (the last panel's padding is never written).
    std::vector<float> keys[2], values[2];
    std::vector<RowRange> rows;     // per thread
    std::int64_t chunkRows = 0;     // query rows attended at once (VitOptions::attentionChunkBytes)

    void reserve(std::int64_t n, std::int64_t c, std::int64_t hiddenDim, int threads,
                 at::Device device, std::int64_t maxChunkRows)
    {
        if (heads.defined() && heads.size(0) == n && heads.device() == device &&
            int(rows.size()) == threads && chunkRows == maxChunkRows)
            return;
        chunkRows = maxChunkRows;
        const auto options = at::TensorOptions().dtype(at::kFloat).device(device);
        qkv[0] = at::empty({n, 3 * c}, options);
        qkv[1] = at::empty({n, 3 * c}, options);
        heads = at::empty({n, c}, options);
        hidden = at::empty({n, hiddenDim}, options);
        rows.clear();
        logits.clear();
        for (int parity = 0; parity < 2; ++parity) {
            keys[parity].clear();
            values[parity].clear();
        }
        for (int t = 0; t < threads; ++t) {
            const std::int64_t begin = n * t / threads, end = n * (t + 1) / threads;
            rows.push_back({begin, end - begin});
            logits.push_back(at::empty({std::min(end - begin, chunkRows), n}, options));
        }
    }
};

// out = x W^T + b into `out`: what at::linear does for 2-D inputs (addmm), without
// allocating.
void linearInto(at::Tensor& out, const at::Tensor& x, const at::Tensor& weight,
                const at::Tensor& bias)
{
    if (bias.defined())
        at::addmm_out(out, bias, x, weight.t());
    else
        at::mm_out(out, x, weight.t());
}

class LinearImpl : public torch::nn::Module
{
public:
    LinearImpl(std::int64_t in, std::int64_t out, bool bias)
    {
        weight = register_parameter("weight", uninitialised({out, in}), false);
        if (bias)
            this->bias = register_parameter("bias", uninitialised({out}), false);
    }
    at::Tensor forward(const at::Tensor& x) const { return at::linear(x, weight, bias); }

    at::Tensor weight, bias;
};
TORCH_MODULE(Linear);

class LayerNormImpl : public torch::nn::Module
{
public:
    explicit LayerNormImpl(std::int64_t dim) : dim_(dim)
    {
        weight = register_parameter("weight", uninitialised({dim}), false);
        bias = register_parameter("bias", uninitialised({dim}), false);
    }
    // Both references build their norms with partial(nn.LayerNorm, eps=1e-6).
    at::Tensor forward(const at::Tensor& x) const
    {
        return at::layer_norm(x, {dim_}, weight, bias, 1e-6);
    }

    at::Tensor weight, bias;

private:
    std::int64_t dim_;
};
TORCH_MODULE(LayerNorm);

class LayerScaleImpl : public torch::nn::Module
{
public:
    explicit LayerScaleImpl(std::int64_t dim)
    {
        gamma = register_parameter("gamma", uninitialised({dim}), false);
    }
    at::Tensor forward(const at::Tensor& x) const { return x * gamma; }

    at::Tensor gamma;
};
TORCH_MODULE(LayerScale);

class AttentionImpl : public torch::nn::Module
{
public:
    AttentionImpl(const VitConfig& c)
        : heads_(c.numHeads), headDim_(c.embedDim / c.numHeads),
          // head_dim ** -0.5, evaluated in double as Python does.
          scale_(std::pow(double(c.embedDim / c.numHeads), -0.5)),
          scaleQueries_(c.family == VitFamily::Dinov2)
    {
        qkv = register_module("qkv", Linear(c.embedDim, 3 * c.embedDim, c.qkvBias));
        proj = register_module("proj", Linear(c.embedDim, c.embedDim, c.projBias));
    }

    // x: N x C (one image; the batch dimension of the references is 1 throughout).
    // The qkv projection of the rows `r` of the (normed) tokens into those rows of `out`.
    void project(const at::Tensor& normedRows, RowRange r, at::Tensor& out,
                 std::vector<float>& keys, std::vector<float>& values) const
    {
        at::Tensor rows = out.narrow(0, r.begin, r.count);
        linearInto(rows, normedRows, qkv->weight, qkv->bias);
        if (usesKernels(out)) // keys and values sized by VitImpl::forward()
            detail::packHeads(out.data_ptr<float>(), out.stride(0), heads_, out.size(0), r.begin,
                              r.count, keys.data(), values.data());
    }

    bool usesKernels(const at::Tensor& all) const
    {
        return vectorProducts && vectorSoftmax && headDim_ == 64 && all.is_cpu() &&
               all.is_contiguous();
    }

    // The attention output of the query rows `r`, once every row of `all` (N x 3C) holds
    // its q, k, v. Heads are evaluated one after another into `logits` (up to its rows x
    // N at a time: longer ranges go in chunks of query rows); each head's result is the
    // reference's slice of the batched matmul, by the same kernels.
    at::Tensor attend(const at::Tensor& all, RowRange r, at::Tensor& logits, at::Tensor& heads,
                      const std::vector<float>& keys, const std::vector<float>& values) const
    {
        const std::int64_t c = all.size(1) / 3;
        if (usesKernels(all))
            return attendByKernels(all, r, logits, heads, keys, values);
        const at::Tensor outRows = heads.narrow(0, r.begin, r.count);
        for (std::int64_t done = 0; done < r.count;) {
            const std::int64_t count = std::min(r.count - done, logits.size(0));
            const at::Tensor queries = all.narrow(0, r.begin + done, count);
            at::Tensor chunkLogits = logits.narrow(0, 0, count);
            for (std::int64_t h = 0; h < heads_; ++h) {
                // reshape(B, N, 3, heads, hd): q, k, v of head h are these column ranges.
                const at::Tensor q = queries.narrow(1, h * headDim_, headDim_);
                const at::Tensor k = all.narrow(1, c + h * headDim_, headDim_);
                const at::Tensor v = all.narrow(1, 2 * c + h * headDim_, headDim_);
                if (scaleQueries_) {
                    // DINOv2: q = q * scale, then q @ k^T.
                    at::mm_out(chunkLogits, q * scale_, k.t());
                } else {
                    // DINO: (q @ k^T) * scale, the scaling folded into the product (the
                    // BLAS multiplies each finished dot product by alpha: the same single
                    // rounding).
                    at::addmm_out(chunkLogits, chunkLogits, q, k.t(), /*beta=*/0.0,
                                  /*alpha=*/scale_);
                }
                // In place: rows are independent.
                if (vectorSoftmax && chunkLogits.is_cpu() && chunkLogits.stride(1) == 1)
                    detail::softmaxRows(chunkLogits.data_ptr<float>(), count,
                                        chunkLogits.size(1), chunkLogits.stride(0));
                else
                    at::_softmax_out(chunkLogits, chunkLogits, -1, false);
                at::Tensor out = outRows.narrow(0, done, count).narrow(1, h * headDim_, headDim_);
                at::mm_out(out, chunkLogits, v);
            }
            done += count;
        }
        return proj->forward(outRows);
    }

    // attend() by detail::attendHead() (64-d heads, AVX-512F, the softmax fused into the
    // products), from the keys and values that project() packed (keys in panels of 32,
    // values contiguous: the qkv buffer has a page per token). Head by head, so that one
    // head's packed keys and values stay in L2 for all its query rows. Same scaling as
    // above.
    at::Tensor attendByKernels(const at::Tensor& all, RowRange r, at::Tensor& logits,
                               at::Tensor& heads, const std::vector<float>& packedKeys,
                               const std::vector<float>& packedValues) const
    {
        const std::int64_t n = all.size(0), c = all.size(1) / 3, ld = all.stride(0);
        const std::ptrdiff_t keysSize = detail::packedKeysSize(n);
        const float* base = all.data_ptr<float>();
        float* out = heads.data_ptr<float>();
        for (std::int64_t h = 0; h < heads_; ++h) {
            const float* keys = packedKeys.data() + h * keysSize;
            const float* values = packedValues.data() + h * n * headDim_;
            // DINOv2 scales the queries (q * scale, one rounding each) before q @ k^T; DINO
            // the finished dot products, as the BLAS does with alpha.
            const float* q = base + r.begin * ld + h * headDim_;
            std::int64_t ldq = ld;
            float scale = float(scale_);
            at::Tensor scaled;
            if (scaleQueries_) {
                scaled = (all.narrow(0, r.begin, r.count).narrow(1, h * headDim_, headDim_) *
                          scale_)
                             .contiguous();
                q = scaled.data_ptr<float>();
                ldq = headDim_;
                scale = 1.0f;
            }
            detail::attendHead(q, ldq, keys, values, n, r.count, scale,
                               logits.data_ptr<float>(), logits.size(0),
                               out + r.begin * c + h * headDim_, c);
        }
        return proj->forward(heads.narrow(0, r.begin, r.count));
    }

    Linear qkv{nullptr}, proj{nullptr};
    bool vectorSoftmax = false;  // detail::softmaxRows() instead of LibTorch's softmax
    bool vectorProducts = false; // attendByKernels() for 64-d heads (with vectorSoftmax)

private:
    std::int64_t heads_, headDim_;
    double scale_;
    bool scaleQueries_;
};
TORCH_MODULE(Attention);

class MlpImpl : public torch::nn::Module
{
public:
    MlpImpl(const VitConfig& c)
    {
        fc1 = register_module("fc1", Linear(c.embedDim, c.mlpHidden, c.mlpBias));
        fc2 = register_module("fc2", Linear(c.mlpHidden, c.embedDim, c.mlpBias));
    }
    // nn.GELU() default: the exact erf form, not the tanh approximation.
    // `hidden`: this call's rows of the N x hidden buffer.
    at::Tensor forward(const at::Tensor& x, at::Tensor hidden) const
    {
        linearInto(hidden, x, fc1->weight, fc1->bias);
        at::gelu_(hidden);
        return fc2->forward(hidden);
    }

    Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(Mlp);

class BlockImpl : public torch::nn::Module
{
public:
    BlockImpl(const VitConfig& c)
    {
        norm1 = register_module("norm1", LayerNorm(c.embedDim));
        attn = register_module("attn", Attention(c));
        norm2 = register_module("norm2", LayerNorm(c.embedDim));
        mlp = register_module("mlp", Mlp(c));
        if (c.layerScale) {
            ls1 = register_module("ls1", LayerScale(c.embedDim));
            ls2 = register_module("ls2", LayerScale(c.embedDim));
        }
    }
    // Pre-norm residual block; DINOv2 scales each branch (LayerScale) before adding.
    // `x` is updated in place (the same sums as x = x + y). Split in two for the rows `r`
    // of one thread: the qkv projection, then, once all rows have theirs, the rest.
    // `parity`: which of the workspace's two qkv buffers (and packed keys and values)
    // this block uses.
    void beginRows(const at::Tensor& x, RowRange r, int parity, Workspace& ws) const
    {
        attn->project(norm1->forward(x.narrow(0, r.begin, r.count)), r, ws.qkv[parity],
                      ws.keys[parity], ws.values[parity]);
    }
    void finishRows(at::Tensor& x, RowRange r, int parity, int thread, Workspace& ws) const
    {
        at::Tensor rows = x.narrow(0, r.begin, r.count);
        at::Tensor y = attn->attend(ws.qkv[parity], r, ws.logits[std::size_t(thread)], ws.heads,
                                    ws.keys[parity], ws.values[parity]);
        if (ls1)
            y.mul_(ls1->gamma);
        rows.add_(y);
        y = mlp->forward(norm2->forward(rows), ws.hidden.narrow(0, r.begin, r.count));
        if (ls2)
            y.mul_(ls2->gamma);
        rows.add_(y);
    }

    LayerNorm norm1{nullptr}, norm2{nullptr};
    Attention attn{nullptr};
    Mlp mlp{nullptr};
    LayerScale ls1{nullptr}, ls2{nullptr};
};
TORCH_MODULE(Block);

class PatchEmbedImpl : public torch::nn::Module
{
public:
    PatchEmbedImpl(const VitConfig& c) : patch_(c.patchSize)
    {
        // Registered under "proj" so the keys read patch_embed.proj.weight / .bias.
        proj = register_module("proj", std::make_shared<torch::nn::Module>());
        weight = proj->register_parameter("weight", uninitialised({c.embedDim, 3, patch_, patch_}),
                                          false);
        bias = proj->register_parameter("bias", uninitialised({c.embedDim}), false);
    }
    // 1 x 3 x H x W -> (h * w) x C, row-major over the patch grid.
    at::Tensor forward(const at::Tensor& image) const
    {
        const at::Tensor x = at::conv2d(image, weight, bias, {patch_, patch_});
        return x.flatten(2).transpose(1, 2).squeeze(0);
    }

    std::shared_ptr<torch::nn::Module> proj;
    at::Tensor weight, bias;

private:
    std::int64_t patch_;
};
TORCH_MODULE(PatchEmbed);

class VitImpl : public torch::nn::Module
{
public:
    explicit VitImpl(const VitConfig& c) : config(c)
    {
        cls_token = register_parameter("cls_token", uninitialised({1, 1, c.embedDim}), false);
        pos_embed = register_parameter(
            "pos_embed", uninitialised({1, 1 + c.posGrid * c.posGrid, c.embedDim}), false);
        patch_embed = register_module("patch_embed", PatchEmbed(c));
        blocks = register_module("blocks", torch::nn::ModuleList());
        for (int i = 0; i < c.depth; ++i)
            blocks->push_back(Block(c));
        norm = register_module("norm", LayerNorm(c.embedDim));
    }

    // Positional embeddings for an image of height x width pixels: the pre-training grid
    // as is when the token count matches and the image is square, otherwise bicubic
    // interpolation by the scale factor (n + 0.1) / M. Both references do exactly this
    // (the +0.1 is theirs); the scale factor, not the output size, drives the sampling.
    at::Tensor positionalEmbedding(std::int64_t height, std::int64_t width)
    {
        const std::int64_t rows = height / config.patchSize, cols = width / config.patchSize;
        const std::int64_t n = pos_embed.size(1) - 1;
        if (rows * cols == n && height == width)
            return pos_embed.squeeze(0);
        if (cachedPos_.defined() && cachedRows_ == rows && cachedCols_ == cols)
            return cachedPos_;
        const std::int64_t dim = pos_embed.size(2);
        const at::Tensor classPos = pos_embed.select(1, 0);    // 1 x C
        const at::Tensor patchPos = pos_embed.narrow(1, 1, n); // 1 x N x C
        const double m = std::sqrt(double(n));
        const std::int64_t side = std::int64_t(m);
        const std::vector<double> scales = {(double(rows) + 0.1) / m, (double(cols) + 0.1) / m};
        const at::Tensor grid = patchPos.reshape({1, side, side, dim}).permute({0, 3, 1, 2});
        const at::Tensor resized =
            at::upsample_bicubic2d(grid, c10::nullopt, /*align_corners=*/false, scales);
        if (resized.size(2) != rows || resized.size(3) != cols)
            throw Error("positional-embedding interpolation gave " +
                        std::to_string(resized.size(2)) + "x" + std::to_string(resized.size(3)) +
                        " instead of " + std::to_string(rows) + "x" + std::to_string(cols));
        const at::Tensor patchTokens = resized.permute({0, 2, 3, 1}).reshape({rows * cols, dim});
        cachedPos_ = at::cat({classPos, patchTokens}, 0);
        cachedRows_ = rows;
        cachedCols_ = cols;
        return cachedPos_;
    }

    // image: 1 x 3 x H x W. Returns the normed patch tokens, (h * w) x C. With a team,
    // its threads share every block's rows (each with a single-threaded BLAS).
    at::Tensor forward(const at::Tensor& image, detail::WorkerTeam* team)
    {
        at::Tensor x = patch_embed->forward(image);   // hw x C
        x = at::cat({cls_token.view({1, -1}), x}, 0); // (1 + hw) x C
        x.add_(positionalEmbedding(image.size(2), image.size(3)));
        const std::int64_t tokens = x.size(0);
        const std::int64_t chunkRows = std::max<std::int64_t>(
            1, std::int64_t(attentionChunkBytes / (sizeof(float) * std::size_t(tokens))));
        workspace_.reserve(tokens, config.embedDim, config.mlpHidden, team ? team->size() : 1,
                           x.device(), chunkRows);
        if ((*blocks)[0]->as<BlockImpl>()->attn->usesKernels(workspace_.qkv[0])) {
            const auto keysSize =
                std::size_t(config.numHeads) * std::size_t(detail::packedKeysSize(tokens));
            const auto valuesSize = std::size_t(tokens) * std::size_t(config.embedDim);
            for (int parity = 0; parity < 2; ++parity) {
                if (workspace_.keys[parity].size() != keysSize)
                    workspace_.keys[parity].assign(keysSize, 0.0f);
                workspace_.values[parity].resize(valuesSize);
            }
        }
        const auto runBlocks = [&](int thread) {
            c10::InferenceMode guard; // per thread; x is an inference tensor
            const RowRange r = workspace_.rows[std::size_t(thread)];
            for (std::size_t b = 0; b < blocks->size(); ++b) {
                const BlockImpl& block = *(*blocks)[b]->as<BlockImpl>();
                const int parity = int(b % 2);
                if (r.count > 0)
                    block.beginRows(x, r, parity, workspace_);
                if (team)
                    team->sync(); // attention reads every row's keys and values
                if (r.count > 0)
                    block.finishRows(x, r, parity, thread, workspace_);
            }
        };
        if (team)
            team->run(runBlocks);
        else
            runBlocks(0);
        x = norm->forward(x);
        return x.narrow(0, 1, x.size(0) - 1);
    }

    /// Frees the cached positional embeddings and buffers (e.g. after moving devices).
    void dropCache()
    {
        cachedPos_ = at::Tensor();
        workspace_ = Workspace();
    }

    VitConfig config;
    std::size_t attentionChunkBytes = VitOptions().attentionChunkBytes;
    at::Tensor cls_token, pos_embed;
    PatchEmbed patch_embed{nullptr};
    torch::nn::ModuleList blocks{nullptr};
    LayerNorm norm{nullptr};

private:
    at::Tensor cachedPos_;
    std::int64_t cachedRows_ = 0, cachedCols_ = 0;
    Workspace workspace_;
};
TORCH_MODULE(Vit);

// Keys a backbone file may carry that the feature extractor does not use.
bool ignorable(const std::string& key)
{
    return key == "mask_token" || key.rfind("head.", 0) == 0;
}

void loadParameters(VitImpl& vit, const TensorMap& map, const StateDict& weights)
{
    std::set<std::string> used;
    std::vector<std::string> missing;
    for (auto& item : vit.named_parameters(/*recurse=*/true)) {
        const std::string& key = item.key();
        auto it = map.find(key);
        if (it == map.end()) {
            missing.push_back(key);
            continue;
        }
        const at::Tensor& source = it->second;
        if (!source.sizes().equals(item.value().sizes()))
            fail(weights, "key '" + key + "' has shape " + shapeOf(source) + ", expected " +
                              shapeOf(item.value()) + " for " + vit.config.description());
        if (!source.is_floating_point())
            fail(weights, "key '" + key + "' holds " +
                              std::string(c10::toString(source.scalar_type())) +
                              " values, expected floating point");
        item.value().copy_(source);
        used.insert(key);
    }
    if (!missing.empty()) {
        std::string list;
        for (std::size_t i = 0; i < missing.size() && i < 5; ++i)
            list += (i ? ", '" : "'") + missing[i] + "'";
        if (missing.size() > 5)
            list += " and " + std::to_string(missing.size() - 5) + " more";
        fail(weights, "missing key " + list + " for " + vit.config.description() +
                          "; the file is incomplete or holds another architecture");
    }
    for (const auto& entry : map)
        if (!used.count(entry.first) && !ignorable(entry.first))
            fail(weights, "unexpected key '" + entry.first + "' " + shapeOf(entry.second) +
                              ", which a " + vit.config.description() +
                              " does not have; the file holds another architecture");
}

double matmulFlops(double m, double n, double k)
{
    return 2.0 * m * n * k;
}

} // namespace

// ---- VisionTransformer --------------------------------------------------------------------------

struct VisionTransformer::Impl
{
    Vit vit{nullptr};
    at::Device device = at::kCPU;
    bool serialElementwise = false;
    int rowThreads = 1; // > 1: VitThreading::RowParallel with that many threads
    std::unique_ptr<detail::WorkerTeam> team; // made at the first features() call
};

VisionTransformer::VisionTransformer(const StateDict& weights, const VitOptions& options)
    : d_(std::make_unique<Impl>())
{
    const TensorMap map = normalisedKeys(weights);
    const VitConfig config = detect(map, weights, options);
    c10::InferenceMode guard;
    d_->vit = Vit(config);
    d_->vit->attentionChunkBytes = options.attentionChunkBytes;
    const bool vectorSoftmax = options.vectorSoftmax && detail::softmaxRowsVectorised();
    for (const auto& block : *d_->vit->blocks)
        block->as<BlockImpl>()->attn->vectorSoftmax = vectorSoftmax;
    loadParameters(*d_->vit, map, weights);
    if (options.useCuda) {
        if (!at::hasCUDA())
            throw Error("CUDA was requested but this build of LibTorch has no CUDA or no "
                        "CUDA device is present");
        d_->device = at::Device(at::kCUDA, 0);
        d_->vit->to(d_->device);
        d_->vit->dropCache();
    }
    d_->vit->eval();
    const bool openBlasPool = detail::blasHasOwnThreadPool();
    const int threads = at::get_num_threads();
    if (d_->device == at::kCPU && threads > 1 && detail::SingleThreadedBlas::available() &&
        (options.threading == VitThreading::RowParallel ||
         (options.threading == VitThreading::Auto && openBlasPool)))
        d_->rowThreads = threads;
    // The attention kernels run on the thread that calls them: with the row-parallel
    // team (each thread its rows, the BLAS on one thread anyway) or on one thread in
    // all. The other threadings leave the products to the BLAS and its threads.
    const bool vectorProducts = options.vectorAttention && detail::attentionKernelsAvailable() &&
                                (d_->rowThreads > 1 || threads == 1);
    for (const auto& block : *d_->vit->blocks)
        block->as<BlockImpl>()->attn->vectorProducts = vectorProducts;
    d_->serialElementwise =
        d_->device == at::kCPU &&
        (options.threading == VitThreading::SerialElementwise ||
         options.threading == VitThreading::RowParallel ||
         (options.threading == VitThreading::Auto && openBlasPool));
}

VisionTransformer::~VisionTransformer() = default;
VisionTransformer::VisionTransformer(VisionTransformer&&) noexcept = default;
VisionTransformer& VisionTransformer::operator=(VisionTransformer&&) noexcept = default;

const VitConfig& VisionTransformer::config() const
{
    return d_->vit->config;
}

FeatureMap VisionTransformer::features(const std::vector<float>& normalized, int height, int width)
{
    if (height <= 0 || width <= 0 || normalized.size() != std::size_t(3) * height * width)
        throw Error("VisionTransformer::features: expected 3 x " + std::to_string(height) + " x " +
                    std::to_string(width) + " values, got " + std::to_string(normalized.size()));
    return features(normalized.data(), height, width);
}

FeatureMap VisionTransformer::features(const float* normalized, int height, int width)
{
    const VitConfig& c = config();
    if (!normalized || height <= 0 || width <= 0 || height % c.patchSize || width % c.patchSize)
        throw Error("VisionTransformer::features: the image is " + std::to_string(width) + "x" +
                    std::to_string(height) + " pixels; both sides must be positive multiples of " +
                    "the patch size " + std::to_string(c.patchSize));
    c10::InferenceMode guard;
    const detail::SerialAtenOps serial(d_->serialElementwise);
    std::optional<detail::SingleThreadedBlas> singleThreadedBlas;
    if (d_->rowThreads > 1) {
        if (!d_->team)
            d_->team = std::make_unique<detail::WorkerTeam>(
                d_->rowThreads, [] { detail::serialAtenOpsOnThisThread(); });
        singleThreadedBlas.emplace();
    }
    at::Tensor image = at::from_blob(const_cast<float*>(normalized), {1, 3, height, width},
                                     at::TensorOptions().dtype(at::kFloat));
    if (d_->device != at::kCPU)
        image = image.to(d_->device);
    const at::Tensor tokens = d_->vit->forward(image, d_->team.get()).to(at::kCPU); // hw x C
    const int rows = height / c.patchSize, cols = width / c.patchSize;
    FeatureMap out(c.embedDim, rows, cols);
    at::Tensor view = at::from_blob(out.values.data(), {c.embedDim, std::int64_t(rows) * cols},
                                    at::TensorOptions().dtype(at::kFloat));
    view.copy_(tokens.t());
    return out;
}

double VisionTransformer::flops(int height, int width) const
{
    const VitConfig& c = config();
    const double patches = double(height / c.patchSize) * double(width / c.patchSize);
    const double n = patches + 1, d = c.embedDim;
    double perBlock = matmulFlops(n, 3 * d, d)              // qkv
                      + 2 * matmulFlops(n, n, d)            // q k^T and attn v, all heads
                      + matmulFlops(n, d, d)                // proj
                      + 2 * matmulFlops(n, c.mlpHidden, d); // fc1, fc2
    return matmulFlops(patches, d, 3.0 * c.patchSize * c.patchSize) + c.depth * perBlock;
}

} // namespace primaps
