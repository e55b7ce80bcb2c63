// SPDX-License-Identifier: MIT
// `primaps export`: a pseudo-label dataset from a fitted run. Per image the
// evaluation's prediction (optionally CRF-refined), mapped to classes by the
// run's Hungarian match, as label PNGs with optional colour and overlay
// pictures, plus manifest.json, classes.txt and legend.png.
#include "atomicfile.h"
#include "backbone.h"
#include "classtable.h"
#include "commands.h"
#include "corrections.h"
#include "datasetoptions.h"
#include "error.h"
#include "featurecache.h"
#include "fittedrun.h"
#include "labelexport.h"
#include "matchedits.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QJsonDocument>
#include <QRegularExpression>
#include <set>

namespace primaps::cli {

namespace {

struct ExportOptions
{
    DatasetCliOptions data;
    QCommandLineOption run{"run", "Run folder written by 'primaps fit'.", "RUN_DIR"};
    QCommandLineOption out{{"o", "out"},
                           "Export folder: labels/, colour/, overlay/, manifest.json, "
                           "classes.txt, legend.png, match.json.",
                           "DIR"};
    QCommandLineOption crf{"crf", "Refine the predictions with the dense CRF, as 'primaps eval "
                                  "--crf' does (the match is then computed with it too)."};
    QCommandLineOption theta{"theta", "Prototypes: m (theta_M, default) or r (theta_R).", "m|r",
                             "m"};
    QCommandLineOption match{"match",
                             "Cluster-to-class match from 'primaps eval --json' (or its "
                             "--merge), e.g. made on a labelled split, instead of evaluating "
                             "this split first. Needed for splits without labels and with "
                             "--shard.",
                             "FILE"};
    QCommandLineOption rawClusters{"raw-clusters",
                                   "Write the cluster ids themselves, unmatched (16-bit PNGs "
                                   "for more than 255 clusters)."};
    QCommandLineOption colour{{"colour", "color"}, "Also write a palette picture per image."};
    QCommandLineOption overlay{"overlay", "Also write the palette blended over each image."};
    QCommandLineOption opacity{"opacity", "Overlay opacity in [0, 1].", "F", "0.5"};
    QCommandLineOption format{"format",
                              "File layout: mirror (default: labels/<relative path>.png, class "
                              "ids, 255 = ignore) or cityscapes "
                              "(gtFine/<split>/<city>/<name>_gtFine_labelIds.png with "
                              "Cityscapes label ids, 0 = unlabelled).",
                              "NAME",
                              "mirror"};
    QCommandLineOption size{"size",
                            "Label size: original (default: the image's; pixels outside the "
                            "evaluation crop are ignore) or prepared (the crop at the run's "
                            "resolution, exactly what eval scores).",
                            "NAME",
                            "original"};
    QCommandLineOption overwrite{"overwrite", "Replace existing files, and an export made with "
                                              "other settings in the same folder."};
    QCommandLineOption cache{"cache", "Feature cache (default: the run's).", "DIR"};
    QCommandLineOption weights{"weights", "Backbone weights (default: the run's).", "FILE"};
    QCommandLineOption corrections{"corrections",
                                   "Folder of label corrections to apply (default: the run's "
                                   "RUN_DIR/corrections when it exists).",
                                   "DIR"};
    QCommandLineOption noCorrections{"no-corrections", "Ignore the run's corrections."};

