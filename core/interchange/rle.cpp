// SPDX-License-Identifier: MIT
#include "interchange/rle.h"

#include "support/error.h"

#include <array>

namespace primaps::interchange {

namespace {

class BitWriter
{
public:
    void put(std::uint32_t value, int bits)
    {
        for (int b = bits - 1; b >= 0; --b) {
            if (used_ == 0)
                bytes_.push_back(0);
            if ((value >> b) & 1u)
                bytes_.back() = std::uint8_t(bytes_.back() | (0x80u >> used_));
            used_ = (used_ + 1) % 8;
        }
    }
    std::vector<std::uint8_t> take() { return std::move(bytes_); }

private:
    std::vector<std::uint8_t> bytes_;
    int used_ = 0;
};

class BitReader
{
public:
    explicit BitReader(const std::vector<std::uint8_t>& bytes) : bytes_(bytes) {}
    std::uint32_t get(int bits)
    {
        std::uint32_t v = 0;
        for (int b = 0; b < bits; ++b, ++pos_) {
            if (pos_ / 8 >= bytes_.size())
                throw Error("brush RLE: the stream ends early");
            v = (v << 1) | ((bytes_[pos_ / 8] >> (7 - pos_ % 8)) & 1u);
        }
        return v;
    }

private:
    const std::vector<std::uint8_t>& bytes_;
    std::size_t pos_ = 0;
};

constexpr std::array<int, 4> kRunWidths = {3, 4, 8, 16};

} // namespace

std::vector<std::uint32_t> cocoRunLengths(const cv::Mat& mask)
{
    CV_Assert(mask.type() == CV_8UC1);
    std::vector<std::uint32_t> counts;
    bool inside = false;
    std::uint32_t run = 0;
    for (int x = 0; x < mask.cols; ++x)
        for (int y = 0; y < mask.rows; ++y) {
            const bool v = mask.at<std::uint8_t>(y, x) != 0;
            if (v != inside) {
                counts.push_back(run);
                run = 0;
                inside = v;
            }
            ++run;
        }
    counts.push_back(run);
    return counts;
}

cv::Mat cocoMaskFromRuns(const std::vector<std::uint32_t>& counts, int rows, int cols)
{
    std::uint64_t total = 0;
    for (std::uint32_t c : counts)
        total += c;
    if (total != std::uint64_t(rows) * std::uint64_t(cols))
        throw Error("COCO RLE: the runs cover " + std::to_string(total) + " pixels, the size " +
                    std::to_string(rows) + "x" + std::to_string(cols) + " has " +
                    std::to_string(std::uint64_t(rows) * std::uint64_t(cols)));
    cv::Mat mask(rows, cols, CV_8UC1, cv::Scalar(0));
    std::uint64_t pos = 0;
    for (std::size_t i = 0; i < counts.size(); ++i) {
        if (i % 2 == 1)
            for (std::uint64_t p = pos; p < pos + counts[i]; ++p)
                mask.at<std::uint8_t>(int(p % std::uint64_t(rows)), int(p / std::uint64_t(rows))) = 1;
        pos += counts[i];
    }
    return mask;
}

std::string cocoRleString(const std::vector<std::uint32_t>& counts)
{
    std::string s;
    for (std::size_t i = 0; i < counts.size(); ++i) {
        std::int64_t x = counts[i];
        if (i > 2)
            x -= std::int64_t(counts[i - 2]);
        bool more = true;
        while (more) {
            int c = int(x & 0x1f);
            x >>= 5; // arithmetic shift: negative differences end at -1
            more = (c & 0x10) ? x != -1 : x != 0;
            if (more)
                c |= 0x20;
            s.push_back(char(c + 48));
        }
    }
    return s;
}

std::vector<std::uint32_t> parseCocoRleString(const std::string& text)
{
    std::vector<std::uint32_t> counts;
    std::size_t p = 0;
    while (p < text.size()) {
        // The 5-bit groups are assembled unsigned and sign-extended there: shifting
        // a signed value into or past its sign bit is undefined in C++17. A run
        // (up to 2^32 - 1) or a difference of two runs needs at most 34 bits with
        // its sign, 7 groups; longer values are refused, so every shift stays
        // below 64 and the difference below can be added without overflow.
        constexpr int kMaxGroups = 7;
        std::uint64_t bits = 0;
        int k = 0;
        bool more = true;
        while (more) {
            if (p >= text.size())
                throw Error("COCO RLE: the string ends inside a value");
            const int c = int(static_cast<unsigned char>(text[p])) - 48;
            if (c < 0 || c > 0x3f)
                throw Error("COCO RLE: character '" + std::string(1, text[p]) + "' at " +
                            std::to_string(p) + " is not in the alphabet");
            if (k == kMaxGroups)
                throw Error("COCO RLE: run " + std::to_string(counts.size()) +
                            " is longer than " + std::to_string(kMaxGroups) +
                            " characters, more than a 32-bit run needs");
            bits |= std::uint64_t(c & 0x1f) << (5 * k);
            more = (c & 0x20) != 0;
            ++p;
            ++k;
            if (!more && (c & 0x10))
                bits |= ~std::uint64_t(0) << (5 * k); // sign-extend
        }
        // Two's complement, |x| < 2^35 (the conversion is exact for these values).
        std::int64_t x = static_cast<std::int64_t>(bits);
        if (counts.size() > 2)
            x += std::int64_t(counts[counts.size() - 2]);
        if (x < 0 || x > std::int64_t(UINT32_MAX))
            throw Error("COCO RLE: run " + std::to_string(counts.size()) + " is " +
                        (x < 0 ? "negative" : "beyond 2^32 - 1"));
        counts.push_back(std::uint32_t(x));
    }
    return counts;
}

std::vector<std::uint8_t> brushRleEncode(const std::vector<std::uint8_t>& values)
{
    BitWriter out;
    out.put(std::uint32_t(values.size()), 32);
    out.put(8 - 1, 5);
    for (int w : kRunWidths)
        out.put(std::uint32_t(w - 1), 4);
    std::size_t i = 0;
    while (i < values.size()) {
        std::size_t j = i + 1;
        while (j < values.size() && values[j] == values[i] && j - i < (std::size_t(1) << 16))
            ++j;
        const std::size_t length = j - i;
        int width = 0;
        while ((std::size_t(1) << kRunWidths[std::size_t(width)]) < length)
            ++width;
        // One value: a literal block of one; more: a repeated block.
        out.put(length > 1 ? 1u : 0u, 1);
        out.put(std::uint32_t(width), 2);
        out.put(std::uint32_t(length - 1), kRunWidths[std::size_t(width)]);
        out.put(values[i], 8);
        i = j;
    }
    return out.take();
}

std::vector<std::uint8_t> brushRleDecode(const std::vector<std::uint8_t>& bytes)
{
    BitReader in(bytes);
    const std::uint32_t count = in.get(32);
    const int word = int(in.get(5)) + 1;
    if (word > 8)
        throw Error("brush RLE: words of " + std::to_string(word) + " bits are not 8-bit values");
    std::array<int, 4> widths{};
    for (int& w : widths)
        w = int(in.get(4)) + 1;
    // Every block costs at least 4 bits, so a count beyond what the bytes could
    // describe is refused before anything is allocated.
    if (count > std::uint64_t(bytes.size()) * 8 * 65536)
        throw Error("brush RLE: " + std::to_string(count) + " values do not fit the stream");
    std::vector<std::uint8_t> out;
    out.reserve(count);
    while (out.size() < count) {
        const bool repeated = in.get(1) != 0;
        const int width = widths[in.get(2)];
        const std::uint64_t length = std::uint64_t(in.get(width)) + 1;
        const std::uint64_t end = std::min<std::uint64_t>(count, out.size() + length);
        if (repeated) {
            const std::uint8_t v = std::uint8_t(in.get(word));
            out.resize(std::size_t(end), v);
        } else {
            while (out.size() < end)
                out.push_back(std::uint8_t(in.get(word)));
        }
    }
    return out;
}

std::vector<std::uint8_t> brushRleFromMask(const cv::Mat& mask)
{
    CV_Assert(mask.type() == CV_8UC1);
    std::vector<std::uint8_t> rgba;
    rgba.reserve(mask.total() * 4);
    for (int y = 0; y < mask.rows; ++y)
        for (int x = 0; x < mask.cols; ++x) {
            const std::uint8_t v = mask.at<std::uint8_t>(y, x) ? 255 : 0;
            rgba.insert(rgba.end(), 4, v);
        }
    return brushRleEncode(rgba);
}

cv::Mat brushRleToMask(const std::vector<std::uint8_t>& bytes, int rows, int cols)
{
    const std::vector<std::uint8_t> rgba = brushRleDecode(bytes);
    const std::size_t expected = std::size_t(rows) * std::size_t(cols) * 4;
    if (rgba.size() != expected)
        throw Error("brush RLE: " + std::to_string(rgba.size()) + " values, a " +
                    std::to_string(cols) + "x" + std::to_string(rows) + " RGBA mask has " +
                    std::to_string(expected));
    cv::Mat mask(rows, cols, CV_8UC1);
    for (int y = 0; y < rows; ++y)
        for (int x = 0; x < cols; ++x)
            mask.at<std::uint8_t>(y, x) =
                rgba[(std::size_t(y) * std::size_t(cols) + std::size_t(x)) * 4 + 3] ? 1 : 0;
    return mask;
}

} // namespace primaps::interchange
