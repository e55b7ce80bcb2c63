// SPDX-License-Identifier: MIT
#include "decompose/featurepca.h"

#include "support/blasthreads_p.h"
#include "support/error.h"
#include "decompose/primaps.h"

#include <algorithm>
#include <ATen/ATen.h>
#include <cmath>
#include <string>

extern "C" {
// C := alpha * A^T A + beta * C, one triangle of C (half the work of a general product).
void ssyrk_(const char* uplo, const char* trans, const int* n, const int* k, const float* alpha,
            const float* a, const int* lda, const float* beta, float* c, const int* ldc);
// Selected eigenpairs of a symmetric matrix (relatively robust representations).
void dsyevr_(const char* jobz, const char* range, const char* uplo, const int* n, double* a,
             const int* lda, const double* vl, const double* vu, const int* il, const int* iu,
             const double* abstol, int* m, double* w, double* z, const int* ldz, int* isuppz,
             double* work, const int* lwork, int* iwork, const int* liwork, int* info);
}

namespace primaps {

namespace {

void checkFeatures(const FeatureMap& features, const char* who)
{
    if (features.empty() || features.channels < 1 || features.height < 1 || features.width < 1)
        throw Error(std::string(who) + ": the feature map is empty");
    if (features.values.size() != std::size_t(features.channels) * features.positions())
        throw Error(std::string(who) + ": feature map size does not match its dimensions");
}

// The top `count` eigenpairs of the symmetric n x n `matrix` (overwritten), in
// descending order: values[k], vectors k * n .. (k + 1) * n.
void topEigenpairs(std::vector<double>& matrix, int n, int count, std::vector<double>& values,
                   std::vector<double>& vectors)
{
    const char jobz = 'V', range = 'I', uplo = 'U';
    const int il = n - count + 1, iu = n;
    const double vl = 0, vu = 0, abstol = 0; // 0: LAPACK's default accuracy
    int found = 0, info = 0;
    std::vector<double> w(static_cast<std::size_t>(n)), z(static_cast<std::size_t>(n) * count);
    std::vector<int> support(2 * std::size_t(std::max(1, count)));
    int lwork = -1, liwork = -1, iworkSize = 0;
    double workSize = 0;
    dsyevr_(&jobz, &range, &uplo, &n, matrix.data(), &n, &vl, &vu, &il, &iu, &abstol, &found,
            w.data(), z.data(), &n, support.data(), &workSize, &lwork, &iworkSize, &liwork, &info);
    if (info != 0)
        throw Error("feature PCA: the eigen solver's workspace query failed (info " +
                    std::to_string(info) + ")");
    lwork = std::max(1, int(workSize));
    liwork = std::max(1, iworkSize);
    std::vector<double> work(static_cast<std::size_t>(lwork));
    std::vector<int> iwork(static_cast<std::size_t>(liwork));
    dsyevr_(&jobz, &range, &uplo, &n, matrix.data(), &n, &vl, &vu, &il, &iu, &abstol, &found,
            w.data(), z.data(), &n, support.data(), work.data(), &lwork, iwork.data(), &liwork,
            &info);
    if (info != 0 || found != count)
        throw Error("feature PCA: the eigen solver did not converge (info " +
                    std::to_string(info) + ")");
    // LAPACK returns them ascending; the largest first is what callers index by.
    values.resize(std::size_t(count));
    vectors.resize(std::size_t(count) * n);
    for (int k = 0; k < count; ++k) {
        const int from = count - 1 - k;
        // Rounding can leave a tiny negative eigenvalue of a PSD matrix.
        values[std::size_t(k)] = std::max(0.0, w[std::size_t(from)]);
        std::copy_n(z.data() + std::size_t(from) * n, n, vectors.data() + std::size_t(k) * n);
    }
}

} // namespace

float percentile(std::vector<float> values, float p)
{
    if (values.empty())
        throw Error("percentile of an empty set");
    const double clamped = std::clamp(double(p), 0.0, 100.0);
    const double position = clamped / 100.0 * double(values.size() - 1);
    const std::size_t lower = std::size_t(std::floor(position));
    const double fraction = position - double(lower);
    std::nth_element(values.begin(), values.begin() + std::ptrdiff_t(lower), values.end());
    const float a = values[lower];
    if (fraction == 0.0 || lower + 1 >= values.size())
        return a;
    // The next order statistic is the smallest of what nth_element left above.
    const float b = *std::min_element(values.begin() + std::ptrdiff_t(lower) + 1, values.end());
    return float(double(a) + (double(b) - double(a)) * fraction);
}

FeaturePca computeFeaturePca(const FeatureMap& features, const FeaturePcaParams& params)
{
    checkFeatures(features, "feature PCA");
    if (!(params.lowPercentile >= 0.0f && params.lowPercentile < params.highPercentile &&
          params.highPercentile <= 100.0f))
        throw Error("feature PCA: the percentiles must satisfy 0 <= low < high <= 100");
    const int c = features.channels;
    const int n = int(features.positions());

    FeaturePca pca;
    pca.channels = c;
    pca.height = features.height;
    pca.width = features.width;
    pca.components = std::clamp(params.components, 1, std::min(c, n));
    const int count = pca.components;

    // Small elementwise work on the calling thread; the products go to the BLAS,
    // which keeps its own threads (see blasthreads_p.h).
    const detail::SerialAtenOps serial(true);
    const at::Tensor raw =
        at::from_blob(const_cast<float*>(features.values.data()), {c, n}, at::kFloat);
    const at::Tensor mean64 = raw.to(at::kDouble).mean(1, true); // exact enough for any n
    if (!at::isfinite(mean64).all().item<bool>())
        throw Error("feature PCA: the features contain NaN or infinite values");
    const at::Tensor mean = mean64.to(at::kFloat);
    const at::Tensor centred = (raw - mean).contiguous();
    // C x C covariance in float (the same precision as PriMaPs' operator), solved
    // in double. The row-major C x n centred features are, to the column-major
    // BLAS, an n x C matrix B; B^T B / n fills the upper triangle, all dsyevr reads.
    std::vector<float> upper(std::size_t(c) * c, 0.0f);
    {
        const char uplo = 'U', trans = 'T';
        const float alpha = 1.0f / float(n), beta = 0.0f;
        ssyrk_(&uplo, &trans, &c, &n, &alpha, centred.data_ptr<float>(), &n, &beta, upper.data(),
               &c);
    }
    std::vector<double> matrix(upper.begin(), upper.end());
    pca.totalVariance = 0;
    for (int k = 0; k < c; ++k)
        pca.totalVariance += std::max(0.0, matrix[std::size_t(k) * c + k]);

    std::vector<double> vectors;
    topEigenpairs(matrix, c, count, pca.variances, vectors);

    pca.mean.assign(mean.data_ptr<float>(), mean.data_ptr<float>() + c);
    pca.directions.resize(std::size_t(count) * c);
    const float* x0 = centred.data_ptr<float>(); // column 0 = position 0, stride n
    for (int k = 0; k < count; ++k) {
        const double* v = vectors.data() + std::size_t(k) * c;
        double side = 0;
        for (int j = 0; j < c; ++j)
            side += double(x0[std::size_t(j) * n]) * v[j];
        double sign = side > 0 ? -1.0 : 1.0;
        if (side == 0.0) {
            const double* largest =
                std::max_element(v, v + c, [](double a, double b) { return std::abs(a) < std::abs(b); });
            sign = *largest < 0 ? -1.0 : 1.0;
        }
        float* out = pca.directions.data() + std::size_t(k) * c;
        for (int j = 0; j < c; ++j)
            out[j] = float(sign * v[j]);
    }

    const at::Tensor directions = at::from_blob(pca.directions.data(), {count, c}, at::kFloat);
    const at::Tensor projected = at::mm(directions, centred).contiguous();
    pca.projections.assign(projected.data_ptr<float>(),
                           projected.data_ptr<float>() + std::size_t(count) * n);

    pca.low.resize(std::size_t(count));
    pca.high.resize(std::size_t(count));
    for (int k = 0; k < count; ++k) {
        const std::vector<float> values(pca.projection(k), pca.projection(k) + n);
        pca.low[std::size_t(k)] = percentile(values, params.lowPercentile);
        pca.high[std::size_t(k)] = percentile(values, params.highPercentile);
    }
    return pca;
}

cv::Mat pcaRgb(const FeaturePca& pca, const std::array<int, 3>& rgb)
{
    for (int k : rgb)
        if (k < 0 || k >= pca.components)
            throw Error("PCA colours: component " + std::to_string(k + 1) + " does not exist (" +
                        std::to_string(pca.components) + " computed)");
    cv::Mat image(pca.height, pca.width, CV_8UC3);
    const std::size_t n = std::size_t(pca.height) * pca.width;
    for (int channel = 0; channel < 3; ++channel) {
        const int k = rgb[std::size_t(channel)];
        const float* values = pca.projection(k);
        const float lo = pca.low[std::size_t(k)];
        const float span = pca.high[std::size_t(k)] - lo;
        for (std::size_t i = 0; i < n; ++i) {
            int level = 128;
            if (span > 0.0f)
                level = int(std::lround(std::clamp((values[i] - lo) / span, 0.0f, 1.0f) * 255.0f));
            image.data[i * 3 + std::size_t(channel)] = static_cast<unsigned char>(level);
        }
    }
    return image;
}

std::vector<IterationProjection> iterationProjections(const FeatureMap& features,
                                                      const PrimapsTrace& trace)
{
    checkFeatures(features, "iteration projections");
    if (trace.channels != features.channels || trace.height != features.height ||
        trace.width != features.width)
        throw Error("iteration projections: the trace belongs to another feature map");
    const int c = features.channels;
    const std::size_t n = features.positions();
    const int steps = int(trace.iterations.size());
    for (const PrimapsIteration& it : trace.iterations)
        if (it.principalDirection.size() != std::size_t(c) || it.mask.size() != n)
            throw Error("iteration projections: an iteration's sizes do not match the features");
    std::vector<IterationProjection> out(static_cast<std::size_t>(steps));
    if (steps == 0)
        return out;

    // The remaining sets, one column per step (n x steps), rebuilt from the masks.
    std::vector<float> remainingColumns(n * std::size_t(steps));
    std::vector<unsigned char> remaining(n, 1);
    for (int k = 0; k < steps; ++k) {
        out[std::size_t(k)].remaining = remaining;
        for (std::size_t i = 0; i < n; ++i)
            remainingColumns[i * std::size_t(steps) + std::size_t(k)] = remaining[i];
        const std::vector<float>& mask = trace.iterations[std::size_t(k)].mask;
        for (std::size_t i = 0; i < n; ++i)
            if (mask[i] > 0.0f)
                remaining[i] = 0;
    }

    // Three products do all the work: the projections of every position on every
    // direction (steps x n), the feature sums over each remaining set (C x steps)
    // and, for the total variance, the squared norms summed over each set.
    const detail::SerialAtenOps serial(true);
    const at::Tensor f = at::from_blob(const_cast<float*>(features.values.data()),
                                       {c, int64_t(n)}, at::kFloat);
    std::vector<float> directionRows(std::size_t(steps) * c);
    for (int k = 0; k < steps; ++k)
        std::copy(trace.iterations[std::size_t(k)].principalDirection.begin(),
                  trace.iterations[std::size_t(k)].principalDirection.end(),
                  directionRows.begin() + std::ptrdiff_t(k) * c);
    const at::Tensor v = at::from_blob(directionRows.data(), {steps, c}, at::kFloat);
    const at::Tensor r = at::from_blob(remainingColumns.data(), {int64_t(n), steps}, at::kFloat);
    const at::Tensor dots = at::mm(v, f).contiguous();                         // steps x n
    const at::Tensor f64 = f.to(at::kDouble);
    const at::Tensor sums = at::mm(f64, r.to(at::kDouble)).contiguous();        // C x steps
    const at::Tensor squares = (f64 * f64).sum(0, true);                        // 1 x n
    const at::Tensor squareSums = at::mm(squares, r.to(at::kDouble)).contiguous(); // 1 x steps
    const float* dot = dots.data_ptr<float>();
    const double* sum = sums.data_ptr<double>();
    const double* squareSum = squareSums.data_ptr<double>();

    for (int k = 0; k < steps; ++k) {
        const PrimapsIteration& it = trace.iterations[std::size_t(k)];
        IterationProjection& p = out[std::size_t(k)];
        p.explainedVariance = it.explainedVariance;
        std::size_t counted = 0;
        for (unsigned char x : p.remaining)
            counted += x;
        const double count = double(counted);
        double meanDotV = 0, meanSquared = 0;
        for (int j = 0; j < c; ++j) {
            const double mean = count > 0 ? sum[std::size_t(j) * steps + k] / count : 0.0;
            meanDotV += mean * it.principalDirection[std::size_t(j)];
            meanSquared += mean * mean;
        }
        // E||f||^2 - ||E f||^2: the trace of the covariance, in double.
        p.remainingVariance =
            count > 0 ? std::max(0.0, squareSum[k] / count - meanSquared) : 0.0;
        p.values.resize(n);
        std::vector<float> magnitudes;
        magnitudes.reserve(counted);
        const float* row = dot + std::size_t(k) * n;
        for (std::size_t i = 0; i < n; ++i) {
            p.values[i] = float(double(row[i]) - meanDotV);
            if (p.remaining[i])
                magnitudes.push_back(std::abs(p.values[i]));
        }
        p.scale = magnitudes.empty() ? 0.0f : percentile(std::move(magnitudes), 99.0f);
    }
    return out;
}

namespace {

// Where the grid samples lie along one axis of the target: for target pixel t,
// the continuous grid coordinate (cells span [i, i + 1)), or NaN outside the
// part of the resized image the grid covers.
std::vector<double> gridCoordinates(int target, int resized, int regionStart, int regionLength,
                                    int contentStart, double patch)
{
    std::vector<double> g(static_cast<std::size_t>(target));
    const double scale = double(resized) / double(target);
    for (int t = 0; t < target; ++t) {
        const double r = (t + 0.5) * scale; // in resized pixels
        if (r < regionStart || r > regionStart + regionLength)
            g[std::size_t(t)] = std::nan("");
        else
            g[std::size_t(t)] = (r - regionStart + contentStart) / patch;
    }
    return g;
}

template <typename T, int Channels>
void resample(const cv::Mat& grid, cv::Mat& out, const std::vector<double>& gx,
              const std::vector<double>& gy, bool smooth, const cv::Scalar& fill)
{
    const int rows = grid.rows, cols = grid.cols;
    T fillValue[Channels];
    for (int ch = 0; ch < Channels; ++ch)
        fillValue[ch] = cv::saturate_cast<T>(fill[ch]);
    // Per column: the two taps and the weight of the second (nearest: one tap).
    struct Tap
    {
        int i0 = -1, i1 = -1;
        float w1 = 0;
    };
    auto taps = [&](const std::vector<double>& g, int size) {
        std::vector<Tap> t(g.size());
        for (std::size_t i = 0; i < g.size(); ++i) {
            if (std::isnan(g[i]))
                continue;
            if (!smooth) {
                const int cell = std::clamp(int(std::floor(g[i])), 0, size - 1);
                t[i] = {cell, cell, 0.0f};
            } else {
                // Between cell centres, replicated beyond the outer ones.
                const double s = std::clamp(g[i] - 0.5, 0.0, double(size - 1));
                const int i0 = std::min(int(s), size - 1);
                t[i] = {i0, std::min(i0 + 1, size - 1), float(s - i0)};
            }
        }
        return t;
    };
    const std::vector<Tap> tx = taps(gx, cols), ty = taps(gy, rows);
    for (int y = 0; y < out.rows; ++y) {
        T* dst = out.ptr<T>(y);
        const Tap& vy = ty[std::size_t(y)];
        for (int x = 0; x < out.cols; ++x) {
            const Tap& vx = tx[std::size_t(x)];
            T* pixel = dst + std::size_t(x) * Channels;
            if (vy.i0 < 0 || vx.i0 < 0) {
                std::copy_n(fillValue, Channels, pixel);
                continue;
            }
            const T* a = grid.ptr<T>(vy.i0) + std::size_t(vx.i0) * Channels;
            const T* b = grid.ptr<T>(vy.i0) + std::size_t(vx.i1) * Channels;
            const T* c = grid.ptr<T>(vy.i1) + std::size_t(vx.i0) * Channels;
            const T* d = grid.ptr<T>(vy.i1) + std::size_t(vx.i1) * Channels;
            for (int ch = 0; ch < Channels; ++ch) {
                const float top = float(a[ch]) + (float(b[ch]) - float(a[ch])) * vx.w1;
                const float bottom = float(c[ch]) + (float(d[ch]) - float(c[ch])) * vx.w1;
                pixel[ch] = cv::saturate_cast<T>(top + (bottom - top) * vy.w1);
            }
        }
    }
}

} // namespace

cv::Mat gridToImage(const cv::Mat& grid, const PreparedImage& prepared, cv::Size target,
                    bool smooth, const cv::Scalar& fill)
{
    if (grid.empty())
        throw Error("gridToImage: the grid is empty");
    if (grid.type() != CV_8UC3 && grid.type() != CV_32F)
        throw Error("gridToImage: the grid must be CV_8UC3 or CV_32F");
    if (target.width < 1 || target.height < 1)
        throw Error("gridToImage: the target size must be positive");
    if (prepared.rgb.empty() || prepared.resizedSize.width < 1 || prepared.resizedSize.height < 1)
        throw Error("gridToImage: the prepared image is empty");
    const double patchX = double(prepared.rgb.cols) / grid.cols;
    const double patchY = double(prepared.rgb.rows) / grid.rows;
    const cv::Rect& region = prepared.regionInResized;
    const cv::Rect& content = prepared.contentInPrepared;
    const std::vector<double> gx = gridCoordinates(target.width, prepared.resizedSize.width,
                                                   region.x, region.width, content.x, patchX);
    const std::vector<double> gy = gridCoordinates(target.height, prepared.resizedSize.height,
                                                   region.y, region.height, content.y, patchY);
    cv::Mat out(target, grid.type());
    if (grid.type() == CV_8UC3)
        resample<unsigned char, 3>(grid, out, gx, gy, smooth, fill);
    else
        resample<float, 1>(grid, out, gx, gy, smooth, fill);
    return out;
}

cv::Point2d imageToGrid(const cv::Point2d& imagePoint, const PreparedImage& prepared, int gridRows,
                        int gridCols)
{
    const cv::Size original = prepared.originalSize;
    const cv::Size resized = prepared.resizedSize;
    if (original.width < 1 || original.height < 1 || gridRows < 1 || gridCols < 1)
        return {-1.0, -1.0};
    const double rx = imagePoint.x * resized.width / original.width;
    const double ry = imagePoint.y * resized.height / original.height;
    const double px = rx - prepared.regionInResized.x + prepared.contentInPrepared.x;
    const double py = ry - prepared.regionInResized.y + prepared.contentInPrepared.y;
    return {px / (double(prepared.rgb.cols) / gridCols), py / (double(prepared.rgb.rows) / gridRows)};
}

} // namespace primaps
