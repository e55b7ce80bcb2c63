// SPDX-License-Identifier: MIT
#include "backbones/backbone.h"

#include "support/error.h"
#include "backbones/filterbank.h"
#include "backbones/modelcatalog.h"
#include "backbones/torchscriptbackbone.h"
#include "backbones/vitbackbone.h"

namespace primaps {

std::vector<std::string> availableBackbones()
{
    std::vector<std::string> names = {"filterbank", "filterbank-v1"};
    for (const ModelInfo& model : modelCatalog())
        names.push_back(model.name);
    names.push_back("torchscript");
    return names;
}

int backboneVersion(const std::string& name)
{
    if (name == "filterbank")
        return FilterBankBackbone::kVersion;
    if (name == "filterbank-v1")
        return 1;
    return 0;
}

int backbonePatchSize(const std::string& name)
{
    if (name == "filterbank")
        return FilterBankBackbone::kPatchSize;
    if (name == "filterbank-v1")
        return FilterBankV1Backbone::kPatchSize;
    if (const ModelInfo* model = findModel(name))
        return model->patchSize;
    return 0;
}

std::string backboneFromRecord(const std::string& recorded, int version)
{
    if (recorded != "filterbank")
        return recorded;
    if (version == 0 || version == 1)
        return "filterbank-v1";
    if (version == FilterBankBackbone::kVersion)
        return "filterbank";
    throw Error("filterbank version " + std::to_string(version) +
                " is unknown to this build (it knows 1 and " +
                std::to_string(FilterBankBackbone::kVersion) + ")");
}

std::unique_ptr<Backbone> createBackbone(const std::string& name, const BackboneOptions& options)
{
    if (name == "filterbank" || name == "filterbank-v1") {
        if (options.useCuda)
            throw Error("the " + name + " backbone runs on the CPU only; CUDA applies to the ViT "
                        "and TorchScript backbones");
        if (name == "filterbank-v1")
            return std::make_unique<FilterBankV1Backbone>();
        return std::make_unique<FilterBankBackbone>();
    }
    if (findModel(name)) {
        VitOptions vit;
        vit.useCuda = options.useCuda;
        return std::make_unique<VitBackbone>(name, options.weightsPath, vit);
    }
    if (name == "torchscript")
        return std::make_unique<TorchScriptBackbone>(options.weightsPath, options.useCuda);
    std::string known;
    for (const std::string& n : availableBackbones())
        known += (known.empty() ? "" : ", ") + n;
    throw Error("unknown backbone '" + name + "' (available: " + known + ")");
}

} // namespace primaps
