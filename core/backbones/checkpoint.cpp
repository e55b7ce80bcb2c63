// SPDX-License-Identifier: MIT
// A restricted unpickler for PyTorch state dicts. Pickle is a small stack machine whose
// GLOBAL/REDUCE opcodes normally import and call arbitrary Python; here the machine
// only builds inert values (numbers, strings, containers, tensors), every global is
// checked against a short allow-list when it is read, and "calling" an allowed global
// is a C++ function that builds the value it stands for. Nothing from the file is ever
// executed. Every read is bounds-checked so that a damaged file ends in primaps::Error.
//
// This file reads the archive (its records and tensor storages), chooses the state
// dict inside the unpickled value and makes the StateDict; the unpickler itself is in
// checkpointpickle.cpp.

#include "backbones/checkpoint.h"

#include "backbones/checkpoint_p.h"
#include "backbones/checkpointpickle_p.h"
#include "support/error.h"

#include <algorithm>
#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <caffe2/serialize/inline_container.h>
#include <cctype>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

namespace primaps {

// ---- TensorType / TensorInfo ----------------------------------------------------------

const char* toString(TensorType type)
{
    switch (type) {
    case TensorType::Float32:
        return "float32";
    case TensorType::Float16:
        return "float16";
    case TensorType::BFloat16:
        return "bfloat16";
    case TensorType::Float64:
        return "float64";
    case TensorType::Int64:
        return "int64";
    case TensorType::Int32:
        return "int32";
    case TensorType::Int16:
        return "int16";
    case TensorType::Int8:
        return "int8";
    case TensorType::UInt8:
        return "uint8";
    case TensorType::Bool:
        return "bool";
    }
    return "?";
}

std::int64_t TensorInfo::elementCount() const
{
    std::int64_t n = 1;
    for (std::int64_t s : shape)
        n *= s;
    return n;
}

std::string TensorInfo::shapeString() const
{
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i)
        s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

namespace pickle {

// ---- the storage reader ---------------------------------------------------------------------

namespace {

void swapBytes(char* p, std::size_t bytes, std::size_t elementSize)
{
    for (std::size_t i = 0; i + elementSize <= bytes; i += elementSize)
        std::reverse(p + i, p + i + elementSize);
}

} // namespace

at::Tensor StorageSource::load(const std::string& key, const StorageKind& kind, std::int64_t numel)
{
    auto it = loaded_.find(key);
    if (it != loaded_.end()) {
        if (it->second.scalar_type() != kind.scalar || it->second.numel() != numel)
            throw Error("storage '" + key +
                        "' is declared twice with different types or sizes");
        return it->second;
    }
    if (key.empty() || key.size() > 64 || !std::all_of(key.begin(), key.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' ||
                   c == '-';
        }))
        throw Error("storage key '" + key.substr(0, 64) + "' is not a plain record name");
    const std::string record = "data/" + key;
    if (!reader_.hasRecord(record))
        throw Error("storage record '" + record + "' is missing from the archive");
    if (numel < 0)
        throw Error("storage '" + key + "' declares a negative size");
    const std::size_t elementSize = c10::elementSize(kind.scalar);
    auto [data, bytes] = reader_.getRecord(record);
    if (std::uint64_t(numel) > std::numeric_limits<std::uint64_t>::max() / elementSize ||
        std::uint64_t(numel) * elementSize != bytes)
        throw Error("storage '" + key + "' declares " + std::to_string(numel) + " " +
                    toString(kind.type) + " elements (" +
                    std::to_string(std::uint64_t(numel) * elementSize) +
                    " bytes) but its record holds " + std::to_string(bytes) + " bytes");
    if (bigEndian_ && elementSize > 1)
        swapBytes(static_cast<char*>(data.get()), bytes, elementSize);
    c10::Storage storage(c10::Storage::use_byte_size_t(), bytes, std::move(data), nullptr,
                         false);
    at::Tensor tensor = at::empty({0}, at::TensorOptions().dtype(kind.scalar));
    tensor.set_(storage, 0, {numel}, {1});
    loaded_.emplace(key, tensor);
    return tensor;
}

} // namespace pickle

