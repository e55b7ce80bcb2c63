// SPDX-License-Identifier: MIT
#include "labels/labelexport.h"

#include "support/atomicfile.h"
#include "labels/corrections.h"
#include "support/error.h"
#include "evaluation/evaluation.h"
#include "dataset/featurecache.h"
#include "interchange/indexedpng.h"
#include "image/overlay.h"
#include "support/runtime.h"

#include <algorithm>
#include <array>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

namespace primaps {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
// The manifest keeps its keys in the order written: format first, images last.
using ordered = nlohmann::ordered_json;

std::string absolute(const std::string& path)
{
    std::error_code ec;
    const fs::path p = fs::absolute(path, ec);
    return ec ? path : p.lexically_normal().string();
}

const cv::Vec3b kIgnoreColour(0, 0, 0);

bool exists(const std::string& path)
{
    std::error_code ec;
    return !path.empty() && fs::is_regular_file(path, ec);
}

void makeParent(const std::string& path)
{
    std::error_code ec;
    fs::create_directories(fs::path(path).parent_path(), ec);
    if (ec)
        throw Error("cannot create the folder of '" + path + "': " + ec.message());
}

// Path relative to the export folder, '/'-separated, for the manifest.
std::string relative(const std::string& path, const std::string& base)
{
    return fs::path(path).lexically_relative(base).generic_string();
}

ordered colourJson(const cv::Vec3b& c)
{
    return ordered::array({int(c[0]), int(c[1]), int(c[2])});
}

// The legend: one row per value, a swatch and "value  name".
cv::Mat legendImage(const std::vector<ExportClass>& classes, int ignore)
{
    const int row = 22, width = 300;
    const int rows = int(classes.size()) + 1;
    cv::Mat bgr(rows * row + 8, width, CV_8UC3, cv::Scalar::all(255));
    auto drawRow = [&](int r, const cv::Vec3b& rgb, const std::string& text) {
        const int y = 4 + r * row;
        cv::rectangle(bgr, cv::Rect(6, y + 2, 28, row - 4), cv::Scalar(rgb[2], rgb[1], rgb[0]),
                      cv::FILLED);
        cv::rectangle(bgr, cv::Rect(6, y + 2, 28, row - 4), cv::Scalar::all(90), 1);
        cv::putText(bgr, text, cv::Point(42, y + row - 7), cv::FONT_HERSHEY_SIMPLEX, 0.45,
                    cv::Scalar::all(20), 1, cv::LINE_AA);
    };
    for (std::size_t i = 0; i < classes.size(); ++i)
        drawRow(int(i), classes[i].colour,
                std::to_string(classes[i].value) + "  " + classes[i].name);
    drawRow(rows - 1, kIgnoreColour, std::to_string(ignore) + "  ignore");
    return bgr;
}

} // namespace

const char* toString(ExportLayout layout)
{
    return layout == ExportLayout::Cityscapes ? "cityscapes" : "mirror";
}

ExportLayout exportLayoutFromString(const std::string& name)
{
    if (name == "mirror")
        return ExportLayout::Mirror;
    if (name == "cityscapes")
        return ExportLayout::Cityscapes;
    throw Error("unknown export format '" + name + "' (known: mirror, cityscapes)");
}

const char* toString(ExportSize size)
{
    return size == ExportSize::Prepared ? "prepared" : "original";
}

ExportSize exportSizeFromString(const std::string& name)
{
    if (name == "original")
        return ExportSize::Original;
    if (name == "prepared")
        return ExportSize::Prepared;
    throw Error("unknown label size '" + name + "' (known: original, prepared)");
}

