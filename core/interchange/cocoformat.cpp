// SPDX-License-Identifier: MIT
// COCO (https://cocodataset.org/#format-data): the semantic export as COCO-Stuff
// writes it (one annotation per class present in an image, compressed RLE,
// iscrowd 0), COCO panoptic (one segment per connected component of a class),
// and reading COCO annotations back (RLE or polygons).
#include "interchange/interchange.h"

#include "support/atomicfile.h"
#include "support/error.h"
#include "interchange/rle.h"
#include "support/jsontext_p.h"
#include "support/runtime.h"

#include <cmath>
#include <filesystem>
#include <memory>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace primaps::interchange {

namespace {

namespace fs = std::filesystem;
using ordered = nlohmann::ordered_json;
using json = nlohmann::json;

ordered infoJson(const InterchangeSet& set)
{
    const std::string date = utcTimestamp();
    return {{"description", "PriMaPs pseudo-labels (" + set.split + ")"},
            {"version", versionString()},
            {"year", std::stoi(date.substr(0, 4))},
            {"contributor", "primaps " + versionString()},
            {"date_created", date},
            {"primaps", ordered::parse(set.provenanceJson)}};
}

ordered imageJson(const InterchangeImage& image, int id, const cv::Mat& values)
{
    return {{"id", id},
            {"file_name", image.fileName},
            {"width", values.cols},
            {"height", values.rows},
            {"primaps_item", image.id}};
}

ordered bboxJson(const cv::Mat& mask)
{
    const cv::Rect r = cv::boundingRect(mask);
    return ordered::array({r.x, r.y, r.width, r.height});
}

} // namespace

std::vector<std::string> writeCoco(const InterchangeSet& set, std::vector<std::string>& kept)
{
    std::vector<std::string> written;
    const std::string path = (fs::path(set.outDir) / ("coco_" + set.split + ".json")).string();
    std::error_code ec;
    if (!set.overwrite && fs::exists(path, ec)) {
        kept.push_back(path);
        return written;
    }
    ordered categories = ordered::array();
    for (const InterchangeClass& c : set.classes)
        categories.push_back({{"id", c.id + 1},
                              {"name", c.name},
                              {"supercategory", "primaps"},
                              {"color", {int(c.colour[0]), int(c.colour[1]), int(c.colour[2])}},
                              {"primaps_value", c.value}});
    ordered images = ordered::array();
    ordered annotations = ordered::array();
    int annotationId = 0;
    for (std::size_t i = 0; i < set.images.size(); ++i) {
        const cv::Mat values = readLabelValues(set.images[i].labelsPath);
        images.push_back(imageJson(set.images[i], int(i) + 1, values));
        for (const InterchangeClass& c : set.classes) {
            const cv::Mat mask = values == c.value;
            const int area = cv::countNonZero(mask);
            if (area == 0)
                continue;
            annotations.push_back(
                {{"id", ++annotationId},
                 {"image_id", int(i) + 1},
                 {"category_id", c.id + 1},
                 {"segmentation",
                  {{"size", {values.rows, values.cols}},
                   {"counts", cocoRleString(cocoRunLengths(mask))}}},
                 {"area", area},
                 {"bbox", bboxJson(mask)},
                 {"iscrowd", 0}});
        }
    }
    const ordered coco = {{"info", infoJson(set)},
                          {"licenses", ordered::array()},
                          {"images", images},
                          {"annotations", annotations},
                          {"categories", categories}};
    writeOutput(path, coco.dump() + "\n", true, written, kept);
    return written;
}

