// SPDX-License-Identifier: MIT
#include "crf/densecrf.h"

#include "crf/crfkernels_p.h"
#include "support/error.h"
#include "decompose/primaps.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <future>
#include <limits>
#include <memory>
#include <mutex>
#include <opencv2/core.hpp>
#include <string>
#include <system_error>

namespace primaps {

struct DenseCrfImage::Spatial
{
    std::shared_ptr<const PermutohedralLattice> lattice;
    LatticeMatrix matrix;
};

namespace {

// Probability floor of the reference's unary (pydensecrf's unary_from_softmax).
constexpr float kMinProbability = 1e-5f;

template <typename Body> void parallelPixels(int n, const Body& body)
{
    const int stripes = std::min(n / 4096, 64);
    if (stripes <= 1) {
        body(0, n);
        return;
    }
    cv::parallel_for_(
        cv::Range(0, n), [&](const cv::Range& r) { body(r.start, r.end); }, double(stripes));
}

// Pixels per block of the input conversion: the block's rows stay in L1 cache
// between its passes.
constexpr int kSoftmaxBlock = 64;

// Asks for the cache lines of `count` floats from `values` on.
inline void prefetchFloats(const float* values, int count)
{
#if defined(__GNUC__) || defined(__clang__)
    for (int i = 0; i < count; i += 16)
        __builtin_prefetch(values + i);
#else
    (void)values;
    (void)count;
#endif
}

// The rows of one of DenseCrf's pixel-major arrays: `buffer` holds them from the
// first 64-byte boundary on (vector rows then never straddle a cache line).
float* rows(LargeVector<float>& buffer)
{
    const auto address = reinterpret_cast<std::uintptr_t>(buffer.data());
    return buffer.data() + ((64 - address % 64) % 64) / sizeof(float);
}

const float* rows(const LargeVector<float>& buffer)
{
    return rows(const_cast<LargeVector<float>&>(buffer));
}

// Room for n floats from the first 64-byte boundary on.
void reserveRows(LargeVector<float>& buffer, std::size_t n)
{
    buffer.resize(n + 16);
}

void checkKernel(const char* name, float sxy, float weight, float srgb = 1.0f)
{
    if (!std::isfinite(weight))
        throw Error(std::string("DenseCrf: the ") + name + " weight is not finite");
    if (weight == 0.0f)
        return;
    if (!(sxy > 0.0f) || !std::isfinite(sxy))
        throw Error(std::string("DenseCrf: the ") + name +
                    " kernel's sxy must be a positive number, got " + std::to_string(sxy));
    if (!(srgb > 0.0f) || !std::isfinite(srgb))
        throw Error(std::string("DenseCrf: the ") + name +
                    " kernel's srgb must be a positive number, got " + std::to_string(srgb));
}

// The spatial kernel depends on the image size and the Gaussian parameters
// only, so consecutive images of one size (a dataset's crops, the GUI re-running
// on one image) can share it. One entry, and only for images up to
// kMaxCachedPixels: the lattice takes about 80 bytes per pixel, its matrix 250.
constexpr std::size_t kMaxCachedPixels = std::size_t(1) << 20;

struct SpatialCache
{
    std::mutex mutex;
    int height = 0;
    int width = 0;
    float sxy = 0.0f;
    float weight = 0.0f;
    std::shared_ptr<const DenseCrfImage::Spatial> lattice;
};

SpatialCache& spatialCache()
{
    static SpatialCache cache;
    return cache;
}

std::shared_ptr<const DenseCrfImage::Spatial> cachedSpatialKernel(int height, int width,
                                                                  const DenseCrfParams& params)
{
    SpatialCache& cache = spatialCache();
    const std::lock_guard<std::mutex> lock(cache.mutex);
    if (cache.lattice && cache.height == height && cache.width == width &&
        cache.sxy == params.gaussianSxy && cache.weight == params.gaussianWeight)
        return cache.lattice;
    return nullptr;
}

void cacheSpatialKernel(int height, int width, const DenseCrfParams& params,
                        const std::shared_ptr<const DenseCrfImage::Spatial>& lattice)
{
    if (std::size_t(height) * std::size_t(width) > kMaxCachedPixels)
        return;
    SpatialCache& cache = spatialCache();
    const std::lock_guard<std::mutex> lock(cache.mutex);
    cache.height = height;
    cache.width = width;
    cache.sxy = params.gaussianSxy;
    cache.weight = params.gaussianWeight;
    cache.lattice = lattice;
}

} // namespace

namespace {

// A kernel's lattice with the scales that make it the symmetrically normalised,
// weighted filtering of the mean-field update folded in.
std::shared_ptr<const PermutohedralLattice> makeKernel(const std::vector<float>& features, int dim,
                                                       int pixels, float weight)
{
    auto lattice = std::make_shared<PermutohedralLattice>(features.data(), dim, pixels);
    // D = K 1 with each pixel's own contribution; D^-1/2 on both sides and the
    // Potts weight are folded into the lattice's weights.
    const std::size_t n = std::size_t(pixels);
    std::vector<float> ones(n, 1.0f);
    std::vector<float> degree(n);
    PermutohedralLattice::Workspace workspace;
    lattice->filter(ones.data(), degree.data(), 1, workspace);
    std::vector<float> pre(n);
    std::vector<float> post(n);
    for (std::size_t i = 0; i < n; ++i) {
        pre[i] = 1.0f / std::sqrt(degree[i] + 1e-20f);
        post[i] = weight * pre[i];
    }
    lattice->scalePoints(pre.data(), post.data());
    return lattice;
}

// Entries per row beyond which the spatial kernel stays a lattice: about 30 at
// sxy = 1, growing with sxy^2; past 64 the matrix would move more memory than the
// lattice. And the largest image for a matrix: it takes about 250 bytes per pixel
// (75 MB at 640 x 480). Measured with bench_densecrf's A/B of the two on one
// DenseCrf at 320 x 320: 1.2x faster steps at K = 40, the same at K = 10.
constexpr int kMaxMatrixRow = 64;
constexpr std::size_t kMaxMatrixPixels = std::size_t(1) << 19;

std::shared_ptr<const DenseCrfImage::Spatial> makeSpatialKernel(int height, int width,
                                                                const DenseCrfParams& params)
{
    std::vector<float> features(std::size_t(height) * width * 2);
    const float inv = 1.0f / params.gaussianSxy;
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x) {
            float* f = features.data() + (std::size_t(y) * width + x) * 2;
            f[0] = float(x) * inv;
            f[1] = float(y) * inv;
        }
    auto spatial = std::make_shared<DenseCrfImage::Spatial>();
    spatial->lattice = makeKernel(features, 2, height * width, params.gaussianWeight);
    if (std::size_t(height) * std::size_t(width) <= kMaxMatrixPixels)
        spatial->matrix = spatial->lattice->toMatrix(kMaxMatrixRow);
    return spatial;
}

std::shared_ptr<const PermutohedralLattice> makeBilateralKernel(const cv::Mat& rgb,
                                                                const DenseCrfParams& params)
{
    std::vector<float> features(std::size_t(rgb.rows) * rgb.cols * 5);
    const float invXy = 1.0f / params.bilateralSxy;
    const float invRgb = 1.0f / params.bilateralSrgb;
    for (int y = 0; y < rgb.rows; ++y) {
        const cv::Vec3b* row = rgb.ptr<cv::Vec3b>(y);
        for (int x = 0; x < rgb.cols; ++x) {
            float* f = features.data() + (std::size_t(y) * rgb.cols + x) * 5;
            f[0] = float(x) * invXy;
            f[1] = float(y) * invXy;
            // BGR, as the reference binding sees the image (see the header).
            f[2] = float(row[x][2]) * invRgb;
            f[3] = float(row[x][1]) * invRgb;
            f[4] = float(row[x][0]) * invRgb;
        }
    }
    return makeKernel(features, 5, rgb.rows * rgb.cols, params.bilateralWeight);
}

void checkParams(const DenseCrfParams& params)
{
    if (params.iterations < 0)
        throw Error("DenseCrf: iterations must not be negative, got " +
                    std::to_string(params.iterations));
    checkKernel("Gaussian", params.gaussianSxy, params.gaussianWeight);
    checkKernel("bilateral", params.bilateralSxy, params.bilateralWeight, params.bilateralSrgb);
}

} // namespace

