// SPDX-License-Identifier: MIT
#include "labels/labelmap.h"

#include "image/overlay.h"
#include "support/atomicfile.h"
#include "support/error.h"
#include "support/jsontext_p.h"

#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>

namespace primaps {

namespace {

void requireLabels(const cv::Mat& labels, const char* what)
{
    if (labels.empty() || labels.type() != CV_8U)
        throw Error(std::string(what) + ": expected a non-empty 8-bit label map");
}

cv::Rect wholeOr(const cv::Mat& labels, cv::Rect roi)
{
    const cv::Rect all(0, 0, labels.cols, labels.rows);
    return roi.empty() ? all : (roi & all);
}

std::string hexColor(const cv::Vec3b& rgb)
{
    char text[8];
    std::snprintf(text, sizeof text, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
    return text;
}

bool parseHexColor(const std::string& text, cv::Vec3b* rgb)
{
    if (text.size() != 7 || text[0] != '#')
        return false;
    unsigned r = 0, g = 0, b = 0;
    if (std::sscanf(text.c_str() + 1, "%2x%2x%2x", &r, &g, &b) != 3)
        return false;
    *rgb = cv::Vec3b(uchar(r), uchar(g), uchar(b));
    return true;
}

} // namespace

LabelCounts countLabels(const cv::Mat& labels, cv::Rect roi)
{
    LabelCounts counts{};
    if (labels.empty())
        return counts;
    requireLabels(labels, "countLabels");
    const cv::Rect r = wholeOr(labels, roi);
    for (int y = r.y; y < r.y + r.height; ++y) {
        const uchar* row = labels.ptr<uchar>(y);
        for (int x = r.x; x < r.x + r.width; ++x)
            ++counts[row[x]];
    }
    return counts;
}

std::int64_t LabelPatch::changedPixels() const
{
    if (empty())
        return 0;
    cv::Mat differs;
    cv::compare(before, after, differs, cv::CMP_NE);
    return cv::countNonZero(differs);
}

LabelPatch diffLabels(const cv::Mat& before, const cv::Mat& after, cv::Rect hint)
{
    requireLabels(before, "diffLabels");
    if (after.size() != before.size() || after.type() != before.type())
        throw Error("diffLabels: the two label maps differ in size");
    const cv::Rect r = wholeOr(before, hint);
    int left = r.x + r.width, right = -1, top = r.y + r.height, bottom = -1;
    for (int y = r.y; y < r.y + r.height; ++y) {
        const uchar* a = before.ptr<uchar>(y);
        const uchar* b = after.ptr<uchar>(y);
        for (int x = r.x; x < r.x + r.width; ++x) {
            if (a[x] == b[x])
                continue;
            left = std::min(left, x);
            right = std::max(right, x);
            top = std::min(top, y);
            bottom = std::max(bottom, y);
        }
    }
    LabelPatch patch;
    if (right < 0)
        return patch;
    patch.rect = cv::Rect(left, top, right - left + 1, bottom - top + 1);
    patch.before = before(patch.rect).clone();
    patch.after = after(patch.rect).clone();
    return patch;
}

void applyPatch(cv::Mat& labels, const LabelPatch& patch, bool forward)
{
    if (patch.empty())
        return;
    requireLabels(labels, "applyPatch");
    if ((patch.rect & cv::Rect(0, 0, labels.cols, labels.rows)) != patch.rect)
        throw Error("applyPatch: the change lies outside the label map");
    const cv::Mat& source = forward ? patch.after : patch.before;
    if (source.size() != patch.rect.size() || source.type() != CV_8U)
        throw Error("applyPatch: the change's pixels do not match its rectangle");
    source.copyTo(labels(patch.rect));
}

cv::Rect paintSegment(cv::Mat& labels, cv::Point a, cv::Point b, int radius, std::uint8_t label)
{
    requireLabels(labels, "paintSegment");
    radius = std::max(0, radius);
    const cv::Rect box = cv::Rect(cv::Point(std::min(a.x, b.x) - radius, std::min(a.y, b.y) - radius),
                                  cv::Point(std::max(a.x, b.x) + radius + 1,
                                            std::max(a.y, b.y) + radius + 1)) &
                         cv::Rect(0, 0, labels.cols, labels.rows);
    if (box.empty())
        return {};
    // Distance from each pixel centre to the segment, in integers where it
    // matters: a disc is exactly dx^2 + dy^2 <= r^2.
    const double dx = b.x - a.x, dy = b.y - a.y;
    const double length2 = dx * dx + dy * dy;
    const double r2 = double(radius) * radius;
    int left = box.x + box.width, right = -1, top = box.y + box.height, bottom = -1;
    for (int y = box.y; y < box.y + box.height; ++y) {
        uchar* row = labels.ptr<uchar>(y);
        for (int x = box.x; x < box.x + box.width; ++x) {
            double px = x - a.x, py = y - a.y;
            if (length2 > 0) {
                const double t = std::clamp((px * dx + py * dy) / length2, 0.0, 1.0);
                px -= t * dx;
                py -= t * dy;
            }
            if (px * px + py * py > r2 + 1e-9)
                continue;
            row[x] = label;
            left = std::min(left, x);
            right = std::max(right, x);
            top = std::min(top, y);
            bottom = std::max(bottom, y);
        }
    }
    if (right < 0)
        return {};
    return cv::Rect(left, top, right - left + 1, bottom - top + 1);
}

cv::Rect labelBounds(const cv::Mat& labels, std::uint8_t id)
{
    requireLabels(labels, "labelBounds");
    cv::Mat mask;
    cv::compare(labels, cv::Scalar(id), mask, cv::CMP_EQ);
    return cv::boundingRect(mask);
}

LabelPatch replaceLabelPatch(const cv::Mat& labels, std::uint8_t from, std::uint8_t to)
{
    LabelPatch patch;
    if (from == to)
        return patch;
    const cv::Rect box = labelBounds(labels, from);
    if (box.empty())
        return patch;
    patch.rect = box;
    patch.before = labels(box).clone();
    patch.after = patch.before.clone();
    patch.after.setTo(cv::Scalar(to), patch.before == from);
    return patch;
}

LabelPatch fillRegionPatch(const cv::Mat& labels, cv::Point seed, std::uint8_t label)
{
    requireLabels(labels, "fillRegionPatch");
    LabelPatch patch;
    if (!cv::Rect(0, 0, labels.cols, labels.rows).contains(seed) ||
        labels.at<uchar>(seed) == label)
        return patch;
    // Mask-only flood fill: the map itself is not touched; the mask (one pixel
    // of border all round, as OpenCV wants it) marks the region with 1.
    cv::Mat mask = cv::Mat::zeros(labels.rows + 2, labels.cols + 2, CV_8U);
    cv::Mat image = labels; // floodFill takes a non-const header; MASK_ONLY leaves it alone
    cv::Rect box;
    cv::floodFill(image, mask, seed, cv::Scalar(), &box, cv::Scalar(0), cv::Scalar(0),
                  4 | cv::FLOODFILL_MASK_ONLY | cv::FLOODFILL_FIXED_RANGE | (1 << 8));
    if (box.empty())
        return patch;
    patch.rect = box;
    patch.before = labels(box).clone();
    patch.after = patch.before.clone();
    const cv::Mat region = mask(cv::Rect(box.x + 1, box.y + 1, box.width, box.height));
    patch.after.setTo(cv::Scalar(label), region);
    return patch;
}

std::string LabelTable::defaultName(int id)
{
    return id == 0 ? std::string("background") : "mask " + std::to_string(id);
}

std::string LabelTable::name(int id) const
{
    const auto it = m_names.find(id);
    return it != m_names.end() ? it->second : defaultName(id);
}

cv::Vec3b LabelTable::color(int id) const
{
    const auto it = m_colors.find(id);
    return it != m_colors.end() ? it->second : labelColor(id);
}

void LabelTable::setName(int id, const std::string& name)
{
    if (name.empty() || name == defaultName(id))
        m_names.erase(id);
    else
        m_names[id] = name;
}

void LabelTable::setColor(int id, const cv::Vec3b& rgb)
{
    if (rgb == labelColor(id))
        m_colors.erase(id);
    else
        m_colors[id] = rgb;
}

void LabelTable::reset(int id)
{
    m_names.erase(id);
    m_colors.erase(id);
}

bool LabelTable::hasName(int id) const
{
    return m_names.count(id) > 0;
}

bool LabelTable::hasColor(int id) const
{
    return m_colors.count(id) > 0;
}

std::vector<int> LabelTable::customisedIds() const
{
    std::vector<int> ids;
    for (const auto& entry : m_names)
        ids.push_back(entry.first);
    for (const auto& entry : m_colors)
        ids.push_back(entry.first);
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    return ids;
}

std::array<cv::Vec3b, 256> LabelTable::palette() const
{
    std::array<cv::Vec3b, 256> colors;
    for (int id = 0; id < 256; ++id)
        colors[std::size_t(id)] = color(id);
    return colors;
}

bool LabelTable::operator==(const LabelTable& other) const
{
    return m_names == other.m_names && m_colors == other.m_colors;
}

cv::Mat colorizeLabels(const cv::Mat& labels, const LabelTable& table)
{
    requireLabels(labels, "colorizeLabels");
    return colorizeLabels(labels, table.palette());
}

cv::Mat overlayLabels(const cv::Mat& rgb, const cv::Mat& labels, const LabelTable& table,
                      float opacity)
{
    requireLabels(labels, "overlayLabels");
    return overlayLabels(rgb, labels, opacity, table.palette());
}

std::string labelSidecarJson(const cv::Mat& labels, const LabelTable& table,
                             const std::string& imageName)
{
    const LabelCounts counts = countLabels(labels);
    std::vector<int> ids = table.customisedIds();
    for (int id = 0; id < 256; ++id)
        if (counts[std::size_t(id)] > 0)
            ids.push_back(id);
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());

