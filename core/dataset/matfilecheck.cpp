// SPDX-License-Identifier: MIT
#include "dataset/matfilecheck.h"

#include "support/error.h"

#include <array>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <vector>
#include <zlib.h>

namespace primaps {

namespace {

constexpr std::uint32_t kComplexFlag = 0x0800;
constexpr int kMaxNesting = 32;
// A Potsdam file holds one or two arrays; matio allocates a few hundred bytes for
// each array of a cell or struct before reading any of them.
constexpr std::uint64_t kMaxArrays = 65536;
constexpr int kMaxRank = 32;
constexpr std::uint32_t kMaxNameBytes = 4096; // MATLAB's names have at most 63 characters

// Bytes of one value of a numeric or character data type; 0 for the others.
std::uint64_t valueBytes(std::uint32_t type)
{
    switch (type) {
    case 1:
    case 2:
    case miUTF8:
        return 1; // int8, uint8, utf8
    case 3:
    case 4:
    case 17:
        return 2; // int16, uint16, utf16
    case 5:
    case 6:
    case 7:
    case miUTF32:
        return 4; // int32, uint32, single, utf32
    case 9:
    case 12:
    case 13:
        return 8; // double, int64, uint64
    default:
        return 0;
    }
}

std::uint64_t padded(std::uint64_t n)
{
    return (n + 7) / 8 * 8;
}

// The bytes of one top-level element: the file itself, or the inflated stream of a
// compressed element. Reads throw Error(message without the file name).
class ElementBytes
{
public:
    virtual ~ElementBytes() = default;
    virtual void read(char* out, std::size_t n) = 0;
    virtual void skip(std::uint64_t n) = 0;
};

class FileBytes : public ElementBytes
{
public:
    explicit FileBytes(std::ifstream& in) : in_(in) {}
    void read(char* out, std::size_t n) override
    {
        if (!in_.read(out, std::streamsize(n)))
            throw Error("the file ends in the middle of an element");
    }
    void skip(std::uint64_t n) override { in_.seekg(std::streamoff(n), std::ios::cur); }

private:
    std::ifstream& in_;
};

class InflatedBytes : public ElementBytes
{
public:
    InflatedBytes(std::ifstream& in, std::uint64_t compressedBytes, std::uint64_t& inflatedSoFar,
                  const MatFileLimits& limits)
        : in_(in), compressedLeft_(compressedBytes), inflated_(inflatedSoFar), limits_(limits)
    {
        if (inflateInit(&z_) != Z_OK)
            throw Error("zlib cannot start inflating");
    }
    ~InflatedBytes() override { inflateEnd(&z_); }

    void read(char* out, std::size_t n) override
    {
        if (inflated_ + n > limits_.maxInflatedBytes)
            throw Error("the file's compressed variables inflate to more than " +
                        std::to_string(limits_.maxInflatedBytes) + " bytes, " + limits_.why);
        z_.next_out = reinterpret_cast<Bytef*>(out);
        z_.avail_out = uInt(n);
        while (z_.avail_out > 0) {
            if (z_.avail_in == 0 && compressedLeft_ > 0) {
                const std::size_t chunk =
                    std::size_t(std::min<std::uint64_t>(compressedLeft_, input_.size()));
                if (!in_.read(input_.data(), std::streamsize(chunk)))
                    throw Error("the file ends in the middle of a compressed variable");
                compressedLeft_ -= chunk;
                z_.next_in = reinterpret_cast<Bytef*>(input_.data());
                z_.avail_in = uInt(chunk);
            }
            const uInt before = z_.avail_out;
            const int status = inflate(&z_, Z_NO_FLUSH);
            inflated_ += before - z_.avail_out;
            if (status == Z_STREAM_END || (status == Z_BUF_ERROR && z_.avail_in == 0)) {
                if (z_.avail_out > 0)
                    throw Error("a compressed variable inflates to fewer bytes than it declares");
            } else if (status != Z_OK) {
                throw Error(std::string("a compressed variable's data is corrupt (zlib: ") +
                            (z_.msg ? z_.msg : "error " + std::to_string(status)) + ")");
            }
        }
    }
    void skip(std::uint64_t n) override
    {
        std::array<char, 65536> scratch;
        while (n > 0) {
            const std::size_t chunk = std::size_t(std::min<std::uint64_t>(n, scratch.size()));
            read(scratch.data(), chunk);
            n -= chunk;
        }
    }

private:
    std::ifstream& in_;
    std::uint64_t compressedLeft_;
    std::uint64_t& inflated_;
    const MatFileLimits& limits_;
    z_stream z_{};
    std::array<char, 65536> input_{};
};

struct Tag
{
    std::uint32_t type = 0;
    std::uint32_t bytes = 0;
    bool small = false; // the small data element format: data in the tag's last 4 bytes
    char data[4] = {};
};

// Walks the arrays of one element; throws Error(what is wrong, without the file).
class ArrayWalker
{
public:
    ArrayWalker(ElementBytes& bytes, bool swap, std::uint64_t& arrays)
        : bytes_(bytes), swap_(swap), arrays_(arrays)
    {
    }

