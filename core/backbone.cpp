// SPDX-License-Identifier: MIT
#include "backbone.h"

#include "error.h"
#include "filterbank.h"

namespace primaps {

std::vector<std::string> availableBackbones() { return {"filterbank"}; }

std::unique_ptr<Backbone> createBackbone(const std::string& name, const BackboneOptions& options)
{
    (void)options;
    if (name == "filterbank")
        return std::make_unique<FilterBankBackbone>();
    std::string known;
    for (const std::string& n : availableBackbones())
        known += (known.empty() ? "" : ", ") + n;
    throw Error("unknown backbone '" + name + "' (available: " + known + ")");
}

} // namespace primaps