DenseCrfImage::DenseCrfImage(const cv::Mat& rgb, const DenseCrfParams& params) : params_(params)
{
    checkParams(params);
    if (rgb.empty())
        throw Error("DenseCrf: the image is empty");
    if (rgb.type() != CV_8UC3)
        throw Error("DenseCrf: the image must be 8-bit RGB (CV_8UC3), got OpenCV type " +
                    std::to_string(rgb.type()));
    if (rgb.dims != 2)
        throw Error("DenseCrf: the image must be two-dimensional");
    if (std::size_t(rgb.rows) * std::size_t(rgb.cols) >
        std::size_t(std::numeric_limits<int>::max() / 16))
        throw Error("DenseCrf: the image is too large");

    const bool needSpatial = params_.gaussianWeight != 0.0f;
    const bool needBilateral = params_.bilateralWeight != 0.0f;
    std::shared_ptr<const Spatial> spatial;
    if (needSpatial)
        spatial = cachedSpatialKernel(rgb.rows, rgb.cols, params_);

    // The two lattices are independent: a missing spatial one is built on a
    // second thread while this one builds the bilateral one, so that the
    // sequential parts of each building overlap. Not when OpenCV is limited to
    // one thread, which callers use to stay on one core.
    std::future<std::shared_ptr<const Spatial>> spatialFuture;
    if (needSpatial && !spatial && needBilateral && cv::getNumThreads() > 1) {
        try {
            spatialFuture = std::async(std::launch::async, makeSpatialKernel, rgb.rows, rgb.cols,
                                       std::cref(params_));
        } catch (const std::system_error&) {
            // No thread to be had: build it here instead.
        }
    }
    if (needSpatial && !spatial && !spatialFuture.valid())
        spatial = makeSpatialKernel(rgb.rows, rgb.cols, params_);
    if (needBilateral)
        bilateral_ = makeBilateralKernel(rgb, params_);
    if (spatialFuture.valid())
        spatial = spatialFuture.get();
    if (spatial)
        cacheSpatialKernel(rgb.rows, rgb.cols, params_, spatial);
    spatial_ = std::move(spatial);
    height_ = rgb.rows;
    width_ = rgb.cols;
}

