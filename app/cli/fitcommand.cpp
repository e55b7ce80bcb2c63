// SPDX-License-Identifier: MIT
// `primaps fit` (features -> masks -> PriMaPs-EM or the k-means baseline over a
// dataset) and `primaps masks` (the per-image stages only, shardable).
#include "atomicfile.h"
#include "backbone.h"
#include "commands.h"
#include "datasetoptions.h"
#include "emfit.h"
#include "error.h"

#include <fstream>
#include <memory>
#include <QDir>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>

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
                                  "(default: the backbone's, 320 or 322).",
                                  "N"};
    QCommandLineOption threshold{"threshold", "PriMaPs threshold (default: the backbone's).", "T"};
    QCommandLineOption noMaskCrf{"no-mask-crf", "Masks without the dense CRF refinement."};
    QCommandLineOption stage{"stage", "Stop after this stage: features, masks or fit (default).",
                             "NAME", "fit"};
    QCommandLineOption epochs{"epochs", "Epochs of EM (or of k-means for --method kmeans).", "N",
                              "50"};
    QCommandLineOption initEpochs{"init-epochs", "k-means epochs before EM.", "N", "2"};
    QCommandLineOption batchSize{"batch-size", "Images per step.", "N", "32"};
    QCommandLineOption seed{"seed", "Random seed.", "N", "0"};
    QCommandLineOption emaEvery{"ema-every", "EM steps between EMA updates of theta_M.", "N", "10"};
    QCommandLineOption emaDecay{"ema-decay", "EMA decay (after the warm-up).", "F", "0.98"};
    QCommandLineOption learningRate{"lr", "Adam learning rate.", "F", "0.005"};
    QCommandLineOption pcaImages{"pca-images", "Images pooled for the PCA initialisation.", "N",
                                 "2976"};
    QCommandLineOption checkpointEvery{"checkpoint-every", "Steps between checkpoints.", "N", "50"};
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
                                    "epoch draws one.",
                                    "N", "1"};

    void addTo(QCommandLineParser& parser) const
    {
        data.addTo(parser);
        parser.addOptions(
            {out,       method,      backbone,     weights,      cache,      resolution,
             threshold, noMaskCrf,   stage,        epochs,       initEpochs, batchSize,
             seed,      emaEvery,    emaDecay,     learningRate, pcaImages,  checkpointEvery,
             restart,   studentAugs, studentViews, valSplit,     valEvery});
    }
};

int intValue(const QCommandLineParser& parser, const QCommandLineOption& option, int minimum)
{
    bool ok = false;
    const int v = parser.value(option).toInt(&ok);
    if (!ok || v < minimum)
        throw Error("--" + option.names().last().toStdString() +
                    " must be a whole number >= " + std::to_string(minimum));
    return v;
}

double doubleValue(const QCommandLineParser& parser, const QCommandLineOption& option)
{
    bool ok = false;
    const double v = parser.value(option).toDouble(&ok);
    if (!ok)
        throw Error("--" + option.names().last().toStdString() + " must be a number");
    return v;
}

QJsonArray toJsonArray(const std::vector<std::string>& values)
{
    QJsonArray a;
    for (const std::string& v : values)
        a.append(QString::fromStdString(v));
    return a;
}

void writeJson(const QString& path, const QJsonObject& object)
{
    writeFileAtomic(path.toStdString(), QJsonDocument(object).toJson().toStdString());
}