    std::uint32_t u32(const char* p) const
    {
        const auto* b = reinterpret_cast<const unsigned char*>(p);
        return swap_ ? std::uint32_t(b[0]) << 24 | std::uint32_t(b[1]) << 16 |
                           std::uint32_t(b[2]) << 8 | b[3]
                     : std::uint32_t(b[3]) << 24 | std::uint32_t(b[2]) << 16 |
                           std::uint32_t(b[1]) << 8 | b[0];
    }

    // A sub-element's tag, with `left` (bytes of the enclosing array not yet walked)
    // reduced by the tag and, for the small format, its data.
    Tag tag(std::uint64_t& left, const char* what)
    {
        if (left < 8)
            throw Error(std::string("the array ends before its ") + what);
        char raw[8];
        bytes_.read(raw, 8);
        left -= 8;
        Tag t;
        const std::uint32_t first = u32(raw);
        if (first >> 16) {
            t.small = true;
            t.type = first & 0xffff;
            t.bytes = first >> 16;
            std::copy(raw + 4, raw + 8, t.data);
            if (t.bytes > 4)
                throw Error(std::string(what) + ": " + std::to_string(t.bytes) +
                            " bytes declared in a small element, which holds 4");
        } else {
            t.type = first;
            t.bytes = u32(raw + 4);
            if (padded(t.bytes) > left)
                throw Error(std::string(what) + ": " + std::to_string(t.bytes) +
                            " bytes declared, more than the " + std::to_string(left) +
                            " left in the array");
        }
        return t;
    }

    // Skips a regular sub-element's data and padding.
    void skipData(const Tag& t, std::uint64_t& left)
    {
        if (t.small)
            return;
        bytes_.skip(padded(t.bytes));
        left -= padded(t.bytes);
    }

