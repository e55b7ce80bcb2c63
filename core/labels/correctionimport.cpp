// SPDX-License-Identifier: MIT
#include "labels/correctionimport.h"

#include "support/atomicfile.h"
#include "runs/classtable.h"
#include "labels/corrections.h"
#include "support/error.h"
#include "support/jsontext_p.h"
#include "image/preprocess.h"

#include <opencv2/core.hpp>

#include <array>
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <unordered_map>

namespace primaps::interchange {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using ordered = nlohmann::ordered_json;

constexpr int kIgnore = 255;

std::string canonical(const std::string& path)
{
    std::error_code ec;
    const fs::path p = fs::weakly_canonical(fs::absolute(path), ec);
    return ec ? path : p.string();
}

// What the import needs from the export: its classes, images and geometry.
struct ExportRecord
{
    std::string dir;
    std::vector<InterchangeClass> classes;
    int ignore = 255;
    std::map<std::string, std::string> labelsOf; ///< item id -> label file
    std::map<std::string, std::string> idOfName; ///< image file names and stems -> item id
    bool originalSize = true;
    int resolution = 0, patchSize = 0;
    std::string correctionsDigest;
};

ExportRecord readExport(const std::string& dir, const std::string& runDir)
{
    const std::string manifestPath = (fs::path(dir) / "manifest.json").string();
    std::error_code ec;
    if (!fs::is_regular_file(manifestPath, ec))
        throw Error("'" + dir + "' is not an export folder (no manifest.json); name the export "
                    "the annotations were made from with --export DIR");
    const json m = parseJsonText(readFile(manifestPath), manifestPath);
    ExportRecord e;
    e.dir = dir;
    try {
        const std::string run = m.at("source").at("run").get<std::string>();
        if (canonical(run) != canonical(runDir))
            throw Error("'" + dir + "' was exported from the run '" + run + "', not from '" +
                        runDir + "'");
        if (m.at("label_values").get<std::string>() != "class ids")
            throw Error("'" + dir + "' holds cluster ids; corrections need an export in classes");
        const std::string file = "'" + manifestPath + "': ";
        for (const json& c : m.at("classes"))
            e.classes.push_back({jsonInt(c.at("id"), file + "a class's 'id'"),
                                 jsonInt(c.at("value"), file + "a class's 'value'"),
                                 c.at("name").get<std::string>(),
                                 {}});
        e.ignore = jsonInt(m.at("ignore_value"), file + "'ignore_value'");
        for (const json& im : m.at("images")) {
            const std::string id = im.at("id").get<std::string>();
            e.labelsOf[id] = (fs::path(dir) / im.at("labels").get<std::string>()).string();
            const fs::path image(im.value("image", std::string()));
            for (const std::string& key : {image.filename().string(), image.stem().string()})
                if (!key.empty()) {
                    // A name two images share identifies neither.
                    const auto [at, added] = e.idOfName.emplace(key, id);
                    if (!added && at->second != id)
                        at->second.clear();
                }
        }
        const json& parameters = m.at("parameters");
        e.originalSize = parameters.at("size").get<std::string>() == "original";
        if (parameters.contains("corrections"))
            e.correctionsDigest = parameters["corrections"].value("digest", std::string());
        if (m.contains("provenance")) {
            e.resolution =
                jsonIntOr(m["provenance"], "resolution", 0, file + "'provenance.resolution'");
            e.patchSize =
                jsonIntOr(m["provenance"], "patch_size", 0, file + "'provenance.patch_size'");
        }
    } catch (const json::exception& x) {
        throw Error("'" + manifestPath + "': not an export manifest (" + x.what() + ")");
    }
    if (e.originalSize && (e.resolution < 1 || e.patchSize < 1))
        throw Error("'" + manifestPath + "' does not record the run's crop (resolution and "
                    "patch size); export again with this version");
    return e;
}

void addCounts(ClassChange& to, const ClassChange& from)
{
    to.changed += from.changed;
    to.pseudoLabel += from.pseudoLabel;
    to.corrected += from.corrected;
    to.intersection += from.intersection;
    to.unionPixels += from.unionPixels;
}

ordered classJson(const ClassChange& c)
{
    const double iou = c.iou();
    return {{"id", c.id},
            {"name", c.name},
            {"changed_pixels", c.changed},
            {"pseudo_label_pixels", c.pseudoLabel},
            {"corrected_pixels", c.corrected},
            {"iou", std::isnan(iou) ? ordered(nullptr) : ordered(iou)}};
}

} // namespace