namespace {

using namespace pickle;

TensorType tensorTypeOf(at::ScalarType scalar)
{
    for (const StorageKind& kind : kStorageKinds)
        if (kind.scalar == scalar)
            return kind.type;
    return TensorType::Float32; // unreachable: only the kinds above are ever created
}

// ---- choosing the state dict --------------------------------------------------------------

bool holdsTensors(const Unpickler& u, const Node& dict)
{
    for (std::size_t i = 0; i + 1 < dict.items.size(); i += 2)
        if (u.node(dict.items[i]).kind == Kind::String &&
            u.node(dict.items[i + 1]).kind == Kind::Tensor)
            return true;
    return false;
}

const Node* dictEntry(const Unpickler& u, const Node& dict, const std::string& key)
{
    auto it = dict.stringKeys.find(key);
    if (it == dict.stringKeys.end())
        return nullptr;
    return &u.node(dict.items[it->second + 1]);
}

std::string keyList(const Unpickler& u, const Node& dict)
{
    std::string s;
    int shown = 0;
    for (std::size_t i = 0; i + 1 < dict.items.size(); i += 2) {
        const Node& k = u.node(dict.items[i]);
        if (k.kind != Kind::String)
            continue;
        if (++shown > 12) {
            s += ", ...";
            break;
        }
        s += (s.empty() ? "'" : ", '") + k.text.substr(0, 40) + "'";
    }
    return s.empty() ? "no named entries" : s;
}

const Node& selectSection(const Unpickler& u, const Node& root, const StateDictOptions& options,
                          std::string& sectionOut)
{
    if (root.kind != Kind::Dict)
        throw Error(std::string("the file holds a ") + kindName(root.kind) +
                    ", not a dictionary of tensors");
    const Node* current = &root;
    if (!options.section.empty()) {
        std::stringstream path(options.section);
        std::string part;
        while (std::getline(path, part, '.')) {
            const Node* next = dictEntry(u, *current, part);
            if (!next)
                throw Error("it has no section '" + options.section +
                            "' (entries: " + keyList(u, *current) + ")");
            if (next->kind != Kind::Dict)
                throw Error("its section '" + options.section + "' is a " + kindName(next->kind) +
                            ", not a dictionary");
            current = next;
        }
        if (!holdsTensors(u, *current))
            throw Error("its section '" + options.section + "' holds no tensors");
        sectionOut = options.section;
        return *current;
    }
    static const char* const kPreferred[] = {"teacher", "model", "state_dict", "student", "module"};
    for (int depth = 0; depth < 8; ++depth) {
        if (holdsTensors(u, *current))
            return *current;
        const Node* next = nullptr;
        for (const char* key : kPreferred) {
            const Node* candidate = dictEntry(u, *current, key);
            if (candidate && candidate->kind == Kind::Dict) {
                next = candidate;
                sectionOut += (sectionOut.empty() ? "" : ".") + std::string(key);
                break;
            }
        }
        if (!next)
            break;
        current = next;
    }
    throw Error("it holds no tensors at the top level and no 'teacher', 'model', 'state_dict', "
                "'student' or 'module' section with tensors (entries: " +
                keyList(u, *current) + ")");
}

} // namespace

// ---- StateDict ------------------------------------------------------------------------------

const at::Tensor* StateDict::Impl::find(const std::string& name) const
{
    auto it = index.find(name);
    return it == index.end() ? nullptr : &tensors[it->second].second;
}

const at::Tensor& StateDict::Impl::tensor(const std::string& name) const
{
    const at::Tensor* t = find(name);
    if (!t)
        throw Error("checkpoint '" + source + "' has no tensor '" + name + "'");
    return *t;
}

void StateDict::Impl::add(std::string name, at::Tensor tensor)
{
    auto it = index.find(name);
    if (it != index.end()) {
        tensors[it->second].second = std::move(tensor);
        return;
    }
    index.emplace(name, tensors.size());
    tensors.emplace_back(std::move(name), std::move(tensor));
}

StateDict::StateDict() : d_(std::make_unique<Impl>()) {}
StateDict::~StateDict() = default;
StateDict::StateDict(StateDict&&) noexcept = default;
StateDict& StateDict::operator=(StateDict&&) noexcept = default;

const std::string& StateDict::source() const
{
    return d_->source;
}
const std::string& StateDict::section() const
{
    return d_->section;
}
const std::vector<std::string>& StateDict::strippedPrefixes() const
{
    return d_->strippedPrefixes;
}
const std::vector<std::string>& StateDict::skippedKeys() const
{
    return d_->skippedKeys;
}
std::size_t StateDict::size() const
{
    return d_->tensors.size();
}
bool StateDict::contains(const std::string& name) const
{
    return d_->find(name) != nullptr;
}

std::vector<std::string> StateDict::names() const
{
    std::vector<std::string> out;
    out.reserve(d_->tensors.size());
    for (const auto& entry : d_->tensors)
        out.push_back(entry.first);
    return out;
}

TensorInfo StateDict::info(const std::string& name) const
{
    const at::Tensor& t = d_->tensor(name);
    TensorInfo info;
    info.name = name;
    info.type = tensorTypeOf(t.scalar_type());
    info.shape = t.sizes().vec();
    return info;
}

std::vector<float> StateDict::values(const std::string& name) const
{
    const at::Tensor t = d_->tensor(name).to(at::kFloat).contiguous();
    const float* p = t.data_ptr<float>();
    return std::vector<float>(p, p + t.numel());
}

