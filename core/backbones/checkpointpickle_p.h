// SPDX-License-Identifier: MIT
// Private to the checkpoint reader (checkpoint.cpp, checkpointpickle.cpp): the value
// graph a pickle builds, the restricted unpickler that builds it, and the interface
// through which it asks the archive for tensor storages. Includes LibTorch, so it
// never reaches a public header.
#pragma once

#include "backbones/checkpoint.h"
#include "support/error.h"

#include <ATen/ATen.h>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

namespace caffe2::serialize {
class PyTorchStreamReader;
}

namespace primaps::pickle {

struct StorageKind
{
    const char* global; // name in module "torch"
    at::ScalarType scalar;
    TensorType type;
};

// The typed storages that torch.save names (the legacy class names are kept by every
// PyTorch version for compatibility).
inline constexpr StorageKind kStorageKinds[] = {
    {"FloatStorage", at::kFloat, TensorType::Float32},
    {"HalfStorage", at::kHalf, TensorType::Float16},
    {"BFloat16Storage", at::kBFloat16, TensorType::BFloat16},
    {"DoubleStorage", at::kDouble, TensorType::Float64},
    {"LongStorage", at::kLong, TensorType::Int64},
    {"IntStorage", at::kInt, TensorType::Int32},
    {"ShortStorage", at::kShort, TensorType::Int16},
    {"CharStorage", at::kChar, TensorType::Int8},
    {"ByteStorage", at::kByte, TensorType::UInt8},
    {"BoolStorage", at::kBool, TensorType::Bool},
};

// ---- the value graph --------------------------------------------------------------------

enum class Kind : std::uint8_t
{
    None,
    Bool,
    Int,
    Float,
    String,
    Bytes,
    Tuple,
    List,
    Dict,
    Global,
    Storage,
    Tensor,
    Object, // argparse.Namespace: an inert attribute record
};

const char* kindName(Kind kind);

using NodeId = std::uint32_t;

// Nodes live in one arena and refer to each other by index, so shared and even cyclic
// references (the memo allows both) need no reference counting and free in one go.
struct Node
{
    Kind kind = Kind::None;
    bool boolean = false;
    std::int64_t integer = 0;
    double real = 0.0;
    std::string text;          // String, Bytes; Global: "module.name"
    std::vector<NodeId> items; // Tuple, List; Dict: key, value, key, value...
    std::unordered_map<std::string, std::size_t> stringKeys; // Dict: string key -> item pair
    NodeId state = 0; // Dict (OrderedDict attributes) / Object; 0 = none
    bool hasState = false;
    at::Tensor tensor; // Storage (1-D, whole storage) / Tensor (view)
};

// Globals a state dict may name. Anything else is refused as soon as it is read.
enum class Global
{
    OrderedDict,
    RebuildTensorV2,
    RebuildParameter,
    RebuildParameterWithState,
    RebuildFromTypeV2,
    TensorType,
    ParameterType,
    Namespace,
    Storage,
};

// The part of the archive the unpickler needs: storages by key, loaded on demand
// (checkpoint.cpp reads them from the zip archive).
class StorageSource
{
public:
    StorageSource(caffe2::serialize::PyTorchStreamReader& reader, bool bigEndian)
        : reader_(reader), bigEndian_(bigEndian)
    {
    }

    /// The whole storage `key` as a 1-D tensor of `numel` elements of `kind`; loading
    /// the same key again returns the same storage. Throws primaps::Error (without the
    /// file name) when the record is missing or its size disagrees.
    at::Tensor load(const std::string& key, const StorageKind& kind, std::int64_t numel);

private:
    caffe2::serialize::PyTorchStreamReader& reader_;
    bool bigEndian_;
    std::unordered_map<std::string, at::Tensor> loaded_;
};

// ---- the restricted unpickler ------------------------------------------------------------

class Unpickler
{
public:
    Unpickler(const char* data, std::size_t size, StorageSource& storages)
        : data_(reinterpret_cast<const unsigned char*>(data)), size_(size), storages_(storages)
    {
        nodes_.emplace_back(); // id 0: the shared None
    }

    NodeId run();
    const Node& node(NodeId id) const { return nodes_[id]; }

private:
    [[noreturn]] void fail(const std::string& what) const
    {
        throw Error(what + " (data.pkl byte " + std::to_string(opcodeAt_) + ")");
    }