LabelExport::LabelExport(const Dataset& dataset, int clusters, LabelExportSettings settings,
                         ExportSource source)
    : dataset_(dataset), clusters_(clusters), settings_(std::move(settings)),
      source_(std::move(source))
{
    if (clusters_ < 1)
        throw Error("an export needs at least one cluster");
    if (settings_.outDir.empty())
        throw Error("an export needs an output folder");
    if (!(settings_.overlayOpacity >= 0.0f && settings_.overlayOpacity <= 1.0f))
        throw Error("the overlay opacity must be in [0, 1]");
    const bool cityscapes = settings_.layout == ExportLayout::Cityscapes;
    if (cityscapes && dataset_.kind() != DatasetKind::Cityscapes)
        throw Error("the cityscapes format needs a cityscapes dataset");
    if (cityscapes && !mapped())
        throw Error("the cityscapes format writes class label ids; it cannot hold raw clusters");

    if (mapped()) {
        if (int(settings_.clusterToClass.size()) != clusters_)
            throw Error("the match has " + std::to_string(settings_.clusterToClass.size()) +
                        " cluster(s), the prototypes " + std::to_string(clusters_));
        const int k = dataset_.classCount();
        for (int c : settings_.clusterToClass)
            if (c < -1 || c >= k)
                throw Error("the match gives class " + std::to_string(c) + ", the dataset has " +
                            std::to_string(k) + " classes");
        const ClassTable table =
            settings_.classTable.empty() ? defaultClassTable(dataset_) : settings_.classTable;
        if (table.size() != k)
            throw Error("the class table has " + std::to_string(table.size()) +
                        " classes, the dataset " + std::to_string(k));
        for (int c = 0; c < k; ++c) {
            ExportClass e;
            e.id = c;
            e.value = c;
            e.name = table.classes[std::size_t(c)].name;
            e.colour = table.classes[std::size_t(c)].colour;
            if (cityscapes) {
                // The raw label value the dataset maps to class c (7 + c).
                for (int v = 0; v < 256; ++v)
                    if (dataset_.mapLabel(v) == c) {
                        e.value = v;
                        break;
                    }
            }
            classes_.push_back(e);
        }
        ignore_ = cityscapes ? 0 : 255;
    } else {
        for (int c = 0; c < clusters_; ++c)
            classes_.push_back({c, c, "cluster " + std::to_string(c), labelColor(c + 1)});
        depth_ = clusters_ > 255 ? 16 : 8;
        ignore_ = depth_ == 16 ? 65535 : 255;
    }
    if (!settings_.correctionsDir.empty()) {
        if (!mapped())
            throw Error("corrections are in classes; they cannot be applied to raw clusters");
        const CorrectionStore store(settings_.correctionsDir);
        corrected_ = store.keys();
        correctionsDigest_ = store.digest();
    }
}

ExportPaths LabelExport::paths(const DatasetItem& item) const
{
    return pathsOf(item, settings_.colour, settings_.overlay);
}

ExportPaths LabelExport::pathsOf(const DatasetItem& item, bool colour, bool overlay) const
{
    const fs::path out(settings_.outDir);
    ExportPaths p;
    if (settings_.layout == ExportLayout::Cityscapes) {
        // Item ids are "<city>/<name>" with the _leftImg8bit suffix removed.
        const std::string base = (out / "gtFine" / dataset_.split() / item.id).string();
        p.labels = base + "_gtFine_labelIds.png";
        if (colour)
            p.colour = base + "_gtFine_color.png";
    } else {
        p.labels = (out / "labels" / (item.id + ".png")).string();
        if (colour)
            p.colour = (out / "colour" / (item.id + ".png")).string();
    }
    if (overlay)
        p.overlay = (out / "overlay" / (item.id + ".png")).string();
    return p;
}

bool LabelExport::finished(const DatasetItem& item) const
{
    const ExportPaths p = paths(item);
    return exists(p.labels) && (p.colour.empty() || exists(p.colour)) &&
           (p.overlay.empty() || exists(p.overlay));
}

std::string LabelExport::manifestPath() const
{
    return (fs::path(settings_.outDir) / "manifest.json").string();
}

// Everything that decides the label values; an existing export must agree on all.
std::string LabelExport::parametersJson() const
{
    json p = {
        {"dataset",
         {{"kind", toString(dataset_.kind())},
          {"fingerprint", dataset_.fingerprint()},
          {"split", dataset_.split()}}},
        {"prototypes", {{"theta", source_.theta}, {"digest", source_.prototypesDigest}}},
        {"backbone", source_.backbone},
        {"resolution", source_.resolution},
        {"crf", settings_.crf},
        {"values", mapped() ? "classes" : "clusters"},
        {"cluster_to_class", settings_.clusterToClass},
        {"format", toString(settings_.layout)},
        {"size", toString(settings_.size)},
        {"ignore", ignore_},
        {"bit_depth", depth_},
    };
    if (settings_.palette)
        p["palette"] = true; // only when set: earlier manifests have no such key
    if (!settings_.correctionsDir.empty())
        p["corrections"] = {{"folder", absolute(settings_.correctionsDir)},
                            {"digest", correctionsDigest_}};
    return p.dump();
}

