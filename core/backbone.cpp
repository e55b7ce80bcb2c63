// SPDX-License-Identifier: MIT
#include "backbone.h"

#include "error.h"
#include "filterbank.h"
#include "modelcatalog.h"
#include "torchscriptbackbone.h"
#include "vitbackbone.h"

namespace primaps {

std::vector<std::string> availableBackbones()
{
    std::vector<std::string> names = {"filterbank"};
    for (const ModelInfo& model : modelCatalog())
        names.push_back(model.name);
    names.push_back("torchscript");
    return names;
}

std::unique_ptr<Backbone> createBackbone(const std::string& name, const BackboneOptions& options)
{
    if (name == "filterbank") {
        if (options.useCuda)
            throw Error("the filterbank backbone runs on the CPU only; CUDA applies to the ViT "
                        "and TorchScript backbones");
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