    /// The body of an miMATRIX element of `size` bytes. Returns the array's name.
    std::string array(std::uint64_t size, int depth)
    {
        if (depth > kMaxNesting)
            throw Error("arrays nest deeper than " + std::to_string(kMaxNesting) + " levels");
        if (++arrays_ > kMaxArrays)
            throw Error("it holds more than " + std::to_string(kMaxArrays) + " arrays");
        std::uint64_t left = size;

        const Tag flagsTag = tag(left, "array flags");
        if (flagsTag.small || (flagsTag.type != miUINT32 && flagsTag.type != miINT32) ||
            flagsTag.bytes != 8)
            throw Error("an array does not start with its 8 bytes of flags");
        char flags[8];
        bytes_.read(flags, 8);
        left -= 8;
        const std::uint32_t cls = u32(flags) & 0xff;
        const bool complex = u32(flags) & kComplexFlag;
        if (cls < mxCELL || cls > mxUINT64 || cls == mxOBJECT)
            throw Error("an array of class " + std::to_string(cls) +
                        " (a MATLAB object, function handle or unknown class), which is not read");

        const Tag dimsTag = tag(left, "dimensions");
        if (dimsTag.small || dimsTag.type != miINT32 || dimsTag.bytes % 4 != 0 ||
            dimsTag.bytes / 4 < 2 || dimsTag.bytes / 4 > kMaxRank)
            throw Error("its dimensions are not a list of 2 to " + std::to_string(kMaxRank) +
                        " 32-bit integers");
        std::vector<char> dims(padded(dimsTag.bytes));
        bytes_.read(dims.data(), dims.size());
        left -= dims.size();
        std::uint64_t count = 1;
        for (std::size_t i = 0; i < dimsTag.bytes; i += 4) {
            const auto d = std::int32_t(u32(dims.data() + i));
            if (d < 0)
                throw Error("a dimension is negative (" + std::to_string(d) + ")");
            // Every value, cell or struct element takes at least one byte of `size`, so
            // a larger count is inconsistent; a sparse matrix stores only its non-zeros.
            if (d > 0 && count > size / std::uint64_t(d) && cls != mxSPARSE)
                throw Error("its dimensions declare more values than the array's " +
                            std::to_string(size) + " bytes hold");
            count = d > 0 && count > std::numeric_limits<std::uint64_t>::max() / std::uint64_t(d)
                        ? std::numeric_limits<std::uint64_t>::max()
                        : count * std::uint64_t(d);
        }

        const Tag nameTag = tag(left, "name");
        if (nameTag.type != miINT8 || nameTag.bytes > kMaxNameBytes)
            throw Error("its name is not a string of at most " + std::to_string(kMaxNameBytes) +
                        " bytes");
        std::string name(nameTag.bytes, '\0');
        if (nameTag.small) {
            name.assign(nameTag.data, nameTag.bytes);
        } else {
            std::vector<char> raw(padded(nameTag.bytes));
            bytes_.read(raw.data(), raw.size());
            left -= raw.size();
            name.assign(raw.data(), nameTag.bytes);
        }
        const std::string where =
            name.empty() ? std::string("an unnamed array") : "array '" + name + "'";
        try {
            contents(cls, complex, count, left, depth);
        } catch (const Error& e) {
            throw Error(where + ": " + e.what());
        }
        bytes_.skip(left); // what matio does not read either
        return name;
    }

private:
    void contents(std::uint32_t cls, bool complex, std::uint64_t count, std::uint64_t& left,
                  int depth)
    {
        if (cls == mxCELL) {
            nested(count, left, depth);
        } else if (cls == mxSTRUCT) {
            const Tag lengthTag = tag(left, "field name length");
            if (!lengthTag.small || lengthTag.type != miINT32 || lengthTag.bytes != 4)
                throw Error("its field name length is not one 32-bit integer");
            const std::uint32_t length = u32(lengthTag.data);
            const Tag namesTag = tag(left, "field names");
            if (namesTag.type != miINT8 ||
                (namesTag.bytes > 0 && (length == 0 || namesTag.bytes % length)))
                throw Error("its field names are not strings of " + std::to_string(length) +
                            " bytes each");
            skipData(namesTag, left);
            const std::uint64_t fields = length ? namesTag.bytes / length : 0;
            if (fields > 0 && count > left / 8 / fields)
                throw Error("it declares more fields than its bytes hold");
            nested(count * fields, left, depth);
        } else if (cls == mxSPARSE) {
            // Row indices, column starts, values: each must fit (they are never read here).
            while (left >= 8)
                skipData(tag(left, "sparse data"), left);
        } else {
            for (int part = 0; part < (complex ? 2 : 1); ++part) {
                const Tag data = tag(left, part ? "imaginary part" : "real part");
                const std::uint64_t size = valueBytes(data.type);
                if (size == 0)
                    throw Error("its data has type " + std::to_string(data.type) +
                                ", not a numeric or character type");
                // Characters may take several bytes each in UTF-8; numbers exactly `size`.
                if (cls != mxCHAR && data.bytes != count * size)
                    throw Error("its dimensions declare " + std::to_string(count) +
                                " values, but its data holds " + std::to_string(data.bytes / size));
                skipData(data, left);
            }
        }
    }