void LabelExport::checkFolder(bool compareMatch) const
{
    // Not even --overwrite makes the dataset's own files an export's.
    std::error_code ec;
    const fs::path out = fs::weakly_canonical(fs::absolute(settings_.outDir), ec);
    std::error_code ec2;
    const fs::path root = fs::weakly_canonical(fs::absolute(dataset_.root()), ec2);
    if (!ec && !ec2 && out == root)
        throw Error("'" + settings_.outDir +
                    "' is the dataset's root: the export would mix with its images, labels and "
                    "class list; export into another folder, e.g. a subfolder");
    const std::string manifest = manifestPath();
    if (settings_.overwrite)
        return;
    if (!exists(manifest)) {
        // Without a manifest nothing in the folder is an export of ours, so a
        // file where an export would write is the user's: it must not count as
        // a finished image (it would be listed in the manifest as a label) nor
        // be replaced.
        auto refuse = [&](const std::string& path) {
            // Another shard task of the same export may have written the
            // manifest and its first files since: then they are that export's.
            if (exists(manifest))
                return false;
            throw Error("'" + path + "' already exists and '" + settings_.outDir +
                        "' holds no export manifest (manifest.json), so it was not written by "
                        "an export; use another --out or pass --overwrite to replace such files");
        };
        const fs::path out(settings_.outDir);
        for (const char* name : {"classes.txt", "legend.png"})
            if (exists((out / name).string()) && !refuse((out / name).string()))
                return checkFolder(compareMatch);
        for (const DatasetItem& item : dataset_.items()) {
            const ExportPaths p = pathsOf(item, true, true);
            for (const std::string* path : {&p.labels, &p.colour, &p.overlay})
                if (exists(*path) && !refuse(*path))
                    return checkFolder(compareMatch);
        }
        return;
    }
    const json mine = json::parse(parametersJson());
    json theirs;
    try {
        theirs = json::parse(readFile(manifest)).at("parameters");
    } catch (const json::exception&) {
        throw Error("'" + manifest +
                    "' is not an export manifest; use another --out or pass --overwrite");
    }
    for (auto it = mine.begin(); it != mine.end(); ++it) {
        if (!compareMatch && it.key() == "cluster_to_class")
            continue;
        if (!theirs.contains(it.key()) || theirs.at(it.key()) != it.value())
            throw Error("'" + settings_.outDir + "' holds an export with another '" + it.key() +
                        "' (" + (theirs.contains(it.key()) ? theirs.at(it.key()).dump() : "-") +
                        ", now " + it.value().dump() +
                        "); use another --out or pass --overwrite to replace it");
    }
    if (theirs.contains("corrections") && !mine.contains("corrections"))
        throw Error("'" + settings_.outDir +
                    "' holds an export with corrections applied; this one has none. Use "
                    "another --out or pass --overwrite to replace it");
}

void LabelExport::prepareFolder() const
{
    checkFolder();
    const std::string manifest = manifestPath();
    std::error_code ec;
    fs::create_directories(settings_.outDir, ec);
    if (ec)
        throw Error("cannot create the export folder '" + settings_.outDir + "': " + ec.message());
    std::string names;
    for (const ExportClass& c : classes_)
        names += c.name + "\n";
    writeFileAtomic((fs::path(settings_.outDir) / "classes.txt").string(), names);
    writeImageAtomic((fs::path(settings_.outDir) / "legend.png").string(),
                     legendImage(classes_, ignore_));
    if (!exists(manifest) || settings_.overwrite)
        writeManifest();
}

cv::Mat LabelExport::idsAtOutputSize(const ItemPrediction& prediction,
                                     const std::string& itemId) const
{
    if (prediction.clusters.type() != CV_32S ||
        prediction.clusters.size() != prediction.prepared.rgb.size())
        throw Error("a prediction must be CV_32S cluster ids at the prepared image's size");
    cv::Mat ids; // class ids (or cluster ids); anything outside [0, classes) is ignored
    if (mapped())
        mapClusters(prediction.clusters, settings_.clusterToClass).convertTo(ids, CV_32S);
    else
        ids = prediction.clusters;
    // Corrections live at the prepared size, in classes: applied before the
    // labels are mapped back to the image, like the prediction they replace.
    if (!itemId.empty() && std::binary_search(corrected_.begin(), corrected_.end(), itemId)) {
        const CorrectionStore store(settings_.correctionsDir);
        applyCorrection(ids, store.read(itemId), int(classes_.size()), -1, store.path(itemId));
    }
    if (settings_.size == ExportSize::Prepared)
        return ids;
    return labelsToOriginal(ids, prediction.prepared, -1);
}

