// SPDX-License-Identifier: MIT
// The robust protocol's additions to PriMaPs-EM (docs/em-quality.md): a
// spherical k-means initialisation with k-means++ seeding and restarts, and the
// re-seeding of prototypes that the E-step starves of pseudo-labels.
#include "em/emfit_p.h"
#include "em/emsampling_p.h"
#include "support/error.h"

#include <algorithm>
#include <ATen/ATen.h>
#include <cmath>
#include <numeric>

namespace primaps::detail {

namespace {

at::Tensor matrixOf(const FeatureMap& f)
{
    return at::from_blob(const_cast<float*>(f.values.data()),
                         {f.channels, std::int64_t(f.positions())}, at::kFloat);
}

// The index whose cumulative sum first exceeds a uniform draw in [0, total).
std::int64_t pickFromCumulative(const at::Tensor& cumulative, double total, Rng& rng)
{
    const double u = rng.unit() * total;
    return std::min<std::int64_t>(
        cumulative.size(0) - 1,
        at::searchsorted(cumulative, at::scalar_tensor(u, at::kDouble), false, true)
            .item<std::int64_t>());
}

// k-means++: the first centre uniformly (by weight, when rows are weighted),
// each next one with probability proportional to the squared distance (for unit
// vectors 2 - 2 cos) to the nearest centre chosen so far, times the weight.
at::Tensor plusPlusSeeds(const at::Tensor& x, const at::Tensor& weight, int k, Rng& rng)
{
    const std::int64_t n = x.size(0);
    auto uniform = [&] { return std::int64_t(rng.below(std::uint64_t(n))); };
    std::vector<std::int64_t> chosen;
    if (weight.defined()) {
        const at::Tensor cumulative = weight.to(at::kDouble).cumsum(0);
        const double total = cumulative[n - 1].item<double>();
        chosen.push_back(total > 0 ? pickFromCumulative(cumulative, total, rng) : uniform());
    } else {
        chosen.push_back(uniform());
    }
    at::Tensor best = at::full({n}, -1.0f, at::kFloat);
    for (int c = 1; c < k; ++c) {
        best = at::maximum(best, x.mv(x[chosen.back()]));
        at::Tensor chance = (2.0f - 2.0f * best).clamp_min(0.0f).to(at::kDouble);
        if (weight.defined())
            chance = chance * weight.to(at::kDouble);
        const at::Tensor cumulative = chance.cumsum(0);
        const double total = cumulative[n - 1].item<double>();
        const std::int64_t fallback = uniform(); // drawn either way, as it always was
        chosen.push_back(total > 0 ? pickFromCumulative(cumulative, total, rng) : fallback);
    }
    return x.index_select(0, at::tensor(chosen, at::kLong)).clone();
}

} // namespace

at::Tensor sampleFeaturePositions(const EmDataSource& data,
                                  const std::vector<std::uint32_t>& images, int maxPositions,
                                  Rng& rng, const InitTick& sampled)
{
    if (images.empty())
        throw Error("no images to draw feature positions from");
    const std::int64_t perImage =
        std::max<std::int64_t>(1, std::int64_t(maxPositions) / std::int64_t(images.size()));
    std::vector<at::Tensor> rows;
    int dim = 0;
    const int total = int(images.size());
    if (sampled)
        sampled(0, total);
    for (std::uint32_t index : images) {
        if (sampled && !rows.empty())
            sampled(int(rows.size()), total);
        const FeatureMap f = data.features(index);
        if (dim == 0)
            dim = f.channels;
        else if (f.channels != dim)
            throw Error("image " + std::to_string(index) + ": features have " +
                        std::to_string(f.channels) + " channels, the others " +
                        std::to_string(dim));
        const std::int64_t positions = std::int64_t(f.positions());
        const at::Tensor x = matrixOf(f).t();
        if (positions <= perImage) {
            rows.push_back(x.clone());
            continue;
        }
        std::vector<std::int64_t> pick;
        for (std::int64_t i = 0; i < perImage; ++i)
            pick.push_back(std::int64_t(rng.below(std::uint64_t(positions))));
        rows.push_back(x.index_select(0, at::tensor(pick, at::kLong)));
    }
    if (sampled)
        sampled(total, total);
    return at::cat(rows, 0);
}

std::vector<KMeansStart> sphericalKMeans(const at::Tensor& unit, const at::Tensor& weight, int k,
                                         int restarts, Rng& rng, const InitTick& restarted)
{
    if (unit.size(0) < k)
        throw Error("the initialisation needs at least as many feature positions as prototypes");
    const bool weighted = weight.defined();
    const at::Tensor weightedUnit = weighted ? unit * weight.unsqueeze(1) : unit;
    const double totalWeight = weighted ? weight.sum().item<double>() : 0.0;
    std::vector<KMeansStart> starts;
    for (int r = 0; r < std::max(1, restarts); ++r) {
        at::Tensor centres = plusPlusSeeds(unit, weight, k, rng);
        at::Tensor assignment;
        double score = -2;
        for (int iteration = 0; iteration < 100; ++iteration) {
            if (restarted)
                restarted(r, std::max(1, restarts));
            const auto [similarity, nearest] = unit.mm(centres.t()).max(1);
            score = weighted ? (similarity * weight).sum().item<double>() / totalWeight
                             : similarity.mean().item<double>();
            const bool settled =
                assignment.defined() &&
                nearest.ne(assignment).sum().item<std::int64_t>() * 1000 < unit.size(0);
            assignment = nearest;
            at::Tensor sums = at::zeros({k, unit.size(1)}, at::kFloat);
            sums.index_add_(0, nearest, weightedUnit);
            // An empty cluster restarts at the position that fits its centre worst.
            const at::Tensor counts = at::bincount(nearest, {}, k);
            for (int c = 0; c < k; ++c)
                if (counts[c].item<std::int64_t>() == 0)
                    sums[c] = unit[similarity.argmin().item<std::int64_t>()];
            centres = sums / sums.norm(2, {1}, true).clamp_min(1e-12);
            if (settled)
                break;
        }
        KMeansStart start;
        start.meanBestCosine = score;
        start.prototypes.classes = k;
        start.prototypes.dim = int(unit.size(1));
        start.prototypes.gain.assign(std::size_t(k), 1.0f);
        const at::Tensor c = centres.contiguous();
        start.prototypes.direction.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
        starts.push_back(std::move(start));
    }
    if (restarted)
        restarted(std::max(1, restarts), std::max(1, restarts));
    return starts;
}

at::Tensor unitRows(const at::Tensor& x)
{
    return x / x.norm(2, {1}, true).clamp_min(1e-12);
}

std::vector<KMeansStart> sphericalKMeansStarts(const EmDataSource& data,
                                               const std::vector<std::uint32_t>& images, int k,
                                               int maxPositions, int restarts, Rng& rng,
                                               const InitTick& sampled, const InitTick& restarted,
                                               at::Tensor* positions)
{
    if (images.empty())
        throw Error("the initialisation has no images");
    const at::Tensor unit =
        unitRows(sampleFeaturePositions(data, images, maxPositions, rng, sampled));
    if (positions)
        *positions = unit;
    return sphericalKMeans(unit, {}, k, restarts, rng, restarted);
}

std::vector<MaskSummary> summariseMasks(const FeatureMap& features, const cv::Mat& masks,
                                        const std::vector<int>& modes)
{
    // Pixels of each mask per feature cell (nearest cell), then one product
    // with the features: cheap next to the E-step's upsampled logits.
    const int lh = masks.rows, lw = masks.cols, fh = features.height, fw = features.width;
    std::vector<int> slot(256, -1);
    std::vector<MaskSummary> out;
    std::vector<float> counts;
    const std::size_t cells = std::size_t(fh) * std::size_t(fw);
    for (int y = 0; y < lh; ++y) {
        const std::uint8_t* row = masks.ptr<std::uint8_t>(y);
        const int cy = std::min(fh - 1, int((y + 0.5) * fh / lh));
        for (int x = 0; x < lw; ++x) {
            const int id = row[x];
            if (id == 0 || id == 255 || modes[std::size_t(id)] < 0)
                continue;
            if (slot[std::size_t(id)] < 0) {
                slot[std::size_t(id)] = int(out.size());
                out.push_back({modes[std::size_t(id)], 0.0, {}});
                counts.resize(counts.size() + cells, 0.0f);
            }
            const int cx = std::min(fw - 1, int((x + 0.5) * fw / lw));
            const std::size_t s = std::size_t(slot[std::size_t(id)]);
            counts[s * cells + std::size_t(cy) * std::size_t(fw) + std::size_t(cx)] += 1.0f;
            out[s].pixels += 1.0;
        }
    }
    if (out.empty())
        return out;
    const at::Tensor weights =
        at::from_blob(counts.data(), {std::int64_t(out.size()), std::int64_t(cells)}, at::kFloat);
    const at::Tensor means =
        (weights.mm(matrixOf(features).t()) / weights.sum(1, true).clamp_min(1.0f)).contiguous();
    for (std::size_t s = 0; s < out.size(); ++s) {
        const float* m = means.data_ptr<float>() + s * std::size_t(features.channels);
        out[s].meanFeature.assign(m, m + features.channels);
    }
    return out;
}

std::vector<int> reseedDeadPrototypes(Prototypes& thetaR, Prototypes& thetaM,
                                      std::vector<float>& adamDirectionM,
                                      std::vector<float>& adamDirectionV,
                                      std::vector<float>& adamGainM, std::vector<float>& adamGainV,
                                      const std::vector<double>& pixelsPerCluster,
                                      const std::vector<MaskSummary>& candidates, double minShare)
{
    const int k = thetaR.classes;
    const std::size_t dim = std::size_t(thetaR.dim);
    const double total = std::accumulate(pixelsPerCluster.begin(), pixelsPerCluster.end(), 0.0);
    std::vector<int> dead;
    for (int c = 0; c < k; ++c)
        if (total > 0 && pixelsPerCluster[std::size_t(c)] < minShare * total)
            dead.push_back(c);
    if (dead.empty())
        return {};

    auto cosineToPrototype = [&](const MaskSummary& m) {
        const float* v = thetaM.direction.data() + std::size_t(m.cluster) * dim;
        double dot = 0, nv = 0, nm = 0;
        for (std::size_t i = 0; i < dim; ++i) {
            dot += double(v[i]) * m.meanFeature[i];
            nv += double(v[i]) * v[i];
            nm += double(m.meanFeature[i]) * m.meanFeature[i];
        }
        return dot / std::sqrt(std::max(1e-24, nv * nm));
    };
    // Donor clusters, largest first; within one, its worst-fitting masks first.
    std::vector<int> donors(static_cast<std::size_t>(k));
    std::iota(donors.begin(), donors.end(), 0);
    std::stable_sort(donors.begin(), donors.end(), [&](int a, int b) {
        return pixelsPerCluster[std::size_t(a)] > pixelsPerCluster[std::size_t(b)];
    });
    std::vector<std::pair<double, const MaskSummary*>> queue;
    for (int donor : donors) {
        if (std::find(dead.begin(), dead.end(), donor) != dead.end())
            continue;
        std::vector<std::pair<double, const MaskSummary*>> own;
        for (const MaskSummary& m : candidates)
            if (m.cluster == donor && !m.meanFeature.empty())
                own.emplace_back(cosineToPrototype(m), &m);
        std::stable_sort(own.begin(), own.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
        queue.insert(queue.end(), own.begin(), own.end());
    }

    double meanNorm = 0, meanGainR = 0, meanGainM = 0;
    for (int c = 0; c < k; ++c) {
        double n = 0;
        for (std::size_t i = 0; i < dim; ++i)
            n += double(thetaR.direction[std::size_t(c) * dim + i]) *
                 thetaR.direction[std::size_t(c) * dim + i];
        meanNorm += std::sqrt(n) / k;
        meanGainR += double(thetaR.gain[std::size_t(c)]) / k;
        meanGainM += double(thetaM.gain[std::size_t(c)]) / k;
    }
    std::vector<int> reseeded;
    for (std::size_t d = 0; d < dead.size() && d < queue.size(); ++d) {
        const int c = dead[d];
        const std::vector<float>& f = queue[d].second->meanFeature;
        double n = 0;
        for (float v : f)
            n += double(v) * v;
        const double scale = meanNorm / std::sqrt(std::max(1e-24, n));
        for (std::size_t i = 0; i < dim; ++i) {
            const std::size_t at = std::size_t(c) * dim + i;
            thetaR.direction[at] = float(f[i] * scale);
            thetaM.direction[at] = thetaR.direction[at];
            adamDirectionM[at] = 0.0f;
            adamDirectionV[at] = 0.0f;
        }
        thetaR.gain[std::size_t(c)] = float(meanGainR);
        thetaM.gain[std::size_t(c)] = float(meanGainM);
        adamGainM[std::size_t(c)] = 0.0f;
        adamGainV[std::size_t(c)] = 0.0f;
        reseeded.push_back(c);
    }
    return reseeded;
}

} // namespace primaps::detail
