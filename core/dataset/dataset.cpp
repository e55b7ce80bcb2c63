// SPDX-License-Identifier: MIT
#include "dataset/dataset.h"

#include "support/error.h"
#include "image/imageheader.h"
#include "image/imageio.h"
#include "image/preprocess.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <opencv2/imgproc.hpp>

namespace primaps {

namespace fs = std::filesystem;

namespace {

// Cityscapes: the 27 classes of the unsupervised protocol, label ids 7..33 in order.
const std::vector<std::string> kCityscapesClasses = {
    "road",          "sidewalk",     "parking",    "rail track", "building", "wall",
    "fence",         "guard rail",   "bridge",     "tunnel",     "pole",     "polegroup",
    "traffic light", "traffic sign", "vegetation", "terrain",    "sky",      "person",
    "rider",         "car",          "truck",      "bus",        "caravan",  "trailer",
    "train",         "motorcycle",   "bicycle"};

// COCO-Stuff-27: the 12 thing and 15 stuff supercategories of COCO-Stuff 164k; two
// names occur on both sides and get a suffix so that reports stay unambiguous.
const std::vector<std::string> kCocoStuffClasses = {
    "electronic",  "appliance",  "food (thing)", "furniture (thing)",
    "indoor",      "kitchen",    "accessory",    "animal",
    "outdoor",     "person",     "sports",       "vehicle",
    "ceiling",     "floor",      "food (stuff)", "furniture (stuff)",
    "rawmaterial", "textile",    "wall",         "window",
    "building",    "ground",     "plant",        "sky",
    "solid",       "structural", "water"};

// Fine COCO-Stuff ids (0..181, as in the stuffthingmaps PNGs) to the 27 coarse
// classes above: the mapping of the unsupervised-segmentation protocol.
constexpr std::array<int, 182> kCocoFineToCoarse = {
    9,  11, 11, 11, 11, 11, 11, 11, 11, 8,  8,  8,  8,  8,  8,  7,  7,  7,  7,  7,  // 0..19
    7,  7,  7,  7,  7,  6,  6,  6,  6,  6,  6,  6,  6,  10, 10, 10, 10, 10, 10, 10, // 20..39
    10, 10, 10, 5,  5,  5,  5,  5,  5,  5,  5,  2,  2,  2,  2,  2,  2,  2,  2,  2,  // 40..59
    2,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  0,  0,  0,  0,  0,  0,  1,  1,  1,  // 60..79
    1,  1,  1,  4,  4,  4,  4,  4,  4,  4,  4,  17, 17, 22, 20, 20, 22, 15, 25, 16, // 80..99
    13, 12, 12, 17, 17, 23, 15, 15, 17, 15, 21, 15, 25, 13, 13, 13, 13, 13, 22, 26, // 100..119
    14, 14, 15, 22, 21, 21, 24, 20, 22, 15, 17, 16, 15, 22, 24, 21, 17, 25, 16, 21, // 120..139
    17, 22, 16, 21, 21, 25, 21, 26, 21, 24, 20, 17, 14, 21, 26, 15, 23, 20, 21, 24, // 140..159
    15, 24, 22, 25, 15, 20, 17, 17, 22, 14, 18, 18, 18, 18, 18, 18, 18, 26, 26, 19, // 160..179
    19, 24};                                                                        // 180..181

const std::vector<std::string> kPotsdamClasses = {"road", "building", "vegetation"};

std::string trim(const std::string& s)
{
    std::size_t b = 0, e = s.size();
    while (b < e && std::isspace(static_cast<unsigned char>(s[b])))
        ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1])))
        --e;
    return s.substr(b, e - b);
}

// Non-empty, trimmed lines of a text file. Throws when it cannot be opened.
std::vector<std::string> readLines(const fs::path& path)
{
    std::ifstream in(path);
    if (!in)
        throw Error("cannot open '" + path.string() + "'");
    std::vector<std::string> lines;
    std::string line;
    while (std::getline(in, line)) {
        line = trim(line);
        if (!line.empty())
            lines.push_back(line);
    }
    return lines;
}

bool isFile(const fs::path& p)
{
    std::error_code ec;
    return fs::is_regular_file(p, ec);
}

bool isDir(const fs::path& p)
{
    std::error_code ec;
    return fs::is_directory(p, ec);
}

std::string lower(std::string s)
{
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return char(std::tolower(c)); });
    return s;
}