cv::Mat LabelExport::labelValues(const ItemPrediction& prediction, const std::string& itemId) const
{
    const cv::Mat ids = idsAtOutputSize(prediction, itemId);
    std::vector<int> value(classes_.size());
    for (std::size_t c = 0; c < classes_.size(); ++c)
        value[c] = classes_[c].value;
    const int k = int(classes_.size());
    cv::Mat out(ids.size(), depth_ == 16 ? CV_16U : CV_8U);
    for (int y = 0; y < ids.rows; ++y) {
        const std::int32_t* in = ids.ptr<std::int32_t>(y);
        for (int x = 0; x < ids.cols; ++x) {
            const int v = in[x] >= 0 && in[x] < k ? value[std::size_t(in[x])] : ignore_;
            if (depth_ == 16)
                out.ptr<std::uint16_t>(y)[x] = std::uint16_t(v);
            else
                out.ptr<std::uint8_t>(y)[x] = std::uint8_t(v);
        }
    }
    return out;
}

int LabelExport::write(const DatasetItem& item, const ItemPrediction& prediction) const
{
    const ExportPaths p = paths(item);
    auto wanted = [&](const std::string& path) {
        return !path.empty() && (settings_.overwrite || !exists(path));
    };
    int written = 0;
    // Pictures first, labels last: a label file on disk means its item is done
    // for a reader that only looks at labels.
    if (wanted(p.colour) || wanted(p.overlay)) {
        const cv::Mat ids = idsAtOutputSize(prediction, item.id);
        const int k = int(classes_.size());
        cv::Mat colour(ids.size(), CV_8UC3);
        for (int y = 0; y < ids.rows; ++y) {
            const std::int32_t* in = ids.ptr<std::int32_t>(y);
            cv::Vec3b* row = colour.ptr<cv::Vec3b>(y);
            for (int x = 0; x < ids.cols; ++x)
                row[x] = in[x] >= 0 && in[x] < k ? classes_[std::size_t(in[x])].colour
                                                 : kIgnoreColour;
        }
        cv::Mat bgr;
        if (wanted(p.colour)) {
            cv::cvtColor(colour, bgr, cv::COLOR_RGB2BGR);
            makeParent(p.colour);
            writeImageAtomic(p.colour, bgr);
            ++written;
        }
        if (wanted(p.overlay)) {
            const cv::Mat& image = settings_.size == ExportSize::Prepared ? prediction.prepared.rgb
                                                                          : prediction.original;
            if (image.size() != ids.size())
                throw Error("the image does not have the size of its labels");
            // Ignored pixels are dimmed rather than painted, so that what has no
            // label stands out from every class.
            const float a = settings_.overlayOpacity;
            cv::Mat blended(ids.size(), CV_8UC3);
            for (int y = 0; y < ids.rows; ++y) {
                const std::int32_t* in = ids.ptr<std::int32_t>(y);
                const cv::Vec3b* src = image.ptr<cv::Vec3b>(y);
                const cv::Vec3b* col = colour.ptr<cv::Vec3b>(y);
                cv::Vec3b* dst = blended.ptr<cv::Vec3b>(y);
                for (int x = 0; x < ids.cols; ++x)
                    for (int c = 0; c < 3; ++c)
                        dst[x][c] = in[x] >= 0 && in[x] < k
                                        ? cv::saturate_cast<std::uint8_t>((1.0f - a) * src[x][c] +
                                                                          a * col[x][c])
                                        : std::uint8_t(src[x][c] * 0.35f);
            }
            cv::cvtColor(blended, bgr, cv::COLOR_RGB2BGR);
            makeParent(p.overlay);
            writeImageAtomic(p.overlay, bgr);
            ++written;
        }
    }
    if (wanted(p.labels)) {
        makeParent(p.labels);
        const cv::Mat values = labelValues(prediction, item.id);
        if (settings_.palette && depth_ == 8) {
            std::vector<cv::Vec3b> palette(256, kIgnoreColour);
            for (const ExportClass& c : classes_)
                palette[std::size_t(c.value)] = c.colour;
            writeFileAtomic(p.labels,
                            interchange::encodeIndexedPng(values, palette, source_.provenanceJson));
        } else {
            writeImageAtomic(p.labels, values);
        }
        ++written;
    }
    return written;
}

