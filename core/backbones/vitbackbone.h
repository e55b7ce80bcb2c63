// SPDX-License-Identifier: MIT
#pragma once

#include "backbones/backbone.h"
#include "backbones/vit.h"

#include <string>

namespace primaps {

/// One of the catalogued DINO / DINOv2 ViTs (dino_vits8, dino_vitb8, dino_vits16,
/// dino_vitb16, dinov2_vits14, dinov2_vitb14) as a Backbone, read from the official
/// checkpoint file.
///
/// Construction reads and checks the whole checkpoint (seconds for ViT-B) and, when
/// LibTorch still runs on its default single thread, sets the intra-op threads to the
/// core count (configureThreads()). Threading: as Backbone; extract() from one thread at
/// a time.
class VitBackbone : public Backbone
{
public:
    /// `name` is the registry name; `weightsPath` the checkpoint, or "" to look in
    /// modelSearchDirectories(). Throws primaps::Error when the name is not a catalogued
    /// ViT, the file is missing (the message says where to get it), unreadable, or holds
    /// another architecture than `name` (the message names the one it holds).
    VitBackbone(const std::string& name, const std::string& weightsPath,
                const VitOptions& options = {});

    std::string name() const override { return name_; }
    int patchSize() const override { return vit_.config().patchSize; }
    int dim() const override { return vit_.config().embedDim; }
    /// 0.4, the paper's value for the DINO family.
    float recommendedThreshold() const override { return 0.4f; }
    /// 320 for /8 and /16 backbones, 322 (= 23 x 14) for /14 ones (docs/ALGORITHM.md, "DINO and DINOv2 ViTs").
    int recommendedResize() const override;

    /// ImageNet-normalises `rgb` and returns VisionTransformer::features(). Throws
    /// primaps::Error when `rgb` is not CV_8UC3 or its sides are not multiples of the patch.
    FeatureMap extract(const cv::Mat& rgb) override;

    const VitConfig& config() const { return vit_.config(); }
    /// The checkpoint the weights came from.
    const std::string& weightsPath() const { return weightsPath_; }
    VisionTransformer& transformer() { return vit_; }

private:
    static VisionTransformer load(const std::string& name, const std::string& path,
                                  const VitOptions& options);

    std::string name_;
    std::string weightsPath_;
    VisionTransformer vit_;
};

} // namespace primaps
