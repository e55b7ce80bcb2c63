// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>
#include <vector>

namespace primaps {

/// Dense patch features of one image: C x h x w float32, channel-major
/// (values[(c * height + y) * width + x]), always on the CPU. This is the
/// currency between backbones, the decomposition and the on-disk formats; it is
/// deliberately a plain struct so that headers that pass it around stay free of
/// LibTorch.
struct FeatureMap
{
    int channels = 0;
    int height = 0;
    int width = 0;
    std::vector<float> values;

    FeatureMap() = default;
    FeatureMap(int c, int h, int w) : channels(c), height(h), width(w), values(std::size_t(c) * h * w) {}

    bool empty() const { return values.empty(); }
    std::size_t positions() const { return std::size_t(height) * width; }
    float& at(int c, int y, int x) { return values[(std::size_t(c) * height + y) * width + x]; }
    float at(int c, int y, int x) const { return values[(std::size_t(c) * height + y) * width + x]; }
    const float* channel(int c) const { return values.data() + std::size_t(c) * positions(); }
    float* channel(int c) { return values.data() + std::size_t(c) * positions(); }
};

} // namespace primaps
