// SPDX-License-Identifier: MIT
// A pseudo-label dataset from a fitted run (docs/ARCHITECTURE.md, "Export formats"): per image a
// label PNG made by the evaluation's prediction path, optional colour and overlay
// pictures, a class list, a legend and a manifest that a training pipeline reads.
#pragma once

#include "runs/classtable.h"
#include "dataset/dataset.h"
#include "runs/datasetjobs.h"
#include "support/job.h"

#include <opencv2/core/mat.hpp>
#include <string>
#include <vector>

namespace primaps {

class Backbone;

/// How label files are named inside the export folder.
enum class ExportLayout
{
    /// labels/<item id>.png (colour/, overlay/ alike): the dataset's relative
    /// paths mirrored, so names never collide; values are class ids (or cluster
    /// ids), the ignore value 255 (65535 in 16-bit files).
    Mirror,
    /// Cityscapes' own: gtFine/<split>/<city>/<name>_gtFine_labelIds.png (and
    /// _gtFine_color.png) holding Cityscapes label ids (class c -> 7 + c), 0 =
    /// unlabelled; only for a Cityscapes dataset with matched classes.
    Cityscapes,
};
/// "mirror" / "cityscapes", and back (throws primaps::Error listing the names).
const char* toString(ExportLayout layout);
ExportLayout exportLayoutFromString(const std::string& name);

/// At which size the label maps are written.
enum class ExportSize
{
    /// The image's own size: the prediction on the evaluation crop mapped back
    /// (nearest neighbour); pixels outside the crop get the ignore value.
    Original,
    /// The prepared (cropped, resized) image's size: exactly the map evaluation scores.
    Prepared,
};
const char* toString(ExportSize size);
ExportSize exportSizeFromString(const std::string& name);

/// What to write and how.
struct LabelExportSettings
{
    std::string outDir;
    /// Refine the predictions with the dense CRF, as `primaps eval --crf` does.
    bool crf = false;
    /// Class of each cluster (the Hungarian match of an evaluation); empty = write
    /// the cluster ids themselves. -1 = cluster without a class (ignored).
    std::vector<int> clusterToClass;
    ExportLayout layout = ExportLayout::Mirror;
    ExportSize size = ExportSize::Original;
    /// Label PNGs with the class colours as their palette (8-bit indexed PNGs:
    /// viewers show colours, PIL and numpy read the values).
    bool palette = false;
    bool colour = false;         ///< also a palette picture per image
    bool overlay = false;        ///< also the palette blended over the image
    float overlayOpacity = 0.5f; ///< in [0, 1]
    /// Replace existing files (and an export made with other parameters) instead
    /// of keeping them.
    bool overwrite = false;
    /// Names and colours of the classes of a matched export (the run's
    /// RUN_DIR/classes.json); empty = the dataset's names in the default colours
    /// (defaultClassTable()). Must have the dataset's class count.
    ClassTable classTable;
    /// A CorrectionStore folder (e.g. RUN_DIR/corrections) whose maps replace the
    /// predicted classes where the user corrected them, before the labels are
    /// mapped to the output size; empty = none. Only for matched exports. The
    /// manifest records the folder, the corrected images and a digest (a changed
    /// correction makes an existing export "made with other parameters").
    std::string correctionsDir;
};

/// Where the labels come from; the manifest records it, and the parts that decide
/// the labels (prototypes digest, backbone, resolution) are compared on resume.
struct ExportSource
{
    std::string run;              ///< the run folder
    std::string theta = "m";      ///< which prototypes: m (theta_M) or r (theta_R)
    std::string prototypesDigest; ///< hashFile() of the prototypes file
    std::string backbone;
    std::string weights;
    int resolution = 0;
    std::string match; ///< where clusterToClass came from ("none" for cluster ids)
    /// A JSON object recorded as the manifest's "provenance" (and in palette
    /// PNGs' text) when not empty: tool, run, backbone and checkpoint digest, ...
    std::string provenanceJson;
};

/// One value class of the export: what a label value means and how it is drawn.
struct ExportClass
{
    int id = 0;    ///< class id (or cluster id)
    int value = 0; ///< the value in the label files (differs from id for Cityscapes)
    std::string name;
    cv::Vec3b colour; ///< RGB
};

/// Output paths of one item, absolute (under the export folder).
struct ExportPaths
{
    std::string labels;
    std::string colour;  ///< empty when not requested
    std::string overlay; ///< empty when not requested
};

/// The export of one dataset: names, encoding, writing and the manifest. Const
/// after construction; write() may be called from several threads for
/// different items.
class LabelExport
{
public:
    /// `clusters` is the number of prototypes. Throws primaps::Error when the
    /// match does not have one entry per cluster or names a class the dataset does
    /// not have, when the Cityscapes layout is asked for another dataset or for
    /// cluster ids, or the opacity is outside [0, 1].
    LabelExport(const Dataset& dataset, int clusters, LabelExportSettings settings,
                ExportSource source);

