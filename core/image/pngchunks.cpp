// SPDX-License-Identifier: MIT
#include "image/pngchunks.h"

#include "support/error.h"

#include <cstring>
#include <fstream>

namespace primaps {

std::string PngChunkOverrun::describe() const
{
    return "its '" + type + "' chunk claims " + std::to_string(length) + " bytes, the file holds " +
           std::to_string(available) + " after its header";
}

std::optional<PngChunkOverrun> findPngChunkOverrun(const std::string& bytes)
{
    return findPngChunkOverrun(bytes.size(), [&](std::uint64_t at, std::uint8_t* out) {
        std::memcpy(out, bytes.data() + at, 8);
        return true;
    });
}

std::optional<PngChunkOverrun> findPngChunkOverrunInFile(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw Error("'" + path + "': cannot be opened");
    in.seekg(0, std::ios::end);
    const std::streamoff size = in.tellg();
    if (size < 0)
        throw Error("'" + path + "': cannot be read");
    return findPngChunkOverrun(std::uint64_t(size), [&](std::uint64_t at, std::uint8_t* out) {
        in.clear();
        in.seekg(std::streamoff(at));
        return bool(in.read(reinterpret_cast<char*>(out), 8));
    });
}

void refusePngChunkOverrun(const std::string& path)
{
    const auto overrun = findPngChunkOverrunInFile(path);
    if (overrun && overrun->allocatesClaim())
        throw Error("'" + path + "': a broken PNG: " + overrun->describe() +
                    "; refused before decoding");
}

} // namespace primaps
