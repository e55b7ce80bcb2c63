// SPDX-License-Identifier: MIT
// readStateDict(): the zip container and our restricted unpickler.
//
// Input: one mode byte, then either the raw file (mode bit 0 set: the fuzzer mutates
// the zip container itself) or parts (fuzz_support.h): data.pkl first, then the
// storages data/0, data/1, ... which are packed into a valid archive here, so that
// mutations reach the unpickler instead of dying at the archive's checksums.
// Anything but primaps::Error escaping is a crash: the reader promises that.
#include "backbones/checkpoint.h"
#include "support/error.h"
#include "fuzz_support.h"

#include <caffe2/serialize/inline_container.h>

#include <cstdint>
#include <string>

using namespace primaps;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 1)
        return 0;
    const std::uint8_t mode = data[0];
    const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
    std::string path;
    if (mode & 1) {
        path = fuzz::writeScratch("raw.pth", rest);
    } else {
        path = fuzz::scratchDir() + "/packed.pth";
        const auto parts = fuzz::splitParts(rest);
        caffe2::serialize::PyTorchStreamWriter writer(path);
        writer.writeRecord("data.pkl", parts[0].data(), parts[0].size());
        for (std::size_t i = 1; i < parts.size(); ++i)
            writer.writeRecord("data/" + std::to_string(i - 1), parts[i].data(), parts[i].size());
        writer.writeEndOfFile();
    }
    StateDictOptions options;
    options.stripPrefixes = (mode & 2) != 0;
    static const char* const sections[] = {"", "teacher", "model", "student.backbone"};
    options.section = sections[(mode >> 2) & 3];
    try {
        const StateDict dict = readStateDict(path, options);
        for (const std::string& name : dict.names()) {
            const TensorInfo info = dict.info(name);
            (void)info.shapeString();
            (void)dict.values(name);
        }
    } catch (const Error& e) {
        fuzz::rejected(e);
    }
    return 0;
}
