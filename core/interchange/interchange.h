// SPDX-License-Identifier: MIT
// Pseudo-labels in the formats annotation tools read, and corrected annotations
// read back (docs/guide/annotation-tools.md). The formats are assembled from an
// export's label files (labels/<item id>.png, written per image and resumable),
// so that the label maps are the same in every format. Each format has its own
// file (cocoformat, cvatformat, labelstudioformat); this header holds what they
// share. No Qt. Any thread (the functions share no state).
#pragma once

#include <cstdint>
#include <functional>
#include <opencv2/core/mat.hpp>
#include <opencv2/core/matx.hpp>
#include <string>
#include <vector>

namespace primaps::interchange {

/// A format an export can also be written in.
enum class InterchangeFormat
{
    Coco,         ///< coco_<split>.json: one compressed-RLE annotation per class and image
    CocoPanoptic, ///< panoptic_<split>.json + panoptic_<split>/<id>.png
    Cvat,         ///< cvat_<split>.zip: CVAT's "Segmentation mask 1.1"
    LabelStudio,  ///< labelstudio_<split>.json (tasks with predictions) + labelstudio_config.xml
};
/// "coco", "coco-panoptic", "cvat", "labelstudio", and back (nullopt-free: throws
/// primaps::Error listing the names).
const char* toString(InterchangeFormat format);
InterchangeFormat interchangeFormatFromString(const std::string& name);

/// One class of the export: the value in the label files, its name and colour.
struct InterchangeClass
{
    int id = 0;    ///< class id in the run
    int value = 0; ///< value in the label files
    std::string name;
    cv::Vec3b colour; ///< RGB
};

/// One exported image.
struct InterchangeImage
{
    std::string id;         ///< the dataset item's id ("aachen/aachen_000000_000019")
    std::string imagePath;  ///< absolute path of the photo
    std::string fileName;   ///< the photo's path relative to the dataset root, '/'-separated
    std::string labelsPath; ///< absolute path of its label PNG (values as in the classes)
};

/// What a format writer needs: the finished export.
struct InterchangeSet
{
    std::string outDir;
    std::string split;
    std::vector<InterchangeClass> classes;
    int ignoreValue = 255;
    std::vector<InterchangeImage> images;
    /// The provenance object (JSON text): tool, version, run, backbone and its
    /// SHA-256, threshold, protocol, seed, date, export folder, label size and
    /// the preprocessing that maps labels back to the run's crop.
    std::string provenanceJson;
    bool overwrite = false;
};

/// Writes `set` in `format` into set.outDir: each file atomically, a file that
/// exists only with `overwrite`. Returns the files written (absolute); files
/// left alone are reported through `kept`. Throws primaps::Error naming the file
/// that cannot be read or written.
std::vector<std::string> writeInterchange(InterchangeFormat format, const InterchangeSet& set,
                                          std::vector<std::string>* kept = nullptr);

/// The label values of an export's label PNG (palette or greyscale), CV_8UC1.
/// Throws primaps::Error naming the file.
cv::Mat readLabelValues(const std::string& path);

/// Connected components (4-neighbourhood) of each class value: CV_32S, 0 for
/// `ignoreValue`, 1..count numbered in row-major order of their first pixel.
cv::Mat componentsPerValue(const cv::Mat& values, int ignoreValue, int* count);

/// Corrected annotations as a file holds them, before any mapping to classes.
/// Label maps are decoded one image at a time (decode()), so that a file of
/// thousands of images never holds all their maps in memory.
struct AnnotatedImage
{
    std::string name; ///< how the file names the image: an item id or a file name
    /// The label map, CV_32S: index into `labels`, -1 = not annotated. Labels the
    /// map uses that `labels` does not have yet (a colour labelmap.txt does not
    /// list, a value no class has) are appended to it. Parts that cannot be read
    /// are described in `problems` and left unannotated; throws primaps::Error
    /// when the image cannot be read at all.
    std::function<cv::Mat(std::vector<std::string>& labels, std::vector<std::string>& problems)>
        decode;
};

struct AnnotationSet
{
    std::vector<std::string> labels; ///< the label names the file uses
    std::vector<AnnotatedImage> images;
    std::string provenanceJson; ///< what the export recorded in the file; empty if lost
    /// Parts of the file that could not be read (path or entry, message); the
    /// rest is read.
    std::vector<std::pair<std::string, std::string>> problems;
};

/// The formats corrections come back in.
enum class AnnotationFormat
{
    Coco,        ///< a COCO JSON: RLE (compressed or not) or polygon segmentations
    Cvat,        ///< a CVAT "Segmentation mask 1.1" zip
    LabelStudio, ///< a Label Studio JSON export (tasks with annotations)
    Png,         ///< a folder of label PNGs (an export's labels/, or the export folder)
};
const char* toString(AnnotationFormat format);
AnnotationFormat annotationFormatFromString(const std::string& name);

/// Reads `path` in `format`. `classes` is the export's (for PNG values); the
/// other formats name their labels. Throws primaps::Error naming the file when
/// it cannot be read at all.
AnnotationSet readAnnotations(AnnotationFormat format, const std::string& path,
                              const std::vector<InterchangeClass>& classes, int ignoreValue);

// The formats (cocoformat.cpp, cvatformat.cpp, labelstudioformat.cpp).
std::vector<std::string> writeCoco(const InterchangeSet& set, std::vector<std::string>& kept);
std::vector<std::string> writeCocoPanoptic(const InterchangeSet& set,
                                           std::vector<std::string>& kept);
std::vector<std::string> writeCvat(const InterchangeSet& set, std::vector<std::string>& kept);
std::vector<std::string> writeLabelStudio(const InterchangeSet& set,
                                          std::vector<std::string>& kept);
AnnotationSet readCoco(const std::string& path);
AnnotationSet readCvat(const std::string& path);
AnnotationSet readLabelStudio(const std::string& path);

/// The colours a CVAT or panoptic export gives classes: the class table's,
/// made unique and never black (black is "background" in CVAT).
std::vector<cv::Vec3b> distinctColours(const std::vector<InterchangeClass>& classes);

/// writeFileAtomic() unless the file exists and `overwrite` is false; then
/// `kept` gets the path. Returns whether it was written.
bool writeOutput(const std::string& path, const std::string& bytes, bool overwrite,
                 std::vector<std::string>& written, std::vector<std::string>& kept);

} // namespace primaps::interchange
