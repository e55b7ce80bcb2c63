// SPDX-License-Identifier: MIT
#include "backbones/filterbank.h"
#include "backbones/filterbank_p.h"

#include "support/error.h"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

namespace primaps {

namespace {

constexpr int kScaleCount = int(FilterBankV1Backbone::kScales.size());

// OpenCV (4.6, imgproc's color_lab.cpp) builds its RGB <-> Lab/Luv lookup tables on
// the first such conversion, guarded only by a plain `static bool initialized`: no
// lock. Two threads whose first Lab conversion overlaps (the studio's review of an
// image and its class-count job over the dataset start together) both build all
// nine tables (4.7 MB), writing the same static arrays at once, and each table
// pointer keeps the last writer's copy: the other thread's tables are lost
// (LeakSanitizer in tst_studio_review, docs/sanitizers-and-fuzzing.md). The first
// conversion of the process therefore runs alone, on a one-pixel image; call_once
// makes every later caller wait for it and see the finished tables.
void buildOpenCvLabTablesOnce()
{
    static std::once_flag once;
    std::call_once(once, [] {
        const cv::Mat pixel(1, 1, CV_32FC3, cv::Scalar(0.5, 0.5, 0.5));
        cv::Mat lab;
        cv::cvtColor(pixel, lab, cv::COLOR_RGB2Lab);
    });
}

enum Filter
{
    SmoothL,
    SmoothA,
    SmoothB,
    LaplacianOfGaussian,
    GradientMagnitude,
    DifferenceOfGaussians,
    StructureMax,
    StructureMin,
    HessianMax,
    HessianMin,
};

// ilastik's ratios: DoG subtracts a Gaussian at 0.66 sigma, and the structure tensor is
// integrated over half the scale at which its gradients are taken.
constexpr double kDogRatio = 0.66;
constexpr double kStructureOuterRatio = 0.5;

// Standard deviations below this are float rounding, not image content: responses are in
// Lab units (L spans 0..100, one 8-bit step is about 0.4), so any real structure pooled
// over a patch is orders of magnitude larger.
constexpr double kConstantStd = 1e-4;

/// Sampled 1-D Gaussian (order 0) or its first/second derivative, as a CV_32F column.
/// Derivative kernels are normalised so that correlating them with x (order 1) or x^2/2
/// (order 2) gives exactly 1, which keeps mixed Hessian entries on one scale.
cv::Mat gaussianKernel(double sigma, int order)
{
    const int radius = std::max(1, int(std::ceil(3.0 * sigma + 0.5 * order)));
    const int size = 2 * radius + 1;
    std::vector<double> g(size);
    double sum = 0.0;
    for (int i = 0; i < size; ++i) {
        const double x = i - radius;
        g[i] = std::exp(-x * x / (2.0 * sigma * sigma));
        sum += g[i];
    }
    for (double& v : g)
        v /= sum;

    std::vector<double> k(size);
    if (order == 0) {
        k = g;
    } else if (order == 1) {
        double moment = 0.0;
        for (int i = 0; i < size; ++i) {
            const double x = i - radius;
            k[i] = x * g[i];
            moment += k[i] * x;
        }
        for (double& v : k)
            v /= moment;
    } else {
        // Truncation leaves the sampled second derivative with a non-zero sum, which would
        // make flat regions respond; remove it in proportion to g before normalising.
        double ksum = 0.0;
        for (int i = 0; i < size; ++i) {
            const double x = i - radius;
            k[i] = (x * x / (sigma * sigma) - 1.0) * g[i];
            ksum += k[i];
        }
        double moment = 0.0;
        for (int i = 0; i < size; ++i) {
            const double x = i - radius;
            k[i] -= ksum * g[i];
            moment += k[i] * x * x / 2.0;
        }
        for (double& v : k)
            v /= moment;
    }

    cv::Mat kernel(size, 1, CV_32F);
    for (int i = 0; i < size; ++i)
        kernel.at<float>(i) = float(k[i]);
    return kernel;
}

struct Kernels
{
    cv::Mat g, d1, d2, gDog, gOuter;
};

cv::Mat filter(const cv::Mat& src, const cv::Mat& kx, const cv::Mat& ky)
{
    cv::Mat dst;
    cv::sepFilter2D(src, dst, CV_32F, kx, ky, cv::Point(-1, -1), 0.0, cv::BORDER_REFLECT_101);
    return dst;
}

/// Averages each 8x8 block of `src` (CV_32F) into `dst` (rows/8 x cols/8, row-major),
/// optionally of the absolute values.
void pool(const cv::Mat& src, float* dst, bool magnitude)
{
    const int p = FilterBankV1Backbone::kPatchSize;
    const int h = src.rows / p;
    const int w = src.cols / p;
    std::vector<float> rowSums(src.cols);
    for (int py = 0; py < h; ++py) {
        std::fill(rowSums.begin(), rowSums.end(), 0.0f);
        for (int dy = 0; dy < p; ++dy) {
            const float* row = src.ptr<float>(py * p + dy);
            if (magnitude) {
                for (int x = 0; x < src.cols; ++x)
                    rowSums[x] += std::abs(row[x]);
            } else {
                for (int x = 0; x < src.cols; ++x)
                    rowSums[x] += row[x];
            }
        }
        for (int px = 0; px < w; ++px) {
            float s = 0.0f;
            for (int dx = 0; dx < p; ++dx)
                s += rowSums[px * p + dx];
            dst[py * w + px] = s / float(p * p);
        }
    }
}

/// Larger and smaller eigenvalue of the symmetric 2x2 matrices [xx xy; xy yy], per pixel.
void eigenvalues2x2(const cv::Mat& xx, const cv::Mat& yy, const cv::Mat& xy, cv::Mat& larger,
                    cv::Mat& smaller)
{
    larger.create(xx.size(), CV_32F);
    smaller.create(xx.size(), CV_32F);
    for (int y = 0; y < xx.rows; ++y) {
        const float* a = xx.ptr<float>(y);
        const float* c = yy.ptr<float>(y);
        const float* b = xy.ptr<float>(y);
        float* hi = larger.ptr<float>(y);
        float* lo = smaller.ptr<float>(y);
        for (int x = 0; x < xx.cols; ++x) {
            const float mean = 0.5f * (a[x] + c[x]);
            const float half = 0.5f * (a[x] - c[x]);
            const float radius = std::sqrt(half * half + b[x] * b[x]);
            hi[x] = mean + radius;
            lo[x] = mean - radius;
        }
    }
}

// The work is cut into independent jobs of similar cost so that both cores stay busy:
// per scale, one job each for the smoothing of L (+DoG), the first derivatives of L
// (gradient magnitude + structure tensor), the second derivatives of L (LoG + Hessian),
// and the smoothing of a and b.
enum JobKind
{
    JobSmooth,
    JobFirstOrder,
    JobSecondOrder,
    JobChroma,
    JobKindCount
};

class FilterJobs : public cv::ParallelLoopBody
{
public:
    FilterJobs(const cv::Mat& l, const cv::Mat& a, const cv::Mat& b,
               const std::vector<Kernels>& kernels, unsigned chromaScales, FeatureMap& out)
        : l_(l), a_(a), b_(b), kernels_(kernels), chromaScales_(chromaScales), out_(out)
    {
    }

