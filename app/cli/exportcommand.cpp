// SPDX-License-Identifier: MIT
// `primaps export`: a pseudo-label dataset from a fitted run. Per image the
// evaluation's prediction (optionally CRF-refined), mapped to classes by the
// run's Hungarian match, as label PNGs with optional colour and overlay
// pictures, plus manifest.json, classes.txt and legend.png. The export itself
// is core's PseudoLabelExportJob, which the studio runs too; this file maps
// options to its request and prints its outcome.
#include "backbones/backbone.h"
#include "commandline.h"
#include "commands.h"
#include "datasetoptions.h"
#include "support/error.h"
#include "labels/pseudolabelexport.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFileInfo>

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
                              "Cityscapes label ids, 0 = unlabelled). Annotation-tool formats, "
                              "written beside the mirror layout once every image is exported "
                              "(comma-separated for several): coco (coco_<split>.json, one "
                              "compressed-RLE annotation per class and image), coco-panoptic "
                              "(panoptic_<split>.json + panoptic_<split>/), cvat "
                              "(cvat_<split>.zip, 'Segmentation mask 1.1'), labelstudio "
                              "(labelstudio_<split>.json with brush predictions + "
                              "labelstudio_config.xml). 'primaps import' reads corrections back.",
                              "NAME[,NAME...]",
                              "mirror"};
    QCommandLineOption palette{"palette", "Write the label PNGs as 8-bit indexed PNGs whose "
                                          "palette holds the class colours (255 = ignore, "
                                          "black), so that image viewers show the classes."};
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
    ResourceOptions resources;

    void addTo(QCommandLineParser& parser) const
    {
        data.addTo(parser,
                   "Split to export (default: the split the run was fitted on; for a run "
                   "fitted on a whole folder, the images ROOT/train.txt lists when that file "
                   "exists now, else all of them).");
        resources.addTo(parser);
        parser.addOptions({run, out, crf, theta, match, rawClusters, colour, overlay, opacity,
                           format, palette, size, overwrite, cache, weights, corrections, noCorrections});
    }
};

QString seconds(double s)
{
    return QString::number(s, 'f', s < 10 ? 2 : 1) + " s";
}

} // namespace

