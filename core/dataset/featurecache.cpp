// SPDX-License-Identifier: MIT
#include "dataset/featurecache.h"
#include "support/cpufeatures.h"

#include "support/atomicfile.h"
#include "support/error.h"
#include "image/imageio.h"

#include <cmath>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

namespace primaps {

namespace fs = std::filesystem;

namespace {

constexpr char kMagic[4] = {'P', 'M', 'F', 'C'};
constexpr std::uint32_t kVersion = 1;
constexpr std::size_t kHeaderSize = 32;

// Entry header, little-endian on disk (the project targets little-endian hosts;
// a mismatching magic or version simply marks the entry invalid).
struct Header
{
    char magic[4];
    std::uint32_t version;
    std::uint32_t channels;
    std::uint32_t height;
    std::uint32_t width;
    std::uint32_t reserved;
    std::uint64_t keyDigest;
};
static_assert(sizeof(Header) == kHeaderSize, "cache entry header must be 32 bytes");

std::uint64_t fnv1a(const void* data, std::size_t size, std::uint64_t hash = 1469598103934665603ull)
{
    const auto* bytes = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < size; ++i) {
        hash ^= bytes[i];
        hash *= 1099511628211ull;
    }
    return hash;
}

std::string hex64(std::uint64_t v)
{
    char buffer[17];
    std::snprintf(buffer, sizeof buffer, "%016llx", static_cast<unsigned long long>(v));
    return buffer;
}

// Item ids are relative '/'-separated names (DatasetItem::id); refuse anything that
// would escape the cache folder.
void checkId(const std::string& id)
{
    if (id.empty() || id.front() == '/' || id.find("..") != std::string::npos ||
        id.find('\\') != std::string::npos || id.find('\n') != std::string::npos)
        throw Error("cache entry name '" + id + "' is not a plain relative name");
}

// Creates `directory` with key.txt, or checks that an existing key.txt matches.
void openKeyedFolder(const std::string& directory, const CacheKey& key)
{
    std::error_code ec;
    fs::create_directories(directory, ec);
    if (ec)
        throw Error("cannot create cache folder '" + directory + "': " + ec.message());
    const std::string keyPath = (fs::path(directory) / "key.txt").string();
    const std::string text = key.text();
    if (fs::exists(keyPath)) {
        if (readFile(keyPath) != text)
            throw Error("cache folder '" + directory +
                        "' belongs to another key (hash collision); remove it or use another "
                        "cache root");
        return;
    }
    writeFileAtomic(keyPath, text);
}

void makeParent(const std::string& path)
{
    std::error_code ec;
    fs::create_directories(fs::path(path).parent_path(), ec);
    if (ec)
        throw Error("cannot create folder for '" + path + "': " + ec.message());
}

} // namespace

CacheKey& CacheKey::set(const std::string& name, const std::string& value)
{
    if (name.find('\n') != std::string::npos || value.find('\n') != std::string::npos ||
        name.find('=') != std::string::npos)
        throw Error("cache key field '" + name + "' must be one line without '=' in its name");
    for (auto& field : fields_)
        if (field.first == name) {
            field.second = value;
            return *this;
        }
    fields_.emplace_back(name, value);
    return *this;
}

CacheKey& CacheKey::set(const std::string& name, double value)
{
    std::ostringstream s;
    s.precision(17);
    s << value;
    return set(name, s.str());
}

std::string CacheKey::text() const
{
    std::string text = "primaps-cache-key 1\n";
    for (const auto& [name, value] : fields_)
        text += name + "=" + value + "\n";
    return text;
}

std::string CacheKey::digest() const
{
    const std::string t = text();
    return hex64(fnv1a(t.data(), t.size()));
}

std::string hashFile(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw Error("cannot read '" + path + "' to hash it");
    std::uint64_t hash = 1469598103934665603ull;
    std::vector<char> buffer(std::size_t(1) << 20);
    while (in) {
        in.read(buffer.data(), std::streamsize(buffer.size()));
        hash = fnv1a(buffer.data(), std::size_t(in.gcount()), hash);
    }
    if (in.bad())
        throw Error("cannot read '" + path + "' to hash it");
    return hex64(hash);
}

