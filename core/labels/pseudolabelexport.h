// SPDX-License-Identifier: MIT
// Exporting a fitted run's pseudo-label dataset end to end, as one job: the
// cluster-to-class match (a given file, the run's edited match.json, an earlier
// run of the same export, or an evaluation of the split), the run's class table
// and corrections, the folder checks, the labels and the manifest. `primaps
// export` and the studio both run it, so they write the same files.
#pragma once

#include "runs/evaluationreport.h"
#include "interchange/interchange.h"
#include "support/job.h"
#include "labels/labelexport.h"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace primaps {

/// Where the match of an export comes from.
enum class ExportMatchSource
{
    /// RUN_DIR/match.json when it was made for the export's theta and CRF, else
    /// the export folder's match.json of an earlier run of the same export,
    /// else an evaluation of the split (which needs labels and no shard).
    Auto,
    File,        ///< PseudoLabelExportRequest::matchFile (`primaps eval --json` output)
    RawClusters, ///< no match: the cluster ids themselves
};

/// Which corrections an export applies (only with a match).
enum class ExportCorrectionsSource
{
    Auto,   ///< RUN_DIR/corrections when it exists
    Folder, ///< PseudoLabelExportRequest::correctionsDir, which must exist
    None,
};

/// What to export.
struct PseudoLabelExportRequest
{
    /// Folder, CRF, layout, size, pictures, overwrite. Its clusterToClass,
    /// classTable and correctionsDir are filled in by the job (a classTable set
    /// here is kept; otherwise the run's RUN_DIR/classes.json or the defaults).
    LabelExportSettings settings;
    ExportMatchSource match = ExportMatchSource::Auto;
    std::string matchFile;
    ExportCorrectionsSource corrections = ExportCorrectionsSource::Auto;
    std::string correctionsDir;
    Shard shard;
    bool strict = false; ///< stop at the first unusable image
    /// Annotation-tool formats written from the label files once every image of
    /// the split is exported (needs classes and the mirror layout).
    std::vector<interchange::InterchangeFormat> formats;
};

/// The export as one job. Progress stages: "evaluation" (only when the match is
/// computed), then "export". A cancel stops between images; everything written
/// is complete and a new run resumes (finished images are kept).
///
/// Errors: when the request cannot be carried out (unreadable or mismatching
/// match file, a folder holding another export, a split without labels and no
/// match, ...) run() throws primaps::Error before anything is exported, and
/// refused() is true. A failing image is recorded in failures() and skipped, or
/// (strict) stops the job with primaps::Error.
///
/// Threading: construct anywhere; run() on one thread (it uses the run's
/// backbone, which nobody else may use meanwhile). The log callback runs on
/// that thread. The accessors are for after run() returned.
class PseudoLabelExportJob : public Job
{
public:
    /// `run` and `dataset` must outlive the job. Throws nothing.
    PseudoLabelExportJob(FittedRun& run, const Dataset& dataset, PseudoLabelExportRequest request);
    ~PseudoLabelExportJob() override;

    /// One line for the user per decision (which match, which corrections).
    void setLogCallback(std::function<void(const std::string&)> log) { log_ = std::move(log); }

    void run(JobControl& control) override;

    /// run() threw because the request could not be carried out (nothing exported).
    bool refused() const { return refused_; }
    /// The export's description (classes, values, paths); null until the match is
    /// known and the folder prepared.
    const LabelExport* exporter() const { return exporter_.get(); }
    /// The export stage's report (items, computed = exported, reused = already there).
    const StageReport& report() const { return report_; }
    /// Images that could not be exported or evaluated, each once, with the reason.
    const std::vector<DatasetProblem>& failures() const { return failures_; }
    std::size_t filesWritten() const { return files_; }
    /// Images listed by the manifest (written at the end, also after a cancel).
    std::size_t listed() const { return listed_; }
    /// Where the match came from (a file's absolute path, or "none").
    const std::string& matchSource() const { return matchSource_; }
    /// Files of the requested formats written by this run, and those left alone
    /// because they existed (no overwrite).
    const std::vector<std::string>& formatFiles() const { return formatFiles_; }
    const std::vector<std::string>& keptFormatFiles() const { return keptFormatFiles_; }

private:
    bool resolveMatch(JobControl& control, LabelExportSettings& settings, ExportSource& source);
    std::string provenance(const LabelExportSettings& settings) const;
    void writeFormats();

    FittedRun& run_;
    const Dataset& dataset_;
    PseudoLabelExportRequest request_;
    std::function<void(const std::string&)> log_;
    std::unique_ptr<LabelExport> exporter_;
    std::optional<std::string> matchToStore_;
    std::vector<DatasetProblem> evaluationFailures_;
    std::vector<DatasetProblem> failures_;
    StageReport report_;
    std::size_t files_ = 0;
    std::size_t listed_ = 0;
    std::string matchSource_ = "none";
    std::vector<std::string> formatFiles_;
    std::vector<std::string> keptFormatFiles_;
    bool refused_ = false;
};

/// The cluster-to-class table of an evaluation file (`primaps eval --json`, its
/// --merge, an export's or a run's match.json). Throws primaps::Error naming
/// the file when it is not such a file, a shard's partial, made with another
/// CRF setting or theta than `crf` / `theta` (when it records them), or for
/// other cluster or class counts.
std::vector<int> readMatchFile(const std::string& path, int clusters, int classes, bool crf,
                               const std::string& theta);

} // namespace primaps
