// SPDX-License-Identifier: MIT
#include "backbones/torchscriptbackbone.h"

#include "support/blasthreads_p.h"
#include "backbones/checkpoint_p.h"
#include "support/error.h"
#include "image/preprocess.h"
#include "support/runtime.h"

#include <ATen/Context.h>
#include <c10/core/InferenceMode.h>
#include <caffe2/serialize/inline_container.h>
#include <fstream>
#include <opencv2/core/mat.hpp>
#include <thread>
#include <torch/script.h>

namespace primaps {

struct TorchScriptBackbone::Impl
{
    torch::jit::Module module;
    at::Device device = at::kCPU;
};

namespace {


std::string shapeOf(const at::Tensor& t)
{
    std::string s = "[";
    for (std::int64_t i = 0; i < t.dim(); ++i)
        s += (i ? ", " : "") + std::to_string(t.size(i));
    return s + "]";
}

// Runs forward() on `input` and returns the output tensor, or throws naming what the
// module returned instead.
at::Tensor runModule(torch::jit::Module& module, const at::Tensor& input, const std::string& where)
{
    torch::jit::IValue result;
    try {
        result = module.forward({input});
    } catch (const std::exception& e) {
        throw Error(where + "forward() failed on a " + shapeOf(input) + " input: " + firstErrorLine(e));
    }
    if (!result.isTensor())
        throw Error(where + "forward() returns a " + result.tagKind() +
                    ", but the contract is one 1 x C x h x w tensor");
    at::Tensor out = result.toTensor();
    if (out.dim() != 4 || out.size(0) != 1)
        throw Error(where + "forward() returns a tensor of shape " + shapeOf(out) + " for a " +
                    shapeOf(input) + " input, but the contract is 1 x C x h x w");
    if (!out.is_floating_point())
        throw Error(where + "forward() returns " + std::string(c10::toString(out.scalar_type())) +
                    " values, expected floating point");
    return out;
}

int intAttribute(const torch::jit::Module& module, const char* name, int fallback)
{
    if (!module.hasattr(name))
        return fallback;
    const torch::jit::IValue v = module.attr(name);
    return v.isInt() ? int(v.toInt()) : fallback;
}

} // namespace

TorchScriptBackbone::TorchScriptBackbone(const std::string& path, bool useCuda)
    : d_(std::make_unique<Impl>()), path_(path)
{
    const std::string where = "TorchScript backbone '" + path + "': ";
    if (path.empty())
        throw Error("the torchscript backbone needs a module file: pass --weights FILE.pt "
                    "(models/export_torchscript.py makes one)");
    if (!std::ifstream(path, std::ios::binary))
        throw Error(where + "cannot open the file (missing or unreadable)");
    if (computeThreads() == 1 && std::thread::hardware_concurrency() > 1)
        configureThreads();

    bool stateDict = false;
    try {
        caffe2::serialize::PyTorchStreamReader reader(path);
        stateDict = reader.hasRecord("data.pkl") && !reader.hasRecord("constants.pkl");
    } catch (const std::exception&) {
        // Not a zip archive at all; torch::jit::load below reports it.
    }
    if (stateDict)
        throw Error(where + "a state dict (torch.save), not a TorchScript module; use a "
                            "dino_*/dinov2_* backbone for official checkpoints, or export the "
                            "model with models/export_torchscript.py");
    try {
        d_->module = torch::jit::load(path, c10::Device(at::kCPU));
    } catch (const std::exception& e) {
        throw Error(where + "not a loadable TorchScript module (" + firstErrorLine(e) +
                    "); export one with torch.jit.script/trace and torch.jit.save, e.g. "
                    "models/export_torchscript.py");
    }
    if (useCuda) {
        if (!at::hasCUDA())
            throw Error(where + "CUDA was requested but this build of LibTorch has no CUDA or no "
                                "CUDA device is present");
        d_->device = at::Device(at::kCUDA, 0);
        d_->module.to(d_->device);
    }
    d_->module.eval();

    // Check the contract with a probe image: batch 1, 3 channels, sides a multiple of the
    // patch size, output 1 x C x h x w with the same patch size along both axes.
    const int declaredPatch = intAttribute(d_->module, "patch_size", 0);
    const int probe = declaredPatch > 0 ? 16 * declaredPatch : 224;
    c10::InferenceMode guard;
    const at::Tensor input = at::zeros({1, 3, probe, probe}).to(d_->device);
    const at::Tensor out = runModule(d_->module, input, where);
    const std::int64_t h = out.size(2), w = out.size(3);
    if (out.size(1) < 1 || h < 1 || w < 1 || probe % h != 0 || probe % w != 0 || h != w)
        throw Error(where + "forward() maps a " + shapeOf(input) + " input to " + shapeOf(out) +
                    ", which is no patch grid (the contract is 1 x C x H/p x W/p)");
    patch_ = int(probe / h);
    if (declaredPatch > 0 && patch_ != declaredPatch)
        throw Error(where + "the module declares patch_size " + std::to_string(declaredPatch) +
                    " but maps " + std::to_string(probe) + " pixels to " + std::to_string(h) +
                    " features");
    dim_ = int(out.size(1));
    resize_ = intAttribute(d_->module, "resize", patch_ == 14 ? 322 : 320);
    if (d_->module.hasattr("threshold") && d_->module.attr("threshold").isDouble())
        threshold_ = float(d_->module.attr("threshold").toDouble());
}

TorchScriptBackbone::~TorchScriptBackbone() = default;

FeatureMap TorchScriptBackbone::extract(const cv::Mat& rgb)
{
    const std::string where = "TorchScript backbone '" + path_ + "': ";
    if (rgb.empty() || rgb.type() != CV_8UC3)
        throw Error(where + "expected a non-empty 8-bit RGB image (CV_8UC3)");
    if (rgb.rows % patch_ || rgb.cols % patch_)
        throw Error(where + "the image is " + std::to_string(rgb.cols) + "x" +
                    std::to_string(rgb.rows) + " pixels; both sides must be multiples of " +
                    std::to_string(patch_));
    std::vector<float> normalized = imagenetNormalize(rgb);
    c10::InferenceMode guard;
    // As VitThreading::SerialElementwise: elementwise work on this thread when OpenBLAS has
    // its own pool (a traced module cannot be split by rows as the native ViT is).
    const detail::SerialAtenOps serial(d_->device == at::kCPU && detail::blasHasOwnThreadPool());
    at::Tensor input = at::from_blob(normalized.data(), {1, 3, rgb.rows, rgb.cols},
                                     at::TensorOptions().dtype(at::kFloat));
    if (d_->device != at::kCPU)
        input = input.to(d_->device);
    const at::Tensor out = runModule(d_->module, input, where);
    const int rows = rgb.rows / patch_, cols = rgb.cols / patch_;
    if (out.size(1) != dim_ || out.size(2) != rows || out.size(3) != cols)
        throw Error(where + "forward() returns " + shapeOf(out) + " for a " + shapeOf(input) +
                    " input; expected [1, " + std::to_string(dim_) + ", " + std::to_string(rows) +
                    ", " + std::to_string(cols) + "]");
    FeatureMap features(dim_, rows, cols);
    at::Tensor view = at::from_blob(features.values.data(), {dim_, rows, cols},
                                    at::TensorOptions().dtype(at::kFloat));
    view.copy_(out[0]);
    return features;
}

} // namespace primaps