std::vector<std::string> writeCocoPanoptic(const InterchangeSet& set,
                                           std::vector<std::string>& kept)
{
    std::vector<std::string> written;
    const fs::path out(set.outDir);
    const std::string folder = "panoptic_" + set.split;
    const std::string path = (out / (folder + ".json")).string();
    std::error_code ec;
    const bool keepJson = !set.overwrite && fs::exists(path, ec);
    std::map<int, const InterchangeClass*> byValue;
    for (const InterchangeClass& c : set.classes)
        byValue[c.value] = &c;
    ordered categories = ordered::array();
    for (const InterchangeClass& c : set.classes)
        categories.push_back({{"id", c.id + 1},
                              {"name", c.name},
                              {"supercategory", "primaps"},
                              {"isthing", 1},
                              {"color", {int(c.colour[0]), int(c.colour[1]), int(c.colour[2])}}});
    ordered images = ordered::array();
    ordered annotations = ordered::array();
    for (std::size_t i = 0; i < set.images.size(); ++i) {
        const InterchangeImage& image = set.images[i];
        const cv::Mat values = readLabelValues(image.labelsPath);
        int count = 0;
        const cv::Mat components = componentsPerValue(values, set.ignoreValue, &count);
        // Segment k is colour R + 256 G + 256^2 B = k (0 = void, the ignored pixels).
        cv::Mat bgr(values.size(), CV_8UC3);
        std::vector<int> area(std::size_t(count) + 1, 0), category(std::size_t(count) + 1, 0);
        std::vector<cv::Rect> box(std::size_t(count) + 1);
        for (int y = 0; y < values.rows; ++y)
            for (int x = 0; x < values.cols; ++x) {
                const int k = components.at<std::int32_t>(y, x);
                bgr.at<cv::Vec3b>(y, x) = cv::Vec3b(std::uint8_t(k >> 16), std::uint8_t(k >> 8),
                                                    std::uint8_t(k));
                if (k == 0)
                    continue;
                const auto cls = byValue.find(values.at<std::uint8_t>(y, x));
                category[std::size_t(k)] = cls == byValue.end() ? 0 : cls->second->id + 1;
                box[std::size_t(k)] = area[std::size_t(k)]++ == 0
                                          ? cv::Rect(x, y, 1, 1)
                                          : box[std::size_t(k)] | cv::Rect(x, y, 1, 1);
            }
        ordered segments = ordered::array();
        for (int k = 1; k <= count; ++k) {
            const cv::Rect& r = box[std::size_t(k)];
            segments.push_back({{"id", k},
                                {"category_id", category[std::size_t(k)]},
                                {"area", area[std::size_t(k)]},
                                {"bbox", {r.x, r.y, r.width, r.height}},
                                {"iscrowd", 0}});
        }
        const std::string png = image.id + ".png";
        std::vector<std::uint8_t> bytes;
        if (!cv::imencode(".png", bgr, bytes))
            throw Error("cannot encode the panoptic PNG of '" + image.id + "'");
        writeOutput((out / folder / png).string(), std::string(bytes.begin(), bytes.end()),
                    set.overwrite, written, kept);
        images.push_back(imageJson(image, int(i) + 1, values));
        annotations.push_back(
            {{"image_id", int(i) + 1}, {"file_name", png}, {"segments_info", segments}});
    }
    if (keepJson) {
        kept.push_back(path);
        return written;
    }
    const ordered panoptic = {{"info", infoJson(set)},
                              {"licenses", ordered::array()},
                              {"images", images},
                              {"annotations", annotations},
                              {"categories", categories}};
    writeOutput(path, panoptic.dump() + "\n", true, written, kept);
    return written;
}

