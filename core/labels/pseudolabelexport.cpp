// SPDX-License-Identifier: MIT
#include "labels/pseudolabelexport.h"

#include "support/atomicfile.h"
#include "backbones/backbone.h"
#include "runs/classtable.h"
#include "labels/corrections.h"
#include "support/error.h"
#include "dataset/featurecache.h"
#include "interchange/sha256.h"
#include "support/runtime.h"
#include "support/jsontext_p.h"
#include "runs/matchedits.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

namespace primaps {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string absolutePath(const std::string& path)
{
    std::error_code ec;
    const fs::path p = fs::absolute(path, ec);
    return ec ? path : p.string();
}

std::string percent(double v)
{
    char text[32];
    std::snprintf(text, sizeof text, "%.2f", v);
    return text;
}

json readJsonObject(const std::string& path)
{
    const json o = parseJsonText(readFile(path), path);
    if (!o.is_object())
        throw Error("'" + path + "': not a JSON object");
    return o;
}

// Identity of a match file's origin, so that a match.json left by an earlier
// export is reused only for the same prototypes, dataset and CRF setting.
json matchIdentity(const FittedRun& run, const Dataset& dataset, bool crf)
{
    return {{"crf", crf},
            {"theta", run.theta},
            {"prototypes_digest", hashFile(run.thetaPath)},
            {"dataset_fingerprint", dataset.fingerprint()},
            {"split", dataset.split()}};
}

} // namespace

std::vector<int> readMatchFile(const std::string& path, int clusters, int classes, bool crf,
                               const std::string& theta)
{
    const json o = readJsonObject(path);
    const std::string file = "'" + path + "'";
    // A match made without the CRF does not describe CRF-refined predictions,
    // theta_R's not theta_M's.
    if (o.contains("crf") && o["crf"].is_boolean() && o["crf"].get<bool>() != crf)
        throw Error(file + " was computed " + (crf ? "without" : "with") +
                    " --crf; this export runs " + (crf ? "with" : "without") + " it");
    if (o.contains("theta") && o["theta"].is_string() && o["theta"].get<std::string>() != theta)
        throw Error(file + " matches theta_" + o["theta"].get<std::string>() +
                    ", this export uses theta_" + theta);
    const EvaluationReport report = parseEvaluationJson(o.dump(), path);
    if (!report.shard.empty())
        throw Error(file + " is the partial of shard " + report.shard +
                    "; merge the partials first ('primaps eval --merge ... --json')");
    if (report.result.clusters != clusters || report.result.classes != classes)
        throw Error(file + " matches " + std::to_string(report.result.clusters) +
                    " clusters to " + std::to_string(report.result.classes) +
                    " classes; this run has " + std::to_string(clusters) +
                    " clusters and the dataset " + std::to_string(classes) + " classes");
    return report.result.clusterToClass;
}

PseudoLabelExportJob::PseudoLabelExportJob(FittedRun& run, const Dataset& dataset,
                                           PseudoLabelExportRequest request)
    : run_(run), dataset_(dataset), request_(std::move(request))
{
}

PseudoLabelExportJob::~PseudoLabelExportJob() = default;

