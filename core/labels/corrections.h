// SPDX-License-Identifier: MIT
// The user's label corrections in class space, one PNG per image, kept on disk
// the moment they are made: RUN_DIR/corrections/<item id>.png for a run (the
// dataset's relative paths mirrored), or a folder beside the project file for
// loose images. `primaps export` applies them.
#pragma once

#include "labels/labelmap.h"

#include <cstdint>
#include <opencv2/core/mat.hpp>
#include <string>
#include <vector>

namespace primaps {

/// Values of a correction map (CV_8UC1 at the size of the labels it corrects,
/// for a run the prepared image's size, i.e. ImageReview's layers): class ids
/// for corrected pixels, CorrectionIgnore for pixels the user erased to
/// "ignore", CorrectionNone for pixels left as predicted. Classes must
/// therefore be below 254.
constexpr std::uint8_t CorrectionIgnore = 254;
constexpr std::uint8_t CorrectionNone = 255;

/// The correction that turns `predicted` into `edited` (both CV_8UC1 class ids of
/// the same size, 255 = ignore): the edited value where they differ
/// (255 becomes CorrectionIgnore), CorrectionNone elsewhere. Throws
/// primaps::Error on a size or type mismatch.
cv::Mat correctionFromEdit(const cv::Mat& predicted, const cv::Mat& edited);

/// Writes the corrected pixels into `classIds` (CV_8U or CV_32S, same size):
/// class ids as they are, CorrectionIgnore as `ignoreValue`. Returns the number
/// of corrected pixels. Throws primaps::Error naming `source` when the sizes
/// differ or a class is not below `classes`.
std::int64_t applyCorrection(cv::Mat& classIds, const cv::Mat& correction, int classes,
                             int ignoreValue, const std::string& source = "correction");

/// Corrected pixels per value (index = class id, CorrectionIgnore = erased to
/// ignore); CorrectionNone is not counted.
LabelCounts correctedPixelCounts(const cv::Mat& correction);

/// A folder of correction maps keyed by a relative name (a dataset item's id such
/// as "aachen/aachen_000000_000019", or a loose image's file name without its
/// extension). Nothing is cached in memory: every call reads or writes the disk,
/// each write atomically, so a crash never loses or tears a saved correction.
/// Threading: const; different keys may be used from several threads.
class CorrectionStore
{
public:
    CorrectionStore() = default;
    /// Does not create the folder (the first write() does).
    explicit CorrectionStore(std::string folder);

    /// RUN_DIR/corrections.
    static std::string runFolder(const std::string& runDir);
    /// For loose images: "<project folder>/<project stem>.corrections".
    static std::string projectFolder(const std::string& projectPath);

    const std::string& folder() const { return folder_; }
    bool valid() const { return !folder_.empty(); }

    /// FOLDER/<key>.png. Throws primaps::Error when the key is empty, absolute,
    /// has a ".." or "." component or a backslash (it must stay in the folder).
    std::string path(const std::string& key) const;
    bool contains(const std::string& key) const;
    /// The stored map; empty when there is none. Throws primaps::Error naming the
    /// file when it exists but is not a readable single-channel 8-bit image.
    cv::Mat read(const std::string& key) const;
    /// Stores `correction` (CV_8UC1) atomically, creating folders; a map without
    /// any corrected pixel removes the file instead. Throws primaps::Error naming
    /// the file on failure (the old file stays).
    void write(const std::string& key, const cv::Mat& correction) const;
    /// Removes the key's file (no error when there is none). Throws
    /// primaps::Error naming the file when it cannot be removed.
    void remove(const std::string& key) const;
    /// Keys of every stored correction, sorted; empty when the folder does not exist.
    std::vector<std::string> keys() const;
    /// Corrected pixels per value over all stored corrections (see
    /// correctedPixelCounts()). Throws like read().
    LabelCounts totalCounts() const;
    /// A short digest of every stored correction (keys and bytes), so that an
    /// export can tell whether the corrections changed since it ran.
    std::string digest() const;

private:
    std::string folder_;
};

} // namespace primaps