    void operator()(const cv::Range& range) const override
    {
        // Largest scales first: their jobs cost the most, and starting them early keeps
        // the last core from finishing alone.
        for (int job = range.start; job < range.end; ++job)
            run(JobKind(job % JobKindCount), kScaleCount - 1 - job / JobKindCount);
    }

private:
    float* channel(Filter f, int s) const { return out_.channel(int(f) * kScaleCount + s); }

    void run(JobKind kind, int s) const
    {
        const Kernels& k = kernels_[s];
        switch (kind) {
        case JobSmooth: {
            const cv::Mat smooth = filter(l_, k.g, k.g);
            pool(smooth, channel(SmoothL, s), false);
            const cv::Mat dog = smooth - filter(l_, k.gDog, k.gDog);
            pool(dog, channel(DifferenceOfGaussians, s), true);
            break;
        }
        case JobFirstOrder: {
            const cv::Mat lx = filter(l_, k.d1, k.g);
            const cv::Mat ly = filter(l_, k.g, k.d1);
            cv::Mat magnitude;
            cv::magnitude(lx, ly, magnitude);
            pool(magnitude, channel(GradientMagnitude, s), false);
            const cv::Mat jxx = filter(lx.mul(lx), k.gOuter, k.gOuter);
            const cv::Mat jyy = filter(ly.mul(ly), k.gOuter, k.gOuter);
            const cv::Mat jxy = filter(lx.mul(ly), k.gOuter, k.gOuter);
            cv::Mat hi, lo;
            eigenvalues2x2(jxx, jyy, jxy, hi, lo);
            pool(hi, channel(StructureMax, s), false);
            pool(lo, channel(StructureMin, s), false);
            break;
        }
        case JobSecondOrder: {
            const cv::Mat lxx = filter(l_, k.d2, k.g);
            const cv::Mat lyy = filter(l_, k.g, k.d2);
            const cv::Mat lxy = filter(l_, k.d1, k.d1);
            pool(lxx + lyy, channel(LaplacianOfGaussian, s), true);
            cv::Mat hi, lo;
            eigenvalues2x2(lxx, lyy, lxy, hi, lo);
            pool(hi, channel(HessianMax, s), false);
            pool(lo, channel(HessianMin, s), false);
            break;
        }
        case JobChroma:
            if (!(chromaScales_ >> s & 1u))
                break; // not read by the caller; the channels stay 0
            pool(filter(a_, k.g, k.g), channel(SmoothA, s), false);
            pool(filter(b_, k.g, k.g), channel(SmoothB, s), false);
            break;
        case JobKindCount:
            break;
        }
    }

