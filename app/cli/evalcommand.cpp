// SPDX-License-Identifier: MIT
// `primaps eval`: Hungarian-matched Acc / mIoU / per-class IoU of a fitted run on
// a labelled split, optionally with CRF post-processing; shard partials + merge.
#include "atomicfile.h"
#include "backbone.h"
#include "commands.h"
#include "datasetoptions.h"
#include "emfit.h"
#include "error.h"
#include "evaluation.h"
#include "evaluationreport.h"
#include "fittedrun.h"

#include <memory>
#include <QDir>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>

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
        QJsonObject o = evaluationJson(r, names, confusion);
        for (auto it = settings.begin(); it != settings.end(); ++it)
            o.insert(it.key(), it.value());
        out << QJsonDocument(o).toJson();
    } else {
        out << QString::fromStdString(formatEvaluation(r, names));
    }
    out.flush();
}

} // namespace

int runEval(const QStringList& arguments)
{
    QTextStream out(stdout);
    QTextStream err(stderr);
    DatasetCliOptions data;
    const QCommandLineOption runOption("run", "Run folder written by 'primaps fit'.", "RUN_DIR");
    const QCommandLineOption crfOption("crf", "Refine predictions with the dense CRF first.");
    const QCommandLineOption jsonOption(
        "json", "Print JSON: acc, miou, per_class_iou (null = class without pixels), matching, "
                "class_names, pixels, confusion.");
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
    const QCommandLineOption mergeOption(
        "merge",
        "Merge the partial files of every shard, each once (repeat the option), and print "
        "the result; no dataset needed.",
        "FILE");
    QCommandLineParser parser;
    parser.setApplicationDescription(
        "Evaluate a fitted run on a labelled split (DESIGN 3.5): flip-averaged features at the "
        "run's resolution (cached), cluster predictions at the centre-cropped image resolution, "
        "Hungarian matching of clusters to classes (extra clusters by majority), pixel "
        "accuracy, mIoU and per-class IoU in percent. Images without labels are skipped and "
        "counted. Shards: run '--shard i/N --partial part_i.json' per task, then "
        "'--merge part_0.json --merge part_1.json ...'.");
    parser.addHelpOption();
    data.addTo(parser);
    parser.addOptions({runOption, crfOption, jsonOption, thetaOption, cacheOption, weightsOption,
                       partialOption, mergeOption});
    QStringList forParser = arguments;
    forParser.removeAt(1);
    if (!parser.parse(forParser)) {
        err << "primaps eval: " << parser.errorText() << "\n";
        return ExitUsage;
    }
    if (parser.isSet("help")) {
        QString help = parser.helpText();
        help.replace(QRegularExpression("^Usage: \\S+"), "Usage: primaps eval");
        out << help;
        return ExitOk;
    }
    auto usageError = [&](const QString& message) {
        err << "primaps eval: " << message << "; see 'primaps eval --help'\n";
        return ExitUsage;
    };
    const bool quiet = parser.isSet(data.quiet);
    const bool json = parser.isSet(jsonOption);

    if (parser.isSet(mergeOption)) {
        try {
            const MergedPartials merged = mergePartials(parser.values(mergeOption));
            printResult(out, evaluate(merged.confusion), merged.names, merged.confusion, json,
                        merged.settings);
            return ExitOk;
        } catch (const std::exception& e) {
            return usageError(QString::fromStdString(e.what()));
        }
    }

    if (!parser.isSet(runOption))
        return usageError("--run RUN_DIR is required");
    const QString theta = parser.value(thetaOption);
    if (theta != "m" && theta != "r")
        return usageError("--theta must be m or r");
    if (parser.isSet(partialOption) != parser.isSet(data.shard))
        return usageError("--shard and --partial go together");

    FittedRun run;
    std::optional<Dataset> dataset;
    Shard shard;
    try {
        run = openFittedRun(parser.value(runOption).toStdString(), theta.toStdString(),
                            parser.value(weightsOption).toStdString(),
                            parser.value(cacheOption).toStdString());
        if (parser.isSet(data.shard))
            shard = parseShard(parser.value(data.shard).toStdString());
        dataset = openDataset(parser, data, "val", err, quiet);
        if (dataset->classCount() < 1)
            throw Error("the dataset has no class list: give --classes K (or a classes.txt)");
    } catch (const std::exception& e) {
        return usageError(QString::fromStdString(e.what()));
    }

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
        const EvaluationResult result = evaluate(job.confusion());
        if (parser.isSet(partialOption)) {
            QJsonObject partial = evaluationJson(result, dataset->classNames(), job.confusion());
            partial["crf"] = parser.isSet(crfOption);
            partial["theta"] = theta;
            partial["shard"] = parser.value(data.shard);
            writeFileAtomic(parser.value(partialOption).toStdString(),
                            QJsonDocument(partial).toJson().toStdString());
            if (!quiet)
                err << "partial counts written to '" << parser.value(partialOption) << "'\n";
        } else {
            printResult(out, result, dataset->classNames(), job.confusion(), json,
                        {{"crf", parser.isSet(crfOption)}, {"theta", theta}});
        }
        return job.report().failures.empty() ? ExitOk : ExitSomeInputsFailed;
    } catch (const std::exception& e) {
        err << "primaps eval: " << QString::fromStdString(e.what()) << "\n";
        return ExitSomeInputsFailed;
    }
}

} // namespace primaps::cli