const PermutohedralLattice* DenseCrfImage::spatial() const
{
    return spatial_ ? spatial_->lattice.get() : nullptr;
}

const LatticeMatrix* DenseCrfImage::spatialMatrix() const
{
    return spatial_ && !spatial_->matrix.empty() ? &spatial_->matrix : nullptr;
}

DenseCrf::DenseCrf(const cv::Mat& rgb, const DenseCrfParams& params)
    : image_(std::make_shared<const DenseCrfImage>(rgb, params))
{
}

DenseCrf::DenseCrf(std::shared_ptr<const DenseCrfImage> image) : image_(std::move(image))
{
    if (!image_)
        throw Error("DenseCrf: no image lattices given");
    checkParams(image_->params());
}

void DenseCrf::setImage(const cv::Mat& rgb)
{
    // Nothing changes unless the new lattices could be built.
    image_ = std::make_shared<const DenseCrfImage>(rgb, image_->params());
    labels_ = 0;
    iteration_ = 0;
    stride_ = 0;
    unary_.clear();
    q_.clear();
    message_.clear();
}

void DenseCrf::setScores(const std::vector<float>& scores, int labels)
{
    if (labels < 1)
        throw Error("DenseCrf: the number of labels must be at least 1, got " +
                    std::to_string(labels));
    const std::size_t n = std::size_t(height()) * std::size_t(width());
    if (scores.size() != std::size_t(labels) * n)
        throw Error("DenseCrf: expected " + std::to_string(labels) + " x " +
                    std::to_string(height()) + " x " + std::to_string(width()) +
                    " scores (the image size), got " + std::to_string(scores.size()) + " values");

    const std::size_t k = std::size_t(labels);
    // Validate first, so that an error leaves the current state untouched while
    // the conversion below can reuse the buffers (fresh multi-megabyte
    // allocations cost more in page faults than the conversion itself).
    std::atomic<bool> invalid{false};
    parallelPixels(int(n), [&](int begin, int end) {
        bool bad = false;
        std::vector<float> top(std::size_t(end - begin), -std::numeric_limits<float>::infinity());
        for (std::size_t l = 0; l < k; ++l) {
            const float* plane = scores.data() + l * n;
            for (int i = begin; i < end; ++i) {
                // NaN and +infinity fail "s < infinity".
                bad |= !(plane[i] < std::numeric_limits<float>::infinity());
                top[std::size_t(i - begin)] = std::max(top[std::size_t(i - begin)], plane[i]);
            }
        }
        for (const float t : top)
            bad |= !(t > -std::numeric_limits<float>::infinity());
        if (bad)
            invalid = true;
    });
    if (invalid)
        throw Error("DenseCrf: scores must not be NaN or +infinity, and every pixel needs at "
                    "least one finite score");

    const std::size_t stride = detail::crfRowStride(k, detail::preferredCrfKernel());
    labels_ = labels;
    iteration_ = 0;
    stride_ = stride;
    reserveRows(unary_, n * stride);
    reserveRows(q_, n * stride);
    reserveRows(message_, n * stride);
    float* unary = rows(unary_);
    float* q = rows(q_);
    const float maxUnary = -std::log(kMinProbability);
    parallelPixels(int(n), [&](int begin, int end) {
        // A block of pixels at a time, its labels gathered contiguously (no
        // padding) so that the exponential runs once over the whole block
        // rather than once per pixel (a call per ten values cost more than
        // the values). Each value sees the same operations as before, in
        // the same order: the same Q0 and unary to the last bit.
        std::vector<float> buffer(std::size_t(kSoftmaxBlock) * k);
        std::vector<float> tops(kSoftmaxBlock);
        for (int first = begin; first < end; first += kSoftmaxBlock) {
            const int last = std::min(end, first + kSoftmaxBlock);
            const std::size_t count = std::size_t(last - first);
            float* block = buffer.data();
            // Transpose the block from label planes into rows, reading each
            // plane sequentially.
            // With many labels the planes are more streams than the hardware
            // prefetcher follows: the next block's lines are asked for ahead
            // (at 40 labels 1.2x faster; at 10 no gain).
            const bool ahead = k >= 16 && last + kSoftmaxBlock <= end;
            for (std::size_t l = 0; l < k; ++l) {
                const float* plane = scores.data() + l * n + first;
                if (ahead)
                    prefetchFloats(plane + kSoftmaxBlock, kSoftmaxBlock);
                for (std::size_t i = 0; i < count; ++i)
                    block[i * k + l] = plane[i];
            }
            for (std::size_t i = 0; i < count; ++i) {
                float* row = block + i * k;
                float* u = unary + (std::size_t(first) + i) * stride;
                float top = row[0];
                for (std::size_t l = 1; l < k; ++l)
                    top = std::max(top, row[l]);
                tops[i] = top;
                for (std::size_t l = 0; l < k; ++l) {
                    u[l] = row[l];
                    row[l] -= top;
                }
            }
            detail::expInPlace(block, count * k);
            for (std::size_t i = 0; i < count; ++i) {
                const float* row = block + i * k;
                float* u = unary + (std::size_t(first) + i) * stride;
                float* qi = q + (std::size_t(first) + i) * stride;
                float sum = 0.0f;
                for (std::size_t l = 0; l < k; ++l)
                    sum += row[l];
                // -log(clip(p, 1e-5, 1)) with p = exp(s - top) / sum, taken as
                // min(log(sum) - (s - top), -log(1e-5)): one logarithm per pixel
                // instead of one per label.
                const float top = tops[i];
                const float logSum = std::log(sum);
                const float invSum = 1.0f / sum;
                float clippedSum = 0.0f;
                for (std::size_t l = 0; l < k; ++l) {
                    qi[l] = std::max(row[l] * invSum, kMinProbability);
                    clippedSum += qi[l];
                    u[l] = std::min(logSum + top - u[l], maxUnary);
                }
                const float invClippedSum = 1.0f / clippedSum;
                for (std::size_t l = 0; l < k; ++l)
                    qi[l] *= invClippedSum;
                // Padding: Q stays zero there, whatever is filtered.
                for (std::size_t l = k; l < stride; ++l) {
                    qi[l] = 0.0f;
                    u[l] = 0.0f;
                }
            }
        }
    });
}

