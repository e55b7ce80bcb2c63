// SPDX-License-Identifier: MIT
#include "image/pngchunks.h"

#include "support/error.h"

#include <cstring>

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

void refusePngChunkOverrun(const std::optional<PngChunkOverrun>& overrun, const std::string& path)
{
    if (overrun && overrun->allocatesClaim())
        throw Error("'" + path + "': a broken PNG: " + overrun->describe() +
                    "; refused before decoding");
}

} // namespace primaps
