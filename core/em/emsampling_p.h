// SPDX-License-Identifier: MIT
#pragma once
// The robust protocol's statistics on sampled feature positions and on masks:
// the positions themselves, spherical k-means on rows, and the masks' pixels per
// feature cell. LibTorch inside: include only from em/*.cpp.

#include "em/emfit_p.h"

#include <ATen/ATen.h>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace primaps::detail {

/// Up to `maxPositions` feature positions (rows, float, N x C) drawn evenly
/// from `images`, so that one large image does not dominate and the memory
/// stays bounded whatever the dataset's size. Throws primaps::Error when
/// `images` is empty or the images' channels differ. `sampled` (when set) ticks
/// before the first image and after each.
at::Tensor sampleFeaturePositions(const EmDataSource& data,
                                  const std::vector<std::uint32_t>& images, int maxPositions,
                                  Rng& rng, const InitTick& sampled = {});

/// Rows divided by their length (zero rows stay zero).
at::Tensor unitRows(const at::Tensor& x);

/// Spherical k-means (cosine Lloyd iterations until fewer than 0.1 % of the rows
/// change cluster, at most 100) of the unit rows `unit` (N x C) into `k`
/// clusters, seeded by k-means++ and restarted `restarts` times. With `weight`
/// (N, defined) every row counts that many times: in the seeding, the means and
/// the objective. Each start's objective is the (weighted) mean best cosine.
/// Throws primaps::Error when there are fewer rows than `k`. `restarted` ticks
/// per restart and iteration (done = restarts finished).
std::vector<KMeansStart> sphericalKMeans(const at::Tensor& unit, const at::Tensor& weight, int k,
                                         int restarts, Rng& rng, const InitTick& restarted = {});

/// The masks of image `index`; throws primaps::Error naming the image unless
/// they are a non-empty CV_8UC1 map.
cv::Mat checkedMasks(const EmDataSource& data, std::uint32_t index);

/// One mask's pixels in one feature cell.
struct MaskCell
{
    std::int32_t slot; ///< the mask, numbered 0.. in the order of first appearance
    std::int32_t cell; ///< y * width + x on the feature grid
    std::uint32_t pixels;
};

/// The pixels of the masks 1..254 of a CV_8UC1 label map per (mask, nearest
/// feature cell of an fh x fw grid), sorted by mask and cell; `slots` receives
/// the number of masks. At most one entry per labelled pixel.
std::vector<MaskCell> maskCells(const cv::Mat& masks, int fh, int fw, int& slots);

/// The initialisation's progress hooks by task (EmInitProgress::task).
using InitTicks = std::function<InitTick(const char* task)>;

/// PriMaPs-EM's second candidate start and the texton words it used.
struct TextureStart
{
    Prototypes prototypes;
    int words = 0;
};

/// PriMaPs-EM's second candidate start: the masks grouped by texture
/// (docs/em-quality.md, "Session 13"). The unit positions fall into `words`
/// spherical k-means clusters (texton words, at most one per position; the
/// best of 4 runs by the objective); every mask of `images` is described by the
/// square root of its pixels' word histogram (a pixel takes its nearest feature
/// cell's word); the masks are grouped into `k` by spherical k-means weighted by
/// their pixels (16 restarts, the best weighted objective); each group's
/// prototype is the mean unit feature of its masks' pixels (gain 1; a group
/// without pixels takes a random position). A class whose features spread over
/// several modes is one mixture of words, where k-means on the positions splits
/// it. Nothing when the images hold fewer than `k` masks. `tick` gives the hooks
/// of the tasks "texture words" and "texture groups" (runs, restarts),
/// "texture histograms" and "texture prototypes" (the two passes over
/// `images`). Throws primaps::Error on features that do not match the
/// positions, or masks that change between the two passes.
std::optional<TextureStart> textureGroupStart(const EmDataSource& data,
                                              const std::vector<std::uint32_t>& images,
                                              const at::Tensor& unitPositions, int k, int words,
                                              Rng& rng, const InitTicks& tick = {});

} // namespace primaps::detail
