// SPDX-License-Identifier: MIT
#include "runs/evaluationreport.h"

#include "support/atomicfile.h"
#include "backbones/backbone.h"
#include "support/error.h"
#include "support/jsontext_p.h"

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <utility>

namespace primaps {

namespace {

using json = nlohmann::json;

json number(double v)
{
    return std::isnan(v) ? json() : json(v);
}

double numberOrNaN(const json& v)
{
    return v.is_number() ? v.get<double>() : std::numeric_limits<double>::quiet_NaN();
}

} // namespace

std::string evaluationToJson(const EvaluationResult& r, const std::vector<std::string>& names,
                             const ConfusionMatrix& confusion)
{
    return evaluationToJson(r, names, confusion, EvaluationProvenance());
}

std::string evaluationToJson(const EvaluationResult& r, const std::vector<std::string>& names,
                             const ConfusionMatrix& confusion,
                             const EvaluationProvenance& provenance)
{
    json perClass = json::array(), nameArray = json::array(), matching = json::array();
    for (int j = 0; j < r.classes; ++j) {
        perClass.push_back(number(r.classIoU[std::size_t(j)]));
        nameArray.push_back(std::size_t(j) < names.size() ? names[std::size_t(j)]
                                                          : "class " + std::to_string(j));
    }
    for (int c = 0; c < r.clusters; ++c)
        matching.push_back({{"cluster", c},
                            {"class", r.clusterToClass[std::size_t(c)]},
                            {"kind", r.matchKind[std::size_t(c)] == MatchKind::Majority
                                         ? "majority"
                                         : "hungarian"}});
    json o = {{"acc", number(r.accuracy)}, {"miou", number(r.meanIoU)},
              {"per_class_iou", perClass}, {"class_names", nameArray},
              {"match", matchingKind(r)},  {"matching", matching},
              {"pixels", r.pixels},        {"clusters", r.clusters},
              {"classes", r.classes},      {"confusion", confusion.counts()}};
    for (const auto& [key, value] :
         {std::pair<const char*, const std::string&>{"run", provenance.run},
          {"dataset", provenance.dataset},
          {"split", provenance.split},
          {"theta", provenance.theta}})
        if (!value.empty())
            o[key] = value;
    if (provenance.crfKnown)
        o["crf"] = provenance.crf;
    return o.dump(4) + "\n";
}

EvaluationReport parseEvaluationJson(const std::string& text, const std::string& source)
{
    const std::string file = "'" + source + "'";
    const json o = parseJsonText(text, source);
    if (!o.is_object())
        throw Error(file + ": not an evaluation (expected a JSON object)");
    EvaluationReport report;
    EvaluationResult& r = report.result;
    try {
        r.clusters = jsonInt(o.at("clusters"), "field 'clusters'");
        r.classes = jsonInt(o.at("classes"), "field 'classes'");
        if (r.clusters < 1 || r.classes < 1)
            throw Error("clusters and classes must be positive");
        std::vector<std::int64_t> counts;
        for (const json& v : o.at("confusion"))
            counts.push_back(
                jsonInteger(v, "a confusion count", 0, std::numeric_limits<std::int64_t>::max()));
        if (counts.size() != std::size_t(r.clusters) * std::size_t(r.classes))
            throw Error("the confusion matrix has " + std::to_string(counts.size()) +
                        " counts, not clusters x classes = " +
                        std::to_string(std::int64_t(r.clusters) * r.classes));
        report.confusion = ConfusionMatrix(r.clusters, r.classes);
        report.confusion.setCounts(counts);
        r.pixels = o.contains("pixels") ? jsonInteger(o.at("pixels"), "field 'pixels'", 0,
                                                      std::numeric_limits<std::int64_t>::max())
                                        : report.confusion.total();
        r.accuracy = numberOrNaN(o.at("acc"));
        r.meanIoU = numberOrNaN(o.at("miou"));
        const json& perClass = o.at("per_class_iou");
        if (!perClass.is_array() || perClass.size() != std::size_t(r.classes))
            throw Error("per_class_iou must hold one entry per class");
        for (const json& v : perClass) {
            if (!v.is_null() && !v.is_number())
                throw Error("per_class_iou entries must be numbers or null");
            r.classIoU.push_back(numberOrNaN(v));
        }
        r.clusterToClass.assign(std::size_t(r.clusters), -2);
        r.matchKind.assign(std::size_t(r.clusters), MatchKind::Hungarian);
        for (const json& m : o.at("matching")) {
            const int cluster = jsonInt(m.at("cluster"), "a matching entry's 'cluster'");
            const int cls = jsonInt(m.at("class"), "a matching entry's 'class'");
            if (cluster < 0 || cluster >= r.clusters || cls < -1 || cls >= r.classes)
                throw Error("a matching entry is out of range");
            r.clusterToClass[std::size_t(cluster)] = cls;
            if (m.value("kind", std::string()) == "majority")
                r.matchKind[std::size_t(cluster)] = MatchKind::Majority;
        }
        for (int c : r.clusterToClass)
            if (c == -2)
                throw Error("the matching does not name every cluster");
        if (o.contains("class_names"))
            for (const json& v : o.at("class_names"))
                report.classNames.push_back(v.get<std::string>());
        report.classNames.resize(std::size_t(r.classes));
        for (int j = 0; j < r.classes; ++j)
            if (report.classNames[std::size_t(j)].empty())
                report.classNames[std::size_t(j)] = "class " + std::to_string(j);
        if (o.contains("shard") && o.at("shard").is_string())
            report.shard = o.at("shard").get<std::string>();
        // What was evaluated, where the writer recorded it; a value of another
        // type is not trusted and stays unknown.
        EvaluationProvenance& from = report.provenance;
        for (const auto& [key, value] : {std::pair<const char*, std::string&>{"run", from.run},
                                         {"dataset", from.dataset},
                                         {"split", from.split},
                                         {"theta", from.theta}})
            if (o.contains(key) && o.at(key).is_string())
                value = o.at(key).get<std::string>();
        if (o.contains("crf") && o.at("crf").is_boolean()) {
            from.crfKnown = true;
            from.crf = o.at("crf").get<bool>();
        }
    } catch (const Error& e) {
        throw Error(file + ": " + e.what());
    } catch (const std::exception& e) {
        throw Error(file + ": not an evaluation written by 'primaps eval --json' (" + e.what() +
                    ")");
    }
    // The matched matrix, as evaluate() gives it, for the file's own matching.
    r.matched.assign(std::size_t(r.classes) * std::size_t(r.classes), 0);
    for (int c = 0; c < r.clusters; ++c) {
        const int predicted = r.clusterToClass[std::size_t(c)];
        if (predicted < 0)
            continue;
        for (int j = 0; j < r.classes; ++j)
            r.matched[std::size_t(predicted) * std::size_t(r.classes) + std::size_t(j)] +=
                report.confusion.at(c, j);
    }
    return report;
}

EvaluationReport readEvaluationFile(const std::string& path)
{
    return parseEvaluationJson(readFile(path), path);
}

FittedRun openFittedRun(const std::string& dir, const std::string& theta,
                        const std::string& weights, const std::string& cache)
{
    if (theta != "m" && theta != "r")
        throw Error("theta must be m or r");
    FittedRun r;
    r.dir = dir;
    r.theta = theta;
    r.folder = readFitRunFolder(dir);
    if (!r.folder.complete)
        throw Error("the fit in '" + dir +
                    "' has not finished; run 'primaps fit' again to complete it");
    r.thetaPath = runFilePath(dir, theta == "m" ? "theta_m.json" : "theta_r.json");
    try {
        r.prototypes = prototypesFromJson(readFile(r.thetaPath));
    } catch (const Error& e) {
        const std::string why = e.what();
        if (why.find(r.thetaPath) != std::string::npos)
            throw;
        throw Error("'" + r.thetaPath + "': " + why);
    }
    r.weights = !weights.empty() ? weights : r.folder.settings.weights;
    BackboneOptions options;
    options.weightsPath = r.weights;
    r.backbone = createBackbone(r.folder.settings.backbone, options);
    if (r.backbone->dim() != r.prototypes.dim)
        throw Error("the backbone gives " + std::to_string(r.backbone->dim()) +
                    "-dimensional features, the prototypes have " +
                    std::to_string(r.prototypes.dim));
    r.settings.resolution = r.folder.settings.resolution > 0 ? r.folder.settings.resolution
                                                             : r.backbone->recommendedResize();
    r.settings.flipAverage = true;
    r.cacheDir = !cache.empty() ? cache : r.folder.settings.cacheDir;
    return r;
}

} // namespace primaps