std::uint16_t floatToHalf(float value)
{
    std::uint32_t bits;
    std::memcpy(&bits, &value, 4);
    const std::uint32_t sign = (bits >> 16) & 0x8000u;
    const std::uint32_t exponent = (bits >> 23) & 0xffu;
    std::uint32_t mantissa = bits & 0x7fffffu;
    if (exponent == 0xff) // infinity or NaN (keep NaN quiet and non-zero)
        return std::uint16_t(sign | 0x7c00u | (mantissa ? 0x200u : 0u));
    const int e = int(exponent) - 127 + 15;
    if (e >= 31)
        return std::uint16_t(sign | 0x7c00u);
    if (e <= 0) {
        // Subnormal half (or zero): shift the full mantissa, rounding to nearest even.
        if (e < -10)
            return std::uint16_t(sign);
        mantissa |= 0x800000u;
        const int shift = 14 - e;
        std::uint32_t half = mantissa >> shift;
        const std::uint32_t rest = mantissa & ((1u << shift) - 1u);
        const std::uint32_t halfway = 1u << (shift - 1);
        if (rest > halfway || (rest == halfway && (half & 1u)))
            ++half;
        return std::uint16_t(sign | half);
    }
    std::uint32_t half = (std::uint32_t(e) << 10) | (mantissa >> 13);
    const std::uint32_t rest = mantissa & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (half & 1u)))
        ++half; // may carry into the exponent, up to infinity: still correct
    return std::uint16_t(sign | half);
}

void roundToHalf(std::vector<float>& values)
{
    for (float& v : values)
        v = halfToFloat(floatToHalf(v));
}

float halfToFloat(std::uint16_t h)
{
    const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
    const std::uint32_t exponent = (h >> 10) & 0x1fu;
    const std::uint32_t mantissa = h & 0x3ffu;
    std::uint32_t bits;
    if (exponent == 0) {
        if (mantissa == 0) {
            bits = sign;
        } else {
            const float v = std::ldexp(float(mantissa), -24);
            std::memcpy(&bits, &v, 4);
            bits |= sign;
        }
    } else if (exponent == 31) {
        bits = sign | 0x7f800000u | (mantissa << 13);
    } else {
        bits = sign | ((exponent + 112u) << 23) | (mantissa << 13);
    }
    float out;
    std::memcpy(&out, &bits, 4);
    return out;
}

MappedFeatures::~MappedFeatures()
{
    if (base_)
        ::munmap(base_, length_);
}

MappedFeatures::MappedFeatures(MappedFeatures&& other) noexcept
{
    *this = std::move(other);
}

MappedFeatures& MappedFeatures::operator=(MappedFeatures&& other) noexcept
{
    if (this != &other) {
        if (base_)
            ::munmap(base_, length_);
        base_ = std::exchange(other.base_, nullptr);
        length_ = std::exchange(other.length_, 0);
        data_ = std::exchange(other.data_, nullptr);
        channels_ = std::exchange(other.channels_, 0);
        height_ = std::exchange(other.height_, 0);
        width_ = std::exchange(other.width_, 0);
    }
    return *this;
}

namespace {

#if defined(__x86_64__) && defined(__GNUC__)
// Eight halfs per instruction (F16C); the conversion is exact, as halfToFloat's.
__attribute__((target("avx,f16c"))) void halfsToFloatsF16c(const std::uint16_t* in, float* out,
                                                           std::size_t count)
{
    std::size_t i = 0;
    for (; i + 8 <= count; i += 8)
        _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(
                                      reinterpret_cast<const __m128i*>(in + i))));
    for (; i < count; ++i)
        out[i] = halfToFloat(in[i]);
}
#endif

// Every cached map is converted at each read (an EM epoch reads every image).
void halfsToFloats(const std::uint16_t* in, float* out, std::size_t count)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (cpuHasF16c()) {
        halfsToFloatsF16c(in, out, count);
        return;
    }
#endif
    for (std::size_t i = 0; i < count; ++i)
        out[i] = halfToFloat(in[i]);
}

} // namespace

FeatureMap MappedFeatures::toFeatureMap() const
{
    FeatureMap f(channels_, height_, width_);
    halfsToFloats(data_, f.values.data(), f.values.size());
    return f;
}

FeatureCache::FeatureCache(const std::string& root, const CacheKey& key)
    : key_(key), directory_((fs::path(root) / ("features-" + key.digest())).string())
{
    const std::string t = key.text();
    digest_ = fnv1a(t.data(), t.size());
    openKeyedFolder(directory_, key_);
}

std::string FeatureCache::entryPath(const std::string& id) const
{
    checkId(id);
    return (fs::path(directory_) / (id + ".f16")).string();
}

bool FeatureCache::contains(const std::string& id) const
{
    const std::string path = entryPath(id);
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return false;
    Header h;
    if (!in.read(reinterpret_cast<char*>(&h), sizeof h))
        return false;
    if (std::memcmp(h.magic, kMagic, 4) != 0 || h.version != kVersion || h.keyDigest != digest_)
        return false;
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    return !ec && size == kHeaderSize + 2ull * h.channels * h.height * h.width && h.channels > 0 &&
           h.height > 0 && h.width > 0;
}