    const LabelExportSettings& settings() const { return settings_; }
    bool mapped() const { return !settings_.clusterToClass.empty(); }
    /// The values the label files hold, in id order.
    const std::vector<ExportClass>& classes() const { return classes_; }
    int ignoreValue() const { return ignore_; }
    int bitDepth() const { return depth_; } ///< 8, or 16 for more than 255 clusters

    ExportPaths paths(const DatasetItem& item) const;
    /// True when every requested output of the item exists.
    bool finished(const DatasetItem& item) const;

    /// Checks, without writing anything, that the folder may take this export:
    /// it is not the dataset's root (whose ground truth and class list sit where
    /// an export writes), and it holds no export with other parameters (unless
    /// overwrite). With `compareMatch` false the match is left out of the
    /// comparison, so that a folder can be checked before the match is known.
    /// Throws primaps::Error naming the folder and the differing parameter.
    void checkFolder(bool compareMatch = true) const;

    /// checkFolder(), then creates the folder; writes classes.txt, legend.png
    /// and, when there is none yet, a manifest without images, so that an
    /// interrupted export is recognised by the next run. Throws primaps::Error
    /// naming the differing parameter or the file that cannot be written.
    void prepareFolder() const;

    /// Writes the item's outputs from its prediction, atomically, each file only
    /// when it is missing (or with overwrite). Returns the number of files
    /// written. Throws primaps::Error naming the file on a write failure.
    int write(const DatasetItem& item, const ItemPrediction& prediction) const;

    /// The label map of a prediction as written (CV_8U or CV_16U file values),
    /// with the correction of item `itemId` applied when the settings name a
    /// corrections folder. Throws primaps::Error naming the correction file when
    /// it is not of the prediction's (prepared) size or names an unknown class.
    cv::Mat labelValues(const ItemPrediction& prediction, const std::string& itemId = {}) const;

    /// Items with a stored correction (sorted ids); empty without a corrections folder.
    const std::vector<std::string>& correctedItems() const { return corrected_; }

    /// Writes manifest.json atomically: format, versions, parameters, source,
    /// classes, and every dataset item whose labels exist on disk (any shard's),
    /// plus the ids still missing. Returns the number of images listed.
    std::size_t writeManifest() const;
    std::string manifestPath() const;

private:
    std::string parametersJson() const;
    ExportPaths pathsOf(const DatasetItem& item, bool colour, bool overlay) const;
    cv::Mat idsAtOutputSize(const ItemPrediction& prediction, const std::string& itemId) const;

    const Dataset& dataset_;
    int clusters_;
    LabelExportSettings settings_;
    ExportSource source_;
    std::vector<ExportClass> classes_;
    int ignore_ = 255;
    int depth_ = 8;
    std::vector<std::string> corrected_;
    std::string correctionsDigest_;
};

/// Exports the shard items: items whose outputs all exist are counted as reused
/// (resume), the others are predicted with predictItem() and written. A failing
/// item is recorded in the report and skipped, or (strict) stops the job. Checks
/// control.proceed() between items only, so a cancel never leaves an item half
/// written (and every file is atomic anyway).
class LabelExportJob : public Job
{
public:
    LabelExportJob(const LabelExport& exporter, const Dataset& dataset, Backbone& backbone,
                   const FeatureCache& cache, const FeatureSettings& settings,
                   const Prototypes& prototypes, Shard shard = {}, bool strict = false);
    void run(JobControl& control) override;
    const StageReport& report() const { return report_; }
    /// Files written by this run.
    std::size_t filesWritten() const { return files_; }

private:
    const LabelExport& exporter_;
    const Dataset& dataset_;
    Backbone& backbone_;
    const FeatureCache& cache_;
    FeatureSettings settings_;
    Prototypes prototypes_;
    Shard shard_;
    bool strict_;
    StageReport report_;
    std::size_t files_ = 0;
};

} // namespace primaps