double ClassChange::iou() const
{
    return unionPixels == 0 ? std::nan("") : double(intersection) / double(unionPixels);
}

std::string importReportToJson(const CorrectionImportReport& r)
{
    ordered classes = ordered::array();
    for (const ClassChange& c : r.classes)
        classes.push_back(classJson(c));
    ordered images = ordered::array();
    for (const ImageChange& im : r.images) {
        ordered perClass = ordered::array();
        for (const ClassChange& c : im.classes)
            perClass.push_back(classJson(c));
        images.push_back({{"id", im.id},
                          {"changed_pixels", im.changed},
                          {"pixels", im.pixels},
                          {"status", im.status},
                          {"classes", perClass}});
    }
    ordered unknown = ordered::array();
    for (const UnknownLabel& u : r.unknownLabels)
        unknown.push_back({{"name", u.name}, {"pixels", u.pixels}, {"images", u.images}});
    ordered problems = ordered::array();
    for (const DatasetProblem& p : r.problems)
        problems.push_back({{"path", p.path}, {"message", p.message}});
    const ordered out = {{"changed_pixels", r.changed},
                         {"pixels", r.pixels},
                         {"classes", classes},
                         {"images", images},
                         {"unknown_labels", unknown},
                         {"outside_crop_pixels", r.outsideCrop},
                         {"stored", r.stored},
                         {"unchanged", r.unchanged},
                         {"kept", r.kept},
                         {"export", r.exportDir},
                         {"notes", r.notes},
                         {"problems", problems}};
    return out.dump(2) + "\n";
}

CorrectionImportJob::CorrectionImportJob(CorrectionImportRequest request)
    : request_(std::move(request))
{
}

