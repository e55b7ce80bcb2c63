// SPDX-License-Identifier: MIT
#include "support/npy.h"

#include "support/atomicfile.h"
#include "support/error.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <regex>

namespace primaps {

namespace {

constexpr char kMagic[] = "\x93NUMPY";

bool hostIsLittleEndian()
{
    const std::uint16_t probe = 1;
    unsigned char first;
    std::memcpy(&first, &probe, 1);
    return first == 1;
}

struct DType
{
    char kind = 0; // 'f', 'i', 'u', 'b'
    int size = 0;
    bool swap = false;
};

DType parseDtype(const std::string& descr)
{
    if (descr.size() < 3)
        throw Error("unsupported dtype '" + descr + "'");
    DType t;
    const char order = descr[0];
    t.kind = descr[1];
    try {
        t.size = std::stoi(descr.substr(2));
    } catch (...) {
        throw Error("unsupported dtype '" + descr + "'");
    }
    const bool little = hostIsLittleEndian();
    t.swap = (order == '>' && little) || (order == '<' && !little);
    return t;
}

template <typename T> T load(const char* p, bool swap)
{
    char buf[sizeof(T)];
    std::memcpy(buf, p, sizeof(T));
    if (swap)
        std::reverse(buf, buf + sizeof(T));
    T v;
    std::memcpy(&v, buf, sizeof(T));
    return v;
}

float halfToFloat(std::uint16_t h)
{
    const std::uint32_t sign = (h >> 15) & 1u;
    const std::uint32_t exponent = (h >> 10) & 0x1fu;
    const std::uint32_t mantissa = h & 0x3ffu;
    float value;
    if (exponent == 0)
        value = std::ldexp(float(mantissa), -24);
    else if (exponent == 31)
        value = mantissa ? std::nanf("") : INFINITY;
    else
        value = std::ldexp(float(mantissa | 0x400u), int(exponent) - 25);
    return sign ? -value : value;
}

double elementAsDouble(const char* p, const DType& t)
{
    switch (t.kind) {
    case 'f':
        if (t.size == 4)
            return load<float>(p, t.swap);
        if (t.size == 8)
            return load<double>(p, t.swap);
        if (t.size == 2)
            return halfToFloat(load<std::uint16_t>(p, t.swap));
        break;
    case 'i':
        if (t.size == 1)
            return load<std::int8_t>(p, false);
        if (t.size == 2)
            return load<std::int16_t>(p, t.swap);
        if (t.size == 4)
            return load<std::int32_t>(p, t.swap);
        if (t.size == 8)
            return double(load<std::int64_t>(p, t.swap));
        break;
    case 'u':
        if (t.size == 1)
            return load<std::uint8_t>(p, false);
        if (t.size == 2)
            return load<std::uint16_t>(p, t.swap);
        if (t.size == 4)
            return load<std::uint32_t>(p, t.swap);
        if (t.size == 8)
            return double(load<std::uint64_t>(p, t.swap));
        break;
    case 'b':
        if (t.size == 1)
            return *p ? 1.0 : 0.0;
        break;
    }
    throw Error("unsupported dtype");
}

// Index of element `cIndex` (row-major) in storage of the given order.
std::int64_t storageIndex(std::int64_t cIndex, const std::vector<std::int64_t>& shape, bool fortran)
{
    if (!fortran)
        return cIndex;
    std::int64_t rest = cIndex;
    std::int64_t index = 0;
    std::int64_t stride = 1;
    std::vector<std::int64_t> coords(shape.size());
    for (std::size_t d = shape.size(); d-- > 0;) {
        coords[d] = rest % shape[d];
        rest /= shape[d];
    }
    for (std::size_t d = 0; d < shape.size(); ++d) {
        index += coords[d] * stride;
        stride *= shape[d];
    }
    return index;
}

std::string shapeString(const std::vector<std::int64_t>& shape)
{
    std::string s = "(";
    for (std::size_t i = 0; i < shape.size(); ++i)
        s += (i ? ", " : "") + std::to_string(shape[i]);
    if (shape.size() == 1)
        s += ",";
    return s + ")";
}

std::string encode(const std::vector<std::int64_t>& shape, const std::string& descr,
                   const char* data, std::size_t bytes)
{
    std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " +
                         shapeString(shape) + ", }";
    // Pad with spaces so that magic + version + length + header is a multiple of 64.
    const std::size_t unpadded = 6 + 2 + 2 + header.size() + 1;
    header.append((64 - unpadded % 64) % 64, ' ');
    header.push_back('\n');
    std::string out(kMagic, 6);
    out.push_back(char(1));
    out.push_back(char(0));
    const std::uint16_t len = std::uint16_t(header.size());
    out.push_back(char(len & 0xff));
    out.push_back(char(len >> 8));
    out += header;
    out.append(data, bytes);
    return out;
}

} // namespace

std::int64_t NpyArray::elementCount() const
{
    std::int64_t n = 1;
    for (auto d : shape)
        n *= d;
    return n;
}

std::vector<float> NpyArray::toFloat32() const
{
    const DType t = parseDtype(dtype);
    const std::int64_t n = elementCount();
    std::vector<float> out(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
        const std::int64_t s = storageIndex(i, shape, fortranOrder);
        out[std::size_t(i)] = float(elementAsDouble(data.data() + s * t.size, t));
    }
    return out;
}

std::vector<std::uint8_t> NpyArray::toUint8() const
{
    const DType t = parseDtype(dtype);
    if (t.size != 1 || (t.kind != 'u' && t.kind != 'i' && t.kind != 'b'))
        throw Error("expected an 8-bit array, found dtype '" + dtype + "'");
    const std::int64_t n = elementCount();
    std::vector<std::uint8_t> out(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i)
        out[std::size_t(i)] = std::uint8_t(data[std::size_t(storageIndex(i, shape, fortranOrder))]);
    return out;
}

NpyArray readNpy(const std::string& path)
{
    const std::string bytes = readFile(path);
    auto fail = [&](const std::string& why) { return Error("'" + path + "': " + why); };
    if (bytes.size() < 10 || bytes.compare(0, 6, kMagic, 6) != 0)
        throw fail("not a NumPy .npy file (bad magic)");
    const int major = static_cast<unsigned char>(bytes[6]);
    std::size_t headerLen = 0;
    std::size_t offset = 0;
    if (major == 1) {
        headerLen = std::size_t(static_cast<unsigned char>(bytes[8])) |
                    std::size_t(static_cast<unsigned char>(bytes[9])) << 8;
        offset = 10;
    } else if (major == 2 || major == 3) {
        if (bytes.size() < 12)
            throw fail("truncated .npy header");
        for (int i = 0; i < 4; ++i)
            headerLen |= std::size_t(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
        offset = 12;
    } else {
        throw fail("unsupported .npy format version " + std::to_string(major));
    }
    if (bytes.size() < offset + headerLen)
        throw fail("truncated .npy header");
    const std::string header = bytes.substr(offset, headerLen);

    NpyArray array;
    std::smatch m;
    if (!std::regex_search(header, m, std::regex(R"('descr'\s*:\s*'([^']*)')")))
        throw fail("malformed .npy header (no descr)");
    array.dtype = m[1];
    if (!std::regex_search(header, m, std::regex(R"('fortran_order'\s*:\s*(True|False))")))
        throw fail("malformed .npy header (no fortran_order)");
    array.fortranOrder = m[1] == "True";
    if (!std::regex_search(header, m, std::regex(R"('shape'\s*:\s*\(([^)]*)\))")))
        throw fail("malformed .npy header (no shape)");
    const std::string dims = m[1];
    const std::regex number(R"(\d+)");
    std::sregex_iterator it(dims.begin(), dims.end(), number);
    for (; it != std::sregex_iterator(); ++it) {
        try {
            array.shape.push_back(std::stoll((*it)[0]));
        } catch (const std::out_of_range&) {
            throw fail("malformed .npy header (a dimension of shape (" + dims + ") is too large)");
        }
    }

    DType t;
    try {
        t = parseDtype(array.dtype);
    } catch (const Error&) {
        throw fail("unsupported dtype '" + array.dtype + "'");
    }
    if (t.size <= 0 || (t.kind != 'f' && t.kind != 'i' && t.kind != 'u' && t.kind != 'b'))
        throw fail("unsupported dtype '" + array.dtype + "'");
    // The element count and the byte count must not overflow: a header promising
    // 2^62 x 4 elements would otherwise wrap to a small size and pass the check below.
    std::int64_t expectedBytes = t.size;
    for (const std::int64_t d : array.shape)
        if (__builtin_mul_overflow(expectedBytes, d, &expectedBytes))
            throw fail("malformed .npy header (shape " + shapeString(array.shape) +
                       " is too large)");
    const std::size_t expected = std::size_t(expectedBytes);
    const std::size_t available = bytes.size() - offset - headerLen;
    if (available < expected)
        throw fail("truncated: the header promises " + std::to_string(expected) +
                   " bytes of data, the file holds " + std::to_string(available));
    array.data.assign(bytes.begin() + std::ptrdiff_t(offset + headerLen),
                      bytes.begin() + std::ptrdiff_t(offset + headerLen + expected));
    return array;
}

FeatureMap readFeaturesNpy(const std::string& path)
{
    const NpyArray array = readNpy(path);
    const DType t = parseDtype(array.dtype);
    if (t.kind != 'f' || (t.size != 4 && t.size != 8))
        throw Error("'" + path + "': features must be float32 or float64, found dtype '" +
                    array.dtype + "'");
    std::vector<std::int64_t> shape = array.shape;
    if (shape.size() == 4 && shape[0] == 1)
        shape.erase(shape.begin());
    if (shape.size() != 3)
        throw Error("'" + path + "': features must have shape C x h x w, found " +
                    shapeString(array.shape));
    if (shape[0] < 1 || shape[1] < 1 || shape[2] < 1)
        throw Error("'" + path + "': features array is empty " + shapeString(array.shape));
    FeatureMap features(static_cast<int>(shape[0]), static_cast<int>(shape[1]),
                        static_cast<int>(shape[2]));
    features.values = array.toFloat32();
    for (float v : features.values)
        if (!std::isfinite(v))
            throw Error("'" + path + "': features contain NaN or infinite values");
    return features;
}

void writeNpy(const std::string& path, const std::vector<std::int64_t>& shape, const float* values)
{
    std::int64_t n = 1;
    for (auto d : shape)
        n *= d;
    writeFileAtomic(path, encode(shape, hostIsLittleEndian() ? "<f4" : ">f4",
                                 reinterpret_cast<const char*>(values), std::size_t(n) * 4));
}

void writeNpy(const std::string& path, const std::vector<std::int64_t>& shape,
              const std::uint8_t* values)
{
    std::int64_t n = 1;
    for (auto d : shape)
        n *= d;
    writeFileAtomic(path, encode(shape, "|u1", reinterpret_cast<const char*>(values), std::size_t(n)));
}

void writeFeaturesNpy(const std::string& path, const FeatureMap& features)
{
    writeNpy(path, {features.channels, features.height, features.width}, features.values.data());
}

} // namespace primaps
