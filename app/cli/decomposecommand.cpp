// SPDX-License-Identifier: MIT
#include "pipeline/animationwriter.h"
#include "support/atomicfile.h"
#include "backbones/backbone.h"
#include "commandline.h"
#include "commands.h"
#include "support/error.h"
#include "image/imageio.h"
#include "support/npy.h"
#include "image/overlay.h"
#include "pipeline/pipeline.h"
#include "pipeline/playback.h"
#include "image/preprocess.h"
#include "pipeline/tracejson.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <opencv2/imgproc.hpp>
#include <optional>
#include <QCommandLineParser>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QSet>
#include <QTextStream>
#include <unistd.h>

namespace primaps::cli {

namespace {

struct Input
{
    QString path;
    bool isFeatures = false;
};

struct Settings
{
    QDir out;
    std::optional<float> threshold;
    std::optional<int> resize;
    PrimapsParams primaps;
    float opacity = 0.6f;
    bool crf = true;
    bool traceMaps = false;
    bool overwrite = false;
    bool skipExisting = false; ///< an input whose outputs all exist is done
    bool quiet = false;
    bool strict = false; ///< a partly decoded image fails instead of being used
    /// --animation: the playback of the iterations; with several inputs each
    /// gets its own file, "<stem>_" before the given name.
    QString animation;
    bool animationPerInput = false;
    AnimationOptions animationOptions;
    PlaybackStyle playbackStyle;
};

QString animationPathFor(const Settings& settings, const QString& stem)
{
    if (!settings.animationPerInput)
        return settings.animation;
    const QFileInfo info(settings.animation);
    return info.dir().filePath(stem + "_" + info.fileName());
}

// Expands folders to the images directly inside them (sorted, so runs are
// reproducible); files are taken as given and judged when they are read.
QStringList expandImageArgument(const QString& argument)
{
    const QFileInfo info(argument);
    if (!info.isDir())
        return {argument};
    QStringList filters;
    for (const std::string& ext : imageExtensions()) {
        filters << "*" + QString::fromStdString(ext);
        filters << "*" + QString::fromStdString(ext).toUpper();
    }
    QStringList files;
    const QFileInfoList entries =
        QDir(argument).entryInfoList(filters, QDir::Files | QDir::Readable, QDir::Name);
    for (const QFileInfo& entry : entries)
        files << entry.filePath();
    return files;
}

// The images in a folder whose names are not UTF-8: QDir lists them under a
// mangled name that opens nothing, so they are found byte-wise and reported.
QStringList imagesWithUnusableNames(const QString& folder)
{
    QStringList names;
    std::error_code ec;
    for (const auto& entry :
         std::filesystem::directory_iterator(QFile::encodeName(folder).toStdString(), ec)) {
        const QByteArray name = QByteArray::fromStdString(entry.path().filename().string());
        if (isValidUtf8(name) || !entry.is_regular_file(ec))
            continue;
        const QByteArray lower = name.toLower();
        for (const std::string& ext : imageExtensions())
            if (lower.endsWith(QByteArray::fromStdString(ext))) {
                names << QDir(folder).filePath(printableBytes(name));
                break;
            }
    }
    names.sort();
    return names;
}

cv::Mat rgbToBgr(const cv::Mat& rgb)
{
    cv::Mat bgr;
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    return bgr;
}

// What the written label map holds: the proposals that survived the CRF and the
// background channel, and the share of pixels left at 0.
struct LabelMapSummary
{
    int idsKept = 0;
    double unassignedShare = 0.0;
};

LabelMapSummary summarize(const cv::Mat& labels)
{
    LabelMapSummary s;
    const cv::Mat ids = labels.reshape(1, 1);
    std::vector<std::size_t> counts(256, 0);
    for (int i = 0; i < ids.cols; ++i)
        ++counts[ids.at<std::uint8_t>(0, i)];
    for (std::size_t id = 1; id < counts.size(); ++id)
        s.idsKept += counts[id] > 0 ? 1 : 0;
    s.unassignedShare = labels.total() ? double(counts[0]) / double(labels.total()) : 0.0;
    return s;
}

// A label map at feature-grid resolution is tiny; enlarge it (nearest) so the
// picture is readable, to at least 256 pixels on the shorter side.
cv::Mat enlargedLabelPicture(const cv::Mat& labels)
{
    const int shorter = std::min(labels.rows, labels.cols);
    const int factor = std::max(1, int(std::ceil(256.0 / std::max(1, shorter))));
    cv::Mat big;
    cv::resize(colorizeLabels(labels), big, cv::Size(), factor, factor, cv::INTER_NEAREST);
    return big;
}

// Returns false for an input skipped because its outputs exist (--skip-existing).
bool processInput(const Input& input, Backbone* backbone, const Settings& settings,
                  QTextStream& out, QTextStream& err)
{
    QElapsedTimer timer;
    timer.start();
    const std::string path = input.path.toStdString();
    const QString stem = QFileInfo(input.path).completeBaseName();
    const QString masksPath = settings.out.filePath(stem + "_masks.png");
    const QString overlayPath = settings.out.filePath(stem + "_overlay.png");
    const QString tracePath = settings.out.filePath(stem + "_trace.json");
    QStringList targets{masksPath, overlayPath, tracePath};
    const QString animationPath =
        settings.animation.isEmpty() ? QString() : animationPathFor(settings, stem);
    if (!animationPath.isEmpty())
        targets << animationPath;
    if (settings.skipExisting) {
        // Done when every output is there. The input an interruption cut short
        // has only some of them (they are written one after another): it is
        // decomposed again and those files of its own are replaced.
        if (std::all_of(targets.begin(), targets.end(),
                        [](const QString& t) { return QFileInfo::exists(t); }))
            return false;
    } else if (!settings.overwrite) {
        for (const QString& target : targets)
            if (QFileInfo::exists(target))
                throw Error("'" + path + "': output '" + target.toStdString() +
                            "' exists; pass --overwrite to replace it, or --skip-existing to "
                            "skip the inputs already done");
    }

    ImageDecomposition result;
    cv::Mat masks, overlay;
    TraceContext context;
    context.source = path;
    if (input.isFeatures) {
        PrimapsParams params = settings.primaps;
        params.threshold = settings.threshold.value_or(0.4f);
        result = decomposeFeatures(readFeaturesNpy(path), params);
        masks = result.labels;
        overlay = enlargedLabelPicture(masks);
        context.backbone = "features";
    } else {
        std::string partial;
        const cv::Mat rgb = loadImageRgb8(path, &partial); // decoders muted by core
        if (!partial.empty()) {
            if (settings.strict)
                throw Error(partial + " (stopping: --strict)");
            err << "primaps: " << QString::fromStdString(partial) << "\n" << Qt::flush;
        }
        PipelineParams params;
        params.primaps = settings.primaps;
        params.useRecommendedThreshold = !settings.threshold.has_value();
        if (settings.threshold)
            params.primaps.threshold = *settings.threshold;
        params.useRecommendedResize = !settings.resize.has_value();
        if (settings.resize)
            params.preprocess.shorterSide = *settings.resize;
        params.crf = settings.crf;
        const std::string small = tooSmallNote(rgb.size(), backbone->patchSize());
        if (!small.empty())
            err << "primaps: note: '" << input.path << "': " << QString::fromStdString(small)
                << "\n"
                << Qt::flush;
        result = decomposeImage(rgb, *backbone, params);
        const QString budgetLine = processingBudgetLine(input.path, result.prepared.budgetNote());
        if (!budgetLine.isEmpty())
            err << budgetLine << "\n" << Qt::flush;
        masks = result.labelsAtOriginalSize();
        overlay = overlayLabels(rgb, masks, settings.opacity);
        context.backbone = backbone->name();
        context.crf = result.crfApplied;
        context.crfParams = result.crfParams;
    }
    context.imageWidth = masks.cols;
    context.imageHeight = masks.rows;
    const LabelMapSummary summary = summarize(masks);
    context.labelIdsKept = summary.idsKept;
    context.unassignedShare = summary.unassignedShare;

    if (!QDir().mkpath(settings.out.path()))
        throw Error("cannot create the output folder '" + settings.out.path().toStdString() + "'");
    writeImageAtomic(masksPath.toStdString(), masks);
    writeImageAtomic(overlayPath.toStdString(), rgbToBgr(overlay));
    writeFileAtomic(tracePath.toStdString(),
                    traceToJson(result.trace, context, settings.traceMaps));
    QString animationNote;
    if (!animationPath.isEmpty()) {
        QElapsedTimer animationClock;
        animationClock.start();
        PlaybackStyle style = settings.playbackStyle;
        style.opacity = settings.opacity;
        const PlaybackRenderer renderer(result, style);
        const AnimationReport report = writeAnimation(
            animationPath.toStdString(), renderPlaybackFrames(renderer), settings.animationOptions);
        animationNote = QString(", %1 %2 (%3 frames%4, %5 ms)")
                            .arg(QString::fromLatin1(toString(report.format)), animationPath)
                            .arg(renderer.frameCount())
                            .arg(report.codec.empty() ? QString()
                                                      : ", " + QString::fromStdString(report.codec))
                            .arg(animationClock.elapsed());
    }

    if (!settings.quiet)
        out << QFileInfo(input.path).fileName() << ": " << result.trace.iterations.size()
            << " proposals (" << QString::number(100.0 * result.trace.finalCoverage, 'f', 1)
            << "% of the feature grid covered), " << summary.idsKept << " in the label map, "
            << QString::number(100.0 * summary.unassignedShare, 'f', 1)
            << "% unassigned; stopped by " << toString(result.trace.stopReason)
            << (result.crfApplied ? ", CRF" : "") << ", " << timer.elapsed() << " ms -> "
            << settings.out.filePath(stem) << "_{masks,overlay}.png" << animationNote << "\n"
            << Qt::flush;
    return true;
}

} // namespace

int runDecompose(const QStringList& arguments)
{
    QTextStream out(stdout);
    QTextStream err(errorOutput());

    QCommandLineParser parser;
    parser.setApplicationDescription(
        "Decompose images into principal mask proposals (PriMaPs).\n\n"
        "For each input writes into --out:\n"
        "  <stem>_masks.png    8-bit mask ids at the image's resolution (at the feature\n"
        "                      grid's for --features): 0 = background, 1..k = proposals\n"
        "                      in extraction order; edges refined by the dense CRF\n"
        "  <stem>_overlay.png  the masks blended over the image\n"
        "  <stem>_trace.json   threshold, per-iteration area and coverage, stop reason\n"
        "and with --animation FILE the playback of the iterations (GIF, WebP, MP4 or a\n"
        "PNG sheet), written where FILE says.\n"
        "A folder argument stands for the images directly inside it. A bad input is\n"
        "reported on stderr and skipped; the exit code is then 1. Stdout gets one line\n"
        "per input: the proposals found, how many of them the label map keeps (the\n"
        "CRF and the background channel remove some) and its unassigned share.");
    parser.addPositionalArgument("images", "Image files or folders to decompose.", "[IMAGE...]");
    const QCommandLineOption outOption({"o", "out"}, "Output folder (created if missing).", "DIR");
    const QCommandLineOption thresholdOption(
        {"t", "threshold"},
        "PriMaPs threshold tau in (0, 1]. Default: the backbone's recommended value "
        "(0.4 for --features, the paper's value for DINO features).",
        "T");
    const QCommandLineOption backboneOption(
        {"b", "backbone"},
        "Feature extractor. Available: " + QString::fromStdString([] {
            std::string s;
            for (const auto& n : availableBackbones())
                s += (s.empty() ? "" : ", ") + n;
            return s;
        }()) +
            ".",
        "NAME", "filterbank");
    const QCommandLineOption deviceOption(
        "device",
        "Where the backbone runs: cpu (default) or cuda (needs a LibTorch built with "
        "CUDA; Debian's is CPU-only).",
        "DEVICE", "cpu");
    const QCommandLineOption weightsOption(
        {"w", "weights"},
        "Checkpoint (.pth) of a DINO/DINOv2 backbone, or TorchScript module (.pt) for "
        "--backbone torchscript. Default for DINO/DINOv2: the published file found in the "
        "folders 'primaps backbones' lists.",
        "FILE");
    const QCommandLineOption featuresOption(
        {"f", "features"},
        "A float32 (or float64) C x h x w .npy feature array to decompose instead of an "
        "image; may be given several times.",
        "FILE.npy");
    const QCommandLineOption resizeOption(
        "resize",
        "Resize images so the shorter side is N pixels (0 keeps the size; at least two "
        "patches, e.g. 16 for /8 backbones; at most 2048). "
        "Default: the backbone's recommended size (320; 322 for /14 ViTs).",
        "N");
    const QCommandLineOption coverageOption(
        "coverage", "Stop once this fraction of positions is assigned (default: 0.95).", "F", "0.95");
    const QCommandLineOption iterationsOption(
        "max-iterations", "Cap on the number of proposals (1..254; default: 100).", "N", "100");
    const QCommandLineOption opacityOption("opacity", "Overlay opacity in [0, 1] (default: 0.6).", "F", "0.6");
    const QCommandLineOption noCrfOption(
        "no-crf", "Skip the dense CRF of step 5: plain argmax of the upsampled masks "
                  "(the CRF never runs for --features, which have no image).");
    const QCommandLineOption mapsOption(
        "trace-maps", "Also write each iteration's principal direction and maps into the trace.");
    const QCommandLineOption overwriteOption("overwrite", "Replace existing output files.");
    const QCommandLineOption skipExistingOption(
        "skip-existing", "Continue an interrupted run: skip the inputs whose output files all "
                         "exist; an input with only some of them (the one the interruption cut "
                         "short) is decomposed again and its files replaced.");
    const QCommandLineOption strictOption(
        "strict", "Treat a partly decoded (truncated) image as a failure instead of a warning.");
    const QCommandLineOption animationOption(
        "animation",
        "Also write the playback of the iterations (each proposal on the image, the "
        "similarity to its principal direction, the remaining area; then the label map): "
        ".gif, .webp or .mp4 by the extension, or .png for one slide-ready sheet of all "
        "frames. With several inputs each gets its own file, named <stem>_FILE.",
        "FILE");
    const QCommandLineOption animationFpsOption(
        "animation-fps", "Playback speed in iterations per second (0.1..60; default: 1).", "F", "1");
    const QCommandLineOption animationHeightOption(
        "animation-height", "Height of the animation's pictures in pixels (64..2160; default: 480).", "N", "480");
    const QCommandLineOption quietOption({"q", "quiet"}, "Print errors only.");
    parser.addOptions({outOption, thresholdOption, backboneOption, weightsOption, deviceOption,
                       featuresOption, resizeOption, coverageOption, iterationsOption,
                       opacityOption, noCrfOption, mapsOption, overwriteOption, skipExistingOption, strictOption,
                       animationOption, animationFpsOption, animationHeightOption, quietOption});
    const ResourceOptions resources;
    resources.addTo(parser);
    if (const auto done = parseCommandLine(parser, arguments, "decompose"))
        return *done;

    auto usageError = [&](const QString& message) {
        err << "primaps decompose: " << message << "; see 'primaps decompose --help'\n";
        return ExitUsage;
    };

    Settings settings;
    OptionChecker check(parser);
    resources.apply(parser, check);
    if (!parser.isSet(outOption))
        check.fail(nullptr, "--out DIR is required");
    else if (QFileInfo(parser.value(outOption)).exists() &&
             !QFileInfo(parser.value(outOption)).isDir())
        check.fail(&outOption, "'" + parser.value(outOption) + "' is a file, not a folder");
    if (parser.isSet(thresholdOption))
        settings.threshold = float(check.number(thresholdOption, 0.0, 1.0, true));
    if (parser.isSet(resizeOption))
        settings.resize = check.integer(resizeOption, 0, kMaxResizeSide);
    settings.primaps.coverage = float(check.number(coverageOption, 0.0, 1.0, true));
    settings.primaps.maxIterations = check.integer(iterationsOption, 1, 254);
    settings.opacity = float(check.number(opacityOption, 0.0, 1.0));
    const QString device = check.choice(deviceOption, {"cpu", "cuda"});
    settings.crf = !parser.isSet(noCrfOption);
    settings.traceMaps = parser.isSet(mapsOption);
    settings.overwrite = parser.isSet(overwriteOption);
    settings.skipExisting = parser.isSet(skipExistingOption);
    if (settings.overwrite && settings.skipExisting)
        check.fail(&skipExistingOption, "cannot be combined with --overwrite");
    settings.quiet = parser.isSet(quietOption);
    settings.strict = parser.isSet(strictOption);
    if (parser.isSet(animationOption)) {
        settings.animation = parser.value(animationOption);
        try {
            animationFormatFor(settings.animation.toStdString());
        } catch (const Error& e) {
            check.fail(&animationOption, QString::fromStdString(e.what()));
        }
    }
    settings.animationOptions.framesPerSecond = check.number(animationFpsOption, 0.1, 60.0);
    settings.playbackStyle.panelHeight = check.integer(animationHeightOption, 64, 2160);

    QList<Input> inputs;
    QStringList unusable; // failed inputs already: their names cannot be opened
    for (const QString& argument : parser.positionalArguments()) {
        const QStringList files = expandImageArgument(argument);
        const QStringList unusableHere =
            QFileInfo(argument).isDir() ? imagesWithUnusableNames(argument) : QStringList();
        unusable << unusableHere;
        if (files.isEmpty() && unusableHere.isEmpty())
            err << "primaps decompose: folder '" << argument << "' holds no images\n";
        for (const QString& file : files)
            inputs.push_back({file, false});
    }
    for (const QString& file : parser.values(featuresOption))
        inputs.push_back({file, true});
    if (inputs.isEmpty() && unusable.isEmpty())
        check.fail(nullptr, "no inputs: give IMAGE paths and/or --features FILE.npy");
    settings.animationPerInput = inputs.size() > 1;
    if (!check.ok())
        return check.report(err, "decompose");

    std::unique_ptr<Backbone> backbone;
    const bool needsBackbone =
        std::any_of(inputs.begin(), inputs.end(), [](const Input& i) { return !i.isFeatures; });
    if (needsBackbone) {
        try {
            BackboneOptions backboneOptions;
            backboneOptions.weightsPath = parser.value(weightsOption).toStdString();
            backboneOptions.useCuda = device == "cuda";
            backbone = createBackbone(parser.value(backboneOption).toStdString(), backboneOptions);
        } catch (const std::exception& e) {
            return usageError(QString::fromStdString(e.what()));
        }
        const QString tooSmall =
            resizeTooSmall(settings.resize.value_or(0), backbone->patchSize(), backbone->name());
        if (!tooSmall.isEmpty())
            return usageError(tooSmall);
    }

    // Created with the first output, so that a run where every input fails leaves nothing.
    settings.out = QDir(parser.value(outOption));

    // Two inputs with the same stem would write the same output files.
    QHash<QString, QString> stems;
    int failures = int(unusable.size());
    int skipped = 0;
    for (const QString& name : unusable)
        err << "primaps: '" << name
            << "': the file name is not valid UTF-8 and cannot be opened here; rename it (e.g. "
               "with convmv)\n";
    for (const Input& input : inputs) {
        const QString stem = QFileInfo(input.path).completeBaseName();
        if (stems.contains(stem)) {
            err << "primaps: '" << input.path << "': its outputs would replace those of '"
                << stems.value(stem) << "' (same name); skipped\n";
            ++failures;
            continue;
        }
        stems.insert(stem, input.path);
        try {
            if (!processInput(input, backbone.get(), settings, out, err))
                ++skipped;
        } catch (const std::exception& e) {
            // One line per failure; cv::Exception and LibTorch errors are
            // std::exceptions too, so nothing escapes and the next input runs.
            QString message = QString::fromStdString(e.what()).simplified();
            if (!message.contains(input.path))
                message = "'" + input.path + "': " + message;
            err << "primaps: " << message << "\n" << Qt::flush;
            ++failures;
        }
    }
    if (skipped > 0 && !settings.quiet)
        err << "primaps decompose: " << skipped << " input(s) skipped: their outputs exist\n";
    if (failures > 0) {
        err << "primaps decompose: " << failures << " of " << inputs.size() + unusable.size()
            << " inputs failed\n";
        return ExitSomeInputsFailed;
    }
    return ExitOk;
}

} // namespace primaps::cli
