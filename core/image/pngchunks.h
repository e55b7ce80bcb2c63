// SPDX-License-Identifier: MIT
// The chunk structure of a PNG, checked before libpng sees the file. libpng
// allocates an ancillary chunk's claimed length before it reads the chunk (a
// tEXt chunk claiming 0x65000000 bytes in a 1 kB file cost 1.7 GB, found by
// fuzzing), so the decoders of PNG bytes a user hands in walk the chunk headers first: the
// label-PNG reader (interchange/indexedpng.cpp), the image loader (imageio.cpp),
// the label-map loader (dataset.cpp) and the CVAT import (interchange/cvatformat.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace primaps {

/// A PNG chunk whose header claims more bytes than follow it.
struct PngChunkOverrun
{
    std::string type;            ///< the chunk's four-letter type, e.g. "tEXt", "IDAT"
    std::uint64_t offset = 0;    ///< file offset of the chunk's header
    std::uint64_t length = 0;    ///< data bytes the header claims
    std::uint64_t available = 0; ///< bytes the file holds after the header

    /// True for a chunk libpng reads whole into a buffer of the claimed size
    /// (every chunk but IDAT, whose data libpng streams through zlib in small
    /// pieces: a download cut inside IDAT decodes partly, without a big allocation).
    bool allocatesClaim() const { return type != "IDAT"; }
    /// "its 'tEXt' chunk claims 1694498816 bytes, the file holds 900 after its header".
    std::string describe() const;
};

/// Walks the chunk headers (length and type) of the PNG whose `size` bytes
/// `read(offset, out)` delivers 8 at a time (false when it cannot), from the
/// signature to the IEND chunk (what follows IEND is never read by a decoder),
/// without reading chunk data. Returns the first chunk whose claimed length runs
/// past the end, or nothing when every chunk fits (a file that merely ends
/// between two chunks is not an overrun). Does not check the signature.
template <typename Read>
std::optional<PngChunkOverrun> findPngChunkOverrun(std::uint64_t size, Read&& read)
{
    for (std::uint64_t at = 8; at + 8 <= size;) {
        std::uint8_t head[8];
        if (!read(at, head))
            break;
        const std::uint64_t length = (std::uint64_t(head[0]) << 24) |
                                     (std::uint64_t(head[1]) << 16) |
                                     (std::uint64_t(head[2]) << 8) | std::uint64_t(head[3]);
        const std::string type(reinterpret_cast<const char*>(head + 4), 4);
        const std::uint64_t available = size - at - 8;
        if (length > available)
            return PngChunkOverrun{type, at, length, available};
        if (type == "IEND")
            break;
        at += 12 + length; // header, data, CRC
    }
    return std::nullopt;
}

/// findPngChunkOverrun() over bytes in memory.
std::optional<PngChunkOverrun> findPngChunkOverrun(const std::string& bytes);

/// What the image loaders run before OpenCV decodes the PNG at `path`, with the
/// overrun its header walk found (ImageHeader::pngOverrun, image/imageheader.h: the
/// same walk, so the file's chunk headers are read once): throws primaps::Error
/// naming the file when a chunk libpng would read whole
/// (PngChunkOverrun::allocatesClaim()) claims more bytes than the file holds. A
/// file cut inside its image data passes (it decodes partly, and the header
/// reports it).
void refusePngChunkOverrun(const std::optional<PngChunkOverrun>& overrun, const std::string& path);

} // namespace primaps
