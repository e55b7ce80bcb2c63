// SPDX-License-Identifier: MIT
// Private to core (and tests that link LibTorch): the LibTorch side of StateDict.
#pragma once

#include "backbones/checkpoint.h"

#include <ATen/core/Tensor.h>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace primaps {

struct StateDict::Impl
{
    std::string source;
    std::string section;
    std::vector<std::string> strippedPrefixes;
    std::vector<std::string> skippedKeys;
    /// In file order. Tensors are CPU views of the storages read from the file and keep
    /// their stored dtype; several may share one storage.
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    std::unordered_map<std::string, std::size_t> index;

    /// nullptr when there is no such key.
    const at::Tensor* find(const std::string& name) const;
    /// Throws primaps::Error naming the key and the file when there is no such key.
    const at::Tensor& tensor(const std::string& name) const;
    void add(std::string name, at::Tensor tensor);
};

/// First line of a LibTorch (c10::Error, without its backtrace) or other
/// exception's message, for one-line user errors.
std::string firstErrorLine(const std::exception& e);

} // namespace primaps
