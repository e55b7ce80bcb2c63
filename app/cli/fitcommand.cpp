// SPDX-License-Identifier: MIT
// `primaps fit` (features -> masks -> PriMaPs-EM or the k-means baseline over a
// dataset) and `primaps masks` (the per-image stages only, shardable).
#include "commandline.h"
#include "commands.h"
#include "datasetoptions.h"
#include "em/emfit.h"
#include "support/error.h"
#include "runs/fitrun.h"
#include "image/preprocess.h"

#include <memory>
#include <unistd.h>

namespace primaps::cli {

namespace {

enum class Stage
{
    Features,
    Masks,
    Fit
};

struct FitOptions
{
    DatasetCliOptions data;
    QCommandLineOption out{
        {"o", "out"}, "Run folder: prototypes, history, checkpoint, run.json.", "RUN_DIR"};
    QCommandLineOption method{"method", "primaps-em (default) or kmeans (the paper's baseline).",
                              "NAME", "primaps-em"};
    QCommandLineOption backbone{{"b", "backbone"},
                                "Feature extractor (see 'primaps decompose "
                                "--help' for the names).",
                                "NAME",
                                "filterbank"};
    QCommandLineOption weights{"weights", "Checkpoint or TorchScript file of the backbone.",
                               "FILE"};
    QCommandLineOption cache{"cache",
                             "Feature and mask cache folder (default: RUN_DIR/cache). "
                             "Shared by shards and later runs.",
                             "DIR"};
    QCommandLineOption resolution{"resolution",
                                  "Shorter image side before the centre crop "
                                  "(default: the backbone's, 320 or 322; at least two of "
                                  "its patches, e.g. 16 for the 8-pixel ones).",
                                  "N"};
    QCommandLineOption threshold{"threshold", "PriMaPs threshold (default: the backbone's).", "T"};
    QCommandLineOption noMaskCrf{"no-mask-crf", "Masks without the dense CRF refinement."};
    QCommandLineOption protocol{"protocol",
                                "robust (default: keeps every cluster alive, see "
                                "docs/em-quality.md in the documentation, "
                                "share/doc/primaps-studio) or paper (the reference's procedure step "
                                "for step).",
                                "NAME", "robust"};
    QCommandLineOption clusters{"clusters",
                                "Prototypes to fit (default: the dataset's classes); more than "
                                "the classes over-clusters, and 'primaps eval' then matches "
                                "many clusters to one class.",
                                "N"};
    QCommandLineOption stage{"stage", "Stop after this stage: features, masks or fit (default).",
                             "NAME", "fit"};
    QCommandLineOption maskStage{"stage", "Stop after this stage: features or masks (default).",
                                 "NAME", "masks"};
    QCommandLineOption epochs{"epochs", "Epochs of EM (or of k-means for --method kmeans); default: 50.", "N",
                              "50"};
    QCommandLineOption initEpochs{"init-epochs", "k-means epochs before EM (default: 2).", "N", "2"};
    QCommandLineOption batchSize{"batch-size", "Images per step (default: 32).", "N", "32"};
    QCommandLineOption seed{"seed", "Random seed of the fit and of the augmented views (default: 0).", "N",
                            "0"};
    QCommandLineOption emaEvery{"ema-every", "EM steps between EMA updates of theta_M, the fit's result (default: 10).", "N", "10"};
    QCommandLineOption emaDecay{"ema-decay", "EMA decay after the warm-up, in [0, 1] (default: 0.98).", "F",
                                "0.98"};
    QCommandLineOption learningRate{"lr",
                                    "Adam learning rate, > 0 (default: 0.001 with the robust "
                                    "protocol, the reference's 0.005 with the paper's).",
                                    "F"};
    QCommandLineOption whitenRidge{"whiten-ridge",
                                   "Robust protocol: fit on whitened features with this "
                                   "ridge (relative to the mean eigenvalue); 0 fits the raw "
                                   "features. Default: 0.3 for the 'filterbank' backbone, 0 for "
                                   "learned backbones and the paper's protocol "
                                   "(docs/em-quality.md in share/doc/primaps-studio).",
                                   "R"};
    QCommandLineOption pcaImages{"pca-images", "Images pooled for the PCA initialisation (default: the reference's 2976, or all "
                                 "images when there are fewer).", "N",
                                 "2976"};
    QCommandLineOption checkpointEvery{"checkpoint-every", "Steps between checkpoints (default: 50).", "N", "50"};
    QCommandLineOption restart{"restart", "Discard an existing checkpoint in RUN_DIR."};
    QCommandLineOption studentAugs{"student-augs", "theta_R learns from photometrically "
                                                   "augmented views (blur, colour jitter, grey) "
                                                   "whose features are cached too."};
    QCommandLineOption valSplit{"val-split",
                                "Evaluate theta_M on this labelled split while "
                                "fitting (Acc, mIoU in the progress and in "
                                "RUN_DIR/metrics.csv).",
                                "NAME"};
    QCommandLineOption valEvery{"val-every", "Steps between validations (default: one epoch).",
                                "N"};
    QCommandLineOption studentViews{"student-views",
                                    "Augmented views cached per image; each "
                                    "epoch draws one (default: 1).",
                                    "N", "1"};

