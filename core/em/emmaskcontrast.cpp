// SPDX-License-Identifier: MIT
// Which k-means restart PriMaPs-EM starts from (robust protocol): the one that
// keeps the PriMaPs masks of an image apart. Restarts of cosine k-means end in
// partitions whose objectives differ in the fourth digit but whose classes
// differ by ten mIoU and more; the k-means objective cannot tell them apart, the
// masks can (docs/em-quality.md, "Session 12").
#include "em/emfit_p.h"
#include "support/error.h"

#include <ATen/ATen.h>
#include <cmath>
#include <limits>

namespace primaps::detail {

namespace {

// Cluster of every feature cell under every start: nearest unit direction (gain
// 1), row s * cells + cell.
std::vector<std::int32_t> nearestClusters(const FeatureMap& f, const at::Tensor& directions,
                                          int starts, int k)
{
    const at::Tensor x = at::from_blob(const_cast<float*>(f.values.data()),
                                       {f.channels, std::int64_t(f.positions())}, at::kFloat);
    // (starts * k) x cells, then the best of each start's k rows.
    const at::Tensor best = directions.mm(x).view({starts, k, -1}).argmax(1).to(at::kInt).contiguous();
    const std::int32_t* p = best.data_ptr<std::int32_t>();
    return std::vector<std::int32_t>(p, p + best.numel());
}

} // namespace

double MaskPairCounts::share(std::size_t s) const
{
    double weight = 0, inOne = 0;
    for (std::size_t i = 0; i < pairWeight.size(); ++i) {
        weight += pairWeight[i];
        inOne += shared.at(s)[i];
    }
    return weight > 0 ? inOne / weight : std::numeric_limits<double>::quiet_NaN();
}

MaskPairCounts countSharedMaskPairs(const EmDataSource& data,
                                    const std::vector<std::uint32_t>& images,
                                    const std::vector<KMeansStart>& starts, const InitTick& read)
{
    const int n = int(starts.size());
    MaskPairCounts counts;
    counts.shared.resize(std::size_t(n));
    if (n == 0)
        return counts;
    const int k = starts[0].prototypes.classes;
    const int dim = starts[0].prototypes.dim;
    std::vector<float> stacked;
    for (const KMeansStart& s : starts) {
        if (s.prototypes.classes != k || s.prototypes.dim != dim)
            throw Error("k-means starts of different shapes");
        stacked.insert(stacked.end(), s.prototypes.direction.begin(), s.prototypes.direction.end());
    }
    const at::Tensor directions =
        at::from_blob(stacked.data(), {std::int64_t(n) * k, dim}, at::kFloat);

    const int total = int(images.size());
    int done = 0;
    std::vector<int> slot(256);
    std::vector<float> pixels; // mask slot x feature cell
    std::vector<double> votes, area;
    std::vector<int> majority;
    for (std::uint32_t index : images) {
        if (read)
            read(done, total);
        ++done;
        const cv::Mat masks = data.masks(index);
        if (masks.empty() || masks.type() != CV_8UC1)
            continue;
        const FeatureMap f = data.features(index);
        if (f.channels != dim || f.empty())
            throw Error("image " + std::to_string(index) + ": features have " +
                        std::to_string(f.channels) + " channels, the starts " + std::to_string(dim));
        // Pixels of each mask per feature cell (nearest cell, as the E-step's
        // mask summaries count them).
        const int fh = f.height, fw = f.width, lh = masks.rows, lw = masks.cols;
        const std::size_t cells = std::size_t(fh) * std::size_t(fw);
        std::fill(slot.begin(), slot.end(), -1);
        int slots = 0;
        pixels.clear();
        for (int y = 0; y < lh; ++y) {
            const std::uint8_t* row = masks.ptr<std::uint8_t>(y);
            const int cy = std::min(fh - 1, int((y + 0.5) * fh / lh));
            for (int x = 0; x < lw; ++x) {
                const int id = row[x];
                if (id == 0 || id == 255)
                    continue;
                if (slot[std::size_t(id)] < 0) {
                    slot[std::size_t(id)] = slots++;
                    pixels.resize(std::size_t(slots) * cells, 0.0f);
                }
                const int cx = std::min(fw - 1, int((x + 0.5) * fw / lw));
                pixels[std::size_t(slot[std::size_t(id)]) * cells + std::size_t(cy) * fw +
                       std::size_t(cx)] += 1.0f;
            }
        }
        if (slots < 2)
            continue; // no pair of masks in this image
        const std::vector<std::int32_t> cluster = nearestClusters(f, directions, n, k);
        double pairs = 0;
        for (int s = 0; s < n; ++s) {
            double inOne = 0;
            votes.assign(std::size_t(slots) * k, 0.0);
            area.assign(std::size_t(slots), 0.0);
            const std::int32_t* c = cluster.data() + std::size_t(s) * cells;
            for (int m = 0; m < slots; ++m) {
                const float* w = pixels.data() + std::size_t(m) * cells;
                for (std::size_t cell = 0; cell < cells; ++cell)
                    if (w[cell] > 0) {
                        votes[std::size_t(m) * k + std::size_t(c[cell])] += w[cell];
                        area[std::size_t(m)] += w[cell];
                    }
            }
            majority.assign(std::size_t(slots), 0);
            for (int m = 0; m < slots; ++m)
                for (int j = 1; j < k; ++j)
                    if (votes[std::size_t(m) * k + j] >
                        votes[std::size_t(m) * k + std::size_t(majority[std::size_t(m)])])
                        majority[std::size_t(m)] = j;
            pairs = 0;
            for (int a = 0; a < slots; ++a)
                for (int b = a + 1; b < slots; ++b) {
                    const double w = std::min(area[std::size_t(a)], area[std::size_t(b)]);
                    pairs += w;
                    if (majority[std::size_t(a)] == majority[std::size_t(b)])
                        inOne += w;
                }
            counts.shared[std::size_t(s)].push_back(inOne);
        }
        counts.pairWeight.push_back(pairs);
    }
    if (read)
        read(total, total);
    return counts;
}

StartChoice chooseStart(const std::vector<KMeansStart>& starts, const MaskPairCounts* counts)
{
    if (starts.empty())
        throw Error("no k-means starts to choose from");
    StartChoice choice;
    for (std::size_t s = 1; s < starts.size(); ++s)
        if (starts[s].meanBestCosine > starts[choice.byObjective].meanBestCosine)
            choice.byObjective = s;
    choice.index = choice.byObjective;
    const std::size_t images = counts ? counts->pairWeight.size() : 0;
    if (starts.size() < 2 || images < 2 || counts->shared.size() != starts.size())
        return choice;
    std::size_t fewest = choice.byObjective;
    for (std::size_t s = 0; s < starts.size(); ++s)
        if (counts->share(s) < counts->share(fewest))
            fewest = s;
    // One-sided 5 % over the restarts the fewest was picked from (Bonferroni):
    // the normal quantile at 1 - 0.05 / (restarts - 1), by bisection on erfc.
    const double alpha = 0.05 / double(starts.size() - 1);
    double lo = 0, hi = 10;
    for (int i = 0; i < 60; ++i) {
        const double mid = 0.5 * (lo + hi);
        (0.5 * std::erfc(mid / std::sqrt(2.0)) > alpha ? lo : hi) = mid;
    }
    choice.threshold = 0.5 * (lo + hi);
    if (fewest == choice.byObjective)
        return choice;
    // Paired over images: how much more pair weight the objective's start puts
    // into one cluster than the fewest's, and the spread of that difference.
    double sum = 0, sumSquares = 0;
    for (std::size_t i = 0; i < images; ++i) {
        const double d = counts->shared[choice.byObjective][i] - counts->shared[fewest][i];
        sum += d;
        sumSquares += d * d;
    }
    const double n = double(images), mean = sum / n;
    const double variance = std::max(0.0, (sumSquares - n * mean * mean) / (n - 1));
    choice.evidence = variance > 0 ? sum / std::sqrt(n * variance)
                                   : (sum > 0 ? std::numeric_limits<double>::infinity() : 0.0);
    if (choice.evidence > choice.threshold) {
        choice.index = fewest;
        choice.byMaskContrast = true;
    }
    return choice;
}

} // namespace primaps::detail
