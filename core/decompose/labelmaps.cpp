// SPDX-License-Identifier: MIT
// Step 5 around the CRF: the mask stack's log-probabilities upsampled to the
// image, and label maps as the argmax over channels. Both run once or twice per
// decomposition on K x H x W arrays of several megabytes (K = 10-45 channels at
// 320 x 488 pixels), so they are written for memory traffic and both cores; the
// arithmetic is the plain formula's, operation for operation, so the numbers are
// the same to the last bit whatever the blocking and the thread count.
#include "decompose/primaps.h"

#include "support/error.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <opencv2/core.hpp>
#include <vector>

namespace primaps {

namespace {

// Pixels per block of the argmax: the block's best values and ids stay in L1
// cache while the K channel planes stream past.
constexpr int kArgmaxBlock = 2048;

// Below this many values a label map is computed on the calling thread (the
// feature grid's maps: handing out work would cost more than the work).
constexpr std::size_t kParallelValues = std::size_t(1) << 16;

// Work items the upsampling aims at (channels x stripes of rows), so that two
// to a few threads finish close together.
constexpr int kUpsampleJobs = 64;

// One output coordinate's source taps, PyTorch's align_corners = false
// convention: (dst + 0.5) * in / out - 0.5, clamped below at 0.
struct Tap
{
    int i0, i1;
    float w1;
};

std::vector<Tap> taps(int in, int out)
{
    std::vector<Tap> t(static_cast<std::size_t>(out));
    const double scale = double(in) / double(out);
    for (int o = 0; o < out; ++o) {
        const double src = std::max(0.0, (o + 0.5) * scale - 0.5);
        const int i0 = std::min(int(src), in - 1);
        const int i1 = std::min(i0 + 1, in - 1);
        t[std::size_t(o)] = {i0, i1, float(src - i0)};
    }
    return t;
}

// Labels of pixels [begin, end): the first channel with the largest value
// (strictly larger wins, so ties go to the lowest channel; a NaN never wins
// and, in channel 0, keeps label 0), exactly as a per-pixel loop over the
// channels decides.
void argmaxRange(const float* values, int channels, std::size_t plane, std::size_t begin,
                 std::size_t end, std::uint8_t* labels)
{
    float best[kArgmaxBlock];
    for (std::size_t first = begin; first < end; first += kArgmaxBlock) {
        const std::size_t count = std::min<std::size_t>(kArgmaxBlock, end - first);
        std::uint8_t* ids = labels + first;
        std::memcpy(best, values + first, count * sizeof(float));
        std::memset(ids, 0, count);
        for (int k = 1; k < channels; ++k) {
            const float* v = values + std::size_t(k) * plane + first;
            const auto id = static_cast<std::uint8_t>(k);
            for (std::size_t i = 0; i < count; ++i) {
                const bool larger = v[i] > best[i];
                best[i] = larger ? v[i] : best[i];
                ids[i] = larger ? id : ids[i];
            }
        }
    }
}

} // namespace

cv::Mat argmaxLabels(const std::vector<float>& values, int channels, int height, int width)
{
    const std::size_t plane = std::size_t(height) * width;
    if (channels < 1 || values.size() != std::size_t(channels) * plane)
        throw Error("argmaxLabels: array size does not match its dimensions");
    if (channels > 256)
        throw Error("argmaxLabels: more than 256 channels do not fit 8-bit labels");
    cv::Mat labels(height, width, CV_8U);
    if (values.size() < kParallelValues) {
        argmaxRange(values.data(), channels, plane, 0, plane, labels.data);
        return labels;
    }
    const int blocks = int((plane + kArgmaxBlock - 1) / kArgmaxBlock);
    cv::parallel_for_(cv::Range(0, blocks), [&](const cv::Range& range) {
        argmaxRange(values.data(), channels, plane, std::size_t(range.start) * kArgmaxBlock,
                    std::min(plane, std::size_t(range.end) * kArgmaxBlock), labels.data);
    });
    return labels;
}

cv::Mat labelsAtGrid(const MaskStack& masks)
{
    std::vector<float> stacked(masks.background);
    stacked.insert(stacked.end(), masks.proposals.begin(), masks.proposals.end());
    return argmaxLabels(stacked, masks.count + 1, masks.height, masks.width);
}

std::vector<float> upsampleBilinear(const std::vector<float>& values, int channels, int height,
                                    int width, cv::Size size)
{
    std::vector<float> out;
    upsampleBilinear(values, channels, height, width, size, out);
    return out;
}

void upsampleBilinear(const std::vector<float>& values, int channels, int height, int width,
                      cv::Size size, std::vector<float>& out)
{
    if (channels < 1 || height < 1 || width < 1 ||
        values.size() != std::size_t(channels) * height * width)
        throw Error("upsampleBilinear: array size does not match its dimensions");
    if (size.width < 1 || size.height < 1)
        throw Error("upsampleBilinear: target size must be positive");
    const std::vector<Tap> ty = taps(height, size.height);
    const std::vector<Tap> tx = taps(width, size.width);
    const std::size_t inPlane = std::size_t(height) * width;
    const std::size_t outPlane = std::size_t(size.height) * size.width;
    // Every value is written below: a buffer of the right size is not filled first.
    out.resize(std::size_t(channels) * outPlane);
    // Each source row is interpolated along x once per stripe of output rows
    // (not twice for every output row it contributes to), then each output row
    // is the interpolation along y of two such rows: contiguous, vectorised
    // loops. The rows of a stripe need source rows ty[y0].i0 to ty[y1 - 1].i1,
    // as the taps never go back.
    const int stripes =
        std::clamp((kUpsampleJobs + channels - 1) / channels, 1, std::max(1, size.height / 16));
    const int rowsPerStripe = (size.height + stripes - 1) / stripes;
    cv::parallel_for_(cv::Range(0, channels * stripes), [&](const cv::Range& range) {
        std::vector<float> alongX;
        for (int job = range.start; job < range.end; ++job) {
            const int k = job / stripes;
            const int y0 = (job % stripes) * rowsPerStripe;
            const int y1 = std::min(size.height, y0 + rowsPerStripe);
            if (y0 >= y1)
                continue;
            const int first = ty[std::size_t(y0)].i0;
            const int last = ty[std::size_t(y1 - 1)].i1;
            alongX.resize(std::size_t(last - first + 1) * size.width);
            const float* src = values.data() + std::size_t(k) * inPlane;
            for (int i = first; i <= last; ++i) {
                const float* row = src + std::size_t(i) * width;
                float* h = alongX.data() + std::size_t(i - first) * size.width;
                for (int x = 0; x < size.width; ++x) {
                    const Tap& vx = tx[std::size_t(x)];
                    h[x] = row[vx.i0] + (row[vx.i1] - row[vx.i0]) * vx.w1;
                }
            }
            for (int y = y0; y < y1; ++y) {
                const Tap& vy = ty[std::size_t(y)];
                const float* top = alongX.data() + std::size_t(vy.i0 - first) * size.width;
                const float* bottom = alongX.data() + std::size_t(vy.i1 - first) * size.width;
                float* dst = out.data() + std::size_t(k) * outPlane + std::size_t(y) * size.width;
                const float w1 = vy.w1;
                for (int x = 0; x < size.width; ++x)
                    dst[x] = top[x] + (bottom[x] - top[x]) * w1;
            }
        }
    });
}

cv::Mat labelsAtSize(const MaskStack& masks, cv::Size size)
{
    const std::vector<float> up = upsampleBilinear(masks.logProbabilities(), masks.count + 1,
                                                   masks.height, masks.width, size);
    return argmaxLabels(up, masks.count + 1, size.height, size.width);
}

} // namespace primaps
