// SPDX-License-Identifier: MIT
#pragma once

#include "support/featuremap.h"

#include <cstdint>
#include <opencv2/core/mat.hpp>
#include <string>
#include <utility>
#include <vector>

namespace primaps {

/// Everything that decides the content of a cache entry, as ordered name = value
/// pairs (dataset fingerprint, backbone, checkpoint hash, resolution,
/// preprocessing, ...). Two keys are equal when their text is; a cache never
/// serves an entry made under another key.
class CacheKey
{
public:
    /// Appends or replaces `name`. Names and values must not contain newlines
    /// (throws primaps::Error).
    CacheKey& set(const std::string& name, const std::string& value);
    CacheKey& set(const std::string& name, double value);
    /// Canonical text: a format line, then "name=value" lines in insertion order.
    std::string text() const;
    /// 16 hex digits of a 64-bit FNV-1a hash of text(): the cache folder's name.
    std::string digest() const;

private:
    std::vector<std::pair<std::string, std::string>> fields_;
};

/// 16 hex digits of a 64-bit FNV-1a hash of a file's bytes (checkpoint identity for
/// cache keys). Throws primaps::Error naming the file when it cannot be read.
std::string hashFile(const std::string& path);

/// IEEE half precision conversions (round to nearest even; overflow gives infinity).
std::uint16_t floatToHalf(float value);
float halfToFloat(std::uint16_t value);
/// Rounds every value to the nearest fp16, exactly as the cache stores it: work
/// done on freshly computed features then agrees with work on cached ones.
void roundToHalf(std::vector<float>& values);

/// A read-only memory mapping of one feature cache entry. Move-only; unmaps on
/// destruction. The mapping stays valid even if the entry is replaced meanwhile
/// (writers rename a new file over it).
class MappedFeatures
{
public:
    MappedFeatures() = default;
    ~MappedFeatures();
    MappedFeatures(MappedFeatures&& other) noexcept;
    MappedFeatures& operator=(MappedFeatures&& other) noexcept;
    MappedFeatures(const MappedFeatures&) = delete;
    MappedFeatures& operator=(const MappedFeatures&) = delete;

    int channels() const { return channels_; }
    int height() const { return height_; }
    int width() const { return width_; }
    /// channels x height x width halfs, channel-major like FeatureMap.
    const std::uint16_t* data() const { return data_; }
    /// Converts to float32.
    FeatureMap toFeatureMap() const;

private:
    friend class FeatureCache;
    void* base_ = nullptr;
    std::size_t length_ = 0;
    const std::uint16_t* data_ = nullptr;
    int channels_ = 0;
    int height_ = 0;
    int width_ = 0;
};

/// Per-image backbone features on disk: one fp16 file per dataset item under
/// ROOT/features-<key digest>/, memory-mapped for reading.
///
/// Each entry is written to a temporary file and renamed into place, so an
/// interrupted run leaves either a complete entry or none; contains() also
/// checks the header and size, so a damaged file is treated as missing and
/// recomputed. A changed key gives another folder: stale features are never
/// served. Re-running a stage skips the items whose entries exist (resumable),
/// and shards of a job array can fill the same cache concurrently (each writes
/// its own items).
///
/// Threading: all methods are const after construction and may be called from
/// several threads, also by several processes on the same folder.
class FeatureCache
{
public:
    /// Opens or creates the cache folder for `key` under `root` and records the
    /// key's text in key.txt. Throws primaps::Error when the folder cannot be
    /// created or key.txt holds another key (a digest collision).
    FeatureCache(const std::string& root, const CacheKey& key);

    const std::string& directory() const { return directory_; }
    const CacheKey& key() const { return key_; }
    /// Path of the entry of item `id` (it may not exist).
    std::string entryPath(const std::string& id) const;
    /// True when a complete, valid entry exists.
    bool contains(const std::string& id) const;
    /// Stores features (converted to fp16) atomically. Throws primaps::Error when
    /// the features are empty or not finite in fp16, or the file cannot be written.
    void write(const std::string& id, const FeatureMap& features) const;
    /// Maps an entry. Throws primaps::Error naming the file when it is missing,
    /// truncated, of another format or made under another key.
    MappedFeatures map(const std::string& id) const;
    /// map(id).toFeatureMap().
    FeatureMap read(const std::string& id) const { return map(id).toFeatureMap(); }

private:
    CacheKey key_;
    std::uint64_t digest_ = 0;
    std::string directory_;
};

/// Per-image PriMaPs mask ids (CV_8UC1 PNG, 0 = background) under
/// ROOT/masks-<key digest>/, written atomically, resumable like FeatureCache.
/// Threading: as FeatureCache.
class MaskCache
{
public:
    /// Throws like FeatureCache's constructor.
    MaskCache(const std::string& root, const CacheKey& key);

    const std::string& directory() const { return directory_; }
    std::string entryPath(const std::string& id) const;
    bool contains(const std::string& id) const;
    /// Throws primaps::Error when `masks` is not CV_8UC1 or cannot be written.
    void write(const std::string& id, const cv::Mat& masks) const;
    /// Throws primaps::Error naming the file when it is missing or not a
    /// readable single-channel 8-bit image.
    cv::Mat read(const std::string& id) const;

private:
    CacheKey key_;
    std::string directory_;
};

} // namespace primaps