bool PseudoLabelExportJob::resolveMatch(JobControl& control, LabelExportSettings& settings,
                                        ExportSource& source)
{
    auto log = [this](const std::string& line) {
        if (log_)
            log_(line);
    };
    const int clusters = run_.prototypes.classes;
    const int classes = dataset_.classCount();
    const bool crf = settings.crf;
    const std::string stored = (fs::path(settings.outDir) / "match.json").string();
    if (request_.match == ExportMatchSource::RawClusters)
        return true;
    if (request_.match == ExportMatchSource::File) {
        settings.clusterToClass =
            readMatchFile(request_.matchFile, clusters, classes, crf, run_.theta);
        matchSource_ = absolutePath(request_.matchFile);
        return true;
    }
    // The studio's match, with the user's overrides, merges and ignores, when it
    // describes these predictions.
    const std::string runMatch = runMatchPath(run_.dir);
    std::error_code ec;
    if (fs::is_regular_file(runMatch, ec)) {
        const RunMatch m = readRunMatch(runMatch);
        if (m.theta == run_.theta && m.crf == crf) {
            settings.clusterToClass = readMatchFile(runMatch, clusters, classes, crf, run_.theta);
            matchSource_ = absolutePath(runMatch);
            log("match: using the run's '" + runMatch + "'");
            return true;
        }
        log("match: not using '" + runMatch + "': it matches theta_" + m.theta +
            (m.crf ? " with" : " without") + " the CRF, this export uses theta_" + run_.theta +
            (crf ? " with" : " without") + " it");
    }
    const json identity = matchIdentity(run_, dataset_, crf);
    if (fs::is_regular_file(stored, ec)) {
        const json earlier = readJsonObject(stored);
        if (earlier.contains("identity") && earlier["identity"] == identity) {
            settings.clusterToClass = readMatchFile(stored, clusters, classes, crf, run_.theta);
            matchSource_ = "evaluation of the split (" + stored + ")";
            log("match: using '" + stored + "' from an earlier run of this export");
            return true;
        }
    }
    if (classes < 1 || !dataset_.hasLabels())
        throw Error("this split has no labels to match clusters to classes: pass --match FILE "
                    "(from 'primaps eval --json' on a labelled split) or --raw-clusters");
    if (request_.shard.count != 1)
        throw Error("with --shard, give the match: --match FILE from 'primaps eval --json' (or "
                    "its --shard/--merge form), so that every task maps clusters alike without "
                    "evaluating the whole split");
    {
        // Refuse a folder that holds another export before the evaluation, which
        // may take long; the match is not known yet.
        LabelExportSettings provisional = settings;
        provisional.clusterToClass.assign(std::size_t(clusters), -1);
        LabelExport(dataset_, clusters, provisional, source).checkFolder(false);
    }
    const FeatureCache cache(
        run_.cacheDir, featureCacheKey(dataset_, run_.backbone->name(), run_.weights, run_.settings));
    EvaluationJob evaluation(dataset_, *run_.backbone, cache, run_.settings, run_.prototypes, crf,
                             Shard{}, request_.strict);
    refused_ = false; // a failing image under --strict is not a refusal
    evaluation.run(control);
    refused_ = true;
    if (control.isCanceled())
        return false;
    const StageReport& r = evaluation.report();
    evaluationFailures_ = r.failures; // reported once, with the export's
    const ConfusionMatrix& confusion = evaluation.confusion();
    if (confusion.total() == 0)
        throw Error("no labelled pixel could be evaluated, so there is no match; pass --match "
                    "FILE or --raw-clusters");
    const EvaluationResult result = evaluate(confusion);
    json m = json::parse(evaluationToJson(result, dataset_.classNames(), confusion));
    m["crf"] = crf;
    m["theta"] = run_.theta;
    m["run"] = source.run;
    m["identity"] = identity;
    matchToStore_ = m.dump(4) + "\n";
    settings.clusterToClass = result.clusterToClass;
    matchSource_ = "evaluation of the split (" + stored + ")";
    log("match: Hungarian on " + std::to_string(r.items - r.skipped - r.failures.size()) +
        " labelled image(s) (" + std::to_string(r.skipped) + " without labels), Acc " +
        percent(result.accuracy) + " %, mIoU " + percent(result.meanIoU) + " % -> '" + stored +
        "'");
    return true;
}

std::string PseudoLabelExportJob::provenance(const LabelExportSettings& settings) const
{
    const FitRunSettings& fit = run_.folder.settings;
    std::error_code ec;
    json weightsDigest = nullptr; // a backbone without weights (filterbank) has none
    if (!run_.weights.empty() && fs::is_regular_file(run_.weights, ec))
        weightsDigest = interchange::sha256OfFile(run_.weights);
    const float threshold =
        fit.threshold > 0 ? fit.threshold : run_.backbone->recommendedThreshold();
    return json{{"tool", "primaps"},
                {"version", versionString()},
                {"written", utcTimestamp()},
                {"run", absolutePath(run_.dir)},
                {"theta", run_.theta},
                {"backbone", run_.backbone->name()},
                {"weights", run_.weights},
                {"weights_sha256", weightsDigest},
                {"threshold", std::round(double(threshold) * 1e6) / 1e6}, // 0.6, not 0.6000000238
                {"protocol", toString(fit.em.protocol)},
                {"seed", fit.em.seed},
                {"crf", settings.crf},
                {"dataset", {{"kind", toString(dataset_.kind())},
                             {"root", absolutePath(dataset_.root())},
                             {"split", dataset_.split()}}},
                {"export_folder", absolutePath(settings.outDir)},
                {"size", toString(settings.size)},
                {"resolution", run_.settings.resolution},
                {"patch_size", run_.backbone->patchSize()}}
        .dump();
}

