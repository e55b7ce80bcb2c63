// SPDX-License-Identifier: MIT
#include "backbones/vitbackbone.h"

#include "backbones/checkpoint.h"
#include "support/error.h"
#include "backbones/modelcatalog.h"
#include "image/preprocess.h"
#include "support/runtime.h"

#include <opencv2/core/mat.hpp>
#include <thread>

namespace primaps {

namespace {

std::string shape(const std::string& family, int dim, int depth, int patch)
{
    return family + " ViT with " + std::to_string(dim) + "-d tokens, " + std::to_string(depth) +
           " blocks and " + std::to_string(patch) + "x" + std::to_string(patch) + " patches";
}

} // namespace

VisionTransformer VitBackbone::load(const std::string& name, const std::string& path,
                                    const VitOptions& options)
{
    const ModelInfo* model = findModel(name);
    if (!model)
        throw Error("'" + name + "' is not a catalogued ViT backbone");
    // LibTorch defaults to one intra-op thread here; a ViT wants them all.
    if (computeThreads() == 1 && std::thread::hardware_concurrency() > 1)
        configureThreads();
    const StateDict weights = readStateDict(path);
    // What the file holds, independent of the head count (which a checkpoint does not
    // record), compared with what the name promises.
    VitOptions probe = options;
    probe.numHeads = 1;
    const VitConfig found = detectVitConfig(weights, probe);
    const std::string family = found.family == VitFamily::Dino ? "dino" : "dinov2";
    if (family != model->family || found.embedDim != model->dim ||
        found.patchSize != model->patchSize || found.depth != model->depth) {
        std::string suggestion;
        for (const ModelInfo& other : modelCatalog())
            if (other.family == family && other.dim == found.embedDim &&
                other.patchSize == found.patchSize && other.depth == found.depth)
                suggestion = "; use the backbone '" + other.name + "' for it";
        throw Error("checkpoint '" + path + "' holds a " +
                    shape(toString(found.family), found.embedDim, found.depth, found.patchSize) +
                    ", not " + name + " (" + model->title + ": " + std::to_string(model->dim) +
                    "-d, " + std::to_string(model->depth) + " blocks, " +
                    std::to_string(model->patchSize) + "x" + std::to_string(model->patchSize) +
                    " patches)" + suggestion);
    }
    VitOptions actual = options;
    if (actual.numHeads <= 0)
        actual.numHeads = model->heads;
    VisionTransformer vit(weights, actual);
    if (vit.config().registryName() != name)
        throw Error("checkpoint '" + path + "' holds " + vit.config().description() +
                    " weights, which differ from the released " + name);
    return vit;
}

VitBackbone::VitBackbone(const std::string& name, const std::string& weightsPath,
                         const VitOptions& options)
    : name_(name), weightsPath_(resolveModelWeights(name, weightsPath)),
      vit_(load(name, weightsPath_, options))
{
}

int VitBackbone::recommendedResize() const
{
    return patchSize() == 14 ? 322 : 320;
}

FeatureMap VitBackbone::extract(const cv::Mat& rgb)
{
    const int p = patchSize();
    if (rgb.empty() || rgb.type() != CV_8UC3)
        throw Error(name_ + ": expected a non-empty 8-bit RGB image (CV_8UC3)");
    if (rgb.rows % p || rgb.cols % p)
        throw Error(name_ + ": the image is " + std::to_string(rgb.cols) + "x" +
                    std::to_string(rgb.rows) + " pixels; both sides must be multiples of " +
                    std::to_string(p));
    return vit_.features(imagenetNormalize(rgb), rgb.rows, rgb.cols);
}

} // namespace primaps
