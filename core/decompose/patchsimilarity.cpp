// SPDX-License-Identifier: MIT
#include "decompose/patchsimilarity.h"

#include "support/error.h"

#include <algorithm>
#include <cmath>

namespace primaps {

std::vector<float> patchFeature(const FeatureMap& features, int col, int row)
{
    if (features.empty() || col < 0 || row < 0 || col >= features.width || row >= features.height)
        throw Error("patch (" + std::to_string(col) + ", " + std::to_string(row) +
                    ") lies outside the " + std::to_string(features.width) + " x " +
                    std::to_string(features.height) + " feature grid");
    std::vector<float> v(std::size_t(features.channels));
    for (int c = 0; c < features.channels; ++c)
        v[std::size_t(c)] = features.at(c, row, col);
    return v;
}

std::vector<float> cosineSimilarityMap(const FeatureMap& features, const std::vector<float>& query)
{
    if (features.empty())
        throw Error("cosine similarity: the feature map is empty");
    if (query.size() != std::size_t(features.channels))
        throw Error("cosine similarity: the query has " + std::to_string(query.size()) +
                    " channels, the features " + std::to_string(features.channels));
    const std::size_t n = features.positions();
    double queryNorm = 0;
    for (float q : query)
        queryNorm += double(q) * q;
    queryNorm = std::sqrt(queryNorm);
    std::vector<double> dot(n, 0.0), norm(n, 0.0);
    // Channel-major layout: walk each channel plane contiguously.
    for (int c = 0; c < features.channels; ++c) {
        const float* plane = features.channel(c);
        const double q = query[std::size_t(c)];
        for (std::size_t p = 0; p < n; ++p) {
            dot[p] += q * plane[p];
            norm[p] += double(plane[p]) * plane[p];
        }
    }
    std::vector<float> out(n, 0.0f);
    if (queryNorm == 0.0)
        return out;
    for (std::size_t p = 0; p < n; ++p)
        if (norm[p] > 0.0)
            out[p] = float(std::clamp(dot[p] / (queryNorm * std::sqrt(norm[p])), -1.0, 1.0));
    return out;
}

std::vector<float> patchSimilarityMap(const FeatureMap& features, int col, int row)
{
    return cosineSimilarityMap(features, patchFeature(features, col, row));
}

FeaturePca computeJointFeaturePca(const std::vector<const FeatureMap*>& maps,
                                  const FeaturePcaParams& params, std::size_t maxPositions)
{
    if (maps.empty())
        throw Error("joint feature PCA: there are no feature maps");
    std::size_t total = 0;
    for (const FeatureMap* map : maps) {
        if (!map || map->empty())
            throw Error("joint feature PCA: a feature map is empty");
        if (map->channels != maps.front()->channels)
            throw Error("joint feature PCA: the maps have different channel counts (" +
                        std::to_string(maps.front()->channels) + " and " +
                        std::to_string(map->channels) + "); they come from different backbones");
        total += map->positions();
    }
    // Every map contributes in proportion to its size; a stride keeps the sample
    // spread over each image rather than taking its top rows.
    const std::size_t stride = std::max<std::size_t>(1, (total + maxPositions - 1) / std::max<std::size_t>(1, maxPositions));
    std::vector<std::pair<const FeatureMap*, std::size_t>> picked;
    for (const FeatureMap* map : maps)
        for (std::size_t p = 0; p < map->positions(); p += stride)
            picked.emplace_back(map, p);
    const int channels = maps.front()->channels;
    FeatureMap pooled(channels, 1, int(picked.size()));
    for (int c = 0; c < channels; ++c) {
        float* out = pooled.channel(c);
        for (std::size_t i = 0; i < picked.size(); ++i)
            out[i] = picked[i].first->channel(c)[picked[i].second];
    }
    return computeFeaturePca(pooled, params);
}

FeaturePca projectOntoPca(const FeaturePca& basis, const FeatureMap& features)
{
    if (features.empty() || features.channels != basis.channels)
        throw Error("PCA projection: the features have " + std::to_string(features.channels) +
                    " channels, the basis " + std::to_string(basis.channels));
    FeaturePca out = basis;
    out.height = features.height;
    out.width = features.width;
    const std::size_t n = features.positions();
    out.projections.assign(std::size_t(basis.components) * n, 0.0f);
    for (int k = 0; k < basis.components; ++k) {
        const float* v = basis.directions.data() + std::size_t(k) * basis.channels;
        float* projection = out.projections.data() + std::size_t(k) * n;
        for (int c = 0; c < basis.channels; ++c) {
            const float* plane = features.channel(c);
            const float weight = v[c];
            const float shift = basis.mean[std::size_t(c)] * weight;
            for (std::size_t p = 0; p < n; ++p)
                projection[p] += plane[p] * weight - shift;
        }
    }
    return out;
}

} // namespace primaps
