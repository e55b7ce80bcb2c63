// SPDX-License-Identifier: MIT
// A ViT checkpoint's keys and the architecture they describe (vitconfig.cpp), for
// vit.cpp, which builds the network and copies the parameters.
#pragma once

#include "backbones/checkpoint.h"
#include "backbones/vit.h"

#include <ATen/ATen.h>
#include <map>
#include <string>

namespace primaps::detail {

using TensorMap = std::map<std::string, at::Tensor>;

/// "[384, 3, 8, 8]".
std::string shapeOf(const at::Tensor& t);
/// The state dict with DINOv2's chunked block keys renamed to the flat layout.
TensorMap normalisedKeys(const StateDict& weights);
/// Throws primaps::Error "checkpoint 'SOURCE': PROBLEM".
[[noreturn]] void fail(const StateDict& weights, const std::string& problem);
/// The architecture the keys and shapes describe (family, size, patch, heads...).
VitConfig detect(const TensorMap& map, const StateDict& weights, const VitOptions& options);

} // namespace primaps::detail