    // -- input
    void need(std::size_t n) const
    {
        if (n > size_ - pos_)
            fail("pickle ends in the middle of an instruction (truncated or damaged)");
    }
    std::uint8_t byte()
    {
        need(1);
        return data_[pos_++];
    }
    std::uint64_t uintLE(int n)
    {
        need(std::size_t(n));
        std::uint64_t v = 0;
        for (int i = 0; i < n; ++i)
            v |= std::uint64_t(data_[pos_ + std::size_t(i)]) << (8 * i);
        pos_ += std::size_t(n);
        return v;
    }
    std::string bytes(std::uint64_t n)
    {
        if (n > size_ - pos_)
            fail("pickle declares a string of " + std::to_string(n) +
                 " bytes, longer than the rest of the file");
        std::string s(reinterpret_cast<const char*>(data_ + pos_), std::size_t(n));
        pos_ += std::size_t(n);
        return s;
    }
    std::string line()
    {
        const std::size_t limit = std::min(size_, pos_ + 256);
        for (std::size_t i = pos_; i < limit; ++i)
            if (data_[i] == '\n') {
                std::string s(reinterpret_cast<const char*>(data_ + pos_), i - pos_);
                pos_ = i + 1;
                return s;
            }
        fail("GLOBAL name is not terminated by a newline");
    }

    // -- nodes and the stack
    NodeId make(Kind kind)
    {
        if (nodes_.size() >= std::numeric_limits<NodeId>::max() - 1)
            fail("pickle is too large");
        nodes_.emplace_back();
        nodes_.back().kind = kind;
        return NodeId(nodes_.size() - 1);
    }
    NodeId makeInt(std::int64_t v)
    {
        const NodeId id = make(Kind::Int);
        nodes_[id].integer = v;
        return id;
    }
    NodeId makeText(Kind kind, std::string s)
    {
        const NodeId id = make(kind);
        nodes_[id].text = std::move(s);
        return id;
    }
    std::size_t fence() const { return marks_.empty() ? 0 : marks_.back(); }
    void push(NodeId id) { stack_.push_back(id); }
    NodeId pop()
    {
        if (stack_.size() <= fence())
            fail("pickle stack underflow");
        const NodeId id = stack_.back();
        stack_.pop_back();
        return id;
    }
    NodeId& top()
    {
        if (stack_.size() <= fence())
            fail("pickle stack underflow");
        return stack_.back();
    }
    std::vector<NodeId> popMark()
    {
        if (marks_.empty())
            fail("pickle uses a MARK that was never set");
        const std::size_t mark = marks_.back();
        marks_.pop_back();
        std::vector<NodeId> items(stack_.begin() + std::ptrdiff_t(mark), stack_.end());
        stack_.resize(mark);
        return items;
    }
    Node& expect(NodeId id, Kind kind, const char* what)
    {
        Node& n = nodes_[id];
        if (n.kind != kind)
            fail(std::string(what) + " must be a " + kindName(kind) + ", not a " +
                 kindName(n.kind));
        return n;
    }

    // -- containers
    void setItem(NodeId dict, NodeId key, NodeId value)
    {
        Node& d = nodes_[dict];
        if (d.kind != Kind::Dict)
            fail(std::string("SETITEM on a ") + kindName(d.kind) + ", not a dict");
        const Node& k = nodes_[key];
        if (k.kind == Kind::String) {
            auto it = d.stringKeys.find(k.text);
            if (it != d.stringKeys.end()) {
                d.items[it->second + 1] = value; // Python keeps the first position
                return;
            }
            d.stringKeys.emplace(k.text, d.items.size());
        }
        d.items.push_back(key);
        d.items.push_back(value);
    }
    void append(NodeId list, NodeId value)
    {
        Node& l = nodes_[list];
        if (l.kind != Kind::List)
            fail(std::string("APPEND to a ") + kindName(l.kind) + ", not a list");
        l.items.push_back(value);
    }

    // -- globals and their "calls"
    NodeId global(const std::string& module, const std::string& name);
    NodeId call(NodeId callable, NodeId args, bool newobj, int depth = 0);
    NodeId rebuildTensor(const std::vector<NodeId>& args);
    NodeId persistentLoad(NodeId pid);
    std::vector<std::int64_t> intTuple(NodeId id, const char* what);

    const unsigned char* data_;
    std::size_t size_;
    std::size_t pos_ = 0;
    std::size_t opcodeAt_ = 0;
    StorageSource& storages_;
    std::deque<Node> nodes_; // a deque: references stay valid while nodes are added
    std::vector<NodeId> stack_;
    std::vector<std::size_t> marks_;
    std::unordered_map<std::uint64_t, NodeId> memo_;
    std::unordered_map<std::string, Global> globalKinds_;
};

} // namespace primaps::pickle
