// SPDX-License-Identifier: MIT
// The dataset-wide class table of a run: one name and one colour per ground-truth
// class, shared by the review layers, the Evaluation dock and the export, and
// saved in the run folder (RUN_DIR/classes.json).
#pragma once

#include <opencv2/core/matx.hpp>
#include <string>
#include <vector>

namespace primaps {

class Dataset;

/// Name and colour of one class.
struct ClassInfo
{
    std::string name;
    cv::Vec3b colour; ///< RGB

    bool operator==(const ClassInfo& o) const { return name == o.name && colour == o.colour; }
    bool operator!=(const ClassInfo& o) const { return !(*this == o); }
};

/// Names and colours of the classes 0..size()-1 of a dataset. A plain value:
/// cheap to copy and compare (undo stacks), any thread.
struct ClassTable
{
    std::vector<ClassInfo> classes; ///< index = class id

    int size() const { return int(classes.size()); }
    bool empty() const { return classes.empty(); }
    bool operator==(const ClassTable& o) const { return classes == o.classes; }
    bool operator!=(const ClassTable& o) const { return !(*this == o); }
    /// Names in id order (e.g. for evaluationToJson()).
    std::vector<std::string> names() const;
};

/// The default colour of class `id`: Cityscapes' own colours for a 27-class
/// Cityscapes dataset (`cityscapes` true), otherwise core's labelColor(id + 1), so
/// that class 0 does not take the background's colour.
cv::Vec3b defaultClassColour(int id, bool cityscapes);

/// The table a dataset starts with: its class names (empty names become
/// "class N") and the default colours.
ClassTable defaultClassTable(const std::vector<std::string>& names, bool cityscapes = false);
ClassTable defaultClassTable(const Dataset& dataset);

/// The file: {"format": "primaps-class-table", "version": 1, "classes": [{"id",
/// "name", "colour": "#rrggbb"}, ...]}, pretty-printed, ids 0..n-1 in order.
std::string classTableToJson(const ClassTable& table);

/// Reads classTableToJson() text strictly: every id 0..n-1 exactly once, names
/// non-empty, colours "#rrggbb". Also reads the Evaluation dock's older
/// "<results>.classes.json" sidecars (format "primaps-class-styles"; "color" or
/// "colour"), whose entries may leave ids out: those keep `fallback`'s entry.
/// The result has max(fallback.size(), highest id + 1) classes. Throws
/// primaps::Error naming `source` and the offending field. Any thread.
ClassTable parseClassTable(const std::string& text, const std::string& source,
                           const ClassTable& fallback = {});

/// readFile() + parseClassTable(); throws primaps::Error naming the file.
ClassTable readClassTable(const std::string& path, const ClassTable& fallback = {});
/// Writes classTableToJson() atomically. Throws primaps::Error naming the file.
void writeClassTable(const std::string& path, const ClassTable& table);

/// RUN_DIR/classes.json.
std::string runClassTablePath(const std::string& runDir);

/// The class table of a run, for `defaults` (usually defaultClassTable(dataset)):
/// RUN_DIR/classes.json when it exists (classes beyond it keep the defaults;
/// extra entries are dropped so the result always has defaults.size() classes);
/// otherwise the defaults with the legacy sidecar `legacySidecar` (a
/// "<results>.classes.json" of the Evaluation dock) folded in when it is given
/// and exists. `foldedLegacy` (optional) tells whether the sidecar was used, so
/// the caller can save the table to the run folder once and stop reading it.
/// Throws primaps::Error naming the file when an existing file is malformed.
/// Reads only; never writes. Any thread.
ClassTable loadRunClassTable(const std::string& runDir, const ClassTable& defaults,
                             const std::string& legacySidecar = {},
                             bool* foldedLegacy = nullptr);

} // namespace primaps