int runDatasetStages(const QStringList& arguments, const QString& command, bool fitCommand)
{
    QTextStream out(stdout);
    QTextStream err(stderr);
    FitOptions o;
    QCommandLineParser parser;
    parser.setApplicationDescription(
        fitCommand
            ? "Fit class prototypes over a dataset (DESIGN 3.4): cache backbone features, cache "
              "PriMaPs masks, then run PriMaPs-EM (or the k-means baseline) with progress, "
              "checkpoints and resume. Writes into RUN_DIR: theta_m.json, theta_r.json (the "
              "prototypes), history.csv (per-step losses), state.json (checkpoint) and run.json "
              "(settings for 'primaps eval'). Ctrl-C stops at the next step and keeps the "
              "checkpoint; the same command continues. The per-image stages accept --shard i/N "
              "(run them in a job array with --stage masks, then the fit once)."
            : "Cache backbone features and PriMaPs masks for a dataset (the per-image stages of "
              "'primaps fit'), resumable and shardable with --shard i/N.");
    parser.addHelpOption();
    o.addTo(parser);
    QStringList forParser = arguments;
    forParser.removeAt(1);
    if (!parser.parse(forParser)) {
        err << "primaps " << command << ": " << parser.errorText() << "\n";
        return ExitUsage;
    }
    if (parser.isSet("help")) {
        QString help = parser.helpText();
        help.replace(QRegularExpression("^Usage: \\S+"), "Usage: primaps " + command);
        out << help;
        return ExitOk;
    }
    auto usageError = [&](const QString& message) {
        err << "primaps " << command << ": " << message << "; see 'primaps " << command
            << " --help'\n";
        return ExitUsage;
    };

    const bool quiet = parser.isSet(o.data.quiet);
    Stage last = Stage::Fit;
    const QString stageName = parser.isSet(o.stage) ? parser.value(o.stage)
                              : fitCommand          ? QString("fit")
                                                    : QString("masks");
    if (stageName == "features")
        last = Stage::Features;
    else if (stageName == "masks")
        last = Stage::Masks;
    else if (stageName != "fit" || !fitCommand)
        return usageError(fitCommand ? "--stage must be features, masks or fit"
                                     : "--stage must be features or masks");

    Shard shard;
    EmParams em;
    std::unique_ptr<Backbone> backbone;
    std::optional<Dataset> dataset;
    FeatureSettings settings;
    PrimapsParams primaps;
    QString runDir, cacheDir;
    try {
        if (parser.isSet(o.data.shard)) {
            shard = parseShard(parser.value(o.data.shard).toStdString());
            if (last == Stage::Fit)
                throw Error("--shard applies to the per-image stages: use --stage masks (or "
                            "features) per shard, then run the fit once without --shard");
        }
        if (!parser.isSet(o.out) && !parser.isSet(o.cache))
            throw Error(fitCommand ? "--out RUN_DIR is required" : "--cache DIR is required");
        runDir = parser.value(o.out);
        cacheDir = parser.isSet(o.cache) ? parser.value(o.cache) : QDir(runDir).filePath("cache");
        if (last == Stage::Fit && runDir.isEmpty())
            throw Error("--out RUN_DIR is required");
        em.method = emMethodFromString(parser.value(o.method).toStdString());
        em.epochs = intValue(parser, o.epochs, 0);
        em.initEpochs = intValue(parser, o.initEpochs, 0);
        em.batchSize = intValue(parser, o.batchSize, 1);
        em.seed = std::uint64_t(intValue(parser, o.seed, 0));
        em.emaEvery = intValue(parser, o.emaEvery, 0);
        em.emaDecay = float(doubleValue(parser, o.emaDecay));
        em.learningRate = float(doubleValue(parser, o.learningRate));
        em.pcaImages = intValue(parser, o.pcaImages, 1);
        em.studentAugmentation = parser.isSet(o.studentAugs);
        dataset = openDataset(parser, o.data, "train", err, quiet);
        BackboneOptions bo;
        bo.weightsPath = parser.value(o.weights).toStdString();
        backbone = createBackbone(parser.value(o.backbone).toStdString(), bo);
        settings.resolution = parser.isSet(o.resolution) ? intValue(parser, o.resolution, 1)
                                                         : backbone->recommendedResize();
        primaps.threshold = parser.isSet(o.threshold) ? float(doubleValue(parser, o.threshold))
                                                      : backbone->recommendedThreshold();
        if (!(primaps.threshold > 0.0f && primaps.threshold <= 1.0f))
            throw Error("--threshold must be in (0, 1]");
        em.classes = parser.isSet(o.data.classes) ? intValue(parser, o.data.classes, 1)
                                                  : dataset->classCount();
        if (em.classes < 1 && last == Stage::Fit)
            throw Error("the dataset has no classes.txt: give --classes K");
    } catch (const std::exception& e) {
        return usageError(QString::fromStdString(e.what()));
    }

    const bool maskCrf = !parser.isSet(o.noMaskCrf);
    try {
        const CacheKey featureKey = featureCacheKey(
            *dataset, backbone->name(), parser.value(o.weights).toStdString(), settings);
        const FeatureCache features(cacheDir.toStdString(), featureKey);
        FeatureJob featureJob(*dataset, *backbone, features, settings, shard,
                              parser.isSet(o.data.strict));
        const JobState fs = runWithProgress(featureJob, err, quiet, command);
        printStageReport("features", featureJob.report(), err, quiet);
        if (fs == JobState::Canceled)
            return ExitInterrupted;
        if (fs == JobState::Failed)
            return ExitSomeInputsFailed;
        bool someFailed = !featureJob.report().failures.empty();

        // The student views go through the backbone once per view and are cached
        // like the plain features (same shards, same resume).
        std::optional<FeatureCache> studentCache;
        const int views = intValue(parser, o.studentViews, 1);
        if (em.studentAugmentation) {
            FeatureSettings student = settings;
            student.studentViews = views;
            student.augmentationSeed = em.seed;
            studentCache.emplace(cacheDir.toStdString(),
                                 featureCacheKey(*dataset, backbone->name(),
                                                 parser.value(o.weights).toStdString(), student));
            FeatureJob studentJob(*dataset, *backbone, *studentCache, student, shard,
                                  parser.isSet(o.data.strict));
            const JobState ss = runWithProgress(studentJob, err, quiet, command);
            printStageReport("student features", studentJob.report(), err, quiet);
            if (ss == JobState::Canceled)
                return ExitInterrupted;
            if (ss == JobState::Failed)
                return ExitSomeInputsFailed;
            someFailed = someFailed || !studentJob.report().failures.empty();
        }
        if (last == Stage::Features)
            return someFailed ? ExitSomeInputsFailed : ExitOk;

        const MaskCache masks(cacheDir.toStdString(), maskCacheKey(featureKey, primaps, maskCrf));
        MaskJob maskJob(*dataset, features, masks, settings, primaps, maskCrf, shard,
                        parser.isSet(o.data.strict));
        const JobState ms = runWithProgress(maskJob, err, quiet, command);
        printStageReport("masks", maskJob.report(), err, quiet);
        if (ms == JobState::Canceled)
            return ExitInterrupted;
        if (ms == JobState::Failed)
            return ExitSomeInputsFailed;
        someFailed = someFailed || !maskJob.report().failures.empty();
        if (last == Stage::Masks)
            return someFailed ? ExitSomeInputsFailed : ExitOk;

        const CachedEmData data(*dataset, features, masks, studentCache ? &*studentCache : nullptr,
                                views);
        if (!data.missing().empty()) {
            err << "primaps " << command << ": " << data.missing().size()
                << " image(s) lack cached features or masks and are left out of the fit (first: '"
                << QString::fromStdString(data.missing().front()) << "')\n";
            if (parser.isSet(o.data.strict))
                return ExitSomeInputsFailed;
        }
        if (data.size() == 0)
            throw Error("no image has both features and masks; nothing to fit");

        if (!QDir().mkpath(runDir))
            throw Error("cannot create run folder '" + runDir.toStdString() + "'");
        const QDir run(runDir);
        const QString statePath = run.filePath("state.json");
        EmFit fit(data, em);
        if (QFileInfo::exists(statePath) && !parser.isSet(o.restart)) {
            try {
                fit.restoreState(readFile(statePath.toStdString()));
            } catch (const std::exception& e) {
                throw Error(std::string(e.what()) + " ('" + statePath.toStdString() +
                            "'; pass --restart to start over, or use another --out)");
            }
            if (!quiet)
                err << "resuming from step " << fit.stepsDone() << " of " << fit.totalSteps()
                    << "\n";
        }

        QJsonObject runInfo{
            {"format", "primaps-run"},
            {"version", 1},
            {"dataset", toString(dataset->kind())},
            {"root", QString::fromStdString(dataset->root())},
            {"split", QString::fromStdString(dataset->split())},
            {"classes", em.classes},
            {"class_names", toJsonArray(dataset->classNames())},
            {"backbone", QString::fromStdString(backbone->name())},
            {"weights", parser.value(o.weights)},
            {"resolution", settings.resolution},
            {"threshold", double(primaps.threshold)},
            {"mask_crf", maskCrf},
            {"cache", QFileInfo(cacheDir).absoluteFilePath()},
            {"feature_cache_key", QString::fromStdString(featureKey.text())},
            {"method", toString(em.method)},
            {"epochs", em.epochs},
            {"init_epochs", em.initEpochs},
            {"batch_size", em.batchSize},
            {"seed", QString::number(em.seed)},
            {"learning_rate", double(em.learningRate)},
            {"ema_decay", double(em.emaDecay)},
            {"ema_every", em.emaEvery},
            {"student_augmentation", em.studentAugmentation},
            {"student_views", em.studentAugmentation ? views : 0},
            {"images", int(data.size())},
            {"complete", false},
        };
        writeJson(run.filePath("run.json"), runInfo);

        EmFitJob job(fit, statePath.toStdString(), intValue(parser, o.checkpointEvery, 1));
        // Validation on a labelled split: flip-averaged features cached like eval's.
        std::optional<Dataset> valDataset;
        std::optional<FeatureCache> valCache;
        FeatureSettings valSettings = settings;
        valSettings.flipAverage = true;
        const QString metricsPath = run.filePath("metrics.csv");
        if (parser.isSet(o.valSplit)) {
            DatasetOptions vo;
            vo.kind = dataset->kind();
            vo.root = dataset->root();
            vo.split = parser.value(o.valSplit).toStdString();
            vo.classes = dataset->classCount();
            valDataset = Dataset::open(vo);
            if (!valDataset->hasLabels())
                throw Error("validation split '" + vo.split + "' has no labels");
            valCache.emplace(cacheDir.toStdString(),
                             featureCacheKey(*valDataset, backbone->name(),
                                             parser.value(o.weights).toStdString(), valSettings));
            if (!QFileInfo::exists(metricsPath) || parser.isSet(o.restart))
                writeFileAtomic(metricsPath.toStdString(), "step,acc,miou\n");
            const int every =
                parser.isSet(o.valEvery) ? intValue(parser, o.valEvery, 1) : fit.stepsPerEpoch();
            job.setValidation(every, [&](const EmFit& current) {
                EvaluationJob evaluation(*valDataset, *backbone, *valCache, valSettings,
                                         current.thetaM(), false);
                JobControl inner;
                if (runJob(evaluation, inner) != JobState::Finished)
                    throw Error("validation failed: " + inner.error());
                const EvaluationResult r = evaluate(evaluation.confusion());
                std::ofstream(metricsPath.toStdString(), std::ios::app)
                    << current.stepsDone() << "," << r.accuracy << "," << r.meanIoU << "\n";
                return EmFitJob::Metrics{{"val_acc", r.accuracy}, {"val_miou", r.meanIoU}};
            });
        }
        const JobState state =
            fit.done() ? JobState::Finished : runWithProgress(job, err, quiet, command);
        if (state == JobState::Canceled)
            return ExitInterrupted;
        if (state == JobState::Failed)
            return ExitSomeInputsFailed;

        writeFileAtomic(run.filePath("theta_m.json").toStdString(), prototypesToJson(fit.thetaM()));
        writeFileAtomic(run.filePath("theta_r.json").toStdString(), prototypesToJson(fit.thetaR()));
        std::string csv = "step,phase,epoch,loss,ema_decay,labelled_fraction\n";
        for (const EmStepInfo& s : fit.history())
            csv += std::to_string(s.step) + "," + toString(s.phase) + "," +
                   std::to_string(s.epoch) + "," + QString::number(s.loss, 'g', 9).toStdString() +
                   "," +
                   (s.emaDecay >= 0 ? QString::number(s.emaDecay, 'g', 6).toStdString() : "") +
                   "," + QString::number(s.labelledFraction, 'g', 6).toStdString() + "\n";
        writeFileAtomic(run.filePath("history.csv").toStdString(), csv);
        runInfo["complete"] = true;
        runInfo["steps"] = qint64(fit.stepsDone());
        writeJson(run.filePath("run.json"), runInfo);
        if (!quiet)
            out << "fit finished after " << fit.stepsDone() << " steps on " << data.size()
                << " images; final loss " << fit.history().back().loss << " -> "
                << run.filePath("theta_m.json") << "\n";
        return someFailed ? ExitSomeInputsFailed : ExitOk;
    } catch (const std::exception& e) {
        err << "primaps " << command << ": " << QString::fromStdString(e.what()) << "\n";
        return ExitSomeInputsFailed;
    }
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
