// SPDX-License-Identifier: MIT
#include "image/imageheader.h"

#include "support/error.h"

#include <array>
#include <cctype>
#include <cstring>
#include <fstream>
#include <limits>
#include <vector>

namespace primaps {

namespace {

// A forward reader over the file with its own buffer: the JPEG walk looks at
// every byte of the compressed data, which per-byte stream calls would make slow.
class ByteReader
{
public:
    explicit ByteReader(const std::string& path) : in_(path, std::ios::binary)
    {
        if (in_) {
            in_.seekg(0, std::ios::end);
            size_ = std::uint64_t(std::max<std::streamoff>(0, in_.tellg()));
            in_.seekg(0);
        }
    }
    bool opened() const { return bool(in_); }
    std::uint64_t size() const { return size_; }
    std::uint64_t position() const { return base_ + used_; }

    /// Next byte, or -1 at the end of the file.
    int get()
    {
        if (used_ == filled_ && !refill())
            return -1;
        return buffer_[used_++];
    }
    /// Reads `n` bytes into `out`; false (and nothing guaranteed) at the end of the file.
    bool read(std::uint8_t* out, std::size_t n)
    {
        for (std::size_t i = 0; i < n; ++i) {
            const int c = get();
            if (c < 0)
                return false;
            out[i] = std::uint8_t(c);
        }
        return true;
    }
    /// Moves to absolute offset `offset`; false when it lies beyond the end.
    bool seek(std::uint64_t offset)
    {
        if (offset > size_)
            return false;
        if (offset >= base_ && offset <= base_ + filled_) {
            used_ = std::size_t(offset - base_);
            return true;
        }
        in_.clear();
        in_.seekg(std::streamoff(offset));
        base_ = offset;
        used_ = filled_ = 0;
        return bool(in_);
    }
    bool skip(std::uint64_t n) { return seek(position() + n); }

private:
    bool refill()
    {
        base_ += filled_;
        used_ = filled_ = 0;
        in_.read(reinterpret_cast<char*>(buffer_.data()), std::streamsize(buffer_.size()));
        filled_ = std::size_t(in_.gcount());
        return filled_ > 0;
    }