    nlohmann::ordered_json root;
    root["format"] = "primaps-labels";
    root["version"] = 1;
    root["image"] = imageName;
    root["width"] = labels.cols;
    root["height"] = labels.rows;
    root["background"] = 0;
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const int id : ids) {
        nlohmann::ordered_json entry;
        entry["id"] = id;
        entry["name"] = table.name(id);
        entry["color"] = hexColor(table.color(id));
        entry["pixels"] = counts[std::size_t(id)];
        list.push_back(entry);
    }
    root["labels"] = list;
    return root.dump(2) + "\n";
}

LabelTable parseLabelSidecar(const std::string& text)
{
    nlohmann::json root;
    try {
        root = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        throw Error(std::string("not a label sidecar (invalid JSON: ") + e.what() + ")");
    }
    if (!root.is_object() || root.value("format", std::string()) != "primaps-labels" ||
        !root.contains("labels") || !root["labels"].is_array())
        throw Error("not a label sidecar: expected \"format\": \"primaps-labels\" and a "
                    "\"labels\" list");
    LabelTable table;
    for (const nlohmann::json& entry : root["labels"]) {
        if (!entry.is_object() || !entry.contains("id") || !entry["id"].is_number_integer())
            throw Error("label sidecar: every label needs an integer \"id\"");
        const int id = jsonInt(entry["id"], "label sidecar: a label's \"id\"");
        if (id < 0 || id > 255)
            throw Error("label sidecar: label id " + std::to_string(id) + " is not in 0..255");
        if (entry.contains("name") && entry["name"].is_string())
            table.setName(id, entry["name"].get<std::string>());
        if (entry.contains("color") && entry["color"].is_string()) {
            cv::Vec3b rgb;
            if (!parseHexColor(entry["color"].get<std::string>(), &rgb))
                throw Error("label sidecar: colour of label " + std::to_string(id) +
                            " is not #rrggbb");
            table.setColor(id, rgb);
        }
    }
    return table;
}