bool hasImageExtension(const fs::path& p)
{
    const std::string ext = lower(p.extension().string());
    const auto& known = imageExtensions();
    return std::find(known.begin(), known.end(), ext) != known.end();
}

// An id from a split list becomes a relative path; anything that could leave the
// dataset folder is refused rather than followed.
void checkId(const std::string& id, const fs::path& list)
{
    const fs::path p(id);
    if (p.is_absolute() || id.find("..") != std::string::npos || id.find('\\') != std::string::npos)
        throw Error("'" + list.string() + "': entry '" + id +
                    "' is not a plain file name inside the dataset");
}

// Whether an image file is in the hold-out part: FNV-1a over a fixed seed and
// the file name, as a fraction of 2^64. The seed is part of the format: changing
// it would move images between train and val of existing runs.
bool heldOut(const std::string& fileName, double fraction)
{
    std::uint64_t h = 1469598103934665603ull;
    for (unsigned char c : "primaps-holdout-v1\n" + fileName) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return double(h >> 11) / double(1ull << 53) < fraction;
}

} // namespace

const char* toString(DatasetKind kind)
{
    switch (kind) {
    case DatasetKind::Folder:
        return "folder";
    case DatasetKind::Cityscapes:
        return "cityscapes";
    case DatasetKind::CocoStuff27:
        return "cocostuff27";
    case DatasetKind::Potsdam3:
        return "potsdam3";
    }
    return "folder";
}

DatasetKind datasetKindFromString(const std::string& name)
{
    for (DatasetKind k : {DatasetKind::Folder, DatasetKind::Cityscapes, DatasetKind::CocoStuff27,
                          DatasetKind::Potsdam3})
        if (name == toString(k))
            return k;
    throw Error("unknown dataset '" + name +
                "' (known: folder, cityscapes, cocostuff27, potsdam3)");
}