    void addTo(QCommandLineParser& parser) const
    {
        data.addTo(parser);
        parser.addOptions({run, out, crf, theta, match, rawClusters, colour, overlay, opacity,
                           format, size, overwrite, cache, weights, corrections, noCorrections});
    }
};

// Identity of a match file's origin, so that a match.json left by an earlier
// export is reused only for the same prototypes, dataset and CRF setting.
QJsonObject matchIdentity(const FittedRun& run, const Dataset& dataset, bool crf)
{
    return QJsonObject{
        {"crf", crf},
        {"theta", QString::fromStdString(run.theta)},
        {"prototypes_digest", QString::fromStdString(hashFile(run.thetaPath))},
        {"dataset_fingerprint", QString::fromStdString(dataset.fingerprint())},
        {"split", QString::fromStdString(dataset.split())},
    };
}

// The settings a match file records must be the export's: a match made without
// the CRF does not describe CRF-refined predictions, theta_R's not theta_M's.
void checkMatchSettings(const QJsonObject& match, const QString& path, bool crf,
                        const std::string& theta)
{
    if (match.contains("crf") && match.value("crf").toBool() != crf)
        throw Error("'" + path.toStdString() + "' was computed " +
                    (crf ? "without" : "with") + " --crf; this export runs " +
                    (crf ? "with" : "without") + " it");
    if (match.contains("theta") && match.value("theta").toString().toStdString() != theta)
        throw Error("'" + path.toStdString() + "' matches theta_" +
                    match.value("theta").toString().toStdString() + ", this export uses theta_" +
                    theta);
}

// RUN_DIR/match.json (the studio's edited match) applies when it was made for
// this theta and CRF setting; otherwise the export says why it is left out.
bool useRunMatch(const FittedRun& run, bool crf, bool quiet, QTextStream& err)
{
    const std::string path = runMatchPath(run.dir);
    if (!QFileInfo::exists(QString::fromStdString(path)))
        return false;
    const RunMatch match = readRunMatch(path);
    if (match.theta == run.theta && match.crf == crf)
        return true;
    if (!quiet)
        err << "match: not using '" << QString::fromStdString(path) << "': it matches theta_"
            << QString::fromStdString(match.theta) << (match.crf ? " with" : " without")
            << " the CRF, this export uses theta_" << QString::fromStdString(run.theta)
            << (crf ? " with" : " without") << " it\n";
    return false;
}

QString seconds(double s)
{
    return QString::number(s, 'f', s < 10 ? 2 : 1) + " s";
}

} // namespace

int runExport(const QStringList& arguments)
{
    QTextStream out(stdout);
    QTextStream err(stderr);
    QElapsedTimer clock;
    clock.start();
    ExportOptions o;
    QCommandLineParser parser;
    parser.setApplicationDescription(
        "Export a pseudo-label dataset from a fitted run. Every image of the split (default: "
        "the split the run was fitted on) is predicted "
        "exactly as 'primaps eval' predicts it (flip-averaged features at the run's resolution, "
        "centre crop, optional --crf) and written as an 8-bit label PNG (16-bit for more than "
        "255 clusters). Cluster ids become dataset classes through the Hungarian match of the "
        "run: by default it is computed by evaluating the split first (it needs labels) and "
        "kept in DIR/match.json; the run's RUN_DIR/match.json (the studio's match, with its "
        "overrides, merged and ignored clusters) is used instead when it was made for the same "
        "theta and CRF setting; --match takes one from 'primaps eval --json' instead, and "
        "--raw-clusters keeps the cluster ids. DIR/manifest.json describes the export for a "
        "training pipeline: source run, dataset, parameters, classes with names, values and "
        "colours (the run's RUN_DIR/classes.json when present), and every image with its files. "
        "Label corrections in RUN_DIR/corrections (or --corrections DIR) replace the predicted "
        "classes where the user corrected them; the manifest lists the corrected images. Files are written atomically and never "
        "replaced without --overwrite; running the same command again skips finished images, "
        "also after Ctrl-C. With --shard i/N each task exports its part (give --match); run "
        "the command once more without --shard afterwards for the complete manifest.");
    parser.addHelpOption();
    o.addTo(parser);
    QStringList forParser = arguments;
    forParser.removeAt(1);
    if (!parser.parse(forParser)) {
        err << "primaps export: " << parser.errorText() << "\n";
        return ExitUsage;
    }
    if (parser.isSet("help")) {
        QString help = parser.helpText();
        help.replace(QRegularExpression("^Usage: \\S+"), "Usage: primaps export");
        out << help;
        return ExitOk;
    }
    auto usageError = [&](const QString& message) {
        err << "primaps export: " << message << "; see 'primaps export --help'\n";
        return ExitUsage;
    };
    const bool quiet = parser.isSet(o.data.quiet);
    if (!parser.isSet(o.run))
        return usageError("--run RUN_DIR is required");
    if (!parser.isSet(o.out))
        return usageError("--out DIR is required");
    if (parser.isSet(o.rawClusters) && parser.isSet(o.match))
        return usageError("--raw-clusters and --match exclude each other");
    const bool crf = parser.isSet(o.crf);
    const QDir outDir(parser.value(o.out));

    FittedRun run;
    std::optional<Dataset> dataset;
    Shard shard;
    LabelExportSettings settings;
    try {
        if (parser.value(o.theta) != "m" && parser.value(o.theta) != "r")
            throw Error("--theta must be m or r");
        run = openFittedRun(parser.value(o.run).toStdString(),
                            parser.value(o.theta).toStdString(),
                            parser.value(o.weights).toStdString(),
                            parser.value(o.cache).toStdString());
        if (parser.isSet(o.data.shard))
            shard = parseShard(parser.value(o.data.shard).toStdString());
        const std::string& runSplit = run.folder.dataset.split;
        dataset = openDataset(parser, o.data, runSplit.empty() ? "train" : runSplit, err, quiet);
        settings.outDir = outDir.path().toStdString();
        settings.crf = crf;
        settings.layout = exportLayoutFromString(parser.value(o.format).toStdString());
        settings.size = exportSizeFromString(parser.value(o.size).toStdString());
        settings.colour = parser.isSet(o.colour);
        settings.overlay = parser.isSet(o.overlay);
        bool ok = false;
        settings.overlayOpacity = parser.value(o.opacity).toFloat(&ok);
        if (!ok)
            throw Error("--opacity must be a number in [0, 1]");
        settings.overwrite = parser.isSet(o.overwrite);
    } catch (const std::exception& e) {
        return usageError(QString::fromStdString(e.what()));
    }

    ExportSource source;
    source.run = QFileInfo(QString::fromStdString(run.dir)).absoluteFilePath().toStdString();
    source.theta = run.theta;
    source.backbone = run.backbone->name();
    source.weights = run.weights;
    source.resolution = run.settings.resolution;

    // The match: none, given, left by an earlier run of this export, or computed.
    QString matchSource = "none";
    std::vector<DatasetProblem> matchFailures;
    // A computed match is stored only once the folder has taken the export, so
    // that a refused export leaves the match of the labels on disk alone.
    std::optional<QJsonObject> matchToStore;
    try {
        source.prototypesDigest = hashFile(run.thetaPath);
        const int clusters = run.prototypes.classes;
        const int classes = dataset->classCount();
        const QString stored = outDir.filePath("match.json");
        const QJsonObject identity = matchIdentity(run, *dataset, crf);
        if (parser.isSet(o.match)) {
            const QString path = parser.value(o.match);
            const QJsonObject m = readJsonObject(path);
            checkMatchSettings(m, path, crf, run.theta);
            settings.clusterToClass = matchFromJson(m, path, clusters, classes);
            matchSource = QFileInfo(path).absoluteFilePath();
        } else if (!parser.isSet(o.rawClusters) && useRunMatch(run, crf, quiet, err)) {
            // The studio's match, with the user's overrides, merges and ignores.
            const QString path = QString::fromStdString(runMatchPath(run.dir));
            settings.clusterToClass = matchFromJson(readJsonObject(path), path, clusters, classes);
            matchSource = QFileInfo(path).absoluteFilePath();
            if (!quiet)
                err << "match: using the run's '" << path << "'\n";
        } else if (!parser.isSet(o.rawClusters)) {
            std::optional<QJsonObject> earlier;
            if (QFileInfo::exists(stored)) {
                const QJsonObject m = readJsonObject(stored);
                if (m.value("identity").toObject() == identity)
                    earlier = m;
            }
            if (earlier) {
                settings.clusterToClass = matchFromJson(*earlier, stored, clusters, classes);
                matchSource = "evaluation of the split (" + stored + ")";
                if (!quiet)
                    err << "match: using '" << stored << "' from an earlier run of this export\n";
            } else {
                if (classes < 1 || !dataset->hasLabels())
                    throw Error("this split has no labels to match clusters to classes: pass "
                                "--match FILE (from 'primaps eval --json' on a labelled split) or "
                                "--raw-clusters");
                if (parser.isSet(o.data.shard))
                    throw Error("with --shard, give the match: --match FILE from 'primaps eval "
                                "--json' (or its --shard/--merge form), so that every task "
                                "maps clusters alike without evaluating the whole split");
                {
                    // Refuse a folder that holds another export before the
                    // evaluation, which may take long; the match is not known yet.
                    LabelExportSettings provisional = settings;
                    provisional.clusterToClass.assign(std::size_t(clusters), -1);
                    LabelExport(*dataset, clusters, provisional, source).checkFolder(false);
                }
                const FeatureCache cache(
                    run.cacheDir,
                    featureCacheKey(*dataset, run.backbone->name(), run.weights, run.settings));
                EvaluationJob evaluation(*dataset, *run.backbone, cache, run.settings,
                                         run.prototypes, crf, Shard{}, parser.isSet(o.data.strict));
                const JobState state = runWithProgress(evaluation, err, quiet, "export");
                if (state == JobState::Canceled)
                    return ExitInterrupted;
                if (state == JobState::Failed)
                    return ExitSomeInputsFailed;
                const StageReport& r = evaluation.report();
                // Failing images are reported once, by the export below.
                matchFailures = r.failures;
                const ConfusionMatrix& confusion = evaluation.confusion();
                if (confusion.total() == 0)
                    throw Error("no labelled pixel could be evaluated, so there is no match; "
                                "pass --match FILE or --raw-clusters");
                const EvaluationResult result = evaluate(confusion);
                QJsonObject m = evaluationJson(result, dataset->classNames(), confusion);
                m["crf"] = crf;
                m["theta"] = QString::fromStdString(run.theta);
                m["run"] = QString::fromStdString(source.run);
                m["identity"] = identity;
                matchToStore = m;
                settings.clusterToClass = result.clusterToClass;
                matchSource = "evaluation of the split (" + stored + ")";
                if (!quiet)
                    err << "match: Hungarian on " << (r.items - r.skipped - r.failures.size())
                        << " labelled image(s) (" << r.skipped << " without labels), Acc "
                        << QString::number(result.accuracy, 'f', 2) << " %, mIoU "
                        << QString::number(result.meanIoU, 'f', 2) << " % -> '" << stored
                        << "'\n";
            }
        }
    } catch (const std::exception& e) {
        return usageError(QString::fromStdString(e.what()));
    }

    std::optional<LabelExport> exporter;
    try {
        if (!settings.clusterToClass.empty()) {
            settings.classTable = loadRunClassTable(run.dir, defaultClassTable(*dataset));
            QString folder = parser.value(o.corrections);
            if (folder.isEmpty() && !parser.isSet(o.noCorrections))
                folder = QString::fromStdString(CorrectionStore::runFolder(run.dir));
            if (parser.isSet(o.corrections) && !QFileInfo(folder).isDir())
                throw Error("--corrections: '" + folder.toStdString() + "' is not a folder");
            if (!parser.isSet(o.noCorrections) && QFileInfo(folder).isDir())
                settings.correctionsDir = folder.toStdString();
        } else if (parser.isSet(o.corrections)) {
            throw Error("--corrections needs classes; it cannot be applied to --raw-clusters");
        }
        source.match = matchSource.toStdString();
        exporter.emplace(*dataset, run.prototypes.classes, settings, source);
        exporter->prepareFolder();
        if (!quiet && !exporter->correctedItems().empty())
            err << "corrections: " << exporter->correctedItems().size() << " image(s) from '"
                << QString::fromStdString(settings.correctionsDir) << "'\n";
        if (matchToStore)
            writeFileAtomic(outDir.filePath("match.json").toStdString(),
                            QJsonDocument(*matchToStore).toJson().toStdString());
    } catch (const std::exception& e) {
        return usageError(QString::fromStdString(e.what()));
    }

    try {
        const FeatureCache cache(
            run.cacheDir,
            featureCacheKey(*dataset, run.backbone->name(), run.weights, run.settings));
        LabelExportJob job(*exporter, *dataset, *run.backbone, cache, run.settings, run.prototypes,
                           shard, parser.isSet(o.data.strict));
        const JobState state = runWithProgress(job, err, quiet, "export");
        const StageReport& r = job.report();
        std::set<std::string> reported;
        for (const DatasetProblem& p : r.failures)
            reported.insert(p.path);
        std::vector<DatasetProblem> failures = r.failures;
        for (const DatasetProblem& p : matchFailures)
            if (!reported.count(p.path) && shard.count == 1)
                failures.push_back(p);
        for (const DatasetProblem& p : failures) {
            // Core's messages often name the file already; name it once.
            QString why = QString::fromStdString(p.message).simplified();
            const QString prefix = "'" + QString::fromStdString(p.path) + "': ";
            if (why.startsWith(prefix))
                why = why.mid(prefix.size());
            err << "primaps: '" << QString::fromStdString(p.path) << "': " << why
                << "; skipped\n";
        }
        err.flush();
        const std::size_t listed = exporter->writeManifest();
        const double elapsed = clock.elapsed() / 1000.0;
        if (!quiet || !failures.empty()) {
            out << "export: " << r.items << " image(s)"
                << (shard.count > 1 ? QString(" (shard %1/%2)").arg(shard.index).arg(shard.count)
                                    : QString())
                << ": " << r.computed << " exported (" << job.filesWritten() << " files), "
                << r.reused << " already exported, " << failures.size() << " failed; "
                << exporter->classes().size()
                << (exporter->mapped() ? " classes" : " clusters") << ", "
                << seconds(elapsed);
            if (r.computed > 0)
                out << " (" << seconds(elapsed / double(r.computed)) << " per exported image)";
            out << "\n";
            out << "manifest: '" << QString::fromStdString(exporter->manifestPath()) << "' lists "
                << listed << " of " << dataset->size() << " image(s)"
                << (listed == dataset->size() ? "" : "; the rest are missing") << "\n";
        }
        out.flush();
        if (state == JobState::Canceled)
            return ExitInterrupted;
        if (state == JobState::Failed)
            return ExitSomeInputsFailed;
        return failures.empty() ? ExitOk : ExitSomeInputsFailed;
    } catch (const std::exception& e) {
        err << "primaps export: " << QString::fromStdString(e.what()) << "\n";
        return ExitSomeInputsFailed;
    }
}

} // namespace primaps::cli