std::vector<std::string> LabelExportFiles::all() const
{
    std::vector<std::string> paths;
    for (const std::string* path : {&labels, &color, &overlay, &sidecar})
        if (!path->empty())
            paths.push_back(*path);
    return paths;
}

LabelExportFiles labelExportFiles(const std::string& labelsPath, const LabelExportOptions& options)
{
    namespace fs = std::filesystem;
    const fs::path path(labelsPath);
    const fs::path folder = path.parent_path();
    const std::string stem = path.stem().string();
    LabelExportFiles files;
    files.labels = labelsPath;
    if (options.colorPng)
        files.color = (folder / (stem + "_color.png")).string();
    if (options.overlayPng)
        files.overlay = (folder / (stem + "_overlay.png")).string();
    if (options.sidecar)
        files.sidecar = (folder / (stem + ".json")).string();
    return files;
}

void writeLabelExport(const LabelExportFiles& files, const cv::Mat& labels,
                      const LabelTable& table, const cv::Mat& rgb, const std::string& imageName,
                      float overlayOpacity)
{
    requireLabels(labels, "writeLabelExport");
    if (files.labels.empty())
        throw Error("writeLabelExport: no file name for the label map");
    if (!files.overlay.empty() && (rgb.type() != CV_8UC3 || rgb.size() != labels.size()))
        throw Error("cannot write '" + files.overlay +
                    "': the image is missing or does not match the label map's size");
    // Everything is encoded before the first file is replaced, so a bad
    // request leaves the folder as it was.
    cv::Mat color, overlay;
    if (!files.color.empty())
        cv::cvtColor(colorizeLabels(labels, table), color, cv::COLOR_RGB2BGR);
    if (!files.overlay.empty())
        cv::cvtColor(overlayLabels(rgb, labels, table, overlayOpacity), overlay,
                     cv::COLOR_RGB2BGR);
    writeImageAtomic(files.labels, labels);
    if (!files.color.empty())
        writeImageAtomic(files.color, color);
    if (!files.overlay.empty())
        writeImageAtomic(files.overlay, overlay);
    if (!files.sidecar.empty())
        writeFileAtomic(files.sidecar, labelSidecarJson(labels, table, imageName));
}

} // namespace primaps