    ResourceOptions resources;

    /// `masks` takes the per-image stages' options only; `fit` all of them.
    void addTo(QCommandLineParser& parser, bool fit) const
    {
        data.addTo(parser, splitHelpFor(fit ? "to fit on" : "whose features and masks are cached",
                                        "train"));
        resources.addTo(parser);
        parser.addOptions({out, backbone, weights, cache, resolution, threshold, noMaskCrf,
                           fit ? stage : maskStage, seed, studentAugs, studentViews});
        if (fit)
            parser.addOptions({method, epochs, initEpochs, batchSize, emaEvery, emaDecay,
                               learningRate, pcaImages, checkpointEvery, restart, valSplit,
                               valEvery, protocol, clusters, whitenRidge});
    }
};

int runDatasetStages(const QStringList& arguments, const QString& command, bool fitCommand)
{
    QTextStream out(stdout);
    QTextStream err(errorOutput());
    FitOptions o;
    QCommandLineParser parser;
    parser.setApplicationDescription(
        fitCommand
            ? "Fit class prototypes over a dataset: cache backbone features, cache PriMaPs masks, "
              "then run PriMaPs-EM (or the k-means baseline) with progress, checkpoints and "
              "resume (README, 'The command line'). Writes into RUN_DIR: theta_m.json, "
              "theta_r.json (the prototypes), history.csv (per-step losses), state.json "
              "(checkpoint) and run.json (settings for 'primaps eval'). Ctrl-C stops at the next "
              "step and keeps the checkpoint; the same command continues. The per-image stages "
              "are 'primaps masks' (shardable with --shard i/N in a job array); run the fit once "
              "afterwards."
            : "Cache backbone features and PriMaPs masks for a dataset (the per-image stages of "
              "'primaps fit'), resumable and shardable with --shard i/N.");
    o.addTo(parser, fitCommand);
    if (const auto done = parseCommandLine(parser, arguments, command))
        return *done;
    auto usageError = [&](const QString& message) {
        err << "primaps " << command << ": " << message << "; see 'primaps " << command
            << " --help'\n";
        return ExitUsage;
    };

    // Every value is checked before anything is read or computed; each bad one
    // gets its own line.
    const bool quiet = parser.isSet(o.data.quiet);
    OptionChecker check(parser);
    auto intValue = [&](const QCommandLineParser&, const QCommandLineOption& option, int minimum) {
        return check.integer(option, minimum);
    };
    o.resources.apply(parser, check);
    const QString stageName = fitCommand ? check.choice(o.stage, {"features", "masks", "fit"})
                                         : check.choice(o.maskStage, {"features", "masks"});
    const Stage last = stageName == "features" ? Stage::Features
                       : stageName == "masks"  ? Stage::Masks
                                               : Stage::Fit;

    FitRunSettings run;
    run.lastStage = last == Stage::Features ? FitStage::Features
                    : last == Stage::Masks  ? FitStage::Masks
                                            : FitStage::Fit;
    const DatasetOptions data = datasetOptions(parser, o.data, "train", check);
    if (parser.isSet(o.data.shard)) {
        try { // a malformed value has been reported by datasetOptions()
            run.shard = parseShard(parser.value(o.data.shard).toStdString());
        } catch (const Error&) {
        }
        if (last == Stage::Fit)
            check.fail(&o.data.shard, "applies to the per-image stages: run 'primaps masks' (or "
                                      "--stage masks) per shard, then the fit once without "
                                      "--shard");
    }
    if (!parser.isSet(o.out) && !parser.isSet(o.cache))
        check.fail(nullptr, fitCommand ? "--out RUN_DIR is required" : "--cache DIR is required");
    else if (last == Stage::Fit && !parser.isSet(o.out))
        check.fail(nullptr, "--out RUN_DIR is required");
    run.runDir = parser.value(o.out).toStdString();
    run.cacheDir = parser.value(o.cache).toStdString();
    EmParams& em = run.em;
    em.seed = std::uint64_t(intValue(parser, o.seed, 0));
    em.studentAugmentation = parser.isSet(o.studentAugs);
    em.classes = parser.isSet(o.data.classes) ? data.classes : 0;
    run.studentViews = intValue(parser, o.studentViews, 1);
    run.strict = parser.isSet(o.data.strict);
    run.maskCrf = !parser.isSet(o.noMaskCrf);
    run.backbone = parser.value(o.backbone).toStdString();
    run.weights = parser.value(o.weights).toStdString();
    run.resolution =
        parser.isSet(o.resolution) ? check.integer(o.resolution, 1, kMaxResizeSide) : 0;
    if (parser.isSet(o.threshold))
        run.threshold = float(check.number(o.threshold, 0.0, 1.0, true));
    if (fitCommand) {
        check.guard(&o.method,
                    [&] { em.method = emMethodFromString(parser.value(o.method).toStdString()); });
        em.epochs = intValue(parser, o.epochs, 0);
        em.initEpochs = intValue(parser, o.initEpochs, 0);
        em.batchSize = intValue(parser, o.batchSize, 1);
        em.emaEvery = intValue(parser, o.emaEvery, 0);
        em.emaDecay = float(check.number(o.emaDecay, 0.0, 1.0));
        em.pcaImages = intValue(parser, o.pcaImages, 1);
        if (parser.isSet(o.clusters))
            em.classes = intValue(parser, o.clusters, 1);
        check.guard(&o.protocol, [&] {
            em.protocol = emProtocolFromString(parser.value(o.protocol).toStdString());
        });
        em.whitenRidge = parser.isSet(o.whitenRidge)
                             ? float(check.number(o.whitenRidge, 0.0, 1e3))
                             : defaultWhitenRidge(em.protocol, run.backbone);
        em.learningRate = parser.isSet(o.learningRate)
                              ? float(check.number(o.learningRate, 0.0, 1e3, true))
                              : defaultLearningRate(em.protocol);
        run.checkpointEvery = intValue(parser, o.checkpointEvery, 1);
        run.restart = parser.isSet(o.restart);
        run.validationSplit = parser.value(o.valSplit).toStdString();
        run.validationEvery = parser.isSet(o.valEvery) ? intValue(parser, o.valEvery, 1) : 0;
    }
    if (!check.ok())
        return check.report(err, command);

    std::unique_ptr<DatasetFitJob> job;
    try {
        Dataset dataset = openDataset(data, err, quiet);
        if (em.classes == 0 && dataset.classCount() < 1 && last == Stage::Fit)
            throw Error("the dataset has no classes.txt: give --classes K");
        if (!run.validationSplit.empty()) {
            // Listed now, so that a wrong split stops the fit before the caching.
            DatasetOptions validation = data;
            validation.split = run.validationSplit;
            validation.classes = dataset.classCount() > 0 ? dataset.classCount() : em.classes;
            if (!Dataset::open(validation).hasLabels())
                throw Error("--val-split: split '" + run.validationSplit + "' has no labels");
        }
        job = std::make_unique<DatasetFitJob>(std::move(dataset), run);
    } catch (const std::exception& e) {
        return usageError(QString::fromStdString(e.what()));
    }

    // The core job runs every stage; the stage reports and notes are printed as
    // they come, over the progress line when there is one.
    const bool terminal = ::isatty(::fileno(errorOutput())) == 1 && !quiet;
    auto clearLine = [&] {
        if (terminal)
            err << "\r" << QString(79, ' ') << "\r";
    };
    job->setStageCallback([&](const std::string& stage, const StageReport& report) {
        clearLine();
        printStageReport(stage.c_str(), report, err, quiet);
    });
    job->setLogCallback([&](const std::string& line) {
        // Information, not warnings: --quiet silences them.
        if (quiet && (line.rfind("resuming", 0) == 0 || line.rfind("initialisation", 0) == 0))
            return;
        clearLine();
        err << QString::fromStdString(line) << "\n";
        err.flush();
    });
    const JobState state = runWithProgress(*job, err, quiet, command);
    if (state == JobState::Canceled)
        return ExitInterrupted;
    if (state == JobState::Failed) {
        if (job->checkpointRejected())
            err << "primaps " << command
                << ": pass --restart to start over, or use another --out\n";
        return ExitSomeInputsFailed;
    }
    if (last == Stage::Fit && !quiet)
        out << "fit finished after " << job->stepsDone() << " steps on " << job->images()
            << " images; final loss " << job->history().back().loss << " -> "
            << QString::fromStdString(job->prototypesPath()) << "\n";
    return job->someItemsFailed() ? ExitSomeInputsFailed : ExitOk;
}

} // namespace

int runFit(const QStringList& arguments)
{
    return runDatasetStages(arguments, "fit", true);
}

int runMasks(const QStringList& arguments)
{
    return runDatasetStages(arguments, "masks", false);
}

} // namespace primaps::cli