void FeatureCache::write(const std::string& id, const FeatureMap& features) const
{
    const std::string path = entryPath(id);
    if (features.empty() ||
        features.values.size() != std::size_t(features.channels) * features.positions())
        throw Error("cannot cache empty or inconsistent features for '" + id + "'");
    Header h{};
    std::memcpy(h.magic, kMagic, 4);
    h.version = kVersion;
    h.channels = std::uint32_t(features.channels);
    h.height = std::uint32_t(features.height);
    h.width = std::uint32_t(features.width);
    h.keyDigest = digest_;
    std::string bytes(kHeaderSize + 2 * features.values.size(), '\0');
    std::memcpy(bytes.data(), &h, sizeof h);
    auto* out = reinterpret_cast<std::uint16_t*>(bytes.data() + kHeaderSize);
    for (std::size_t i = 0; i < features.values.size(); ++i) {
        const std::uint16_t v = floatToHalf(features.values[i]);
        if ((v & 0x7c00u) == 0x7c00u)
            throw Error("features of '" + id +
                        "' are not finite in half precision (|value| > "
                        "65504 or NaN); not cached");
        out[i] = v;
    }
    makeParent(path);
    writeFileAtomic(path, bytes);
}

MappedFeatures FeatureCache::map(const std::string& id) const
{
    const std::string path = entryPath(id);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        throw Error("feature cache entry '" + path + "' is missing");
    struct stat st;
    if (::fstat(fd, &st) != 0 || std::size_t(st.st_size) < kHeaderSize) {
        ::close(fd);
        throw Error("feature cache entry '" + path + "' is truncated");
    }
    const std::size_t length = std::size_t(st.st_size);
    void* base = ::mmap(nullptr, length, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd); // the mapping keeps the file alive
    if (base == MAP_FAILED)
        throw Error("cannot map feature cache entry '" + path + "'");
    MappedFeatures m;
    m.base_ = base;
    m.length_ = length;
    Header h;
    std::memcpy(&h, base, sizeof h);
    if (std::memcmp(h.magic, kMagic, 4) != 0 || h.version != kVersion)
        throw Error("'" + path + "' is not a feature cache entry of this version");
    if (h.keyDigest != digest_)
        throw Error("'" + path + "' was made under another cache key; not used");
    if (h.channels == 0 || h.height == 0 || h.width == 0 ||
        length != kHeaderSize + 2ull * h.channels * h.height * h.width)
        throw Error("feature cache entry '" + path + "' is truncated or damaged");
    m.channels_ = int(h.channels);
    m.height_ = int(h.height);
    m.width_ = int(h.width);
    m.data_ = reinterpret_cast<const std::uint16_t*>(static_cast<const char*>(base) + kHeaderSize);
    return m;
}

MaskCache::MaskCache(const std::string& root, const CacheKey& key)
    : key_(key), directory_((fs::path(root) / ("masks-" + key.digest())).string())
{
    openKeyedFolder(directory_, key_);
}

std::string MaskCache::entryPath(const std::string& id) const
{
    checkId(id);
    return (fs::path(directory_) / (id + ".png")).string();
}

bool MaskCache::contains(const std::string& id) const
{
    // Writes are atomic, so a present file is complete; the PNG signature and the
    // IEND trailer still catch a file damaged afterwards, without decoding it.
    std::ifstream in(entryPath(id), std::ios::binary | std::ios::ate);
    if (!in)
        return false;
    const std::streamoff size = in.tellg();
    if (size < 8 + 12)
        return false;
    char head[8], tail[12];
    in.seekg(0);
    in.read(head, 8);
    in.seekg(size - 12);
    in.read(tail, 12);
    return in && std::memcmp(head, "\x89PNG\r\n\x1a\n", 8) == 0 &&
           std::memcmp(tail + 4, "IEND", 4) == 0;
}

void MaskCache::write(const std::string& id, const cv::Mat& masks) const
{
    if (masks.type() != CV_8UC1 || masks.empty())
        throw Error("mask ids for '" + id + "' must be a non-empty CV_8UC1 image");
    const std::string path = entryPath(id);
    makeParent(path);
    writeImageAtomic(path, masks);
}

cv::Mat MaskCache::read(const std::string& id) const
{
    const std::string path = entryPath(id);
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
        throw Error("mask cache entry '" + path + "' is missing");
    return loadGray8(path, "mask cache entry");
}

} // namespace primaps