void CorrectionImportJob::run(JobControl& control)
{
    report_ = {};
    const CorrectionImportRequest& q = request_;
    std::error_code ec;
    if (!fs::exists(q.file, ec))
        throw Error("'" + q.file + "' does not exist");
    AnnotationSet annotations;
    std::string exportDir = q.exportDir;
    if (q.format != AnnotationFormat::Png) {
        annotations = readAnnotations(q.format, q.file, {}, kIgnore);
        if (exportDir.empty()) {
            if (annotations.provenanceJson.empty())
                throw Error("'" + q.file + "' does not say which export it was made from; name "
                            "it with --export DIR");
            const json p = parseJsonText(annotations.provenanceJson, q.file);
            if (p.is_object() && p.contains("export_folder") && p["export_folder"].is_string())
                exportDir = p["export_folder"].get<std::string>();
            if (exportDir.empty())
                throw Error("'" + q.file + "': its provenance names no export folder; name the "
                            "export with --export DIR");
        }
    } else if (exportDir.empty()) {
        exportDir = q.file;
    }
    const ExportRecord exported = readExport(exportDir, q.runDir);
    report_.exportDir = exportDir;
    if (q.format == AnnotationFormat::Png)
        annotations = readAnnotations(q.format, q.file, exported.classes, exported.ignore);

    // Label names -> the run's classes, by name only.
    ClassTable defaults;
    for (const InterchangeClass& c : exported.classes)
        defaults.classes.push_back({c.name, c.colour});
    const ClassTable table = loadRunClassTable(q.runDir, defaults);
    // Grows with the labels the decoders find (colours or values without a name).
    std::vector<int> classOfLabel;
    std::vector<UnknownLabel> unknown;
    auto mapNewLabels = [&] {
        for (std::size_t l = classOfLabel.size(); l < annotations.labels.size(); ++l) {
            int cls = -1;
            for (int c = 0; c < table.size(); ++c)
                if (table.classes[std::size_t(c)].name == annotations.labels[l])
                    cls = c;
            classOfLabel.push_back(cls);
            unknown.emplace_back();
        }
    };
    mapNewLabels();
    std::vector<int> valueToClass(256, kIgnore);
    for (const InterchangeClass& c : exported.classes)
        if (c.value >= 0 && c.value < 256)
            valueToClass[std::size_t(c.value)] = c.id;
    for (const auto& [where, why] : annotations.problems)
        report_.problems.push_back({where, why});

    const int classes = table.size();
    report_.classes.resize(std::size_t(classes));
    for (int c = 0; c < classes; ++c) {
        report_.classes[std::size_t(c)].id = c;
        report_.classes[std::size_t(c)].name = table.classes[std::size_t(c)].name;
    }
    const CorrectionStore store(CorrectionStore::runFolder(q.runDir));
    if (!exported.correctionsDigest.empty() && exported.correctionsDigest != store.digest())
        report_.notes.push_back("the run's corrections changed since the export; the "
                                "annotations are compared with the labels as exported");

    JobProgress progress;
    progress.stage = "import";
    progress.totalSteps = std::int64_t(annotations.images.size());
    for (std::size_t i = 0; i < annotations.images.size(); ++i) {
        if (!control.proceed())
            return;
        const AnnotatedImage& annotated = annotations.images[i];
        std::string id = annotated.name;
        if (!exported.labelsOf.count(id)) {
            const auto byName = exported.idOfName.find(fs::path(id).filename().string());
            const auto byStem = exported.idOfName.find(fs::path(id).stem().string());
            id = byName != exported.idOfName.end()   ? byName->second
                 : byStem != exported.idOfName.end() ? byStem->second
                                                     : std::string();
        }
        if (id.empty() || !exported.labelsOf.count(id)) {
            report_.problems.push_back(
                {q.file, "image '" + annotated.name + "' is not an image of the export '" +
                             exportDir + "'; skipped"});
            continue;
        }
        try {
            std::vector<std::string> partial;
            const cv::Mat annotatedLabels = annotated.decode(annotations.labels, partial);
            for (const std::string& why : partial)
                report_.problems.push_back({q.file, why});
            mapNewLabels();
            const cv::Mat values = readLabelValues(exported.labelsOf.at(id));
            if (values.size() != annotatedLabels.size())
                throw Error("the annotation of '" + id + "' is " +
                            std::to_string(annotatedLabels.cols) + "x" +
                            std::to_string(annotatedLabels.rows) + ", its pseudo-label " +
                            std::to_string(values.cols) + "x" + std::to_string(values.rows));
            // Both maps in class ids (255 = ignore), at the export's size.
            cv::Mat before(values.size(), CV_8UC1), after(values.size(), CV_8UC1);
            std::vector<std::int64_t> unknownHere(annotations.labels.size(), 0);
            for (int y = 0; y < values.rows; ++y)
                for (int x = 0; x < values.cols; ++x) {
                    const int b = valueToClass[values.at<std::uint8_t>(y, x)];
                    before.at<std::uint8_t>(y, x) = std::uint8_t(b);
                    const int label = annotatedLabels.at<std::int32_t>(y, x);
                    int a = kIgnore;
                    if (label >= 0 && classOfLabel[std::size_t(label)] >= 0) {
                        a = classOfLabel[std::size_t(label)];
                    } else if (label >= 0) {
                        a = b; // an unknown name changes nothing: reported, not guessed
                        ++unknownHere[std::size_t(label)];
                    }
                    after.at<std::uint8_t>(y, x) = std::uint8_t(a);
                }
            for (std::size_t l = 0; l < unknownHere.size(); ++l)
                if (unknownHere[l] > 0) {
                    unknown[l].pixels += unknownHere[l];
                    ++unknown[l].images;
                }
            ImageChange change;
            change.id = id;
            change.pixels = std::int64_t(values.total());
            std::vector<ClassChange> perClass(static_cast<std::size_t>(classes));
            for (int y = 0; y < values.rows; ++y)
                for (int x = 0; x < values.cols; ++x) {
                    const int b = before.at<std::uint8_t>(y, x), a = after.at<std::uint8_t>(y, x);
                    if (a != b)
                        ++change.changed;
                    if (b < classes) {
                        ++perClass[std::size_t(b)].pseudoLabel;
                        ++perClass[std::size_t(b)].unionPixels;
                    }
                    if (a < classes) {
                        ++perClass[std::size_t(a)].corrected;
                        if (a != b)
                            ++perClass[std::size_t(a)].unionPixels;
                    }
                    if (a == b && a < classes)
                        ++perClass[std::size_t(a)].intersection;
                    if (a != b) {
                        if (b < classes)
                            ++perClass[std::size_t(b)].changed;
                        if (a < classes)
                            ++perClass[std::size_t(a)].changed;
                    }
                }
            for (int c = 0; c < classes; ++c) {
                ClassChange& s = perClass[std::size_t(c)];
                s.id = c;
                s.name = table.classes[std::size_t(c)].name;
                addCounts(report_.classes[std::size_t(c)], s);
                if (s.changed > 0)
                    change.classes.push_back(s);
            }
            report_.pixels += change.pixels;
            report_.changed += change.changed;

            // The correction lives at the run's crop; an export at the image's
            // size maps each crop pixel to a block of image pixels, which gives
            // the crop pixel the corrected value most of its block has.
            cv::Mat source; // per export pixel: its crop pixel (row-major index), -1 outside
            cv::Size crop = values.size();
            if (exported.originalSize) {
                PreprocessParams p;
                p.shorterSide = exported.resolution;
                p.patchSize = exported.patchSize;
                p.fit = FitMode::CenterCropSquare;
                const PreparedImage prepared =
                    prepareImage(cv::Mat(values.size(), CV_8UC3, cv::Scalar::all(0)), p);
                crop = prepared.rgb.size();
                cv::Mat index(crop, CV_32S);
                for (int k = 0; k < int(index.total()); ++k)
                    index.at<std::int32_t>(k / crop.width, k % crop.width) = k;
                source = labelsToOriginal(index, prepared, -1);
            }
            cv::Mat correction = store.read(id);
            const cv::Mat previous = correction.clone();
            if (correction.empty())
                correction = cv::Mat(crop, CV_8UC1, cv::Scalar(CorrectionNone));
            if (correction.size() != crop)
                throw Error("the stored correction '" + store.path(id) + "' is not of the run's "
                            "crop size");
            std::unordered_map<int, std::vector<std::uint8_t>> votes;
            std::unordered_map<int, std::uint8_t> beforeAt;
            for (int y = 0; y < values.rows; ++y)
                for (int x = 0; x < values.cols; ++x) {
                    const int s = source.empty() ? y * values.cols + x : source.at<std::int32_t>(y, x);
                    const bool changed = before.at<std::uint8_t>(y, x) != after.at<std::uint8_t>(y, x);
                    if (s < 0) {
                        report_.outsideCrop += changed ? 1 : 0;
                        continue;
                    }
                    if (changed)
                        votes[s]; // marks the crop pixel as touched
                }
            for (int y = 0; y < values.rows && !votes.empty(); ++y)
                for (int x = 0; x < values.cols; ++x) {
                    const int s = source.empty() ? y * values.cols + x : source.at<std::int32_t>(y, x);
                    const auto v = s < 0 ? votes.end() : votes.find(s);
                    if (v == votes.end())
                        continue;
                    v->second.push_back(after.at<std::uint8_t>(y, x));
                    beforeAt[s] = before.at<std::uint8_t>(y, x);
                }
            for (const auto& [s, list] : votes) {
                std::array<int, 256> count{};
                int best = list.front();
                for (std::uint8_t v : list)
                    if (++count[v] > count[std::size_t(best)])
                        best = v;
                if (best != beforeAt[s])
                    correction.at<std::uint8_t>(s / crop.width, s % crop.width) =
                        best == kIgnore ? CorrectionIgnore : std::uint8_t(best);
            }
            const bool same = !previous.empty()
                                  ? cv::countNonZero(previous != correction) == 0
                                  : cv::countNonZero(correction != CorrectionNone) == 0;
            if (same) {
                change.status = "unchanged";
                ++report_.unchanged;
            } else if (q.dryRun) {
                change.status = "dry-run";
            } else if (!previous.empty() && !q.overwrite) {
                change.status = "kept";
                ++report_.kept;
                report_.problems.push_back(
                    {store.path(id), "'" + id + "' already has corrections that differ from the "
                                     "imported ones; kept (pass --overwrite to replace them)"});
            } else {
                store.write(id, correction);
                change.status = "stored";
                ++report_.stored;
            }
            report_.images.push_back(std::move(change));
        } catch (const Error& e) {
            report_.problems.push_back({exported.labelsOf.at(id), e.what()});
        } catch (const cv::Exception& e) {
            report_.problems.push_back({exported.labelsOf.at(id), e.what()});
        }
        progress.step = std::int64_t(i) + 1;
        progress.fraction = double(progress.step) / double(std::max<std::int64_t>(1, progress.totalSteps));
        progress.message = id;
        control.report(progress);
    }
    for (std::size_t l = 0; l < unknown.size(); ++l)
        if (unknown[l].pixels > 0) {
            unknown[l].name = annotations.labels[l];
            report_.unknownLabels.push_back(unknown[l]);
        }
}

} // namespace primaps::interchange
