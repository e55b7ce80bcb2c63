// SPDX-License-Identifier: MIT
// A restricted unpickler for PyTorch state dicts. Pickle is a small stack machine whose
// GLOBAL/REDUCE opcodes normally import and call arbitrary Python; here the machine
// only builds inert values (numbers, strings, containers, tensors), every global is
// checked against a short allow-list when it is read, and "calling" an allowed global
// is a C++ function that builds the value it stands for. Nothing from the file is ever
// executed. Every read is bounds-checked so that a damaged file ends in primaps::Error.
#include "checkpoint.h"

#include "checkpoint_p.h"
#include "error.h"

#include <algorithm>
#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <caffe2/serialize/inline_container.h>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <unordered_map>

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

namespace {

struct StorageKind
{
    const char* global; // name in module "torch"
    at::ScalarType scalar;
    TensorType type;
};

// The typed storages that torch.save names (the legacy class names are kept by every
// PyTorch version for compatibility).
constexpr StorageKind kStorageKinds[] = {
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

TensorType tensorTypeOf(at::ScalarType scalar)
{
    for (const StorageKind& kind : kStorageKinds)
        if (kind.scalar == scalar)
            return kind.type;
    return TensorType::Float32; // unreachable: only the kinds above are ever created
}

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

const char* kindName(Kind kind)
{
    switch (kind) {
    case Kind::None:
        return "None";
    case Kind::Bool:
        return "bool";
    case Kind::Int:
        return "int";
    case Kind::Float:
        return "float";
    case Kind::String:
        return "str";
    case Kind::Bytes:
        return "bytes";
    case Kind::Tuple:
        return "tuple";
    case Kind::List:
        return "list";
    case Kind::Dict:
        return "dict";
    case Kind::Global:
        return "global";
    case Kind::Storage:
        return "storage";
    case Kind::Tensor:
        return "tensor";
    case Kind::Object:
        return "object";
    }
    return "?";
}

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

struct AllowedGlobal
{
    const char* name;
    Global what;
};

constexpr AllowedGlobal kAllowedGlobals[] = {
    {"collections.OrderedDict", Global::OrderedDict},
    {"torch._utils._rebuild_tensor_v2", Global::RebuildTensorV2},
    {"torch._utils._rebuild_parameter", Global::RebuildParameter},
    {"torch._utils._rebuild_parameter_with_state", Global::RebuildParameterWithState},
    {"torch._tensor._rebuild_from_type_v2", Global::RebuildFromTypeV2},
    {"torch.Tensor", Global::TensorType},
    {"torch.nn.parameter.Parameter", Global::ParameterType},
    {"argparse.Namespace", Global::Namespace},
};

// The part of the archive the unpickler needs: storages by key, loaded on demand.
class StorageSource
{
public:
    StorageSource(caffe2::serialize::PyTorchStreamReader& reader, bool bigEndian)
        : reader_(reader), bigEndian_(bigEndian)
    {
    }

    at::Tensor load(const std::string& key, const StorageKind& kind, std::int64_t numel)
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

private:
    static void swapBytes(char* p, std::size_t bytes, std::size_t elementSize)
    {
        for (std::size_t i = 0; i + elementSize <= bytes; i += elementSize)
            std::reverse(p + i, p + i + elementSize);
    }

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

NodeId Unpickler::global(const std::string& module, const std::string& name)
{
    const std::string full = module + "." + name;
    std::optional<Global> what;
    for (const AllowedGlobal& allowed : kAllowedGlobals)
        if (full == allowed.name)
            what = allowed.what;
    if (!what && module == "torch")
        for (const StorageKind& kind : kStorageKinds)
            if (name == kind.global)
                what = Global::Storage;
    if (!what) {
        std::string printable;
        for (char c : full)
            printable += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
        fail("the pickle names the global '" + printable +
             "', which a state dict never needs; refusing to load it (nothing was executed)");
    }
    const NodeId id = makeText(Kind::Global, full);
    globalKinds_[full] = *what;
    return id;
}

std::vector<std::int64_t> Unpickler::intTuple(NodeId id, const char* what)
{
    const Node& t = nodes_[id];
    if (t.kind != Kind::Tuple && t.kind != Kind::List)
        fail(std::string(what) + " must be a tuple of ints, not a " + kindName(t.kind));
    std::vector<std::int64_t> out;
    for (NodeId item : t.items) {
        const Node& n = nodes_[item];
        if (n.kind != Kind::Int)
            fail(std::string(what) + " must hold ints, not a " + kindName(n.kind));
        out.push_back(n.integer);
    }
    return out;
}

NodeId Unpickler::rebuildTensor(const std::vector<NodeId>& args)
{
    // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
    //                    backward_hooks[, metadata])
    if (args.size() != 6 && args.size() != 7)
        fail("_rebuild_tensor_v2 takes 6 or 7 arguments, got " + std::to_string(args.size()));
    const Node& storageNode = expect(args[0], Kind::Storage, "a tensor's storage");
    const std::int64_t offset = expect(args[1], Kind::Int, "a tensor's storage offset").integer;
    const std::vector<std::int64_t> sizes = intTuple(args[2], "a tensor's size");
    const std::vector<std::int64_t> strides = intTuple(args[3], "a tensor's stride");
    if (nodes_[args[4]].kind != Kind::Bool && nodes_[args[4]].kind != Kind::Int)
        fail("a tensor's requires_grad must be a bool");
    const Node& hooks = nodes_[args[5]];
    if (hooks.kind != Kind::Dict || !hooks.items.empty())
        fail("a tensor carries backward hooks; a state dict never does");
    if (sizes.size() != strides.size())
        fail("a tensor's size and stride have different lengths");
    if (sizes.size() > 16)
        fail("a tensor has more than 16 dimensions");

    const at::Tensor storage = storageNode.tensor;
    const std::int64_t numel = storage.numel();
    if (offset < 0 || offset > numel)
        fail("a tensor's storage offset " + std::to_string(offset) +
             " lies outside its storage of " + std::to_string(numel) + " elements");
    bool empty = false;
    std::int64_t last = offset; // index of the last element the view touches
    for (std::size_t i = 0; i < sizes.size(); ++i) {
        if (sizes[i] < 0 || strides[i] < 0)
            fail("a tensor has a negative size or stride");
        if (sizes[i] == 0)
            empty = true;
    }
    if (!empty) {
        for (std::size_t i = 0; i < sizes.size(); ++i) {
            std::int64_t step = 0;
            if (__builtin_mul_overflow(sizes[i] - 1, strides[i], &step) ||
                __builtin_add_overflow(last, step, &last))
                fail("a tensor's size and stride overflow");
        }
        if (last >= numel)
            fail("a tensor view reaches element " + std::to_string(last) +
                 " of a storage that holds " + std::to_string(numel));
    }
    const NodeId id = make(Kind::Tensor);
    nodes_[id].tensor = storage.as_strided(sizes, strides, offset);
    return id;
}

NodeId Unpickler::call(NodeId callable, NodeId argsId, bool newobj, int depth)
{
    if (depth > 2)
        fail("tensor rebuild calls nest too deeply");
    const Node& fn = nodes_[callable];
    if (fn.kind != Kind::Global)
        fail(std::string("the pickle calls a ") + kindName(fn.kind) + ", not an allowed global");
    const Node& argsNode = nodes_[argsId];
    if (argsNode.kind != Kind::Tuple)
        fail("call arguments must be a tuple");
    const std::vector<NodeId> args = argsNode.items;
    const Global what = globalKinds_.at(fn.text);
    const std::string name = fn.text;
    auto noArgs = [&] {
        if (!args.empty())
            fail("'" + name + "' is called with arguments; a state dict never does that");
    };
    switch (what) {
    case Global::OrderedDict: {
        const NodeId dict = make(Kind::Dict);
        if (args.size() == 1 && nodes_[args[0]].kind == Kind::List) {
            const std::vector<NodeId> pairs = nodes_[args[0]].items;
            for (NodeId pair : pairs) {
                const Node& p = nodes_[pair];
                if ((p.kind != Kind::Tuple && p.kind != Kind::List) || p.items.size() != 2)
                    fail("OrderedDict items must be (key, value) pairs");
                setItem(dict, p.items[0], p.items[1]);
            }
        } else {
            noArgs();
        }
        return dict;
    }
    case Global::Namespace:
        noArgs();
        return make(Kind::Object);
    case Global::RebuildTensorV2:
        if (newobj)
            break;
        return rebuildTensor(args);
    case Global::RebuildParameter:
    case Global::RebuildParameterWithState:
        // (data, requires_grad, backward_hooks[, state]): the parameter is its data.
        if (newobj || args.size() < 3 || args.size() > 4)
            break;
        expect(args[0], Kind::Tensor, "a parameter's data");
        if (nodes_[args[2]].kind != Kind::Dict || !nodes_[args[2]].items.empty())
            fail("a parameter carries backward hooks; a state dict never does");
        return args[0];
    case Global::RebuildFromTypeV2: {
        // (func, new_type, args, state): a tensor subclass; only Tensor and Parameter.
        if (newobj || args.size() != 4)
            break;
        const Node& type = expect(args[1], Kind::Global, "a tensor's type");
        const Global typeKind = globalKinds_.at(type.text);
        if (typeKind != Global::TensorType && typeKind != Global::ParameterType)
            fail("a tensor of type '" + type.text + "' is not supported");
        const NodeId result = call(args[0], args[2], false, depth + 1);
        expect(result, Kind::Tensor, "a rebuilt tensor");
        return result;
    }
    case Global::TensorType:
    case Global::ParameterType:
    case Global::Storage:
        break;
    }
    fail("the global '" + name + "' cannot be called like this in a state dict");
}

NodeId Unpickler::persistentLoad(NodeId pidId)
{
    // ('storage', torch.<Type>Storage, key, location, numel)
    const Node& pid = nodes_[pidId];
    if (pid.kind != Kind::Tuple || pid.items.size() != 5)
        fail("a persistent id is not a ('storage', type, key, location, size) tuple");
    const Node& tag = nodes_[pid.items[0]];
    if (tag.kind != Kind::String || tag.text != "storage")
        fail("a persistent id does not name a storage");
    const Node& type = expect(pid.items[1], Kind::Global, "a storage type");
    const Node& key = expect(pid.items[2], Kind::String, "a storage key");
    expect(pid.items[3], Kind::String, "a storage location");
    const std::int64_t numel = expect(pid.items[4], Kind::Int, "a storage size").integer;
    const StorageKind* kind = nullptr;
    for (const StorageKind& k : kStorageKinds)
        if (type.text == std::string("torch.") + k.global)
            kind = &k;
    if (!kind)
        fail("'" + type.text + "' is not a storage type");
    at::Tensor storage;
    try {
        storage = storages_.load(key.text, *kind, numel);
    } catch (const Error& e) {
        fail(e.what());
    }
    const NodeId id = make(Kind::Storage);
    nodes_[id].tensor = std::move(storage);
    return id;
}

NodeId Unpickler::run()
{
    while (true) {
        opcodeAt_ = pos_;
        const std::uint8_t op = byte();
        switch (op) {
        case 0x80: { // PROTO
            const int proto = byte();
            if (proto < 2 || proto > 5)
                fail("unsupported pickle protocol " + std::to_string(proto));
            break;
        }
        case 0x95: // FRAME (protocol 4): only a hint for buffering
            uintLE(8);
            break;
        case '.': // STOP
        {
            const NodeId result = pop();
            return result;
        }
        case '(': // MARK
            if (marks_.size() > 100000)
                fail("pickle nests too deeply");
            marks_.push_back(stack_.size());
            break;
        case '0': // POP: the top item, or the mark when nothing lies above it (as CPython)
            if (stack_.size() > fence())
                stack_.pop_back();
            else if (!marks_.empty())
                marks_.pop_back();
            else
                fail("pickle stack underflow");
            break;
        case '1': // POP_MARK
            popMark();
            break;
        case '2': // DUP
            push(top());
            break;
        case 'N':
            push(0);
            break; // NONE
        case 0x88: // NEWTRUE
        case 0x89: // NEWFALSE
        {
            const NodeId id = make(Kind::Bool);
            nodes_[id].boolean = op == 0x88;
            push(id);
            break;
        }
        case 'J':
            push(makeInt(std::int32_t(std::uint32_t(uintLE(4)))));
            break; // BININT
        case 'K':
            push(makeInt(byte()));
            break; // BININT1
        case 'M':
            push(makeInt(std::int64_t(uintLE(2))));
            break; // BININT2
        case 0x8a: // LONG1
        case 0x8b: // LONG4
        {
            const std::uint64_t n = op == 0x8a ? byte() : uintLE(4);
            if (n > 8)
                fail("an integer does not fit in 64 bits");
            std::uint64_t v = n ? uintLE(int(n)) : 0;
            if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1) // sign-extend
                v |= ~std::uint64_t(0) << (8 * n);
            push(makeInt(std::int64_t(v)));
            break;
        }
        case 'G': // BINFLOAT, big-endian IEEE double
        {
            need(8);
            std::uint64_t bits = 0;
            for (int i = 0; i < 8; ++i)
                bits = (bits << 8) | data_[pos_ + std::size_t(i)];
            pos_ += 8;
            const NodeId id = make(Kind::Float);
            std::memcpy(&nodes_[id].real, &bits, 8);
            push(id);
            break;
        }
        case 'X':
            push(makeText(Kind::String, bytes(uintLE(4))));
            break; // BINUNICODE
        case 0x8c:
            push(makeText(Kind::String, bytes(byte())));
            break; // SHORT_BINUNICODE
        case 0x8d:
            push(makeText(Kind::String, bytes(uintLE(8))));
            break; // BINUNICODE8
        case 'T':
            push(makeText(Kind::String, bytes(uintLE(4))));
            break; // BINSTRING
        case 'U':
            push(makeText(Kind::String, bytes(byte())));
            break; // SHORT_BINSTRING
        case 'B':
            push(makeText(Kind::Bytes, bytes(uintLE(4))));
            break; // BINBYTES
        case 'C':
            push(makeText(Kind::Bytes, bytes(byte())));
            break; // SHORT_BINBYTES
        case 0x8e:
            push(makeText(Kind::Bytes, bytes(uintLE(8))));
            break; // BINBYTES8
        case ')':
            push(make(Kind::Tuple));
            break; // EMPTY_TUPLE
        case 't':  // TUPLE
        {
            std::vector<NodeId> items = popMark();
            const NodeId id = make(Kind::Tuple);
            nodes_[id].items = std::move(items);
            push(id);
            break;
        }
        case 0x85: // TUPLE1
        case 0x86: // TUPLE2
        case 0x87: // TUPLE3
        {
            const int n = op - 0x84;
            std::vector<NodeId> items(std::size_t(n), 0);
            for (int i = n - 1; i >= 0; --i)
                items[std::size_t(i)] = pop();
            const NodeId id = make(Kind::Tuple);
            nodes_[id].items = std::move(items);
            push(id);
            break;
        }
        case ']':
            push(make(Kind::List));
            break; // EMPTY_LIST
        case 'l':  // LIST
        {
            std::vector<NodeId> items = popMark();
            const NodeId id = make(Kind::List);
            nodes_[id].items = std::move(items);
            push(id);
            break;
        }
        case 'a': // APPEND
        {
            const NodeId value = pop();
            append(top(), value);
            break;
        }
        case 'e': // APPENDS
        {
            const std::vector<NodeId> items = popMark();
            const NodeId list = top();
            for (NodeId item : items)
                append(list, item);
            break;
        }
        case '}':
            push(make(Kind::Dict));
            break; // EMPTY_DICT
        case 'd':  // DICT
        {
            const std::vector<NodeId> items = popMark();
            if (items.size() % 2)
                fail("DICT with an odd number of items");
            const NodeId dict = make(Kind::Dict);
            for (std::size_t i = 0; i < items.size(); i += 2)
                setItem(dict, items[i], items[i + 1]);
            push(dict);
            break;
        }
        case 's': // SETITEM
        {
            const NodeId value = pop();
            const NodeId key = pop();
            setItem(top(), key, value);
            break;
        }
        case 'u': // SETITEMS
        {
            const std::vector<NodeId> items = popMark();
            if (items.size() % 2)
                fail("SETITEMS with an odd number of items");
            const NodeId dict = top();
            for (std::size_t i = 0; i < items.size(); i += 2)
                setItem(dict, items[i], items[i + 1]);
            break;
        }
        case 'c': // GLOBAL
        {
            const std::string module = line();
            const std::string name = line();
            push(global(module, name));
            break;
        }
        case 0x93: // STACK_GLOBAL
        {
            const NodeId name = pop();
            const NodeId module = pop();
            const std::string m = expect(module, Kind::String, "a global's module").text;
            const std::string n = expect(name, Kind::String, "a global's name").text;
            push(global(m, n));
            break;
        }
        case 'R': // REDUCE
        {
            const NodeId args = pop();
            const NodeId fn = pop();
            push(call(fn, args, false));
            break;
        }
        case 0x81: // NEWOBJ
        {
            const NodeId args = pop();
            const NodeId cls = pop();
            push(call(cls, args, true));
            break;
        }
        case 'b': // BUILD
        {
            const NodeId state = pop();
            Node& target = nodes_[top()];
            if (target.kind != Kind::Dict && target.kind != Kind::Object)
                fail(std::string("BUILD on a ") + kindName(target.kind) +
                     "; a state dict only sets attributes of OrderedDicts and Namespaces");
            target.state = state;
            target.hasState = true;
            break;
        }
        case 'Q': // BINPERSID
            push(persistentLoad(pop()));
            break;
        case 'h': // BINGET
        case 'j': // LONG_BINGET
        {
            const std::uint64_t index = op == 'h' ? byte() : uintLE(4);
            auto it = memo_.find(index);
            if (it == memo_.end())
                fail("the pickle refers to memo entry " + std::to_string(index) +
                     ", which was never stored");
            push(it->second);
            break;
        }
        case 'q': // BINPUT
        case 'r': // LONG_BINPUT
        {
            const std::uint64_t index = op == 'q' ? byte() : uintLE(4);
            memo_[index] = top();
            break;
        }
        case 0x94: // MEMOIZE
            memo_[memo_.size()] = top();
            break;
        default: {
            char hex[8];
            std::snprintf(hex, sizeof hex, "0x%02x", op);
            std::string printable;
            if (std::isprint(op))
                printable = std::string(" '") + char(op) + "'";
            fail(std::string("the pickle uses opcode ") + hex + printable +
                 ", which a state dict never needs; refusing to load it");
        }
        }
    }
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
