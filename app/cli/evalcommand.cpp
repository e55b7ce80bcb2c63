// SPDX-License-Identifier: MIT
// `primaps eval`: Hungarian-matched Acc / mIoU / per-class IoU of a fitted run on
// a labelled split, optionally with CRF post-processing; shard partials + merge.
#include "support/atomicfile.h"
#include "backbones/backbone.h"
#include "commandline.h"
#include "commands.h"
#include "datasetoptions.h"
#include "em/emfit.h"
#include "support/error.h"
#include "evaluation/evaluation.h"
#include "runs/evaluationreport.h"
#include "fittedrun.h"

#include <memory>
#include <nlohmann/json.hpp>
#include <QDir>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

namespace primaps::cli {

namespace {

struct MergedPartials
{
    ConfusionMatrix confusion;
    std::vector<std::string> names;
    QJsonObject settings; ///< crf and theta, as every partial records them
};

// The partials of one sharded evaluation: every shard i of the same N exactly
// once (a shard given twice counts its images twice, a missing one drops them),
// all predicted alike. Throws primaps::Error naming the offending file.
MergedPartials mergePartials(const QStringList& paths)
{
    MergedPartials merged;
    int count = 0;
    std::vector<QString> byIndex;
    QString first;
    for (const QString& path : paths) {
        const std::string file = "'" + path.toStdString() + "'";
        const std::string text = readFile(path.toStdString());
        const EvaluationReport partial = parseEvaluationJson(text, path.toStdString());
        if (partial.shard.empty())
            throw Error(file + " is not a shard's partial (write them with 'primaps eval --shard "
                               "i/N --partial FILE')");
        const Shard shard = parseShard(partial.shard);
        const QJsonObject o = QJsonDocument::fromJson(QByteArray::fromStdString(text)).object();
        QJsonObject settings;
        for (const char* key : {"crf", "theta"})
            if (o.contains(key))
                settings[key] = o.value(key);
        if (first.isEmpty()) {
            first = path;
            count = shard.count;
            byIndex.assign(std::size_t(count), QString());
            merged.confusion = partial.confusion;
            merged.names = partial.classNames;
            merged.settings = settings;
        } else {
            if (shard.count != count)
                throw Error(file + " is shard " + partial.shard + ", '" + first.toStdString() +
                            "' one of " + std::to_string(count));
            if (settings != merged.settings)
                throw Error(file + " was predicted otherwise (crf, theta) than '" +
                            first.toStdString() + "'");
            try {
                merged.confusion.merge(partial.confusion);
            } catch (const Error& e) {
                throw Error(file + ": " + e.what());
            }
        }
        QString& seen = byIndex[std::size_t(shard.index)];
        if (!seen.isEmpty())
            throw Error(file + " is shard " + partial.shard + ", given twice (also '" +
                        seen.toStdString() + "')");
        seen = path;
    }
    for (int i = 0; i < count; ++i)
        if (byIndex[std::size_t(i)].isEmpty())
            throw Error("the partial of shard " + std::to_string(i) + "/" +
                        std::to_string(count) + " is missing");
    return merged;
}

// `settings` (how the predictions were made) join the JSON, so that a match read
// back by `primaps export --match` can be checked against the export's settings.
void printResult(QTextStream& out, const EvaluationResult& r, const std::vector<std::string>& names,
                 const ConfusionMatrix& confusion, bool json, const QJsonObject& settings = {})
{
    if (json) {
        // Core's JSON as it is: its numbers keep their type (every IoU a float,
        // also a whole one), which a round trip through QJsonDocument would not.
        auto o = nlohmann::ordered_json::parse(evaluationToJson(r, names, confusion));
        const auto extra =
            nlohmann::ordered_json::parse(QJsonDocument(settings).toJson().toStdString());
        for (const auto& [key, value] : extra.items())
            o[key] = value;
        out << QString::fromStdString(o.dump(4)) << "\n";
    } else {
        out << QString::fromStdString(formatEvaluation(r, names));
    }
    out.flush();
}

} // namespace

int runEval(const QStringList& arguments)
{
    QTextStream out(stdout);
    QTextStream err(errorOutput());
    DatasetCliOptions data;
    const ResourceOptions resources;
    const QCommandLineOption runOption("run", "Run folder written by 'primaps fit'.", "RUN_DIR");
    const QCommandLineOption crfOption("crf", "Refine predictions with the dense CRF first.");
    const QCommandLineOption jsonOption(
        "json",
        "Print JSON: acc, miou (percent), per_class_iou (percent, one per class in "
        "class_names order; a float, or null for a class with no labelled pixel), class_names, "
        "matching (per cluster its class and how: hungarian or majority), pixels, clusters, "
        "classes, and confusion: pixel counts, one row per cluster (0..clusters-1), one column "
        "per class (class_names order).");
    const QCommandLineOption thetaOption("theta",
                                         "Prototypes to evaluate: m (theta_M, default) "
                                         "or r (theta_R).",
                                         "m|r", "m");
    const QCommandLineOption cacheOption("cache", "Feature cache (default: the run's).", "DIR");
    const QCommandLineOption weightsOption("weights", "Backbone weights (default: the run's).",
                                           "FILE");
    const QCommandLineOption partialOption(
        "partial", "With --shard: write this shard's confusion counts to FILE for --merge.",
        "FILE");
    const QCommandLineOption overwriteOption("overwrite", "Replace an existing --partial FILE.");
    const QCommandLineOption mergeOption(
        "merge",
        "Merge the partial files of every shard, each once (repeat the option), and print "
        "the result; no dataset needed.",
        "FILE");
    QCommandLineParser parser;
    parser.setApplicationDescription(
        "Evaluate a fitted run on a labelled split (the paper's protocol, README 'How faithful "
        "it is'): flip-averaged features at the run's resolution (cached), cluster predictions "
        "at the centre-cropped image resolution, Hungarian matching of clusters to classes "
        "(extra clusters by majority), pixel accuracy, mIoU and per-class IoU in percent. "
        "--dataset, --root, --classes and --holdout default to the run's (its run.json); the "
        "split defaults to val. Images without labels are skipped and counted. Shards: run "
        "'--shard i/N --partial part_i.json' per task, then "
        "'--merge part_0.json --merge part_1.json ...'.");
    data.addTo(parser, splitHelpFor("to evaluate", "val"));
    parser.addOptions({runOption, crfOption, jsonOption, thetaOption, cacheOption, weightsOption,
                       partialOption, overwriteOption, mergeOption});
    resources.addTo(parser);
    if (const auto done = parseCommandLine(parser, arguments, "eval"))
        return *done;
    auto usageError = [&](const QString& message) {
        err << "primaps eval: " << message << "; see 'primaps eval --help'\n";
        return ExitUsage;
    };
    const bool quiet = parser.isSet(data.quiet);
    const bool json = parser.isSet(jsonOption);

    OptionChecker check(parser);
    resources.apply(parser, check);
    if (parser.isSet(mergeOption)) {
        if (!check.ok())
            return check.report(err, "eval");
        try {
            const MergedPartials merged = mergePartials(parser.values(mergeOption));
            printResult(out, evaluate(merged.confusion), merged.names, merged.confusion, json,
                        merged.settings);
            return ExitOk;
        } catch (const std::exception& e) {
            return usageError(QString::fromStdString(e.what()));
        }
    }

    const QString theta = check.choice(thetaOption, {"m", "r"});
    if (parser.isSet(partialOption) != parser.isSet(data.shard))
        check.fail(nullptr, "--shard and --partial go together");
    const QString partialPath = parser.value(partialOption);
    if (parser.isSet(partialOption)) {
        if (QFileInfo(partialPath).isDir())
            check.fail(&partialOption, "'" + partialPath + "' is a folder; give a file name");
        else if (QFileInfo::exists(partialPath) && !parser.isSet(overwriteOption))
            check.fail(&partialOption,
                       "'" + partialPath + "' exists; pass --overwrite to replace it");
    }
    // The run's dataset stands in for --dataset, --root, --classes and --holdout.
    std::optional<FitRunFolder> folder;
    if (!parser.isSet(runOption))
        check.fail(nullptr, "--run RUN_DIR is required");
    else
        check.guard(&runOption,
                    [&] { folder = readFitRunFolder(parser.value(runOption).toStdString()); });
    const DatasetOptions datasetChoice =
        datasetOptions(parser, data, "val", check, folder ? &folder->dataset : nullptr);
    if (!check.ok())
        return check.report(err, "eval");

    FittedRun run;
    std::optional<Dataset> dataset;
    Shard shard;
    try {
        run = openFittedRun(parser.value(runOption).toStdString(), theta.toStdString(),
                            parser.value(weightsOption).toStdString(),
                            parser.value(cacheOption).toStdString());
        if (parser.isSet(data.shard))
            shard = parseShard(parser.value(data.shard).toStdString());
        dataset = openDataset(datasetChoice, err, quiet);
        if (dataset->classCount() < 1)
            throw Error("the dataset has no class list: give --classes K (or a classes.txt)");
    } catch (const std::exception& e) {
        return usageError(QString::fromStdString(e.what()));
    }
    if (!dataset->hasLabels()) {
        err << "primaps eval: no label maps: split '" << QString::fromStdString(dataset->split())
            << "' of '" << QString::fromStdString(dataset->root())
            << "' has none of its label files, so there is nothing to evaluate against\n";
        return ExitSomeInputsFailed;
    }
    for (const QString& note :
         {wholeFolderNote(*dataset),
          folder ? fittedOnEvaluatedImagesNote(folder->dataset, *dataset) : QString()})
        if (!note.isEmpty())
            err << note << "\n" << Qt::flush;

    try {
        const FeatureCache cache(
            run.cacheDir, featureCacheKey(*dataset, run.backbone->name(), run.weights, run.settings));
        EvaluationJob job(*dataset, *run.backbone, cache, run.settings, run.prototypes,
                          parser.isSet(crfOption), shard, parser.isSet(data.strict));
        const JobState state = runWithProgress(job, err, quiet, "eval");
        printStageReport("evaluation", job.report(), err, quiet);
        if (state == JobState::Canceled)
            return ExitInterrupted;
        if (state == JobState::Failed)
            return ExitSomeInputsFailed;
        if (job.confusion().total() == 0 && !parser.isSet(partialOption)) {
            err << "primaps eval: no labelled pixel could be evaluated (every label file failed "
                   "or holds only ignore ids); there is no result\n";
            return ExitSomeInputsFailed;
        }
        const EvaluationResult result = evaluate(job.confusion());
        if (parser.isSet(partialOption)) {
            QJsonObject partial = evaluationJson(result, dataset->classNames(), job.confusion());
            partial["crf"] = parser.isSet(crfOption);
            partial["theta"] = theta;
            partial["shard"] = parser.value(data.shard);
            writeFileAtomic(partialPath.toStdString(),
                            QJsonDocument(partial).toJson().toStdString());
            if (!quiet)
                err << "partial counts written to '" << partialPath << "'\n";
        } else {
            printResult(
                out, result, dataset->classNames(), job.confusion(), json,
                {{"crf", parser.isSet(crfOption)},
                 {"theta", theta},
                 {"split", QString::fromStdString(dataset->split().empty() ? std::string("all")
                                                                           : dataset->split())}});
        }
        return job.report().failures.empty() ? ExitOk : ExitSomeInputsFailed;
    } catch (const std::exception& e) {
        err << "primaps eval: " << QString::fromStdString(e.what()) << "\n";
        return ExitSomeInputsFailed;
    }
}

} // namespace primaps::cli
