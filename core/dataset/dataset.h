// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>
#include <memory>
#include <opencv2/core/mat.hpp>
#include <string>
#include <vector>

namespace primaps {

struct PreparedImage;

/// The dataset layouts core can read (see docs or README, "Datasets").
enum class DatasetKind
{
    Folder,      ///< ROOT/images/*.{png,jpg,jpeg}, optional ROOT/labels/<stem>.png and classes.txt
    Cityscapes,  ///< leftImg8bit/<split>/<city>/*_leftImg8bit.png + gtFine/..._gtFine_labelIds.png
    CocoStuff27, ///< curated/<split>2017/Coco164kFull_Stuff_Coarse_7.txt + images/ + annotations/
    Potsdam3,    ///< imgs/<id>.mat ("img"), gt/<id>.mat ("gt"), split lists labelled_*.txt
};

/// "folder", "cityscapes", "cocostuff27", "potsdam3".
const char* toString(DatasetKind kind);
/// Inverse of toString(); throws primaps::Error listing the known names.
DatasetKind datasetKindFromString(const std::string& name);

/// What to open.
struct DatasetOptions
{
    DatasetKind kind = DatasetKind::Folder;
    std::string root;
    /// Split name. Cityscapes: train, val, test, train_extra. COCO-Stuff-27: train, val,
    /// train+val. Potsdam-3: train (labelled_train.txt), val (labelled_test.txt),
    /// unlabelled_train, train+val, all. Folder: empty or "all" for every image, else
    /// ROOT/<split>.txt lists the image stems to use. Empty means "train" for the
    /// benchmark datasets.
    std::string split;
    /// Folder only: number of classes when there is no classes.txt (0 = unknown).
    int classes = 0;
    /// Missing files stop open() with an error naming them instead of being skipped;
    /// load() throws instead of warning about a partly decoded image or label ids
    /// outside the class range.
    bool strict = false;
    /// Folder only: > 0 splits the images (every image in ROOT/images, split lists
    /// are not read) into "val", this fraction of them chosen by a seeded hash of
    /// their file names (stable across runs and machines), and "train", the rest;
    /// `split` must then be "train" or "val". In [0, 1).
    double holdout = 0.0;
};

/// One image of a dataset.
struct DatasetItem
{
    /// Stable, unique name within the dataset: the image's path relative to its
    /// split folder without extension, '/'-separated (e.g. "aachen/aachen_000000_000019").
    /// Used as the cache entry name, so it never contains "..".
    std::string id;
    std::string imagePath;
    std::string labelPath; ///< empty when the image has no label file
};

/// A file that could not be used, with the reason; nothing is skipped silently.
struct DatasetProblem
{
    std::string path;
    std::string message;
};

/// A decoded sample.
struct DatasetSample
{
    cv::Mat rgb;    ///< CV_8UC3, RGB order
    cv::Mat labels; ///< CV_8UC1 class ids in [0, classCount()), 255 = ignore; empty without labels
    /// Problems that did not stop the load, one line each naming the file: a
    /// partly decoded (truncated) image, label ids outside the class range (those
    /// pixels are ignored), a label map of another size (with LabelUse::CheckSize).
    std::vector<std::string> warnings;
};

/// What Dataset::load() does with an item's label file.
enum class LabelUse
{
    Decode,    ///< decode and map it (evaluation, validation)
    CheckSize, ///< only compare its size with the image's, from its header (features, masks)
};

/// A dataset opened from disk: the list of usable items (sorted by id, so every run
/// and every shard sees the same order), the class names, the label mapping and
/// the problems found while listing.
///
/// Opening only lists and checks that files exist; decoding happens in load().
/// Threading: load() is const and may be called from several threads at once.
class Dataset
{
public:
    /// Lists the split. Throws primaps::Error when the root or the split's list or
    /// folder does not exist, when nothing usable is found, or (strict) when any
    /// image or label file is missing; otherwise missing files are recorded in
    /// problems() and their items left out (an image without its label keeps its
    /// place with an empty labelPath).
    static Dataset open(const DatasetOptions& options);

    DatasetKind kind() const { return kind_; }
    const std::string& root() const { return root_; }
    const std::string& split() const { return split_; }
    const std::vector<DatasetItem>& items() const { return items_; }
    std::size_t size() const { return items_.size(); }
    /// Number of classes (27, 27, 3; folder: classes.txt lines or DatasetOptions::classes; 0
    /// when unknown).
    int classCount() const { return int(classNames_.size()); }
    const std::vector<std::string>& classNames() const { return classNames_; }
    /// True when at least one item has a label file.
    bool hasLabels() const;
    /// Files listed by the split but missing on disk, found by open().
    const std::vector<DatasetProblem>& problems() const { return problems_; }
    /// Items the split lists (usable + missing images).
    std::size_t listed() const { return listed_; }

    /// Decodes item `index`: the image as RGB and, with LabelUse::Decode and a
    /// label file, the labels mapped to class ids (255 = ignore). Throws
    /// primaps::Error naming the file when it cannot be decoded or exceeds the
    /// pixel budget, the label has another size than the image (Decode), the label
    /// is not a single-channel 8-bit map, or (strict) the sample would carry a
    /// warning. Thread-safe.
    DatasetSample load(std::size_t index, LabelUse labels = LabelUse::Decode) const;

    /// The fraction of the images held out as "val" (DatasetOptions::holdout).
    double holdout() const { return holdout_; }
    /// A folder dataset read as a whole: no split list and no holdout, so training
    /// and evaluation see the same images.
    bool allImagesOfFolder() const
    {
        return kind_ == DatasetKind::Folder && holdout_ <= 0.0 &&
               (split_.empty() || split_ == "all");
    }

    /// Identity of the data for cache keys: kind and canonical root.
    std::string fingerprint() const;

    /// The class id a raw label value maps to (255 = ignore), for PNG-label kinds.
    int mapLabel(int raw) const { return raw >= 0 && raw < 256 ? lut_[std::size_t(raw)] : 255; }

private:
    DatasetKind kind_ = DatasetKind::Folder;
    std::string root_;
    std::string split_;
    std::vector<DatasetItem> items_;
    std::vector<std::string> classNames_;
    std::vector<DatasetProblem> problems_;
    std::size_t listed_ = 0;
    std::vector<int> lut_ = std::vector<int>(256, 255);
    /// Raw label values that are legitimate (a class or a deliberate "ignore").
    std::vector<bool> knownRaw_ = std::vector<bool>(256, true);
    bool strict_ = false;
    double holdout_ = 0.0;
};

/// Labels prepared like their image (evaluation protocol): nearest-neighbour resize
/// to `prepared.resizedSize`, the same crop, and 255 wherever `prepared.rgb` is
/// padding. Returns CV_8UC1 of `prepared.rgb`'s size. Throws primaps::Error when
/// `labels` is not CV_8UC1 of `prepared.originalSize`.
cv::Mat prepareLabels(const cv::Mat& labels, const PreparedImage& prepared);

/// Reads a MATLAB .mat file's numeric variable as an OpenCV matrix: rank 2 gives
/// one channel, rank 3 (H x W x C) gives C channels (at most 4), in the file's
/// element type (8/16-bit integers, 32/64-bit floats, 32-bit signed). Throws
/// primaps::Error naming the file and variable when the file cannot be read or is
/// not a MAT 5/7.3 file (MATLAB 4 files are refused), the variable is missing,
/// complex, sparse or of another class. Thread-safe.
cv::Mat readMatVariable(const std::string& path, const std::string& variable);

} // namespace primaps
