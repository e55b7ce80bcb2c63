// SPDX-License-Identifier: MIT
#include "interchange/interchange.h"

#include "support/atomicfile.h"
#include "support/error.h"
#include "interchange/indexedpng.h"
#include "support/jsontext_p.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <opencv2/imgproc.hpp>
#include <set>

namespace primaps::interchange {

namespace {

namespace fs = std::filesystem;

// A folder of label PNGs: the export folder (its labels/ and manifest.json) or
// any folder of <item id>.png files whose values are the export's.
AnnotationSet readPngFolder(const std::string& path, const std::vector<InterchangeClass>& classes,
                            int ignoreValue)
{
    std::error_code ec;
    if (!fs::is_directory(path, ec))
        throw Error("'" + path + "': PNG corrections are a folder of label PNGs, not a file");
    fs::path root(path);
    std::vector<InterchangeClass> valueClasses = classes;
    int ignore = ignoreValue;
    const fs::path manifest = root / "manifest.json";
    if (fs::is_regular_file(manifest, ec)) {
        // The folder says what its values mean.
        const nlohmann::json m = parseJsonText(readFile(manifest.string()), manifest.string());
        try {
            if (m.contains("classes") && m["classes"].is_array()) {
                valueClasses.clear();
                for (const auto& c : m["classes"])
                    valueClasses.push_back({jsonIntOr(c, "id", 0, "a class's 'id'"),
                                            jsonIntOr(c, "value", 0, "a class's 'value'"),
                                            c.value("name", std::string()), {}});
                ignore = jsonIntOr(m, "ignore_value", ignoreValue, "'ignore_value'");
            }
        } catch (const nlohmann::json::exception& e) {
            throw Error("'" + manifest.string() + "': not an export manifest (" + e.what() + ")");
        } catch (const Error& e) {
            throw Error("'" + manifest.string() + "': " + e.what());
        }
        if (fs::is_directory(root / "labels", ec))
            root /= "labels";
    }
    AnnotationSet set;
    auto valueToLabel = std::make_shared<std::map<int, int>>();
    for (const InterchangeClass& c : valueClasses) {
        (*valueToLabel)[c.value] = int(set.labels.size());
        set.labels.push_back(c.name);
    }
    std::vector<fs::path> files;
    for (auto it = fs::recursive_directory_iterator(root, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
        if (it->is_regular_file() && it->path().extension() == ".png")
            files.push_back(it->path());
    if (ec)
        throw Error("'" + path + "': cannot list the folder: " + ec.message());
    std::sort(files.begin(), files.end());
    for (const fs::path& file : files) {
        std::string name = file.lexically_relative(root).generic_string();
        name = name.substr(0, name.size() - 4);
        set.images.push_back(
            {name, [file, ignore, valueToLabel](std::vector<std::string>& labels,
                                                std::vector<std::string>&) {
                 const cv::Mat values = readLabelValues(file.string());
                 cv::Mat map(values.size(), CV_32S, cv::Scalar(-1));
                 for (int y = 0; y < values.rows; ++y)
                     for (int x = 0; x < values.cols; ++x) {
                         const int v = values.at<std::uint8_t>(y, x);
                         if (v == ignore)
                             continue;
                         auto found = valueToLabel->find(v);
                         if (found == valueToLabel->end()) {
                             // A value no class has: its own name, reported as unknown.
                             labels.push_back("value " + std::to_string(v));
                             found = valueToLabel->emplace(v, int(labels.size()) - 1).first;
                         }
                         map.at<std::int32_t>(y, x) = found->second;
                     }
                 return map;
             }});
    }
    return set;
}

} // namespace

const char* toString(InterchangeFormat format)
{
    switch (format) {
    case InterchangeFormat::Coco:
        return "coco";
    case InterchangeFormat::CocoPanoptic:
        return "coco-panoptic";
    case InterchangeFormat::Cvat:
        return "cvat";
    case InterchangeFormat::LabelStudio:
        return "labelstudio";
    }
    return "?";
}

InterchangeFormat interchangeFormatFromString(const std::string& name)
{
    for (InterchangeFormat f : {InterchangeFormat::Coco, InterchangeFormat::CocoPanoptic,
                                InterchangeFormat::Cvat, InterchangeFormat::LabelStudio})
        if (name == toString(f))
            return f;
    throw Error("unknown format '" + name +
                "' (known: mirror, cityscapes, coco, coco-panoptic, cvat, labelstudio)");
}

const char* toString(AnnotationFormat format)
{
    switch (format) {
    case AnnotationFormat::Coco:
        return "coco";
    case AnnotationFormat::Cvat:
        return "cvat";
    case AnnotationFormat::LabelStudio:
        return "labelstudio";
    case AnnotationFormat::Png:
        return "png";
    }
    return "?";
}

AnnotationFormat annotationFormatFromString(const std::string& name)
{
    for (AnnotationFormat f : {AnnotationFormat::Coco, AnnotationFormat::Cvat,
                               AnnotationFormat::LabelStudio, AnnotationFormat::Png})
        if (name == toString(f))
            return f;
    throw Error("unknown import format '" + name + "' (known: coco, cvat, labelstudio, png)");
}

std::vector<std::string> writeInterchange(InterchangeFormat format, const InterchangeSet& set,
                                          std::vector<std::string>* kept)
{
    std::vector<std::string> keptHere;
    std::vector<std::string> written;
    switch (format) {
    case InterchangeFormat::Coco:
        written = writeCoco(set, keptHere);
        break;
    case InterchangeFormat::CocoPanoptic:
        written = writeCocoPanoptic(set, keptHere);
        break;
    case InterchangeFormat::Cvat:
        written = writeCvat(set, keptHere);
        break;
    case InterchangeFormat::LabelStudio:
        written = writeLabelStudio(set, keptHere);
        break;
    }
    if (kept)
        kept->insert(kept->end(), keptHere.begin(), keptHere.end());
    return written;
}

AnnotationSet readAnnotations(AnnotationFormat format, const std::string& path,
                              const std::vector<InterchangeClass>& classes, int ignoreValue)
{
    switch (format) {
    case AnnotationFormat::Coco:
        return readCoco(path);
    case AnnotationFormat::Cvat:
        return readCvat(path);
    case AnnotationFormat::LabelStudio:
        return readLabelStudio(path);
    case AnnotationFormat::Png:
        return readPngFolder(path, classes, ignoreValue);
    }
    throw Error("unknown import format");
}

cv::Mat readLabelValues(const std::string& path)
{
    return decodePngValues(readFile(path), path);
}

cv::Mat componentsPerValue(const cv::Mat& values, int ignoreValue, int* count)
{
    CV_Assert(values.type() == CV_8UC1);
    cv::Mat out(values.size(), CV_32S, cv::Scalar(0));
    int next = 0;
    std::vector<cv::Point> stack;
    for (int y = 0; y < values.rows; ++y)
        for (int x = 0; x < values.cols; ++x) {
            const int v = values.at<std::uint8_t>(y, x);
            if (v == ignoreValue || out.at<std::int32_t>(y, x) != 0)
                continue;
            ++next;
            out.at<std::int32_t>(y, x) = next;
            stack.assign(1, cv::Point(x, y));
            while (!stack.empty()) {
                const cv::Point p = stack.back();
                stack.pop_back();
                const cv::Point around[4] = {{p.x + 1, p.y}, {p.x - 1, p.y}, {p.x, p.y + 1},
                                             {p.x, p.y - 1}};
                for (const cv::Point& q : around)
                    if (q.x >= 0 && q.y >= 0 && q.x < values.cols && q.y < values.rows &&
                        values.at<std::uint8_t>(q) == v && out.at<std::int32_t>(q) == 0) {
                        out.at<std::int32_t>(q) = next;
                        stack.push_back(q);
                    }
            }
        }
    if (count)
        *count = next;
    return out;
}

std::vector<cv::Vec3b> distinctColours(const std::vector<InterchangeClass>& classes)
{
    std::set<std::uint32_t> taken = {0}; // black: CVAT's background
    std::vector<cv::Vec3b> out;
    for (const InterchangeClass& c : classes) {
        cv::Vec3b colour = c.colour;
        auto key = [](const cv::Vec3b& v) {
            return std::uint32_t(v[0]) << 16 | std::uint32_t(v[1]) << 8 | v[2];
        };
        // Nudge a taken colour until it is free: the nearest free shade.
        for (int step = 1; taken.count(key(colour)); ++step)
            colour = cv::Vec3b(std::uint8_t((c.colour[0] + step) % 256),
                               std::uint8_t((c.colour[1] + 7 * step) % 256),
                               std::uint8_t((c.colour[2] + 13 * step) % 256));
        taken.insert(key(colour));
        out.push_back(colour);
    }
    return out;
}

bool writeOutput(const std::string& path, const std::string& bytes, bool overwrite,
                 std::vector<std::string>& written, std::vector<std::string>& kept)
{
    std::error_code ec;
    if (!overwrite && fs::exists(path, ec)) {
        kept.push_back(path);
        return false;
    }
    fs::create_directories(fs::path(path).parent_path(), ec);
    writeFileAtomic(path, bytes);
    written.push_back(path);
    return true;
}

} // namespace primaps::interchange
