// SPDX-License-Identifier: MIT
#pragma once

#include "backbones/backbone.h"

#include <memory>
#include <string>

namespace primaps {

/// Any feature extractor exported to TorchScript (e.g. a STEGO or HP head on DINO, for
/// the paper's "+SotA+PriMaPs" rows; models/export_torchscript.py makes such files).
///
/// The contract: forward() maps a 1 x 3 x H x W float32 image, normalised as
/// imagenetNormalize() does, to a 1 x C x (H/p) x (W/p) float tensor, for any H and W
/// that are multiples of the patch size p. Optional integer attributes of the module
/// refine it: `patch_size` (otherwise inferred from the probe), `resize` (recommended
/// shorter side), and a float `threshold` (recommended PriMaPs threshold).
///
/// The contract is checked at load time by running a probe image (16 x 16 patches,
/// or 224 x 224 pixels when `patch_size` is absent). Threading: as Backbone.
class TorchScriptBackbone : public Backbone
{
public:
    /// Throws primaps::Error naming the file when it is missing, not a TorchScript
    /// archive (a state dict gets a hint to use a dino_* backbone), or breaks the
    /// contract (the message says what forward() returned instead).
    explicit TorchScriptBackbone(const std::string& path, bool useCuda = false);
    ~TorchScriptBackbone() override;

    std::string name() const override { return "torchscript"; }
    int patchSize() const override { return patch_; }
    int dim() const override { return dim_; }
    float recommendedThreshold() const override { return threshold_; }
    int recommendedResize() const override { return resize_; }

    /// Runs the module. Throws primaps::Error when `rgb` is not CV_8UC3 with sides that are
    /// multiples of patchSize(), or the module's output breaks the contract for this size.
    FeatureMap extract(const cv::Mat& rgb) override;

    const std::string& path() const { return path_; }

private:
    struct Impl;
    std::unique_ptr<Impl> d_;
    std::string path_;
    int patch_ = 0;
    int dim_ = 0;
    int resize_ = 320;
    float threshold_ = 0.4f;
};

} // namespace primaps