// ---- readStateDict ----------------------------------------------------------------------------

StateDict readStateDict(const std::string& path, const StateDictOptions& options)
{
    const std::string where = "checkpoint '" + path + "': ";
    {
        std::ifstream probe(path, std::ios::binary);
        if (!probe)
            throw Error(where + "cannot open the file (missing or unreadable)");
        char head[262] = {};
        probe.read(head, sizeof head);
        const std::streamsize got = probe.gcount();
        if (got >= 2 && static_cast<unsigned char>(head[0]) == 0x80)
            throw Error(
                where +
                "written in the legacy format of PyTorch < 1.6, which is not "
                "supported; re-save it with a current PyTorch (torch.save(torch.load(f), f))");
        if (got >= 262 && std::memcmp(head + 257, "ustar", 5) == 0)
            throw Error(where + "a tar archive (the legacy format of PyTorch < 1.0); re-save it "
                                "with a current PyTorch");
        if (got < 4 || std::memcmp(head, "PK\x03\x04", 4) != 0)
            throw Error(where + "not a PyTorch checkpoint (it is not a zip archive)");
    }

    std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
    try {
        reader = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
    } catch (const std::exception& e) {
        throw Error(where + "damaged or truncated archive (" + firstErrorLine(e) + ")");
    }

    StateDict result;
    StateDict::Impl& d = result.impl();
    d.source = path;
    try {
        if (!reader->hasRecord("data.pkl")) {
            if (reader->hasRecord("constants.pkl") || reader->hasRecord("code/"))
                throw Error("a TorchScript module, not a state dict; use the 'torchscript' "
                            "backbone for it");
            throw Error("the archive has no data.pkl record; it was not written by torch.save");
        }
        bool bigEndian = false;
        if (reader->hasRecord("byteorder")) {
            auto [ptr, n] = reader->getRecord("byteorder");
            const std::string order(static_cast<const char*>(ptr.get()), n);
            if (order == "big")
                bigEndian = true;
            else if (order != "little")
                throw Error("unknown byte order '" + order.substr(0, 16) + "'");
        }
        auto [pickle, pickleSize] = reader->getRecord("data.pkl");
        StorageSource storages(*reader, bigEndian);
        Unpickler unpickler(static_cast<const char*>(pickle.get()), pickleSize, storages);
        const NodeId rootId = unpickler.run();

        const Node& dict = selectSection(unpickler, unpickler.node(rootId), options, d.section);
        struct Entry
        {
            std::string original; // the key as the file spells it
            std::string name;     // after prefix removal
            at::Tensor tensor;
        };
        std::vector<Entry> entries;
        for (std::size_t i = 0; i + 1 < dict.items.size(); i += 2) {
            const Node& key = unpickler.node(dict.items[i]);
            const Node& value = unpickler.node(dict.items[i + 1]);
            if (key.kind != Kind::String)
                continue;
            if (value.kind == Kind::Tensor)
                entries.push_back({key.text, key.text, value.tensor});
            else
                d.skippedKeys.push_back(key.text);
        }
        if (options.stripPrefixes) {
            auto strip = [&](const std::string& prefix, bool keepOnlyPrefixed) {
                auto hasPrefix = [&](const Entry& e) {
                    return e.name.compare(0, prefix.size(), prefix) == 0;
                };
                if (!std::any_of(entries.begin(), entries.end(), hasPrefix))
                    return;
                std::vector<Entry> kept;
                for (Entry& e : entries) {
                    if (hasPrefix(e)) {
                        e.name.erase(0, prefix.size());
                        kept.push_back(std::move(e));
                    } else if (keepOnlyPrefixed) {
                        d.skippedKeys.push_back(e.original);
                    } else {
                        kept.push_back(std::move(e));
                    }
                }
                entries = std::move(kept);
                d.strippedPrefixes.push_back(prefix);
            };
            strip("module.", false);
            strip("backbone.", true);
        }
        for (Entry& e : entries)
            d.add(std::move(e.name), std::move(e.tensor));
    } catch (const Error& e) {
        throw Error(where + e.what());
    } catch (const std::exception& e) {
        // Damaged records (CRC mismatch, impossible sizes) surface as c10::Error.
        throw Error(where + "damaged archive (" + firstErrorLine(e) + ")");
    }
    return result;
}

std::string firstErrorLine(const std::exception& e)
{
    std::string message;
    if (const auto* c10error = dynamic_cast<const c10::Error*>(&e))
        message = c10error->what_without_backtrace();
    else
        message = e.what();
    const std::size_t newline = message.find('\n');
    if (newline != std::string::npos)
        message.resize(newline);
    return message;
}

} // namespace primaps
