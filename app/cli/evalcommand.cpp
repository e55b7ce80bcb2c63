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

ConfusionMatrix confusionFromJson(const QJsonObject& o, const QString& path)
{
    const int clusters = o.value("clusters").toInt();
    const int classes = o.value("classes").toInt();
    const QJsonArray counts = o.value("confusion").toArray();
    if (clusters < 1 || classes < 1 || counts.size() != clusters * classes)
        throw Error("'" + path.toStdString() +
                    "': not an evaluation partial (clusters, classes, "
                    "confusion)");
    ConfusionMatrix m(clusters, classes);
    std::vector<std::int64_t> values;
    for (const QJsonValue& v : counts)
        values.push_back(std::int64_t(v.toDouble()));
    m.setCounts(values);
    return m;
}

std::vector<std::string> namesFromJson(const QJsonObject& o)
{
    std::vector<std::string> names;
    for (const QJsonValue& v : o.value("class_names").toArray())
        names.push_back(v.toString().toStdString());
    return names;
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
        "Merge partial files (repeat the option) and print the result; no dataset "
        "needed.",
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
            std::optional<ConfusionMatrix> merged;
            std::vector<std::string> names;
            // The prediction settings carry over when every partial agrees on them.
            QJsonObject settings;
            for (const QString& path : parser.values(mergeOption)) {
                const QJsonObject o = readJsonObject(path);
                const ConfusionMatrix m = confusionFromJson(o, path);
                QJsonObject mine;
                for (const char* key : {"crf", "theta"})
                    if (o.contains(key))
                        mine[key] = o.value(key);
                if (merged) {
                    merged->merge(m);
                    if (mine != settings)
                        settings = {};
                } else {
                    merged = m;
                    settings = mine;
                }
                if (names.empty())
                    names = namesFromJson(o);
            }
            printResult(out, evaluate(*merged), names, *merged, json, settings);
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
        run = openFittedRun(parser.value(runOption), theta, parser.value(weightsOption),
                            parser.value(cacheOption));
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
            run.cacheDir.toStdString(),
            featureCacheKey(*dataset, run.backbone->name(), run.weights, run.settings));
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
