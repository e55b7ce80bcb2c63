// SPDX-License-Identifier: MIT
#pragma once

#include <opencv2/core/mat.hpp>

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace primaps {

/// Editing operations on an 8-bit label map (CV_8U, 0 = background) and the
/// files a corrected map is exported to. Everything here is plain data and
/// may be called from any thread on maps that thread owns; nothing keeps
/// references to its arguments. Functions given a map of another type throw
/// primaps::Error.

/// Pixels per label id.
using LabelCounts = std::array<std::int64_t, 256>;

/// Counts the labels of `labels` inside `roi` (the whole map when `roi` is empty).
LabelCounts countLabels(const cv::Mat& labels, cv::Rect roi = cv::Rect());

/// A reversible change of a rectangle of a label map: `before` and `after` are
/// the rectangle's pixels (CV_8U, rect.size()) without and with the change.
/// An empty patch (no rect) changes nothing.
struct LabelPatch
{
    cv::Rect rect;
    cv::Mat before;
    cv::Mat after;

    bool empty() const { return rect.empty(); }
    /// Pixels that differ between before and after.
    std::int64_t changedPixels() const;
};

/// The patch that turns `before` into `after` (same size and type), trimmed to
/// the bounding box of the pixels that differ, searched inside `hint` (the
/// whole map when empty). Equal maps give an empty patch.
LabelPatch diffLabels(const cv::Mat& before, const cv::Mat& after, cv::Rect hint = cv::Rect());

/// Writes `patch.after` (forward) or `patch.before` (backward) into `labels`.
/// Throws primaps::Error when the patch does not lie inside the map.
void applyPatch(cv::Mat& labels, const LabelPatch& patch, bool forward = true);

/// Paints every pixel whose centre lies within `radius` of the segment from `a`
/// to `b` (pixel coordinates; a == b paints a disc, dx^2 + dy^2 <= radius^2)
/// with `label`, clipped to the map. Returns the bounding box of the painted
/// pixels (empty when the stroke misses the map).
cv::Rect paintSegment(cv::Mat& labels, cv::Point a, cv::Point b, int radius, std::uint8_t label);

/// Bounding box of the pixels with label `id`; empty when there are none.
cv::Rect labelBounds(const cv::Mat& labels, std::uint8_t id);

/// The patch that gives every pixel labelled `from` the label `to` (merging
/// `from` into `to`, or reassigning the whole mask). Empty when `from` has no
/// pixels or equals `to`.
LabelPatch replaceLabelPatch(const cv::Mat& labels, std::uint8_t from, std::uint8_t to);

/// The patch that gives the 4-connected region of equal labels around `seed`
/// the label `label` (a flood fill, e.g. reassigning one segment). Empty when
/// `seed` is outside the map or the region already has that label.
LabelPatch fillRegionPatch(const cv::Mat& labels, cv::Point seed, std::uint8_t label);

/// Name and colour of one label as the user set them.
struct LabelStyle
{
    std::string name;
    cv::Vec3b color; ///< RGB
};

/// Names and colours of the labels of one map. Labels the user did not touch
/// have the default name ("background", "mask N") and core's labelColor().
class LabelTable
{
public:
    std::string name(int id) const;
    cv::Vec3b color(int id) const;
    static std::string defaultName(int id);

    /// An empty name or the default name restores the default.
    void setName(int id, const std::string& name);
    void setColor(int id, const cv::Vec3b& rgb);
    /// Forgets name and colour of `id`.
    void reset(int id);
    bool hasName(int id) const;
    bool hasColor(int id) const;
    /// Ids with a name or a colour of their own, ascending.
    std::vector<int> customisedIds() const;
    bool empty() const { return m_names.empty() && m_colors.empty(); }

    /// Colours of all 256 ids, RGB.
    std::array<cv::Vec3b, 256> palette() const;

    bool operator==(const LabelTable& other) const;
    bool operator!=(const LabelTable& other) const { return !(*this == other); }

private:
    std::map<int, std::string> m_names;
    std::map<int, cv::Vec3b> m_colors;
};

/// `labels` painted in the table's colours, RGB (CV_8UC3).
cv::Mat colorizeLabels(const cv::Mat& labels, const LabelTable& table);
/// The table's colours blended over `rgb` as core's overlayLabels() does
/// (background dimmed, white borders between labels). Returns RGB.
cv::Mat overlayLabels(const cv::Mat& rgb, const cv::Mat& labels, const LabelTable& table,
                      float opacity);

/// The JSON sidecar of an exported label map: format tag, the image's file
/// name, the map's size and, for every label with pixels or a custom style,
/// its id, name, colour ("#rrggbb") and pixel count.
std::string labelSidecarJson(const cv::Mat& labels, const LabelTable& table,
                             const std::string& imageName);
/// Reads the names and colours back from labelSidecarJson() text. Throws
/// primaps::Error when the text is not such a sidecar.
LabelTable parseLabelSidecar(const std::string& json);

/// What to write besides the 8-bit label PNG.
struct LabelExportOptions
{
    bool colorPng = true;  ///< the labels in their colours
    bool overlayPng = false; ///< the colours blended over the photo
    bool sidecar = true;   ///< names and colours as JSON
    float overlayOpacity = 0.6f;
};

/// The files of one export. `labels` is the 8-bit PNG; the others are empty
/// when not requested.
struct LabelExportFiles
{
    std::string labels;
    std::string color;
    std::string overlay;
    std::string sidecar;

    /// The non-empty paths, label PNG first.
    std::vector<std::string> all() const;
};

/// Names the files of an export beside `labelsPath` ("x.png" gives
/// "x_color.png", "x_overlay.png" and "x.json").
LabelExportFiles labelExportFiles(const std::string& labelsPath, const LabelExportOptions& options);

/// Writes the export: `labels` as an 8-bit grey PNG whose values are the label
/// ids, and the requested extras, each file atomically (a reader never sees a
/// half-written file). `rgb` (CV_8UC3 RGB, the map's size) is needed only for
/// the overlay. Replaces existing files: asking first is the caller's job.
/// Throws primaps::Error naming the file on failure; files already written stay.
void writeLabelExport(const LabelExportFiles& files, const cv::Mat& labels,
                      const LabelTable& table, const cv::Mat& rgb, const std::string& imageName,
                      float overlayOpacity);

} // namespace primaps