std::size_t LabelExport::writeManifest() const
{
    ordered classes = ordered::array();
    for (const ExportClass& c : classes_)
        classes.push_back(
            {{"id", c.id}, {"value", c.value}, {"name", c.name}, {"colour", colourJson(c.colour)}});
    ordered images = ordered::array();
    ordered missing = ordered::array();
    std::size_t colours = 0, overlays = 0;
    for (const DatasetItem& item : dataset_.items()) {
        // Colour and overlay paths are listed whenever they exist, also when this
        // run did not ask for them (an earlier one did).
        const ExportPaths p = pathsOf(item, true, true);
        if (!exists(p.labels)) {
            missing.push_back(item.id);
            continue;
        }
        ordered entry = {{"id", item.id},
                         {"image", absolute(item.imagePath)},
                      {"labels", relative(p.labels, settings_.outDir)}};
        if (exists(p.colour)) {
            entry["colour"] = relative(p.colour, settings_.outDir);
            ++colours;
        }
        if (exists(p.overlay)) {
            entry["overlay"] = relative(p.overlay, settings_.outDir);
            ++overlays;
        }
        if (!item.labelPath.empty())
            entry["ground_truth"] = absolute(item.labelPath);
        if (std::binary_search(corrected_.begin(), corrected_.end(), item.id))
            entry["corrected"] = true;
        images.push_back(entry);
    }
    const ordered manifest = {
        {"format", "primaps-export"},
        {"version", 1},
        {"primaps_version", versionString()},
        {"written", utcTimestamp()},
        {"source",
         {{"run", source_.run},
          {"theta", source_.theta},
          {"backbone", source_.backbone},
          {"weights", source_.weights},
          {"resolution", source_.resolution},
          {"match", source_.match}}},
        {"dataset",
         {{"kind", toString(dataset_.kind())},
          {"root", absolute(dataset_.root())},
          {"split", dataset_.split()},
          {"images", dataset_.size()}}},
        {"parameters", ordered::parse(parametersJson())},
        {"provenance", source_.provenanceJson.empty() ? ordered(nullptr)
                                                      : ordered::parse(source_.provenanceJson)},
        {"label_values", mapped() ? "class ids" : "cluster ids"},
        {"ignore_value", ignore_},
        {"bit_depth", depth_},
        {"classes", classes},
        {"legend", "legend.png"},
        {"class_list", "classes.txt"},
        {"corrections",
         settings_.correctionsDir.empty()
             ? ordered(nullptr)
             : ordered{{"folder", absolute(settings_.correctionsDir)},
                       {"digest", correctionsDigest_},
                       {"images", corrected_}}},
        {"complete", missing.empty()},
        {"counts",
         {{"images", images.size()},
          {"colour", colours},
          {"overlay", overlays},
          {"missing", missing.size()}}},
        {"images", images},
        {"missing", missing},
    };
    writeFileAtomic(manifestPath(), manifest.dump(2) + "\n");
    return images.size();
}

LabelExportJob::LabelExportJob(const LabelExport& exporter, const Dataset& dataset,
                               Backbone& backbone, const FeatureCache& cache,
                               const FeatureSettings& settings, const Prototypes& prototypes,
                               Shard shard, bool strict)
    : exporter_(exporter), dataset_(dataset), backbone_(backbone), cache_(cache),
      settings_(settings), prototypes_(prototypes), shard_(shard), strict_(strict)
{
}

void LabelExportJob::run(JobControl& control)
{
    files_ = 0;
    const bool overwrite = exporter_.settings().overwrite;
    forEachShardItem(dataset_, shard_, report_, control, "export",
                     [&](std::size_t i, const DatasetItem& item) {
                         if (!overwrite && exporter_.finished(item)) {
                             ++report_.reused;
                             return;
                         }
                         try {
                             const ItemPrediction p = predictItem(
                                 dataset_, i, backbone_, cache_, settings_, prototypes_,
                                 exporter_.settings().crf);
                             files_ += std::size_t(exporter_.write(item, p));
                             recordWarnings(report_, item, p.warnings);
                             ++report_.computed;
                         } catch (const std::exception& e) {
                             recordFailure(report_, strict_, item.imagePath, e.what());
                         }
                     });
}

} // namespace primaps
