// SPDX-License-Identifier: MIT
#pragma once

#include "support/featuremap.h"

#include <memory>
#include <string>
#include <vector>

namespace cv {
class Mat;
}

namespace primaps {

/// A feature extractor: image in, one feature vector per patch out.
///
/// Threading: an instance may be used from any thread, but from one thread at a
/// time; create one instance per worker to run several images concurrently.
class Backbone
{
public:
    virtual ~Backbone() = default;

    /// Registry name, e.g. "filterbank" or "dino_vits8".
    virtual std::string name() const = 0;
    /// Side of the square patch that one feature vector describes, in pixels.
    virtual int patchSize() const = 0;
    /// Number of feature channels C.
    virtual int dim() const = 0;
    /// PriMaPs threshold tau that suits this backbone's similarity distribution.
    virtual float recommendedThreshold() const = 0;
    /// Shorter image side the backbone is meant to see (docs/ALGORITHM.md, "Resize and fit to the patch grid").
    virtual int recommendedResize() const { return 320; }

    /// Features of one image. `rgb` is CV_8UC3 in RGB order whose height and
    /// width are multiples of patchSize() (see prepareImage()). Returns
    /// dim() x rows/patch x cols/patch. Throws primaps::Error on a wrong input.
    virtual FeatureMap extract(const cv::Mat& rgb) = 0;
};

/// Options for createBackbone(); fields a backbone does not use are ignored.
struct BackboneOptions
{
    std::string weightsPath; ///< checkpoint or TorchScript file, for backbones that need one
    /// Run on the first CUDA device. Only when the linked LibTorch has CUDA and a
    /// device is present; otherwise createBackbone() throws a clear primaps::Error.
    /// The filterbank backbone runs on the CPU only: asking it for CUDA is an error.
    bool useCuda = false;
};

/// Names accepted by createBackbone(), the default first.
std::vector<std::string> availableBackbones();

/// The version of the features a backbone name stands for, recorded beside the name
/// in run.json ("backbone_version") and in the feature cache key: 2 for "filterbank"
/// (the current default), 1 for "filterbank-v1", 0 for backbones with one version.
int backboneVersion(const std::string& name);

/// The patch size of a backbone name without creating it (8 for the filter
/// banks, the catalogue's for the ViTs); 0 when only the loaded backbone knows it
/// (torchscript) or the name is unknown.
int backbonePatchSize(const std::string& name);

/// The registry name for a backbone as run.json records it, `version` 0 meaning not
/// recorded: runs written before versions existed that name "filterbank" used
/// version 1, so they load "filterbank-v1". Throws primaps::Error for a version this
/// build does not know (a run written by a newer PriMaPs Studio).
std::string backboneFromRecord(const std::string& recorded, int version);

/// Creates a backbone by registry name. Throws primaps::Error naming the
/// backbone when it is unknown or cannot be created (e.g. missing weights).
std::unique_ptr<Backbone> createBackbone(const std::string& name,
                                         const BackboneOptions& options = {});

} // namespace primaps
