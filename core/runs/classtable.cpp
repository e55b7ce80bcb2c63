// SPDX-License-Identifier: MIT
#include "runs/classtable.h"

#include "support/atomicfile.h"
#include "dataset/dataset.h"
#include "support/error.h"
#include "support/jsontext_p.h"
#include "image/overlay.h"

#include <array>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

namespace primaps {

namespace {

using ordered = nlohmann::ordered_json;
using json = nlohmann::json;

// The official colours of Cityscapes' label ids 7..33 (the 27 classes, in order),
// so an export opens in Cityscapes tools with the colours people know.
const std::array<cv::Vec3b, 27> kCityscapesColours = {{
    {128, 64, 128}, {244, 35, 232}, {250, 170, 160}, {230, 150, 140}, {70, 70, 70},
    {102, 102, 156}, {190, 153, 153}, {180, 165, 180}, {150, 100, 100}, {150, 120, 90},
    {153, 153, 153}, {153, 153, 153}, {250, 170, 30}, {220, 220, 0}, {107, 142, 35},
    {152, 251, 152}, {70, 130, 180}, {220, 20, 60}, {255, 0, 0}, {0, 0, 142},
    {0, 0, 70}, {0, 60, 100}, {0, 0, 90}, {0, 0, 110}, {0, 80, 100},
    {0, 0, 230}, {119, 11, 32},
}};

std::string colourText(const cv::Vec3b& c)
{
    char text[8];
    std::snprintf(text, sizeof text, "#%02x%02x%02x", c[0], c[1], c[2]);
    return text;
}

bool parseColour(const std::string& text, cv::Vec3b& colour)
{
    if (text.size() != 7 || text[0] != '#')
        return false;
    for (std::size_t i = 1; i < 7; ++i)
        if (!std::isxdigit(static_cast<unsigned char>(text[i])))
            return false;
    for (int c = 0; c < 3; ++c)
        colour[c] = std::uint8_t(std::stoi(text.substr(1 + 2 * std::size_t(c), 2), nullptr, 16));
    return true;
}

} // namespace

std::vector<std::string> ClassTable::names() const
{
    std::vector<std::string> n;
    for (const ClassInfo& c : classes)
        n.push_back(c.name);
    return n;
}

cv::Vec3b defaultClassColour(int id, bool cityscapes)
{
    if (cityscapes && id >= 0 && id < int(kCityscapesColours.size()))
        return kCityscapesColours[std::size_t(id)];
    return labelColor(id + 1);
}

ClassTable defaultClassTable(const std::vector<std::string>& names, bool cityscapes)
{
    ClassTable t;
    for (std::size_t i = 0; i < names.size(); ++i)
        t.classes.push_back({names[i].empty() ? "class " + std::to_string(i) : names[i],
                             defaultClassColour(int(i), cityscapes)});
    return t;
}

ClassTable defaultClassTable(const Dataset& dataset)
{
    return defaultClassTable(dataset.classNames(), dataset.kind() == DatasetKind::Cityscapes &&
                                                       dataset.classCount() == 27);
}

std::string classTableToJson(const ClassTable& table)
{
    ordered classes = ordered::array();
    for (int i = 0; i < table.size(); ++i)
        classes.push_back({{"id", i},
                           {"name", table.classes[std::size_t(i)].name},
                           {"colour", colourText(table.classes[std::size_t(i)].colour)}});
    const ordered o = {{"format", "primaps-class-table"}, {"version", 1}, {"classes", classes}};
    return o.dump(2) + "\n";
}

ClassTable parseClassTable(const std::string& text, const std::string& source,
                           const ClassTable& fallback)
{
    const std::string file = "'" + source + "'";
    const json o = parseJsonText(text, source);
    if (!o.is_object() || !o.contains("format") || !o["format"].is_string())
        throw Error(file + ": not a class table (no \"format\")");
    const std::string format = o["format"].get<std::string>();
    const bool legacy = format == "primaps-class-styles";
    if (!legacy && format != "primaps-class-table")
        throw Error(file + ": format '" + format + "' is not a class table");
    if (!legacy) {
        if (!o.contains("version") || !o["version"].is_number_integer())
            throw Error(file + ": field 'version' must be an integer");
        const int version = jsonInt(o["version"], file + ": field 'version'");
        if (version > 1)
            throw Error(file + ": version " + std::to_string(version) +
                        " is newer than this program reads (1)");
    }
    if (!o.contains("classes") || !o["classes"].is_array())
        throw Error(file + ": field 'classes' must be an array");
    const json& entries = o["classes"];
    // Ids up to a sane bound only: a hostile file must not make us allocate.
    constexpr int kMaxClasses = 4096;
    ClassTable t = fallback;
    std::vector<bool> seen;
    for (std::size_t i = 0; i < entries.size(); ++i) {
        const std::string where = file + ": classes[" + std::to_string(i) + "]";
        const json& e = entries[i];
        if (!e.is_object() || !e.contains("id") || !e["id"].is_number_integer())
            throw Error(where + ": field 'id' must be an integer");
        const int id = jsonInt(e["id"], where + ": field 'id'");
        if (id < 0 || id >= kMaxClasses)
            throw Error(where + ": id " + std::to_string(id) + " is out of range");
        if (std::size_t(id) >= seen.size())
            seen.resize(std::size_t(id) + 1, false);
        if (seen[std::size_t(id)])
            throw Error(where + ": id " + std::to_string(id) + " appears twice");
        seen[std::size_t(id)] = true;
        while (t.size() <= id)
            t.classes.push_back({"class " + std::to_string(t.size()),
                                 defaultClassColour(t.size(), false)});
        ClassInfo& c = t.classes[std::size_t(id)];
        if (e.contains("name")) {
            if (!e["name"].is_string())
                throw Error(where + ": field 'name' must be a string");
            if (!e["name"].get<std::string>().empty())
                c.name = e["name"].get<std::string>();
            else if (!legacy)
                throw Error(where + ": field 'name' is empty");
        } else if (!legacy) {
            throw Error(where + ": field 'name' is missing");
        }
        const char* key = e.contains("colour") ? "colour" : "color";
        if (e.contains(key)) {
            if (!e[key].is_string() || !parseColour(e[key].get<std::string>(), c.colour))
                throw Error(where + ": field '" + key + "' must be \"#rrggbb\"");
        } else if (!legacy) {
            throw Error(where + ": field 'colour' is missing");
        }
    }
    if (!legacy)
        for (std::size_t id = 0; id < seen.size(); ++id)
            if (!seen[id])
                throw Error(file + ": class " + std::to_string(id) + " is missing");
    return t;
}

ClassTable readClassTable(const std::string& path, const ClassTable& fallback)
{
    return parseClassTable(readFile(path), path, fallback);
}

void writeClassTable(const std::string& path, const ClassTable& table)
{
    writeFileAtomic(path, classTableToJson(table));
}

std::string runClassTablePath(const std::string& runDir)
{
    return (std::filesystem::path(runDir) / "classes.json").string();
}

ClassTable loadRunClassTable(const std::string& runDir, const ClassTable& defaults,
                             const std::string& legacySidecar, bool* foldedLegacy)
{
    if (foldedLegacy)
        *foldedLegacy = false;
    std::error_code ec;
    const std::string own = runClassTablePath(runDir);
    ClassTable t = defaults;
    if (std::filesystem::is_regular_file(own, ec)) {
        t = readClassTable(own, defaults);
    } else if (!legacySidecar.empty() && std::filesystem::is_regular_file(legacySidecar, ec)) {
        t = readClassTable(legacySidecar, defaults);
        if (foldedLegacy)
            *foldedLegacy = true;
    }
    if (!defaults.empty())
        t.classes.resize(defaults.classes.size());
    return t;
}

} // namespace primaps