    // `count` arrays in a cell or struct, each an miMATRIX sub-element (8 bytes at least).
    void nested(std::uint64_t count, std::uint64_t& left, int depth)
    {
        if (count > left / 8)
            throw Error("it declares " + std::to_string(count) +
                        " cells or fields, more than its " + std::to_string(left) + " bytes hold");
        for (std::uint64_t i = 0; i < count; ++i) {
            const Tag t = tag(left, "cell or field");
            if (t.small || t.type != miMATRIX)
                throw Error("a cell or field is not an array");
            if (t.bytes > 0)
                array(t.bytes, depth + 1);
            left -= padded(t.bytes);
        }
    }

    ElementBytes& bytes_;
    bool swap_;
    std::uint64_t& arrays_;
};

} // namespace

MatFileVersion checkMatFileStructure(const std::string& path, const MatFileLimits& limits)
{
    std::error_code ec;
    const std::uint64_t fileSize = std::filesystem::file_size(path, ec);
    std::ifstream in(path, std::ios::binary);
    char header[128];
    if (ec || !in || !in.read(header, sizeof header))
        throw Error("'" + path +
                    "': not a MATLAB 5 or 7.3 .mat file (MATLAB 4 files are not read)");
    // The endian indicator "MI" as a 16-bit value: bytes "IM" in a little-endian
    // file. Without it, or with another version, matio would read a MAT 4 file,
    // whose sizes it trusts (367 hostile bytes made it allocate 1.7 GB).
    const bool little = header[126] == 'I' && header[127] == 'M';
    const bool big = header[126] == 'M' && header[127] == 'I';
    const int version = little ? (std::uint8_t(header[125]) << 8 | std::uint8_t(header[124]))
                               : (std::uint8_t(header[124]) << 8 | std::uint8_t(header[125]));
    if ((!little && !big) || (version != 0x0100 && version != 0x0200))
        throw Error("'" + path +
                    "': not a MATLAB 5 or 7.3 .mat file (MATLAB 4 files are not read)");
    if (version == 0x0200)
        return MatFileVersion::Mat73;

    std::uint64_t inflated = 0, arrays = 0;
    std::uint64_t at = 128;
    while (fileSize - at >= 8) { // fewer trailing bytes are ignored, as matio does
        const std::string element = "'" + path + "': the variable at byte " + std::to_string(at);
        in.seekg(std::streamoff(at));
        FileBytes file(in);
        ArrayWalker top(file, big, arrays);
        char raw[8];
        file.read(raw, 8);
        const std::uint32_t type = top.u32(raw);
        const std::uint64_t bytes = top.u32(raw + 4);
        if (bytes > fileSize - at - 8)
            throw Error(element + " declares " + std::to_string(bytes) + " bytes, but only " +
                        std::to_string(fileSize - at - 8) + " follow");
        try {
            if (type == miMATRIX) {
                top.array(bytes, 0);
            } else if (type == miCOMPRESSED) {
                InflatedBytes stream(in, bytes, inflated, limits);
                ArrayWalker walker(stream, big, arrays);
                std::uint64_t left = std::numeric_limits<std::uint32_t>::max();
                const Tag matrix = walker.tag(left, "compressed array");
                if (matrix.small || matrix.type != miMATRIX)
                    throw Error("its compressed data is not an array");
                walker.array(matrix.bytes, 0);
            } else {
                throw Error("data type " + std::to_string(type) +
                            ", not a variable (an array or a compressed array)");
            }
        } catch (const Error& e) {
            throw Error(element + ": " + e.what());
        }
        at += 8 + bytes;
    }
    return MatFileVersion::Mat5;
}

} // namespace primaps
