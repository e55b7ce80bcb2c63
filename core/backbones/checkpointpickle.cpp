// SPDX-License-Identifier: MIT
// A restricted unpickler for PyTorch state dicts. Pickle is a small stack machine whose
// GLOBAL/REDUCE opcodes normally import and call arbitrary Python; here the machine
// only builds inert values (numbers, strings, containers, tensors), every global is
// checked against a short allow-list when it is read, and "calling" an allowed global
// is a C++ function that builds the value it stands for. Nothing from the file is ever
// executed. Every read is bounds-checked so that a damaged file ends in primaps::Error.
//
// This file is the machine itself (opcodes, allowed globals and what "calling" them
// builds); reading the archive and choosing the state dict is in checkpoint.cpp.

#include "backbones/checkpointpickle_p.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <limits>
#include <optional>

namespace primaps::pickle {

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

namespace {

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

} // namespace

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

} // namespace primaps::pickle