AnnotationSet readCoco(const std::string& path)
{
    // The document stays parsed (shared by the images' decoders); each image's
    // map is made only when the import asks for it.
    auto coco = std::make_shared<const json>(parseJsonText(readFile(path), path));
    const std::string file = "'" + path + "'";
    if (!coco->is_object() || !coco->contains("images") || !(*coco)["images"].is_array() ||
        !coco->contains("annotations") || !(*coco)["annotations"].is_array() ||
        !coco->contains("categories") || !(*coco)["categories"].is_array())
        throw Error(file + ": not a COCO file (it needs images, annotations and categories)");
    AnnotationSet set;
    const json& info = coco->contains("info") ? (*coco)["info"] : json();
    if (info.is_object() && info.contains("primaps"))
        set.provenanceJson = info["primaps"].dump();
    std::map<long long, int> categoryLabel;
    for (const json& c : (*coco)["categories"]) {
        if (!c.is_object() || !c.contains("id") || !c["id"].is_number_integer() ||
            !c.contains("name") || !c["name"].is_string())
            throw Error(file + ": a category without an integer id and a name: " + c.dump());
        categoryLabel[c["id"].get<long long>()] = int(set.labels.size());
        set.labels.push_back(c["name"].get<std::string>());
    }
    struct Image
    {
        int width = 0, height = 0;
        std::vector<const json*> annotations;
    };
    auto images = std::make_shared<std::map<long long, Image>>();
    std::vector<std::pair<long long, std::string>> order;
    for (const json& im : (*coco)["images"]) {
        if (!im.is_object() || !im.contains("id") || !im["id"].is_number_integer() ||
            !im.contains("width") || !im.contains("height") || !im["width"].is_number_integer() ||
            !im["height"].is_number_integer()) {
            set.problems.emplace_back(path, "an image without id, width and height: " + im.dump());
            continue;
        }
        // Integers (checked above), compared in 64 bits: no size is cut to int unchecked.
        const auto w = im["width"].get<std::int64_t>(), h = im["height"].get<std::int64_t>();
        if (w < 1 || h < 1 || w > (std::int64_t(1) << 28) || h > (std::int64_t(1) << 28) ||
            w * h > (std::int64_t(1) << 28)) {
            set.problems.emplace_back(path, "image " + im["id"].dump() + " has an unusable size");
            continue;
        }
        std::string name = im.contains("primaps_item") && im["primaps_item"].is_string()
                               ? im["primaps_item"].get<std::string>()
                               : std::string();
        if (name.empty() && im.contains("file_name") && im["file_name"].is_string())
            name = im["file_name"].get<std::string>();
        const long long id = im["id"].get<long long>();
        if (images->count(id)) {
            set.problems.emplace_back(path, "image id " + std::to_string(id) + " is listed twice");
            continue;
        }
        (*images)[id] = Image{int(w), int(h), {}};
        order.emplace_back(id, name);
    }
    for (const json& a : (*coco)["annotations"]) {
        if (!a.is_object() || !a.contains("image_id") || !a["image_id"].is_number_integer()) {
            set.problems.emplace_back(path, "an annotation without an integer image_id");
            continue;
        }
        const auto image = images->find(a["image_id"].get<long long>());
        if (image == images->end()) {
            set.problems.emplace_back(path, "an annotation refers to image " +
                                                a["image_id"].dump() + ", which is not listed");
            continue;
        }
        image->second.annotations.push_back(&a);
    }
    for (const auto& [id, name] : order) {
        const long long imageId = id;
        set.images.push_back(
            {name, [coco, images, imageId, categoryLabel, path](std::vector<std::string>&,
                                                                std::vector<std::string>& problems) {
                 const Image& image = images->at(imageId);
                 cv::Mat labels(image.height, image.width, CV_32S, cv::Scalar(-1));
                 for (const json* annotation : image.annotations) {
                     const json& a = *annotation;
                     const std::string where =
                         "annotation " + (a.contains("id") ? a["id"].dump() : "?") + ": ";
                     try {
                         if (!a.contains("category_id") || !a.contains("segmentation"))
                             throw Error("needs category_id and segmentation");
                         const auto label = categoryLabel.find(
                             jsonInteger(a["category_id"], "its category_id",
                                         std::numeric_limits<std::int64_t>::min(),
                                         std::numeric_limits<std::int64_t>::max()));
                         if (label == categoryLabel.end())
                             throw Error("refers to category " + a["category_id"].dump() +
                                         ", which is not listed");
                         const json& seg = a["segmentation"];
                         cv::Mat mask;
                         if (seg.is_object()) {
                             const int h = jsonInt(seg.at("size").at(0), "an RLE size");
                             const int w = jsonInt(seg.at("size").at(1), "an RLE size");
                             if (h != labels.rows || w != labels.cols)
                                 throw Error("its RLE is " + std::to_string(w) + "x" +
                                             std::to_string(h) + ", the image " +
                                             std::to_string(labels.cols) + "x" +
                                             std::to_string(labels.rows));
                             const json& counts = seg.at("counts");
                             mask = counts.is_string()
                                        ? cocoMaskFromRuns(
                                              parseCocoRleString(counts.get<std::string>()), h, w)
                                        : cocoMaskFromRuns(
                                              jsonIntegers<std::uint32_t>(counts, "RLE counts"),
                                              h, w);
                         } else if (seg.is_array()) {
                             // Polygons [x1, y1, x2, y2, ...] in pixels (CVAT's COCO export).
                             mask = cv::Mat(labels.size(), CV_8UC1, cv::Scalar(0));
                             for (const json& polygon : seg) {
                                 const std::vector<double> xy = polygon.get<std::vector<double>>();
                                 std::vector<cv::Point> points;
                                 for (std::size_t k = 0; k + 1 < xy.size(); k += 2)
                                     if (std::isfinite(xy[k]) && std::isfinite(xy[k + 1]) &&
                                         std::abs(xy[k]) < 1e7 && std::abs(xy[k + 1]) < 1e7)
                                         points.emplace_back(int(std::lround(xy[k])),
                                                             int(std::lround(xy[k + 1])));
                                 if (points.size() >= 3)
                                     cv::fillPoly(mask, std::vector<std::vector<cv::Point>>{points},
                                                  cv::Scalar(1));
                             }
                         } else {
                             throw Error("its segmentation is neither RLE nor polygons");
                         }
                         labels.setTo(cv::Scalar(label->second), mask);
                     } catch (const json::exception& e) {
                         problems.push_back(where + "malformed (" + std::string(e.what()) + ")");
                     } catch (const Error& e) {
                         problems.push_back(where + e.what());
                     }
                 }
                 return labels;
             }});
    }
    return set;
}

} // namespace primaps::interchange
