// SPDX-License-Identifier: MIT
// Corrected annotations back into a run: read a format (interchange.h), map its
// label names to the run's class table, compare with the pseudo-labels as the
// export wrote them, report what the annotators changed, and store the changes
// as the run's corrections (corrections.h), which the studio and `primaps
// export` apply. `primaps import` and the studio's Import Corrections run it.
#pragma once

#include "dataset/dataset.h"
#include "interchange/interchange.h"
#include "support/job.h"

#include <cstdint>
#include <string>
#include <vector>

namespace primaps::interchange {

struct CorrectionImportRequest
{
    AnnotationFormat format = AnnotationFormat::Coco;
    std::string file;   ///< the corrected annotations (a folder for Png)
    std::string runDir; ///< the run whose corrections/ receives them
    /// The export the annotations were made from (its labels/ and
    /// manifest.json); empty = the folder the file's provenance names.
    std::string exportDir;
    /// Replace an image's existing stored correction with one that differs.
    bool overwrite = false;
    bool dryRun = false; ///< report only; store nothing
};

/// Changed pixels of one class: where "is this class" differs between the
/// pseudo-label and the corrected map, and their IoU (NaN when the class is in
/// neither).
struct ClassChange
{
    int id = 0;
    std::string name;
    std::int64_t changed = 0;
    std::int64_t pseudoLabel = 0; ///< pixels of the class in the pseudo-label
    std::int64_t corrected = 0;   ///< pixels of the class in the corrected map
    std::int64_t intersection = 0;
    std::int64_t unionPixels = 0;
    double iou() const;
};

struct ImageChange
{
    std::string id;
    std::int64_t pixels = 0;
    std::int64_t changed = 0;
    std::vector<ClassChange> classes; ///< classes with changed pixels only
    /// "stored", "unchanged" (no pixel to store), "kept" (an existing, different
    /// correction and no overwrite), "dry-run".
    std::string status;
};

struct UnknownLabel
{
    std::string name;
    std::int64_t pixels = 0;
    int images = 0;
};

struct CorrectionImportReport
{
    std::string exportDir;
    std::int64_t pixels = 0;
    std::int64_t changed = 0;
    std::vector<ClassChange> classes; ///< every class of the table, in id order
    std::vector<ImageChange> images;  ///< every matched image, in file order
    std::vector<UnknownLabel> unknownLabels;
    /// Changed pixels outside the run's crop (at the image's size only): shown in
    /// the report, but a correction cannot hold them.
    std::int64_t outsideCrop = 0;
    int stored = 0, unchanged = 0, kept = 0;
    std::vector<DatasetProblem> problems; ///< unreadable parts, unmatched images
    std::vector<std::string> notes;       ///< one line each, e.g. changed corrections
};

/// The report as `primaps import --json` prints it: changed_pixels (total)
/// first, then pixels, per-class and per-image changes, unknown labels, counts.
std::string importReportToJson(const CorrectionImportReport& report);

/// The import as one job (progress stage "import", one step per image). Throws
/// primaps::Error before storing anything when the file cannot be read at all,
/// the export folder is not found or was made from another run. An image that
/// cannot be used is recorded in problems and skipped. A cancel stops between
/// images; every stored correction is complete (atomic files).
/// Threading: run() on one thread; report() after it returned.
class CorrectionImportJob : public Job
{
public:
    explicit CorrectionImportJob(CorrectionImportRequest request);
    void run(JobControl& control) override;
    const CorrectionImportReport& report() const { return report_; }

private:
    CorrectionImportRequest request_;
    CorrectionImportReport report_;
};

} // namespace primaps::interchange