int runExport(const QStringList& arguments)
{
    QTextStream out(stdout);
    QTextStream err(errorOutput());
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
        "the command once more without --shard afterwards for the complete manifest. "
        "--dataset, --root, --classes and --holdout default to the run's (its run.json).");
    o.addTo(parser);
    if (const auto done = parseCommandLine(parser, arguments, "export"))
        return *done;
    auto usageError = [&](const QString& message) {
        err << "primaps export: " << message << "; see 'primaps export --help'\n";
        return ExitUsage;
    };
    const bool quiet = parser.isSet(o.data.quiet);
    const bool crf = parser.isSet(o.crf);
    const QDir outDir(parser.value(o.out));

    // Every option is checked before the run is opened or anything is planned.
    OptionChecker check(parser);
    o.resources.apply(parser, check);
    std::optional<FitRunFolder> folder;
    if (!parser.isSet(o.run))
        check.fail(nullptr, "--run RUN_DIR is required");
    else
        check.guard(&o.run, [&] { folder = readFitRunFolder(parser.value(o.run).toStdString()); });
    if (!parser.isSet(o.out))
        check.fail(nullptr, "--out DIR is required");
    else if (QFileInfo::exists(outDir.path()) && !QFileInfo(outDir.path()).isDir())
        check.fail(&o.out, "'" + outDir.path() + "' is a file, not a folder");
    if (parser.isSet(o.rawClusters) && parser.isSet(o.match))
        check.fail(nullptr, "--raw-clusters and --match exclude each other");
    const QString theta = check.choice(o.theta, {"m", "r"});
    PseudoLabelExportRequest request;
    LabelExportSettings& settings = request.settings;
    settings.outDir = outDir.path().toStdString();
    settings.crf = crf;
    check.guard(&o.format, [&] {
        for (const QString& name : parser.value(o.format).split(',', Qt::SkipEmptyParts)) {
            const std::string n = name.trimmed().toStdString();
            if (n == "mirror" || n == "cityscapes")
                settings.layout = exportLayoutFromString(n);
            else
                request.formats.push_back(interchange::interchangeFormatFromString(n));
        }
        if (!request.formats.empty() && settings.layout == ExportLayout::Cityscapes)
            throw Error("the annotation-tool formats are written beside the mirror layout, "
                        "not with cityscapes");
    });
    settings.palette = parser.isSet(o.palette);
    if (!request.formats.empty() && parser.isSet(o.rawClusters))
        check.fail(&o.format, "the annotation-tool formats name classes; they cannot hold "
                              "--raw-clusters");
    check.guard(&o.size,
                [&] { settings.size = exportSizeFromString(parser.value(o.size).toStdString()); });
    settings.colour = parser.isSet(o.colour);
    settings.overlay = parser.isSet(o.overlay);
    settings.overlayOpacity = float(check.number(o.opacity, 0.0, 1.0));
    settings.overwrite = parser.isSet(o.overwrite);
    const std::string runSplit = folder ? folder->dataset.split : std::string();
    const DatasetOptions datasetChoice =
        datasetOptions(parser, o.data, runSplit.empty() ? "train" : runSplit, check,
                       folder ? &folder->dataset : nullptr);
    if (!check.ok())
        return check.report(err, "export");

    FittedRun run;
    std::optional<Dataset> dataset;
    try {
        run = openFittedRun(parser.value(o.run).toStdString(), theta.toStdString(),
                            parser.value(o.weights).toStdString(),
                            parser.value(o.cache).toStdString());
        if (parser.isSet(o.data.shard))
            request.shard = parseShard(parser.value(o.data.shard).toStdString());
        dataset = openDataset(datasetChoice, err, quiet);
    } catch (const std::exception& e) {
        return usageError(QString::fromStdString(e.what()));
    }
    if (parser.isSet(o.match)) {
        request.match = ExportMatchSource::File;
        request.matchFile = parser.value(o.match).toStdString();
    } else if (parser.isSet(o.rawClusters)) {
        request.match = ExportMatchSource::RawClusters;
    }
    if (parser.isSet(o.noCorrections)) {
        request.corrections = ExportCorrectionsSource::None;
    } else if (parser.isSet(o.corrections)) {
        request.corrections = ExportCorrectionsSource::Folder;
        request.correctionsDir = parser.value(o.corrections).toStdString();
    }
    request.strict = parser.isSet(o.data.strict);
    const Shard shard = request.shard;

    PseudoLabelExportJob job(run, *dataset, request);
    job.setLogCallback([&](const std::string& line) {
        if (!quiet)
            err << QString::fromStdString(line) << "\n";
    });
    // Progress, Ctrl-C and the error line as every dataset command; a refused
    // request (bad match, a folder with another export, ...) exported nothing.
    const JobState state = runWithProgress(job, err, quiet, "export");
    if (job.refused())
        return ExitUsage;
    const LabelExport* exporter = job.exporter();
    if (!exporter)
        return state == JobState::Canceled ? ExitInterrupted : ExitSomeInputsFailed;
    const StageReport& r = job.report();
    for (const DatasetProblem& p : job.failures()) {
        // Core's messages often name the file already; name it once.
        QString why = QString::fromStdString(p.message).simplified();
        const QString prefix = "'" + QString::fromStdString(p.path) + "': ";
        if (why.startsWith(prefix))
            why = why.mid(prefix.size());
        err << "primaps: '" << QString::fromStdString(p.path) << "': " << why << "; skipped\n";
    }
    for (const DatasetProblem& p : r.warnings) // exported, but the user should know
        err << "primaps: " << QString::fromStdString(p.message).simplified() << "\n";
    err.flush();
    const double elapsed = clock.elapsed() / 1000.0;
    if (!quiet || !job.failures().empty()) {
        out << "export: " << r.items << " image(s)"
            << (shard.count > 1 ? QString(" (shard %1/%2)").arg(shard.index).arg(shard.count)
                                : QString())
            << ": " << r.computed << " exported (" << job.filesWritten() << " files), "
            << r.reused << " already exported, " << job.failures().size() << " failed, "
            << r.warnings.size() << " warning(s); "
            << exporter->classes().size() << (exporter->mapped() ? " classes" : " clusters")
            << ", " << seconds(elapsed);
        if (r.computed > 0)
            out << " (" << seconds(elapsed / double(r.computed)) << " per exported image)";
        out << "\n";
        out << "manifest: '" << QString::fromStdString(exporter->manifestPath()) << "' lists "
            << job.listed() << " of " << dataset->size() << " image(s)"
            << (job.listed() == dataset->size() ? "" : "; the rest are missing") << "\n";
        for (const std::string& f : job.formatFiles())
            if (f.size() < 4 || f.compare(f.size() - 4, 4, ".png") != 0)
                out << "written: '" << QString::fromStdString(f) << "'\n";
        for (const std::string& f : job.keptFormatFiles())
            if (f.size() < 4 || f.compare(f.size() - 4, 4, ".png") != 0)
                out << "kept: '" << QString::fromStdString(f)
                    << "' (exists; --overwrite replaces it)\n";
    }
    out.flush();
    if (state == JobState::Canceled)
        return ExitInterrupted;
    if (state == JobState::Failed)
        return ExitSomeInputsFailed;
    return job.failures().empty() ? ExitOk : ExitSomeInputsFailed;
}

} // namespace primaps::cli
