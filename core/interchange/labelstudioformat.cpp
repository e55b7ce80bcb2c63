// SPDX-License-Identifier: MIT
// Label Studio (https://labelstud.io/guide/predictions): a tasks file whose
// predictions hold one `brushlabels` result per class present in an image, its
// mask in Label Studio's brush RLE (rle.h), and the labelling config that
// names the same labels. Reading takes a Label Studio JSON export: each task's
// latest submitted annotation.
#include "interchange/interchange.h"

#include "support/atomicfile.h"
#include "support/error.h"
#include "interchange/rle.h"
#include "support/jsontext_p.h"
#include "support/runtime.h"

#include <cctype>
#include <algorithm>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

namespace primaps::interchange {

namespace {

namespace fs = std::filesystem;
using ordered = nlohmann::ordered_json;
using json = nlohmann::json;

// The names of the labelling config; the tasks' results refer to them.
constexpr const char* kFromName = "label";
constexpr const char* kToName = "image";

std::string xmlEscape(const std::string& text)
{
    std::string out;
    for (char c : text) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        default: out += c;
        }
    }
    return out;
}

std::string percentDecoded(const std::string& text)
{
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '%' && i + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
            std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
            out.push_back(char(std::stoi(text.substr(i + 1, 2), nullptr, 16)));
            i += 2;
        } else {
            out.push_back(text[i]);
        }
    }
    return out;
}

// A brush result ("brushlabels", in any case, as Label Studio's versions write it).
bool isBrush(const json& result)
{
    if (!result.is_object() || !result.contains("type") || !result["type"].is_string())
        return false;
    std::string type = result["type"].get<std::string>();
    for (char& c : type)
        c = char(std::tolower(static_cast<unsigned char>(c)));
    return type == "brushlabels";
}

std::string hexColour(const cv::Vec3b& c)
{
    char text[8];
    std::snprintf(text, sizeof text, "#%02x%02x%02x", c[0], c[1], c[2]);
    return text;
}

std::string labellingConfig(const InterchangeSet& set)
{
    std::string comment = set.provenanceJson;
    for (std::size_t p; (p = comment.find("--")) != std::string::npos;)
        comment.replace(p, 2, "- -"); // "--" may not appear inside an XML comment
    std::string xml = "<!-- Written by primaps " + versionString() + ": " + comment + " -->\n";
    xml += "<View>\n  <Image name=\"" + std::string(kToName) +
           "\" value=\"$image\" zoom=\"true\"/>\n  <BrushLabels name=\"" + kFromName +
           "\" toName=\"" + kToName + "\">\n";
    for (const InterchangeClass& c : set.classes)
        xml += "    <Label value=\"" + xmlEscape(c.name) + "\" background=\"" +
               hexColour(c.colour) + "\"/>\n";
    xml += "  </BrushLabels>\n</View>\n";
    return xml;
}

} // namespace

std::vector<std::string> writeLabelStudio(const InterchangeSet& set,
                                          std::vector<std::string>& kept)
{
    std::vector<std::string> written;
    const fs::path out(set.outDir);
    const std::string tasksPath = (out / ("labelstudio_" + set.split + ".json")).string();
    writeOutput((out / "labelstudio_config.xml").string(), labellingConfig(set), set.overwrite,
                written, kept);
    std::error_code ec;
    if (!set.overwrite && fs::exists(tasksPath, ec)) {
        kept.push_back(tasksPath);
        return written;
    }
    const ordered provenance = ordered::parse(set.provenanceJson);
    const std::string model = "primaps " + versionString();
    ordered tasks = ordered::array();
    for (const InterchangeImage& image : set.images) {
        const cv::Mat values = readLabelValues(image.labelsPath);
        ordered results = ordered::array();
        for (const InterchangeClass& c : set.classes) {
            const cv::Mat mask = values == c.value;
            if (cv::countNonZero(mask) == 0)
                continue;
            results.push_back({{"id", "c" + std::to_string(c.id)},
                               {"type", "brushlabels"},
                               {"from_name", kFromName},
                               {"to_name", kToName},
                               {"original_width", values.cols},
                               {"original_height", values.rows},
                               {"image_rotation", 0},
                               {"value",
                                {{"format", "rle"},
                                 {"rle", brushRleFromMask(mask)},
                                 {"brushlabels", {c.name}}}}});
        }
        tasks.push_back(
            {{"data",
              {{"image", "/data/local-files/?d=" + image.fileName},
               {"primaps", {{"item", image.id}, {"provenance", provenance}}}}},
             {"predictions", {{{"model_version", model}, {"result", results}}}}});
    }
    writeOutput(tasksPath, tasks.dump() + "\n", true, written, kept);
    return written;
}

