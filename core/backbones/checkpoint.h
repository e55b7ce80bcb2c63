// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace primaps {

/// Element type of a tensor as stored in a checkpoint file.
enum class TensorType
{
    Float32,
    Float16,
    BFloat16,
    Float64,
    Int64,
    Int32,
    Int16,
    Int8,
    UInt8,
    Bool,
};

/// "float32", "float16", ... (the PyTorch dtype names).
const char* toString(TensorType type);

/// Name, element type and shape of one tensor of a StateDict.
struct TensorInfo
{
    std::string name;
    TensorType type = TensorType::Float32;
    std::vector<std::int64_t> shape;

    std::int64_t elementCount() const;
    /// "[384, 3, 8, 8]".
    std::string shapeString() const;
};

/// Which part of a checkpoint readStateDict() returns and how it renames keys.
struct StateDictOptions
{
    /// Sub-dictionary to take the weights from, e.g. "student"; a dotted path
    /// ("model.state_dict") descends several levels. Empty: automatic (the file's
    /// top level if it holds tensors, else the first of "teacher", "model",
    /// "state_dict", "student", "module" that does, searched recursively).
    std::string section;
    /// Remove the "module." prefix (DistributedDataParallel) from every key, and when
    /// keys carry "backbone." keep only those, without the prefix (the DINO/DINOv2
    /// training wrappers put projection heads next to the backbone).
    bool stripPrefixes = true;
};

/// The tensors of a PyTorch state dict, by name, in file order.
///
/// The tensors keep the element type they were stored with; values() converts.
/// Views of one storage (offsets, strides) share memory, as they did in the file.
/// A StateDict is immutable after reading, so it may be read from several threads
/// at once. Its private part (checkpoint_p.h) gives the LibTorch tensors to code
/// inside core.
class StateDict
{
public:
    StateDict();
    ~StateDict();
    StateDict(StateDict&&) noexcept;
    StateDict& operator=(StateDict&&) noexcept;
    StateDict(const StateDict&) = delete;
    StateDict& operator=(const StateDict&) = delete;

    /// The file it was read from.
    const std::string& source() const;
    /// The sub-dictionary the tensors came from ("" for the top level, "teacher", ...).
    const std::string& section() const;
    /// Prefixes removed from the keys ("module.", "backbone."), in the order removed.
    const std::vector<std::string>& strippedPrefixes() const;
    /// Keys of the chosen dictionary that held no tensor (e.g. an epoch counter) or
    /// were dropped with a prefix filter; informational.
    const std::vector<std::string>& skippedKeys() const;

    std::size_t size() const;
    bool empty() const { return size() == 0; }
    bool contains(const std::string& name) const;
    /// Tensor names in the order the file lists them.
    std::vector<std::string> names() const;
    /// Throws primaps::Error naming the key and the file when there is no such tensor.
    TensorInfo info(const std::string& name) const;
    /// The tensor's values converted to float32 (bool -> 0/1), in C order.
    /// Throws primaps::Error when there is no such tensor.
    std::vector<float> values(const std::string& name) const;

    struct Impl;
    Impl& impl() { return *d_; }
    const Impl& impl() const { return *d_; }

private:
    std::unique_ptr<Impl> d_;
};

/// Reads the tensors of a checkpoint written by torch.save (the zip format of
/// PyTorch >= 1.6: `<dir>/data.pkl` plus one `<dir>/data/<key>` record per storage).
///
/// The pickle is interpreted by a restricted reader of our own that knows only the
/// opcodes (protocols 2 to 5, data only) and the few globals a state dict needs:
/// collections.OrderedDict, torch._utils._rebuild_tensor_v2, _rebuild_parameter(_with_state),
/// torch._tensor._rebuild_from_type_v2 for plain Tensor/Parameter, the typed storages
/// torch.{Float,Half,BFloat16,Double,Long,Int,Short,Char,Byte,Bool}Storage, and
/// argparse.Namespace as an inert record (DINO's training checkpoints store their
/// arguments that way). It never imports or calls anything named in the file; any other
/// global or opcode is refused, by name.
///
/// Throws primaps::Error naming the file and the problem: missing or unreadable
/// file, the pre-1.6 legacy format, a damaged archive, a refused global or opcode
/// (named), a storage whose size disagrees with its declaration, a tensor view
/// outside its storage, or a missing/unsupported section. May be called from any
/// thread; it keeps no global state.
StateDict readStateDict(const std::string& path, const StateDictOptions& options = {});

} // namespace primaps