void PseudoLabelExportJob::writeFormats()
{
    interchange::InterchangeSet set;
    const LabelExportSettings& settings = exporter_->settings();
    set.outDir = settings.outDir;
    set.split = dataset_.split().empty() ? "all" : dataset_.split();
    for (const ExportClass& c : exporter_->classes())
        set.classes.push_back({c.id, c.value, c.name, c.colour});
    set.ignoreValue = exporter_->ignoreValue();
    set.overwrite = settings.overwrite;
    const std::string manifest = readFile(exporter_->manifestPath());
    set.provenanceJson = json::parse(manifest).at("provenance").dump();
    for (const DatasetItem& item : dataset_.items()) {
        const fs::path image = fs::path(absolutePath(item.imagePath))
                                   .lexically_relative(absolutePath(dataset_.root()));
        set.images.push_back({item.id, absolutePath(item.imagePath),
                              image.empty() ? fs::path(item.imagePath).filename().generic_string()
                                            : image.generic_string(),
                              exporter_->paths(item).labels});
    }
    for (interchange::InterchangeFormat format : request_.formats) {
        const std::vector<std::string> files =
            interchange::writeInterchange(format, set, &keptFormatFiles_);
        formatFiles_.insert(formatFiles_.end(), files.begin(), files.end());
        if (log_ && !files.empty())
            log_(std::string(interchange::toString(format)) + ": " + std::to_string(files.size()) +
                 " file(s) written");
    }
    if (log_ && !keptFormatFiles_.empty())
        log_("formats: " + std::to_string(keptFormatFiles_.size()) +
             " file(s) already there, kept (pass --overwrite to replace them)");
}

void PseudoLabelExportJob::run(JobControl& control)
{
    formatFiles_.clear();
    keptFormatFiles_.clear();
    failures_.clear();
    evaluationFailures_.clear();
    exporter_.reset();
    matchToStore_.reset();
    matchSource_ = "none";
    LabelExportSettings settings = request_.settings;
    ExportSource source;
    source.run = absolutePath(run_.dir);
    source.theta = run_.theta;
    source.backbone = run_.backbone->name();
    source.weights = run_.weights;
    source.resolution = run_.settings.resolution;

    refused_ = true;
    source.prototypesDigest = hashFile(run_.thetaPath);
    if (!resolveMatch(control, settings, source)) {
        refused_ = false;
        return; // canceled during the evaluation
    }
    if (!settings.clusterToClass.empty()) {
        if (settings.classTable.empty())
            settings.classTable = loadRunClassTable(run_.dir, defaultClassTable(dataset_));
        std::error_code ec;
        if (request_.corrections == ExportCorrectionsSource::Folder) {
            if (!fs::is_directory(request_.correctionsDir, ec))
                throw Error("--corrections: '" + request_.correctionsDir + "' is not a folder");
            settings.correctionsDir = request_.correctionsDir;
        } else if (request_.corrections == ExportCorrectionsSource::Auto) {
            const std::string own = CorrectionStore::runFolder(run_.dir);
            if (fs::is_directory(own, ec))
                settings.correctionsDir = own;
        }
    } else if (request_.corrections == ExportCorrectionsSource::Folder) {
        throw Error("--corrections needs classes; it cannot be applied to --raw-clusters");
    }
    source.match = matchSource_;
    if (!request_.formats.empty()) {
        if (settings.clusterToClass.empty())
            throw Error("the annotation-tool formats name classes; they cannot hold --raw-clusters");
        if (settings.layout != ExportLayout::Mirror)
            throw Error("the annotation-tool formats are written beside the mirror layout, not "
                        "the cityscapes one");
    }
    source.provenanceJson = provenance(settings);
    exporter_ = std::make_unique<LabelExport>(dataset_, run_.prototypes.classes, settings, source);
    exporter_->prepareFolder();
    // A computed match is stored only once the folder has taken the export, so
    // that a refused export leaves the match of the labels on disk alone.
    if (matchToStore_)
        writeFileAtomic((fs::path(settings.outDir) / "match.json").string(), *matchToStore_);
    if (log_ && !exporter_->correctedItems().empty())
        log_("corrections: " + std::to_string(exporter_->correctedItems().size()) +
             " image(s) from '" + settings.correctionsDir + "'");
    refused_ = false;

    const FeatureCache cache(
        run_.cacheDir, featureCacheKey(dataset_, run_.backbone->name(), run_.weights, run_.settings));
    LabelExportJob job(*exporter_, dataset_, *run_.backbone, cache, run_.settings, run_.prototypes,
                       request_.shard, request_.strict);
    auto finish = [&] {
        report_ = job.report();
        files_ = job.filesWritten();
        failures_ = report_.failures;
        std::set<std::string> reported;
        for (const DatasetProblem& p : failures_)
            reported.insert(p.path);
        if (request_.shard.count == 1)
            for (const DatasetProblem& p : evaluationFailures_)
                if (reported.insert(p.path).second)
                    failures_.push_back(p);
        listed_ = exporter_->writeManifest();
    };
    try {
        job.run(control);
    } catch (...) {
        finish();
        throw;
    }
    finish();
    if (request_.formats.empty() || control.isCanceled())
        return;
    // The formats hold the whole split: written only once every image is, so
    // that an interrupted export leaves the previous files (or none).
    if (listed_ != dataset_.size()) {
        if (log_)
            log_("formats: not written, " + std::to_string(dataset_.size() - listed_) +
                 " image(s) are still missing; run the export again");
        return;
    }
    writeFormats();
}

} // namespace primaps
