// SPDX-License-Identifier: MIT
#include "densecrf.h"

#include "error.h"
#include "primaps.h"

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

// Smallest exponent the mean-field softmax uses: exp(-69) is about 1e-30.
// Probabilities below that change nothing, but once multiplied by filter
// weights they would become denormal floats, which are many times slower.
constexpr float kMinExponent = -69.0f;

// exp(x) for x in [kMinExponent, 0], written so that the compiler vectorises it
// (the library's expf is a call per element and was a fifth of the mean-field
// time): 2^(x / ln 2) split into an integer power built in the exponent bits and
// 2^f, |f| <= 1/2, from its degree-6 Taylor polynomial; relative error below
// 3e-7. The clamping to the range is done by the callers in a separate loop: a
// clamp inside this function makes GCC split the loop into branches that it
// then refuses to vectorise.
inline float expInRange(float x)
{
    const float t = x * 1.44269504088896341f;
    // Round to nearest by the 1.5 * 2^23 trick (exact for |t| < 2^22).
    const float n = (t + 12582912.0f) - 12582912.0f;
    const float f = t - n;
    float p = 1.5403530393381609e-4f;
    p = p * f + 1.3333558146428443e-3f;
    p = p * f + 9.6181291076284772e-3f;
    p = p * f + 5.5504108664821580e-2f;
    p = p * f + 2.4022650695910071e-1f;
    p = p * f + 6.9314718055994531e-1f;
    p = p * f + 1.0f;
    const std::int32_t bits = (std::int32_t(n) + 127) << 23;
    float scale;
    std::memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

// values[j] = exp(max(values[j], kMinExponent)) for j < count, values[j] <= 0.
// Two flat loops over a contiguous array: the form GCC reliably vectorises.
inline void expInPlace(float* __restrict values, std::size_t count)
{
    for (std::size_t j = 0; j < count; ++j)
        values[j] = std::max(values[j], kMinExponent);
    for (std::size_t j = 0; j < count; ++j)
        values[j] = expInRange(values[j]);
}

// Pixels per block of the mean-field update: the block's rows stay in L1 cache
// between its passes.
constexpr int kSoftmaxBlock = 64;

// The mean-field update for pixels [begin, end): q = softmax(message - unary)
// over each row of `labels` values.
void meanFieldRows(float* __restrict q, const float* __restrict message,
                   const float* __restrict unary, std::size_t labels, int begin, int end)
{
    for (int first = begin; first < end; first += kSoftmaxBlock) {
        const int last = std::min(end, first + kSoftmaxBlock);
        const std::size_t from = std::size_t(first) * labels;
        const std::size_t count = std::size_t(last - first) * labels;
        float* __restrict block = q + from;
        const float* __restrict m = message + from;
        const float* __restrict u = unary + from;
        for (std::size_t j = 0; j < count; ++j)
            block[j] = m[j] - u[j];
        for (float* row = block; row < block + count; row += labels) {
            float top = row[0];
            for (std::size_t l = 1; l < labels; ++l)
                top = std::max(top, row[l]);
            for (std::size_t l = 0; l < labels; ++l)
                row[l] -= top;
        }
        expInPlace(block, count);
        for (float* row = block; row < block + count; row += labels) {
            // In-order float sums do not vectorise; kept apart from the loops
            // above so that those do.
            float sum = 0.0f;
            for (std::size_t l = 0; l < labels; ++l)
                sum += row[l];
            const float inv = 1.0f / sum;
            for (std::size_t l = 0; l < labels; ++l)
                row[l] *= inv;
        }
    }
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
// kMaxCachedPixels: the lattice takes about 80 bytes per pixel.
constexpr std::size_t kMaxCachedPixels = std::size_t(1) << 20;

struct SpatialCache
{
    std::mutex mutex;
    int height = 0;
    int width = 0;
    float sxy = 0.0f;
    float weight = 0.0f;
    std::shared_ptr<const PermutohedralLattice> lattice;
};

SpatialCache& spatialCache()
{
    static SpatialCache cache;
    return cache;
}

std::shared_ptr<const PermutohedralLattice> cachedSpatialKernel(int height, int width,
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
                        const std::shared_ptr<const PermutohedralLattice>& lattice)
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

// A kernel's lattice and the scales that make it the symmetrically normalised,
// weighted filtering of the mean-field update.
PermutohedralLattice DenseCrf::makeKernel(const std::vector<float>& features, int dim, int pixels,
                                          float weight)
{
    PermutohedralLattice lattice(features.data(), dim, pixels);
    // D = K 1 with each pixel's own contribution; D^-1/2 on both sides and the
    // Potts weight are folded into the lattice's weights.
    const std::size_t n = std::size_t(pixels);
    std::vector<float> ones(n, 1.0f);
    std::vector<float> degree(n);
    PermutohedralLattice::Workspace workspace;
    lattice.filter(ones.data(), degree.data(), 1, workspace);
    std::vector<float> pre(n);
    std::vector<float> post(n);
    for (std::size_t i = 0; i < n; ++i) {
        pre[i] = 1.0f / std::sqrt(degree[i] + 1e-20f);
        post[i] = weight * pre[i];
    }
    lattice.scalePoints(pre.data(), post.data());
    return lattice;
}

PermutohedralLattice DenseCrf::makeSpatialKernel(int height, int width,
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
    return makeKernel(features, 2, height * width, params.gaussianWeight);
}

PermutohedralLattice DenseCrf::makeBilateralKernel(const cv::Mat& rgb, const DenseCrfParams& params)
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

DenseCrf::DenseCrf(const cv::Mat& rgb, const DenseCrfParams& params) : params_(params)
{
    if (params.iterations < 0)
        throw Error("DenseCrf: iterations must not be negative, got " +
                    std::to_string(params.iterations));
    checkKernel("Gaussian", params.gaussianSxy, params.gaussianWeight);
    checkKernel("bilateral", params.bilateralSxy, params.bilateralWeight, params.bilateralSrgb);
    setImage(rgb);
}

void DenseCrf::setImage(const cv::Mat& rgb)
{
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
    std::shared_ptr<const PermutohedralLattice> spatial;
    if (needSpatial) {
        if (spatial_ && rgb.rows == height_ && rgb.cols == width_)
            spatial = spatial_;
        else
            spatial = cachedSpatialKernel(rgb.rows, rgb.cols, params_);
    }

    // The two lattices are independent: a missing spatial one is built on a
    // second thread while this one builds the bilateral one, so that the
    // sequential parts of each building overlap. Not when OpenCV is limited to
    // one thread, which callers use to stay on one core.
    std::future<PermutohedralLattice> spatialFuture;
    if (needSpatial && !spatial && needBilateral && cv::getNumThreads() > 1) {
        try {
            spatialFuture = std::async(std::launch::async, makeSpatialKernel, rgb.rows, rgb.cols,
                                       std::cref(params_));
        } catch (const std::system_error&) {
            // No thread to be had: build it here instead.
        }
    }
    if (needSpatial && !spatial && !spatialFuture.valid())
        spatial = std::make_shared<const PermutohedralLattice>(
            makeSpatialKernel(rgb.rows, rgb.cols, params_));
    PermutohedralLattice bilateral;
    if (needBilateral)
        bilateral = makeBilateralKernel(rgb, params_);
    if (spatialFuture.valid())
        spatial = std::make_shared<const PermutohedralLattice>(spatialFuture.get());
    if (spatial)
        cacheSpatialKernel(rgb.rows, rgb.cols, params_, spatial);

    // Nothing can fail from here on: the object changes only when all succeeded.
    spatial_ = std::move(spatial);
    bilateral_ = std::move(bilateral);
    height_ = rgb.rows;
    width_ = rgb.cols;
    labels_ = 0;
    iteration_ = 0;
    unary_.clear();
    q_.clear();
    message_.clear();
}

void DenseCrf::setScores(const std::vector<float>& scores, int labels)
{
    if (labels < 1)
        throw Error("DenseCrf: the number of labels must be at least 1, got " +
                    std::to_string(labels));
    const std::size_t n = std::size_t(height_) * std::size_t(width_);
    if (scores.size() != std::size_t(labels) * n)
        throw Error("DenseCrf: expected " + std::to_string(labels) + " x " +
                    std::to_string(height_) + " x " + std::to_string(width_) +
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

    labels_ = labels;
    iteration_ = 0;
    unary_.resize(n * k);
    q_.resize(n * k);
    message_.resize(n * k);
    const float maxUnary = -std::log(kMinProbability);
    parallelPixels(int(n), [&](int begin, int end) {
        for (int first = begin; first < end; first += kSoftmaxBlock) {
            const int last = std::min(end, first + kSoftmaxBlock);
            // Transpose a block of pixels from label planes into rows, reading
            // each plane sequentially.
            for (std::size_t l = 0; l < k; ++l) {
                const float* plane = scores.data() + l * n;
                for (int i = first; i < last; ++i)
                    unary_[std::size_t(i) * k + l] = plane[i];
            }
            for (int i = first; i < last; ++i) {
                float* u = unary_.data() + std::size_t(i) * k;
                float* qi = q_.data() + std::size_t(i) * k;
                float top = u[0];
                for (std::size_t l = 1; l < k; ++l)
                    top = std::max(top, u[l]);
                for (std::size_t l = 0; l < k; ++l)
                    qi[l] = u[l] - top;
                expInPlace(qi, k);
                float sum = 0.0f;
                for (std::size_t l = 0; l < k; ++l)
                    sum += qi[l];
                // -log(clip(p, 1e-5, 1)) with p = exp(s - top) / sum, taken as
                // min(log(sum) - (s - top), -log(1e-5)): one logarithm per pixel
                // instead of one per label.
                const float logSum = std::log(sum);
                const float invSum = 1.0f / sum;
                float clippedSum = 0.0f;
                for (std::size_t l = 0; l < k; ++l) {
                    qi[l] = std::max(qi[l] * invSum, kMinProbability);
                    clippedSum += qi[l];
                    u[l] = std::min(logSum + top - u[l], maxUnary);
                }
                const float invClippedSum = 1.0f / clippedSum;
                for (std::size_t l = 0; l < k; ++l)
                    qi[l] *= invClippedSum;
            }
        }
    });
}

void DenseCrf::step()
{
    if (labels_ < 1)
        throw Error("DenseCrf::step: no input; call setScores() first");
    const std::size_t k = std::size_t(labels_);
    const int n = height_ * width_;

    // message = sum over kernels of weight * D^-1/2 K D^-1/2 Q, label by label.
    bool written = false;
    const PermutohedralLattice* kernels[] = {spatial_.get(), &bilateral_};
    for (const PermutohedralLattice* kernel : kernels) {
        if (!kernel || kernel->empty())
            continue;
        kernel->filter(q_.data(), message_.data(), labels_, workspace_, nullptr, nullptr, written);
        written = true;
    }
    if (!written)
        std::fill(message_.begin(), message_.end(), 0.0f);

    // Q = softmax(-U + message); the Potts compatibility is -weight and the
    // reference subtracts the pairwise term, hence the plus.
    parallelPixels(n, [&](int begin, int end) {
        meanFieldRows(q_.data(), message_.data(), unary_.data(), k, begin, end);
    });
    ++iteration_;
}

std::vector<float> DenseCrf::marginals() const
{
    const std::size_t n = std::size_t(height_) * std::size_t(width_);
    const std::size_t k = std::size_t(labels_);
    std::vector<float> out(n * k);
    parallelPixels(int(n), [&](int begin, int end) {
        for (std::size_t l = 0; l < k; ++l) {
            float* plane = out.data() + l * n;
            for (int i = begin; i < end; ++i)
                plane[i] = q_[std::size_t(i) * k + l];
        }
    });
    return out;
}

std::vector<float> DenseCrf::run(const std::vector<float>& scores, int labels)
{
    setScores(scores, labels);
    for (int it = 0; it < params_.iterations; ++it)
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