    const cv::Mat& l_;
    const cv::Mat& a_;
    const cv::Mat& b_;
    const std::vector<Kernels>& kernels_;
    unsigned chromaScales_;
    FeatureMap& out_;
};

} // namespace

void standardiseChannels(FeatureMap& features)
{
    const std::size_t n = features.positions();
    for (int c = 0; c < features.channels; ++c) {
        float* v = features.channel(c);
        double sum = 0.0;
        for (std::size_t i = 0; i < n; ++i)
            sum += v[i];
        const double mean = sum / double(n);
        double squares = 0.0;
        for (std::size_t i = 0; i < n; ++i)
            squares += (v[i] - mean) * (v[i] - mean);
        const double sd = std::sqrt(squares / double(n));
        if (sd < kConstantStd) {
            std::fill(v, v + n, 0.0f);
            continue;
        }
        for (std::size_t i = 0; i < n; ++i)
            v[i] = float((v[i] - mean) / sd);
    }
}

void checkFilterBankInput(const cv::Mat& rgb, const std::string& name)
{
    if (rgb.empty())
        throw Error(name + ": the input image is empty");
    if (rgb.dims != 2 || rgb.type() != CV_8UC3)
        throw Error(name + ": the input image must be 8-bit RGB (CV_8UC3), got OpenCV type " +
                    std::to_string(rgb.type()) + " with " + std::to_string(rgb.channels()) +
                    " channel(s)");
    const int p = FilterBankV1Backbone::kPatchSize;
    if (rgb.rows % p != 0 || rgb.cols % p != 0)
        throw Error(name + ": image size " + std::to_string(rgb.cols) + "x" +
                    std::to_string(rgb.rows) + " is not a multiple of the patch size " +
                    std::to_string(p));
}

FeatureMap filterBankResponses(const cv::Mat& rgb, unsigned chromaScales)
{
    const int kPatchSize = FilterBankV1Backbone::kPatchSize;
    const auto& kScales = FilterBankV1Backbone::kScales;
    cv::Mat unit, lab;
    rgb.convertTo(unit, CV_32F, 1.0 / 255.0);
    buildOpenCvLabTablesOnce();
    cv::cvtColor(unit, lab, cv::COLOR_RGB2Lab);
    cv::Mat planes[3];
    cv::split(lab, planes);

    std::vector<Kernels> kernels(kScaleCount);
    for (int s = 0; s < kScaleCount; ++s) {
        const double sigma = kScales[s];
        kernels[s] = {gaussianKernel(sigma, 0), gaussianKernel(sigma, 1), gaussianKernel(sigma, 2),
                      gaussianKernel(kDogRatio * sigma, 0),
                      gaussianKernel(kStructureOuterRatio * sigma, 0)};
    }

    FeatureMap out(FilterBankV1Backbone::kDim, rgb.rows / kPatchSize, rgb.cols / kPatchSize);
    const int jobs = kScaleCount * JobKindCount;
    cv::parallel_for_(cv::Range(0, jobs), FilterJobs(planes[0], planes[1], planes[2], kernels, chromaScales, out),
                      jobs);
    return out;
}

float FilterBankV1Backbone::recommendedThreshold() const
{
    // Measured, not tuned by eye: on Voronoi scenes of 3-5 textured regions the mIoU after
    // one-to-one matching peaks at 0.6 for three independent seeds (plateau 0.55-0.65);
    // the DINO value 0.4 lets neighbouring regions merge (mIoU 0.78 against 0.82).
    return 0.6f;
}

FeatureMap FilterBankV1Backbone::extract(const cv::Mat& rgb)
{
    checkFilterBankInput(rgb, name());
    FeatureMap out = filterBankResponses(rgb);
    standardiseChannels(out);
    return out;
}

} // namespace primaps