    std::ifstream in_;
    std::uint64_t size_ = 0;
    std::array<std::uint8_t, 1 << 16> buffer_{};
    std::uint64_t base_ = 0; ///< file offset of buffer_[0]
    std::size_t used_ = 0;
    std::size_t filled_ = 0;
};

std::uint32_t be32(const std::uint8_t* p)
{
    return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3];
}
std::uint32_t le32(const std::uint8_t* p)
{
    return std::uint32_t(p[3]) << 24 | std::uint32_t(p[2]) << 16 | std::uint32_t(p[1]) << 8 | p[0];
}
std::uint16_t be16(const std::uint8_t* p)
{
    return std::uint16_t(p[0] << 8 | p[1]);
}
std::uint16_t le16(const std::uint8_t* p)
{
    return std::uint16_t(p[1] << 8 | p[0]);
}

struct Damaged
{
    std::string why;
};

void setSize(ImageHeader& h, std::uint64_t width, std::uint64_t height)
{
    if (width == 0 || height == 0)
        throw Damaged{"its header gives a size of " + std::to_string(width) + "x" +
                      std::to_string(height)};
    const std::uint64_t limit = std::uint64_t(std::numeric_limits<int>::max());
    if (width > limit || height > limit)
        throw Damaged{"its header gives an impossible size"};
    h.width = int(width);
    h.height = int(height);
}

void incomplete(ImageHeader& h, const std::string& why)
{
    h.complete = false;
    h.incompleteWhy = why;
}

void readPng(ByteReader& r, ImageHeader& h)
{
    h.format = "PNG";
    r.seek(8);
    bool first = true;
    bool sawData = false;
    while (true) {
        const std::uint64_t start = r.position();
        std::uint8_t head[8];
        if (!r.read(head, 8)) {
            if (first)
                throw Damaged{"its PNG header is cut off"};
            incomplete(h, sawData ? "the file ends before its IEND chunk"
                                  : "the file ends before its image data");
            return;
        }
        const std::uint32_t length = be32(head);
        const std::string type(reinterpret_cast<const char*>(head + 4), 4);
        if (first) {
            std::uint8_t ihdr[8];
            if (type != "IHDR" || length != 13 || !r.read(ihdr, 8))
                throw Damaged{"its PNG header has no valid IHDR chunk"};
            setSize(h, be32(ihdr), be32(ihdr + 4));
            first = false;
        }
        if (type == "IDAT")
            sawData = true;
        if (type == "IEND")
            return;
        if (!r.seek(start + 12 + std::uint64_t(length))) {
            const std::uint64_t available = r.size() - start - 8;
            if (length > available)
                h.pngOverrun = PngChunkOverrun{type, start, length, available};
            incomplete(h, "the file ends inside its '" + type + "' chunk");
            return;
        }
    }
}

bool isSof(int marker)
{
    return marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
}

// Walks the marker segments; after each start of scan, the entropy-coded data up
// to the next marker. A file that ends before the end-of-image marker is what a
// decoder silently pads with grey.
void readJpeg(ByteReader& r, ImageHeader& h)
{
    h.format = "JPEG";
    r.seek(2);
    bool sized = false;
    int marker = -1; // a marker found while scanning compressed data
    auto cutOff = [&](const char* why) {
        if (!sized)
            throw Damaged{"its JPEG header ends before the image size"};
        incomplete(h, why);
    };
    while (true) {
        if (marker < 0) {
            int c = r.get();
            if (c != 0xFF) {
                if (c < 0)
                    return cutOff("the file ends before the JPEG end-of-image marker");
                throw Damaged{"its JPEG structure is damaged (no marker where one belongs)"};
            }
            while ((c = r.get()) == 0xFF) {
            }
            if (c < 0)
                return cutOff("the file ends before the JPEG end-of-image marker");
            marker = c;
        }
        const int m = marker;
        marker = -1;
        if (m == 0xD9) {
            if (!sized)
                throw Damaged{"its JPEG data has no frame header (no image size)"};
            return;
        }
        if ((m >= 0xD0 && m <= 0xD7) || m == 0x01)
            continue;
        std::uint8_t len[2];
        if (!r.read(len, 2))
            return cutOff("the file ends inside a JPEG header segment");
        const int length = be16(len);
        if (length < 2)
            throw Damaged{"its JPEG structure is damaged (a segment of length " +
                          std::to_string(length) + ")"};
        const std::uint64_t end = r.position() + std::uint64_t(length - 2);
        if (isSof(m) && !sized) {
            std::uint8_t frame[5];
            if (length < 7 || !r.read(frame, 5))
                return cutOff("the file ends inside the JPEG frame header");
            setSize(h, be16(frame + 3), be16(frame + 1));
            sized = true;
        }
        if (!r.seek(end))
            return cutOff("the file ends inside a JPEG header segment");
        if (m != 0xDA)
            continue;
        // Entropy-coded data: 0xFF 0x00 is a data byte, 0xFF 0xD0..D7 a restart
        // marker inside the scan; any other marker ends the scan.
        while (marker < 0) {
            int c = r.get();
            if (c < 0)
                return cutOff("the file ends inside the compressed picture data (truncated)");
            if (c != 0xFF)
                continue;
            do
                c = r.get();
            while (c == 0xFF);
            if (c < 0)
                return cutOff("the file ends inside the compressed picture data (truncated)");
            if (c != 0x00 && !(c >= 0xD0 && c <= 0xD7))
                marker = c;
        }
    }
}

void readBmp(ByteReader& r, ImageHeader& h)
{
    h.format = "BMP";
    std::uint8_t b[34] = {};
    r.seek(0);
    if (!r.read(b, 26))
        throw Damaged{"its BMP header is cut off"};
    const std::uint32_t dataOffset = le32(b + 10);
    const std::uint32_t infoSize = le32(b + 14);
    std::uint64_t width = 0, height = 0;
    int bits = 0;
    std::uint32_t compression = 0;
    if (infoSize == 12) {
        width = le16(b + 18);
        height = le16(b + 20);
        bits = le16(b + 24);
    } else {
        if (!r.read(b + 26, 8))
            throw Damaged{"its BMP header is cut off"};
        const std::int32_t w = std::int32_t(le32(b + 18));
        const std::int32_t hh = std::int32_t(le32(b + 22));
        if (w <= 0 || hh == std::numeric_limits<std::int32_t>::min())
            throw Damaged{"its BMP header gives an impossible size"};
        width = std::uint64_t(w);
        height = std::uint64_t(hh < 0 ? -std::int64_t(hh) : hh); // negative: stored top-down
        bits = le16(b + 28);
        compression = le32(b + 30);
    }
    setSize(h, width, height);
    if ((compression == 0 || compression == 3) && bits > 0) {
        const std::uint64_t row = (width * std::uint64_t(bits) + 31) / 32 * 4;
        if (std::uint64_t(dataOffset) + row * height > r.size())
            incomplete(h, "the file is shorter than its BMP header says (truncated)");
    }
}

// PNM headers are whitespace-separated decimal numbers with '#' comments.
std::uint64_t pnmNumber(ByteReader& r)
{
    int c = r.get();
    while (c >= 0 && (std::isspace(c) || c == '#')) {
        if (c == '#')
            while (c >= 0 && c != '\n' && c != '\r')
                c = r.get();
        c = r.get();
    }
    if (c < 0 || !std::isdigit(c))
        throw Damaged{"its PNM header is damaged"};
    std::uint64_t v = 0;
    while (c >= 0 && std::isdigit(c)) {
        v = v * 10 + std::uint64_t(c - '0');
        if (v > (1ull << 40))
            throw Damaged{"its PNM header gives an impossible number"};
        c = r.get();
    }
    return v; // the single whitespace after the number has been consumed
}

void readPnm(ByteReader& r, ImageHeader& h, int kind)
{
    h.format = "PNM";
    r.seek(2);
    std::uint64_t width = 0, height = 0, depth = 1, maxValue = 1;
    if (kind == 7) { // PAM: "WIDTH w", "HEIGHT h", "DEPTH d", "MAXVAL m" lines up to ENDHDR
        std::string line;
        for (int lines = 0; lines < 64; ++lines) {
            line.clear();
            int c;
            while ((c = r.get()) >= 0 && c != '\n')
                line += char(c);
            if (c < 0)
                throw Damaged{"its PAM header is cut off"};
            const auto value = [&](const char* key) -> std::uint64_t {
                return std::strtoull(line.c_str() + std::strlen(key), nullptr, 10);
            };
            if (line.rfind("WIDTH", 0) == 0)
                width = value("WIDTH");
            else if (line.rfind("HEIGHT", 0) == 0)
                height = value("HEIGHT");
            else if (line.rfind("DEPTH", 0) == 0)
                depth = value("DEPTH");
            else if (line.rfind("MAXVAL", 0) == 0)
                maxValue = value("MAXVAL");
            else if (line.rfind("ENDHDR", 0) == 0)
                break;
        }
    } else {
        width = pnmNumber(r);
        height = pnmNumber(r);
        if (kind != 1 && kind != 4)
            maxValue = pnmNumber(r);
        depth = (kind == 3 || kind == 6) ? 3 : 1;
    }
    setSize(h, width, height);
    if (kind == 4 || kind == 5 || kind == 6 || kind == 7) {
        const std::uint64_t sample = maxValue > 255 ? 2 : 1;
        const std::uint64_t bytes =
            kind == 4 ? (width + 7) / 8 * height : width * height * depth * sample;
        if (r.position() + bytes > r.size())
            incomplete(h, "the file is shorter than its PNM header says (truncated)");
    }
}

void readWebp(ByteReader& r, ImageHeader& h)
{
    h.format = "WebP";
    std::uint8_t b[30] = {};
    r.seek(0);
    if (!r.read(b, 30))
        throw Damaged{"its WebP header is cut off"};
    const std::string chunk(reinterpret_cast<const char*>(b + 12), 4);
    if (chunk == "VP8 ") {
        if (b[23] != 0x9D || b[24] != 0x01 || b[25] != 0x2A)
            throw Damaged{"its WebP (VP8) header is damaged"};
        setSize(h, le16(b + 26) & 0x3FFF, le16(b + 28) & 0x3FFF);
    } else if (chunk == "VP8L") {
        if (b[20] != 0x2F)
            throw Damaged{"its WebP (VP8L) header is damaged"};
        const std::uint32_t bits = le32(b + 21);
        setSize(h, (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1);
    } else if (chunk == "VP8X") {
        setSize(
            h, (std::uint64_t(b[24]) | std::uint64_t(b[25]) << 8 | std::uint64_t(b[26]) << 16) + 1,
            (std::uint64_t(b[27]) | std::uint64_t(b[28]) << 8 | std::uint64_t(b[29]) << 16) + 1);
    } else {
        throw Damaged{"its WebP header names an unknown chunk '" + chunk + "'"};
    }
    if (std::uint64_t(le32(b + 4)) + 8 > r.size())
        incomplete(h, "the file is shorter than its WebP header says (truncated)");
}

void readTiff(ByteReader& r, ImageHeader& h, bool little)
{
    h.format = "TIFF";
    auto u16 = [&](const std::uint8_t* p) { return little ? le16(p) : be16(p); };
    auto u32 = [&](const std::uint8_t* p) { return little ? le32(p) : be32(p); };
    auto u64 = [&](const std::uint8_t* p) {
        return little ? std::uint64_t(le32(p)) | std::uint64_t(le32(p + 4)) << 32
                      : std::uint64_t(be32(p)) << 32 | be32(p + 4);
    };
    std::uint8_t b[16];
    r.seek(0);
    if (!r.read(b, 16))
        throw Damaged{"its TIFF header is cut off"};
    const bool big = u16(b + 2) == 43;
    const std::uint64_t ifd = big ? u64(b + 8) : u32(b + 4);
    if (!r.seek(ifd))
        throw Damaged{"its TIFF directory lies beyond the end of the file"};
    std::uint8_t n[8];
    if (!r.read(n, big ? 8 : 2))
        throw Damaged{"its TIFF directory is cut off"};
    const std::uint64_t entries = big ? u64(n) : u16(n);
    std::uint64_t width = 0, height = 0;
    for (std::uint64_t i = 0; i < entries && i < 4096; ++i) {
        std::uint8_t e[20];
        if (!r.read(e, big ? 20 : 12))
            throw Damaged{"its TIFF directory is cut off"};
        const int tag = u16(e);
        const int type = u16(e + 2);
        const std::uint8_t* value = e + (big ? 12 : 8);
        const std::uint64_t v = type == 3 ? u16(value) : type == 16 ? u64(value) : u32(value);
        if (tag == 256)
            width = v;
        else if (tag == 257)
            height = v;
    }
    setSize(h, width, height);
}

} // namespace

ImageHeader readImageHeader(const std::string& path)
{
    ByteReader r(path);
    if (!r.opened())
        throw Error("'" + path + "': cannot be opened");
    if (r.size() == 0)
        throw Error("'" + path + "': the file is empty");
    std::uint8_t magic[12] = {};
    for (std::size_t i = 0; i < sizeof magic; ++i) {
        const int c = r.get();
        if (c < 0)
            break;
        magic[i] = std::uint8_t(c);
    }
    ImageHeader h;
    try {
        static const std::uint8_t png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
        if (std::memcmp(magic, png, 8) == 0)
            readPng(r, h);
        else if (magic[0] == 0xFF && magic[1] == 0xD8 && magic[2] == 0xFF)
            readJpeg(r, h);
        else if (magic[0] == 'B' && magic[1] == 'M')
            readBmp(r, h);
        else if (magic[0] == 'P' && magic[1] >= '1' && magic[1] <= '7')
            readPnm(r, h, magic[1] - '0');
        else if (std::memcmp(magic, "RIFF", 4) == 0 && std::memcmp(magic + 8, "WEBP", 4) == 0)
            readWebp(r, h);
        else if (std::memcmp(magic, "II*\0", 4) == 0 || std::memcmp(magic, "II+\0", 4) == 0)
            readTiff(r, h, true);
        else if (std::memcmp(magic, "MM\0*", 4) == 0 || std::memcmp(magic, "MM\0+", 4) == 0)
            readTiff(r, h, false);
        else
            throw Error("'" + path +
                        "': not an image in a format primaps reads (PNG, JPEG, BMP, TIFF, WebP, "
                        "PNM)");
    } catch (const Damaged& d) {
        throw Error("'" + path + "': not a readable " + h.format + " image: " + d.why);
    }
    return h;
}

} // namespace primaps