Dataset Dataset::open(const DatasetOptions& options)
{
    Dataset d;
    d.kind_ = options.kind;
    d.root_ = options.root;
    d.strict_ = options.strict;
    if (!(options.holdout >= 0.0 && options.holdout < 1.0))
        throw Error("the hold-out fraction must be in [0, 1)");
    if (options.holdout > 0.0 && options.kind != DatasetKind::Folder)
        throw Error(std::string(toString(options.kind)) +
                    " has its own splits; a hold-out fraction applies to folder datasets");
    d.holdout_ = options.holdout;
    const fs::path root(options.root);
    if (options.root.empty() || !isDir(root))
        throw Error("dataset root '" + options.root + "' is not a folder");
    std::string split = options.split;
    if (split.empty() && options.kind != DatasetKind::Folder)
        split = "train";
    d.split_ = split;

    // Candidate items before the existence check; `expectLabels` says whether a
    // missing label file is a problem worth reporting.
    std::vector<DatasetItem> candidates;
    bool expectLabels = true;
    auto unknownSplit = [&](const std::string& known) {
        return Error(std::string(toString(options.kind)) + ": unknown split '" + split +
                     "' (known: " + known + ")");
    };

    switch (options.kind) {
    case DatasetKind::Folder: {
        const fs::path images = root / "images";
        if (!isDir(images))
            throw Error("folder dataset '" + options.root + "': no 'images' folder inside");
        const fs::path labels = root / "labels";
        expectLabels = isDir(labels);
        std::map<std::string, fs::path> byStem;
        for (const auto& entry : fs::directory_iterator(images)) {
            if (!entry.is_regular_file() || !hasImageExtension(entry.path()))
                continue;
            const std::string stem = entry.path().stem().string();
            if (byStem.count(stem)) {
                d.problems_.push_back(
                    {entry.path().string(),
                     "another image has the same name (" + byStem[stem].string() + "); skipped"});
                continue;
            }
            byStem[stem] = entry.path();
        }
        std::vector<std::string> stems;
        if (options.holdout > 0.0) {
            if (split != "train" && split != "val")
                throw Error("folder dataset '" + options.root +
                            "' with a hold-out: the splits are 'train' and 'val', not '" + split +
                            "'");
            for (const auto& [stem, path] : byStem)
                if (heldOut(path.filename().string(), options.holdout) == (split == "val"))
                    stems.push_back(stem);
        } else if (split.empty() || split == "all") {
            for (const auto& [stem, path] : byStem)
                stems.push_back(stem);
        } else {
            const fs::path list = root / (split + ".txt");
            if (!isFile(list))
                throw Error("folder dataset '" + options.root + "': split '" + split +
                            "' needs a list of image names in '" + list.string() +
                            "' (or hold out a fraction of the images as 'val')");
            stems = readLines(list);
            for (const std::string& s : stems)
                checkId(s, list);
        }
        for (const std::string& stem : stems) {
            DatasetItem item;
            item.id = stem;
            auto found = byStem.find(stem);
            item.imagePath = found != byStem.end() ? found->second.string()
                                                   : (images / (stem + ".png")).string();
            if (expectLabels)
                item.labelPath = (labels / (stem + ".png")).string();
            candidates.push_back(item);
        }
        const fs::path classes = root / "classes.txt";
        if (isFile(classes))
            d.classNames_ = readLines(classes);
        else
            for (int k = 0; k < options.classes; ++k)
                d.classNames_.push_back("class " + std::to_string(k));
        if (!d.classNames_.empty() && d.classNames_.size() > 255)
            throw Error("'" + classes.string() + "': at most 255 classes fit 8-bit label maps");
        const int known = d.classNames_.empty() ? 255 : int(d.classNames_.size());
        for (int v = 0; v < known; ++v)
            d.lut_[std::size_t(v)] = v;
        // Without a class count every id is a class; with one, ids beyond it are
        // mistakes (a label made for another class list), not "ignore".
        for (int v = known; v < 255; ++v)
            d.knownRaw_[std::size_t(v)] = false;
        break;
    }
    case DatasetKind::Cityscapes: {
        if (split != "train" && split != "val" && split != "test" && split != "train_extra")
            throw unknownSplit("train, val, test, train_extra");
        expectLabels = split != "train_extra"; // gtFine has no labels for train_extra
        const fs::path images = root / "leftImg8bit" / split;
        if (!isDir(images))
            throw Error("cityscapes: no folder '" + images.string() + "'");
        const std::string suffix = "_leftImg8bit.png";
        std::vector<fs::path> found;
        for (const auto& city : fs::directory_iterator(images)) {
            if (!city.is_directory())
                continue;
            for (const auto& f : fs::directory_iterator(city.path())) {
                const std::string name = f.path().filename().string();
                if (f.is_regular_file() && name.size() > suffix.size() &&
                    name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
                    found.push_back(f.path());
            }
        }
        for (const fs::path& p : found) {
            const std::string city = p.parent_path().filename().string();
            const std::string name = p.filename().string();
            const std::string base = name.substr(0, name.size() - suffix.size());
            DatasetItem item;
            item.id = city + "/" + base;
            item.imagePath = p.string();
            if (expectLabels)
                item.labelPath =
                    (root / "gtFine" / split / city / (base + "_gtFine_labelIds.png")).string();
            candidates.push_back(item);
        }
        d.classNames_ = kCityscapesClasses;
        for (int v = 7; v <= 33; ++v)
            d.lut_[std::size_t(v)] = v - 7;
        for (int v = 34; v < 255; ++v) // 0..6 are Cityscapes' void classes, ignored
            d.knownRaw_[std::size_t(v)] = false;
        break;
    }
    case DatasetKind::CocoStuff27: {
        std::vector<std::string> dirs;
        if (split == "train")
            dirs = {"train2017"};
        else if (split == "val")
            dirs = {"val2017"};
        else if (split == "train+val")
            dirs = {"train2017", "val2017"};
        else
            throw unknownSplit("train, val, train+val");
        for (const std::string& dir : dirs) {
            const fs::path list = root / "curated" / dir / "Coco164kFull_Stuff_Coarse_7.txt";
            if (!isFile(list))
                throw Error("cocostuff27: the curated image list '" + list.string() +
                            "' is missing (it comes with the unsupervised-segmentation "
                            "download of COCO-Stuff)");
            for (const std::string& id : readLines(list)) {
                checkId(id, list);
                DatasetItem item;
                item.id = dir + "/" + id;
                item.imagePath = (root / "images" / dir / (id + ".jpg")).string();
                item.labelPath = (root / "annotations" / dir / (id + ".png")).string();
                candidates.push_back(item);
            }
        }
        d.classNames_ = kCocoStuffClasses;
        for (std::size_t v = 0; v < kCocoFineToCoarse.size(); ++v)
            d.lut_[v] = kCocoFineToCoarse[v];
        for (std::size_t v = kCocoFineToCoarse.size(); v < 255; ++v)
            d.knownRaw_[v] = false;
        break;
    }
    case DatasetKind::Potsdam3: {
        std::vector<std::string> lists;
        if (split == "train")
            lists = {"labelled_train.txt"};
        else if (split == "val")
            lists = {"labelled_test.txt"};
        else if (split == "unlabelled_train")
            lists = {"unlabelled_train.txt"};
        else if (split == "train+val")
            lists = {"labelled_train.txt", "labelled_test.txt"};
        else if (split == "all")
            lists = {"all.txt"};
        else
            throw unknownSplit("train, val, unlabelled_train, train+val, all");
        expectLabels = split != "unlabelled_train";
        for (const std::string& name : lists) {
            const fs::path list = root / name;
            if (!isFile(list))
                throw Error("potsdam3: split list '" + list.string() + "' is missing");
            for (const std::string& id : readLines(list)) {
                checkId(id, list);
                DatasetItem item;
                item.id = id;
                item.imagePath = (root / "imgs" / (id + ".mat")).string();
                item.labelPath = (root / "gt" / (id + ".mat")).string();
                candidates.push_back(item);
            }
        }
        d.classNames_ = kPotsdamClasses;
        // Fine classes: 0 road, 4 car -> road; 1 building, 5 clutter -> building;
        // 2 low vegetation, 3 tree -> vegetation.
        const int coarse[6] = {0, 1, 2, 2, 0, 1};
        for (int v = 0; v < 6; ++v)
            d.lut_[std::size_t(v)] = coarse[v];
        for (int v = 6; v < 255; ++v)
            d.knownRaw_[std::size_t(v)] = false;
        break;
    }
    }

    std::sort(candidates.begin(), candidates.end(),
              [](const DatasetItem& a, const DatasetItem& b) { return a.id < b.id; });
    d.listed_ = candidates.size();
    std::string firstProblems;
    for (DatasetItem& item : candidates) {
        if (!isFile(item.imagePath)) {
            d.problems_.push_back(
                {item.imagePath, "image missing; item '" + item.id + "' skipped"});
            continue;
        }
        if (!item.labelPath.empty() && !isFile(item.labelPath)) {
            // Potsdam's unlabelled lists share the list format; only report labels the
            // split should have.
            if (expectLabels)
                d.problems_.push_back(
                    {item.labelPath, "label missing; '" + item.id + "' is used without labels"});
            item.labelPath.clear();
        }
        d.items_.push_back(item);
    }
    if (options.strict && !d.problems_.empty()) {
        std::string message = std::string(toString(options.kind)) + " '" + options.root +
                              "': " + std::to_string(d.problems_.size()) +
                              " file problem(s) (strict):";
        for (std::size_t i = 0; i < d.problems_.size() && i < 5; ++i)
            message += " '" + d.problems_[i].path + "': " + d.problems_[i].message + ";";
        throw Error(message);
    }
    if (d.items_.empty())
        throw Error(std::string(toString(options.kind)) + " '" + options.root + "', split '" +
                    split + "': no usable images (" + std::to_string(d.listed_) + " listed, " +
                    std::to_string(d.problems_.size()) + " problems)");
    return d;
}

bool Dataset::hasLabels() const
{
    return std::any_of(items_.begin(), items_.end(),
                       [](const DatasetItem& i) { return !i.labelPath.empty(); });
}

std::string Dataset::fingerprint() const
{
    std::error_code ec;
    fs::path canonical = fs::weakly_canonical(fs::path(root_), ec);
    if (ec)
        canonical = fs::absolute(fs::path(root_));
    return std::string(toString(kind_)) + ":" + canonical.string();
}

DatasetSample Dataset::load(std::size_t index, LabelUse use) const
{
    if (index >= items_.size())
        throw Error("dataset item " + std::to_string(index) + " out of range");
    const DatasetItem& item = items_[index];
    DatasetSample sample;
    auto warn = [&](const std::string& message) {
        if (strict_)
            throw Error(message + " (stopping: strict)");
        sample.warnings.push_back(message);
    };
    const bool decodeLabels = use == LabelUse::Decode && !item.labelPath.empty();
    cv::Mat rawLabels;
    if (kind_ == DatasetKind::Potsdam3) {
        const cv::Mat img = readMatVariable(item.imagePath, "img");
        if (img.channels() < 3)
            throw Error("'" + item.imagePath + "': variable 'img' has " +
                        std::to_string(img.channels()) + " channel(s), expected at least 3");
        std::vector<cv::Mat> planes;
        cv::split(img, planes);
        planes.resize(3); // the infrared channel is not used, as in the reference
        cv::Mat rgb;
        cv::merge(planes, rgb);
        // Floating-point images hold [0, 1] (scaled like torchvision's to_pil_image);
        // integer images are taken as 8-bit values.
        if (rgb.depth() == CV_32F || rgb.depth() == CV_64F)
            rgb.convertTo(sample.rgb, CV_8U, 255.0);
        else
            rgb.convertTo(sample.rgb, CV_8U);
        if (decodeLabels) {
            const cv::Mat gt = readMatVariable(item.labelPath, "gt");
            if (gt.channels() != 1)
                throw Error("'" + item.labelPath + "': variable 'gt' must be a 2-D array");
            cv::Mat ids;
            gt.convertTo(ids, CV_32S);
            rawLabels = ids;
        }
    } else {
        std::string partial;
        sample.rgb = loadImageRgb8(item.imagePath, &partial);
        if (!partial.empty())
            warn(partial);
        if (decodeLabels) {
            rawLabels = loadGray8(item.labelPath, "label map");
        } else if (use == LabelUse::CheckSize && !item.labelPath.empty()) {
            // The label is not needed here, so its problems cost the image nothing.
            try {
                const ImageHeader h = readImageHeader(item.labelPath);
                if (h.width != sample.rgb.cols || h.height != sample.rgb.rows)
                    warn("'" + item.labelPath + "': label map is " + std::to_string(h.width) + "x" +
                         std::to_string(h.height) + " but its image is " +
                         std::to_string(sample.rgb.cols) + "x" + std::to_string(sample.rgb.rows) +
                         "; the image is used, the label cannot be");
            } catch (const Error& e) {
                warn(std::string(e.what()) + "; the image is used, the label cannot be");
            }
        }
    }
    if (!rawLabels.empty()) {
        const std::string& path = item.labelPath;
        if (rawLabels.size() != sample.rgb.size())
            throw Error("'" + path + "': label map is " + std::to_string(rawLabels.cols) + "x" +
                        std::to_string(rawLabels.rows) + " but its image is " +
                        std::to_string(sample.rgb.cols) + "x" + std::to_string(sample.rgb.rows));
        sample.labels.create(rawLabels.size(), CV_8UC1);
        std::size_t unknownPixels = 0;
        std::vector<int> unknownValues; // the first few, for the message
        for (int y = 0; y < rawLabels.rows; ++y) {
            std::uint8_t* out = sample.labels.ptr<std::uint8_t>(y);
            for (int x = 0; x < rawLabels.cols; ++x) {
                const int raw = rawLabels.depth() == CV_8U ? int(rawLabels.ptr<std::uint8_t>(y)[x])
                                                           : rawLabels.ptr<std::int32_t>(y)[x];
                out[x] = std::uint8_t(mapLabel(raw));
                if (raw < 0 || raw > 255 || !knownRaw_[std::size_t(raw)]) {
                    ++unknownPixels;
                    if (unknownValues.size() < 5 &&
                        std::find(unknownValues.begin(), unknownValues.end(), raw) ==
                            unknownValues.end())
                        unknownValues.push_back(raw);
                }
            }
        }
        if (unknownPixels > 0) {
            std::string values;
            for (int v : unknownValues)
                values += (values.empty() ? "" : ", ") + std::to_string(v);
            warn("'" + path + "': " + std::to_string(unknownPixels) +
                 " pixel(s) hold label ids that are no class of " + toString(kind_) +
                 (kind_ == DatasetKind::Folder
                      ? " (classes 0.." + std::to_string(classCount() - 1) + ", 255 = ignore)"
                      : std::string()) +
                 ": " + values + (unknownValues.size() == 5 ? ", ..." : "") + "; they are ignored");
        }
    }
    return sample;
}

cv::Mat prepareLabels(const cv::Mat& labels, const PreparedImage& prepared)
{
    if (labels.type() != CV_8UC1 || labels.size() != prepared.originalSize)
        throw Error("prepareLabels: labels must be CV_8UC1 of the original image size");
    cv::Mat resized;
    if (labels.size() == prepared.resizedSize)
        resized = labels;
    else
        cv::resize(labels, resized, prepared.resizedSize, 0, 0, cv::INTER_NEAREST);
    cv::Mat out(prepared.rgb.size(), CV_8UC1, cv::Scalar(255));
    resized(prepared.regionInResized).copyTo(out(prepared.contentInPrepared));
    return out;
}

} // namespace primaps