AnnotationSet readLabelStudio(const std::string& path)
{
    auto tasks = std::make_shared<const json>(parseJsonText(readFile(path), path));
    if (!tasks->is_array())
        throw Error("'" + path + "': not a Label Studio JSON export (a list of tasks)");
    AnnotationSet set;
    for (std::size_t t = 0; t < tasks->size(); ++t) {
        const json& task = (*tasks)[t];
        const std::string where = "task " + (task.is_object() && task.contains("id")
                                                 ? task["id"].dump()
                                                 : std::to_string(t + 1));
        try {
            if (!task.is_object() || !task.contains("data") || !task["data"].is_object())
                throw Error("has no data");
            const json& data = task["data"];
            std::string name;
            if (data.contains("primaps") && data["primaps"].is_object()) {
                name = data["primaps"].value("item", std::string());
                if (set.provenanceJson.empty() && data["primaps"].contains("provenance"))
                    set.provenanceJson = data["primaps"]["provenance"].dump();
            }
            if (name.empty()) {
                name = data.value("image", std::string());
                const std::size_t q = name.find("?d=");
                if (q != std::string::npos)
                    name = name.substr(q + 3);
                name = percentDecoded(name); // Label Studio's URLs escape spaces and more
            }
            // The latest submitted annotation; predictions are not corrections.
            const json* chosen = nullptr;
            if (task.contains("annotations") && task["annotations"].is_array())
                for (const json& a : task["annotations"])
                    if (a.is_object() && !a.value("was_cancelled", false) && a.contains("result") &&
                        a["result"].is_array())
                        chosen = &a;
            if (!chosen)
                continue; // not annotated
            // The size comes from the brush results; an annotation without any has
            // nothing this import can use.
            const json* first = nullptr;
            for (const json& r : (*chosen)["result"])
                if (r.is_object() && r.contains("original_width") && isBrush(r)) {
                    first = &r;
                    break;
                }
            if (!first)
                continue;
            const int w = jsonInt(first->at("original_width"), "a brush result's original_width");
            const int h = jsonInt(first->at("original_height"), "a brush result's original_height");
            if (w < 1 || h < 1 || std::int64_t(w) * h > (std::int64_t(1) << 28))
                throw Error("a brush result with an unusable size");
            const json* results = &(*chosen)["result"];
            set.images.push_back(
                {name, [tasks, results, w, h, where](std::vector<std::string>& labels,
                                                     std::vector<std::string>& problems) {
                     auto labelIndex = [&](const std::string& label) {
                         for (std::size_t i = 0; i < labels.size(); ++i)
                             if (labels[i] == label)
                                 return int(i);
                         labels.push_back(label);
                         return int(labels.size()) - 1;
                     };
                     cv::Mat map(h, w, CV_32S, cv::Scalar(-1));
                     for (const json& r : *results) {
                         try {
                             if (!isBrush(r))
                                 continue;
                             const json& value = r.at("value");
                             if (!value.contains("rle") || !value.contains("brushlabels") ||
                                 !value["brushlabels"].is_array() || value["brushlabels"].empty())
                                 throw Error("a brush result without rle or label");
                             if (jsonInt(r.at("original_width"), "original_width") != w ||
                                 jsonInt(r.at("original_height"), "original_height") != h)
                                 throw Error("brush results of different sizes");
                             const cv::Mat mask = brushRleToMask(
                                 jsonIntegers<std::uint8_t>(value["rle"], "a brush rle"), h, w);
                             map.setTo(cv::Scalar(labelIndex(
                                           value["brushlabels"][0].get<std::string>())),
                                       mask);
                         } catch (const json::exception& e) {
                             problems.push_back(where + ": malformed (" + e.what() + ")");
                         } catch (const Error& e) {
                             problems.push_back(where + ": " + e.what());
                         }
                     }
                     return map;
                 }});
        } catch (const json::exception& e) {
            set.problems.emplace_back(path, where + ": malformed (" + e.what() + ")");
        } catch (const Error& e) {
            set.problems.emplace_back(path, where + ": " + e.what());
        }
    }
    return set;
}

} // namespace primaps::interchange