void DenseCrf::step()
{
    if (labels_ < 1)
        throw Error("DenseCrf::step: no input; call setScores() first");
    const int n = height() * width();
    float* q = rows(q_);
    float* message = rows(message_);

    // message = sum over kernels of weight * D^-1/2 K D^-1/2 Q, label by label
    // (the padding lanes too: they hold zeros and cost no more in whole registers).
    const detail::CrfKernel kernel = detail::preferredCrfKernel();
    const float* unary = rows(unary_);
    auto softmax = [&](int begin, int end) {
        detail::meanFieldRows(q, message, unary, std::size_t(labels_), stride_, begin, end,
                              kernel);
    };
    const LatticeMatrix* matrix = image_->spatialMatrix();
    const PermutohedralLattice* bilateral = image_->bilateral();
    if (matrix && bilateral && !bilateral->empty() && detail::crfFusedRegions()) {
        // Three kinds of parallel region a step instead of ten: the spatial
        // matrix shares the splat's region (both only read Q), the softmax runs
        // on each range of pixels right after the slice completed its messages
        // (nothing reads Q after the splat). The same operations on the same
        // values as the separate passes below.
        PermutohedralLattice::Companions companions;
        companions.alongsideCount = n;
        companions.alongside = [&](int begin, int end) {
            detail::matrixRows(matrix->rowStart.data(), matrix->column.data(),
                               matrix->weight.data(), q, message, stride_, begin, end, false,
                               kernel);
        };
        companions.afterSlice = softmax;
        bilateral->filter(q, message, int(stride_), workspace_, companions, true);
        ++iteration_;
        return;
    }
    bool written = false;
    if (const LatticeMatrix* matrix = image_->spatialMatrix()) {
        matrix->apply(q, message, int(stride_));
        written = true;
    }
    const PermutohedralLattice* kernels[] = {
        image_->spatialMatrix() ? nullptr : image_->spatial(), image_->bilateral()};
    for (const PermutohedralLattice* kernel : kernels) {
        if (!kernel || kernel->empty())
            continue;
        kernel->filter(q, message, int(stride_), workspace_, nullptr, nullptr, written);
        written = true;
    }
    if (!written)
        std::fill(message, message + std::size_t(n) * stride_, 0.0f);

    // Q = softmax(-U + message); the Potts compatibility is -weight and the
    // reference subtracts the pairwise term, hence the plus.
    parallelPixels(n, softmax);
    ++iteration_;
}

