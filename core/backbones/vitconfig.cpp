// SPDX-License-Identifier: MIT
// What a DINO or DINOv2 checkpoint's keys and shapes say about its architecture,
// and the names and descriptions of the architectures (VitConfig). vit.cpp builds
// the network from it.
#include "backbones/vitconfig_p.h"

#include "backbones/checkpoint_p.h"
#include "support/error.h"

#include <algorithm>
#include <cmath>
#include <regex>
#include <set>
#include <vector>

namespace primaps {

const char* toString(VitFamily family)
{
    return family == VitFamily::Dino ? "DINO" : "DINOv2";
}

std::string VitConfig::sizeLetter() const
{
    if (embedDim == 384 && depth == 12)
        return "S";
    if (embedDim == 768 && depth == 12)
        return "B";
    if (embedDim == 1024 && depth == 24)
        return "L";
    if (embedDim == 1536 && depth == 40)
        return "g";
    return "";
}

std::string VitConfig::registryName() const
{
    const std::string size = sizeLetter();
    if (numHeads * 64 != embedDim || mlpHidden != 4 * embedDim || !qkvBias || !projBias || !mlpBias)
        return "";
    if (family == VitFamily::Dino && !layerScale && (size == "S" || size == "B") &&
        (patchSize == 8 || patchSize == 16))
        return std::string("dino_vit") + (size == "S" ? "s" : "b") + std::to_string(patchSize);
    if (family == VitFamily::Dinov2 && layerScale && (size == "S" || size == "B") &&
        patchSize == 14)
        return std::string("dinov2_vit") + (size == "S" ? "s" : "b") + "14";
    return "";
}

std::string VitConfig::description() const
{
    const std::string size = sizeLetter();
    return std::string(toString(family)) + " ViT-" + (size.empty() ? "custom" : size) + "/" +
           std::to_string(patchSize) + " (" + std::to_string(embedDim) + "-d, " +
           std::to_string(depth) + " blocks, " + std::to_string(numHeads) + " heads)";
}

namespace detail {

std::string shapeOf(const at::Tensor& t)
{
    std::string s = "[";
    for (std::int64_t i = 0; i < t.dim(); ++i)
        s += (i ? ", " : "") + std::to_string(t.size(i));
    return s + "]";
}

// The state dict with DINOv2's chunked block keys (blocks.<chunk>.<i>.x, FSDP training
// checkpoints) renamed to the flat layout (blocks.<i>.x) that the hub files use.
TensorMap normalisedKeys(const StateDict& weights)
{
    static const std::regex chunked(R"(^blocks\.(\d+)\.(\d+)\.(.+)$)");
    TensorMap out;
    for (const auto& [name, tensor] : weights.impl().tensors) {
        std::smatch m;
        std::string key = name;
        if (std::regex_match(name, m, chunked))
            key = "blocks." + m[2].str() + "." + m[3].str();
        if (!out.emplace(key, tensor).second)
            throw Error("checkpoint '" + weights.source() + "': key '" + name +
                        "' appears twice after renaming chunked blocks");
    }
    return out;
}

[[noreturn]] void fail(const StateDict& weights, const std::string& problem)
{
    throw Error("checkpoint '" + weights.source() + "': " + problem);
}

const at::Tensor& require(const TensorMap& map, const StateDict& weights, const std::string& key,
                          std::int64_t rank)
{
    auto it = map.find(key);
    if (it == map.end())
        fail(
            weights, "missing key '" + key + "'; not a DINO/DINOv2 ViT backbone (keys: " + [&] {
                std::string s;
                int shown = 0;
                for (const auto& entry : map) {
                    if (++shown > 6) {
                        s += ", ...";
                        break;
                    }
                    s += (s.empty() ? "" : ", ") + entry.first;
                }
                return s.empty() ? std::string("none") : s;
            }() + ")");
    if (it->second.dim() != rank)
        fail(weights, "key '" + key + "' has shape " + shapeOf(it->second) + ", expected " +
                          std::to_string(rank) + " dimensions");
    return it->second;
}

VitConfig detect(const TensorMap& map, const StateDict& weights, const VitOptions& options)
{
    if (map.count("register_tokens"))
        fail(weights, "DINOv2 with register tokens is not supported (key 'register_tokens')");
    for (const auto& entry : map)
        if (entry.first.find(".mlp.w12.") != std::string::npos)
            fail(weights, "SwiGLU feed-forward layers (ViT-g) are not supported (key '" +
                              entry.first + "')");

    VitConfig c;
    const at::Tensor& patch = require(map, weights, "patch_embed.proj.weight", 4);
    const at::Tensor& pos = require(map, weights, "pos_embed", 3);
    require(map, weights, "cls_token", 3);
    require(map, weights, "norm.weight", 1);
    if (patch.size(1) != 3 || patch.size(2) != patch.size(3))
        fail(weights,
             "patch_embed.proj.weight has shape " + shapeOf(patch) + ", expected [dim, 3, p, p]");
    c.embedDim = int(patch.size(0));
    c.patchSize = int(patch.size(2));
    if (c.patchSize < 1 || c.embedDim < 1)
        fail(weights, "patch_embed.proj.weight has an empty shape " + shapeOf(patch));
    const std::int64_t gridTokens = pos.size(1) - 1;
    const auto side =
        std::int64_t(std::llround(std::sqrt(double(std::max<std::int64_t>(gridTokens, 0)))));
    if (pos.size(0) != 1 || pos.size(2) != c.embedDim || gridTokens < 1 ||
        side * side != gridTokens)
        fail(weights, "pos_embed has shape " + shapeOf(pos) + ", expected [1, 1 + M*M, " +
                          std::to_string(c.embedDim) + "]");
    c.posGrid = int(side);

    static const std::regex blockKey(R"(^blocks\.(\d+)\.)");
    std::set<int> indices;
    for (const auto& entry : map) {
        std::smatch m;
        if (std::regex_search(entry.first, m, blockKey)) {
            const std::string digits = m[1].str();
            if (digits.size() > 4)
                fail(weights, "block index in '" + entry.first + "' is implausible");
            indices.insert(std::stoi(digits));
        }
    }
    if (indices.empty())
        fail(weights, "no transformer blocks (no 'blocks.<i>.' keys)");
    c.depth = *indices.rbegin() + 1;
    for (int i = 0; i < c.depth; ++i)
        if (!indices.count(i))
            fail(weights, "block " + std::to_string(i) + " of " + std::to_string(c.depth) +
                              " is missing (no 'blocks." + std::to_string(i) + ".' keys)");

    const at::Tensor& fc1 = require(map, weights, "blocks.0.mlp.fc1.weight", 2);
    c.mlpHidden = int(fc1.size(0));
    c.layerScale = map.count("blocks.0.ls1.gamma") > 0;
    c.family = (c.layerScale || map.count("mask_token")) ? VitFamily::Dinov2 : VitFamily::Dino;
    c.qkvBias = map.count("blocks.0.attn.qkv.bias") > 0;
    c.projBias = map.count("blocks.0.attn.proj.bias") > 0;
    c.mlpBias = map.count("blocks.0.mlp.fc1.bias") > 0;

    if (options.numHeads > 0) {
        c.numHeads = options.numHeads;
    } else {
        if (c.embedDim % 64 != 0)
            fail(weights, "cannot infer the number of attention heads for " +
                              std::to_string(c.embedDim) +
                              "-d tokens (released models use 64-d heads); give it explicitly");
        c.numHeads = c.embedDim / 64;
    }
    if (c.embedDim % c.numHeads != 0)
        fail(weights, std::to_string(c.embedDim) + "-d tokens do not split into " +
                          std::to_string(c.numHeads) + " heads");
    return c;
}

} // namespace detail

VitConfig detectVitConfig(const StateDict& weights, const VitOptions& options)
{
    return detail::detect(detail::normalisedKeys(weights), weights, options);
}

} // namespace primaps