std::vector<float> DenseCrf::marginals() const
{
    const std::size_t n = std::size_t(height()) * std::size_t(width());
    const std::size_t k = std::size_t(labels_);
    std::vector<float> out(n * k);
    const float* q = rows(q_);
    // Block by block, so that the block's rows stay in L1 cache while each
    // label's plane is written (label by label over the whole range read every
    // row K times from memory: 9 ms at 40 labels and 320 x 320).
    parallelPixels(int(n), [&](int begin, int end) {
        for (int first = begin; first < end; first += kSoftmaxBlock) {
            const int last = std::min(end, first + kSoftmaxBlock);
            for (std::size_t l = 0; l < k; ++l) {
                float* plane = out.data() + l * n;
                for (int i = first; i < last; ++i)
                    plane[i] = q[std::size_t(i) * stride_ + l];
            }
        }
    });
    return out;
}

std::vector<float> DenseCrf::run(const std::vector<float>& scores, int labels)
{
    setScores(scores, labels);
    for (int it = 0; it < params().iterations; ++it)
        step();
    return marginals();
}

std::vector<float> denseCrf(const std::vector<float>& scores, int labels, const cv::Mat& rgb,
                            const DenseCrfParams& params)
{
    DenseCrf crf(rgb, params);
    return crf.run(scores, labels);
}

std::vector<float> denseCrfUpsampled(const std::vector<float>& scores, int labels, int height,
                                     int width, const cv::Mat& rgb, const DenseCrfParams& params)
{
    if (labels < 1 || height < 1 || width < 1)
        throw Error("denseCrfUpsampled: labels, height and width must be at least 1");
    if (scores.size() != std::size_t(labels) * std::size_t(height) * std::size_t(width))
        throw Error("denseCrfUpsampled: expected " + std::to_string(labels) + " x " +
                    std::to_string(height) + " x " + std::to_string(width) + " scores, got " +
                    std::to_string(scores.size()) + " values");
    if (rgb.empty())
        throw Error("DenseCrf: the image is empty");
    if (height == rgb.rows && width == rgb.cols)
        return denseCrf(scores, labels, rgb, params);
    return denseCrf(upsampleBilinear(scores, labels, height, width, rgb.size()), labels, rgb,
                    params);
}

} // namespace primaps
