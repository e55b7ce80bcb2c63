// SPDX-License-Identifier: MIT
// `primaps features`: one image through a backbone into a C x h x w float32 .npy file.
#include "backbones/backbone.h"
#include "commandline.h"
#include "commands.h"
#include "support/error.h"
#include "image/imageio.h"
#include "support/npy.h"
#include "image/preprocess.h"

#include <algorithm>
#include <opencv2/core.hpp>
#include <optional>
#include <QCommandLineParser>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QTextStream>

namespace primaps::cli {

namespace {

QString backboneList()
{
    QString s;
    for (const std::string& n : availableBackbones())
        s += (s.isEmpty() ? "" : ", ") + QString::fromStdString(n);
    return s;
}

// Features of the horizontally flipped image, flipped back so positions line up.
FeatureMap flippedFeatures(Backbone& backbone, const cv::Mat& rgb)
{
    cv::Mat mirrored;
    cv::flip(rgb, mirrored, 1);
    FeatureMap f = backbone.extract(mirrored);
    for (int c = 0; c < f.channels; ++c)
        for (int y = 0; y < f.height; ++y) {
            float* row = f.channel(c) + std::size_t(y) * f.width;
            std::reverse(row, row + f.width);
        }
    return f;
}

} // namespace

int runFeatures(const QStringList& arguments)
{
    // Over a whole dataset, features are the first per-image stage of `masks`:
    // same cache, sharding and resumption.
    if (arguments.contains("--dataset") ||
        std::any_of(arguments.begin(), arguments.end(),
                    [](const QString& a) { return a.startsWith("--dataset="); })) {
        QStringList masks = arguments;
        masks[1] = "masks";
        if (!masks.contains("--stage"))
            masks << "--stage"
                  << "features";
        return runMasks(masks);
    }

    QTextStream out(stdout);
    QTextStream err(errorOutput());

    QCommandLineParser parser;
    parser.setApplicationDescription(
        "Extract the patch features of one image with a backbone and write them as a\n"
        "float32 C x h x w NumPy array (the format 'primaps decompose --features' reads).\n\n"
        "The image is resized so its shorter side is --resize pixels (default: the\n"
        "backbone's recommended size, 320, or 322 for /14 backbones), then padded to a\n"
        "multiple of the patch size by reflection, or with --crop centre-cropped to a\n"
        "square as in the paper's evaluation. See 'primaps backbones' for the backbones\n"
        "and where their checkpoint files are looked for.\n"
        "With --dataset KIND --root DIR --out RUN_DIR it caches the features of a whole "
        "dataset instead: the same as `primaps masks ... --stage features` (see its --help).");
    parser.addPositionalArgument("image", "Image file (PNG, JPEG, ...).", "IMAGE");
    const QCommandLineOption backboneOption(
        {"b", "backbone"}, "Feature extractor: " + backboneList() + ".", "NAME", "filterbank");
    const QCommandLineOption weightsOption(
        {"w", "weights"},
        "Checkpoint (.pth) of a DINO/DINOv2 backbone, or TorchScript module (.pt) for "
        "--backbone torchscript.",
        "FILE");
    const QCommandLineOption deviceOption(
        "device",
        "Where the backbone runs: cpu (default) or cuda (needs a LibTorch built with "
        "CUDA; Debian's is CPU-only).",
        "DEVICE", "cpu");
    const QCommandLineOption resizeOption(
        "resize",
        "Resize so the shorter side is N pixels (0 keeps the size; at least two patches, e.g. "
        "16 for /8 backbones; at most 2048).",
        "N");
    const QCommandLineOption cropOption(
        "crop",
        "Centre-crop to a resize x resize square (evaluation protocol) instead of padding.");
    const QCommandLineOption flipOption(
        "flip-average", "Average with the features of the horizontally flipped image (as the "
                        "paper's evaluation does).");
    const QCommandLineOption outOption({"o", "out"}, "Output .npy file.", "FILE.npy");
    const QCommandLineOption overwriteOption("overwrite", "Replace an existing output file.");
    const QCommandLineOption quietOption({"q", "quiet"}, "Print errors only.");
    parser.addOptions({backboneOption, weightsOption, deviceOption, resizeOption, cropOption,
                       flipOption, outOption, overwriteOption, quietOption});
    const ResourceOptions resources;
    resources.addTo(parser);
    if (const auto done = parseCommandLine(parser, arguments, "features"))
        return *done;

    OptionChecker check(parser);
    resources.apply(parser, check);
    const QStringList images = parser.positionalArguments();
    if (images.size() != 1)
        check.fail(nullptr, "give exactly one IMAGE");
    const QString outPath = parser.value(outOption);
    if (!parser.isSet(outOption))
        check.fail(nullptr, "--out FILE.npy is required");
    else if (QFileInfo(outPath).isDir())
        check.fail(&outOption, "'" + outPath + "' is a folder; give a file name");
    else if (!parser.isSet(overwriteOption) && QFileInfo::exists(outPath))
        check.fail(&outOption, "'" + outPath + "' exists; pass --overwrite to replace it");
    std::optional<int> resize;
    if (parser.isSet(resizeOption))
        resize = check.integer(resizeOption, 0, kMaxResizeSide);
    BackboneOptions options;
    options.weightsPath = parser.value(weightsOption).toStdString();
    options.useCuda = check.choice(deviceOption, {"cpu", "cuda"}) == "cuda";
    if (!check.ok())
        return check.report(err, "features");
    const std::string backboneName = parser.value(backboneOption).toStdString();
    std::unique_ptr<Backbone> backbone;
    try {
        backbone = createBackbone(backboneName, options);
    } catch (const std::exception& e) {
        err << "primaps features: " << QString::fromStdString(e.what()) << "\n";
        return ExitUsage;
    }
    if (const QString tooSmall =
            resizeTooSmall(resize.value_or(0), backbone->patchSize(), backbone->name());
        !tooSmall.isEmpty()) {
        err << "primaps features: " << tooSmall << "\n";
        return ExitUsage;
    }

    const QString imagePath = images.front();
    try {
        QElapsedTimer timer;
        timer.start();
        std::string partial;
        const cv::Mat rgb = loadImageRgb8(imagePath.toStdString(), &partial);
        if (!partial.empty())
            err << "primaps: " << QString::fromStdString(partial) << "\n" << Qt::flush;
        PreprocessParams params;
        params.shorterSide = resize.value_or(backbone->recommendedResize());
        params.patchSize = backbone->patchSize();
        params.fit =
            parser.isSet(cropOption) ? FitMode::CenterCropSquare : FitMode::PadToPatchMultiple;
        const PreparedImage prepared = prepareImage(rgb, params);
        const QString budgetLine = processingBudgetLine(imagePath, prepared.budgetNote());
        if (!budgetLine.isEmpty())
            err << budgetLine << "\n" << Qt::flush;
        FeatureMap features = backbone->extract(prepared.rgb);
        if (parser.isSet(flipOption)) {
            const FeatureMap flipped = flippedFeatures(*backbone, prepared.rgb);
            for (std::size_t i = 0; i < features.values.size(); ++i)
                features.values[i] = 0.5f * (features.values[i] + flipped.values[i]);
        }
        writeFeaturesNpy(outPath.toStdString(), features);
        if (!parser.isSet(quietOption))
            out << QFileInfo(imagePath).fileName() << ": "
                << QString::fromStdString(backbone->name()) << " features " << features.channels
                << " x " << features.height << " x " << features.width << " (" << prepared.rgb.cols
                << "x" << prepared.rgb.rows << " pixels), " << timer.elapsed() << " ms -> "
                << outPath << "\n";
    } catch (const std::exception& e) {
        QString message = QString::fromStdString(e.what()).simplified();
        if (!message.contains(imagePath))
            message = "'" + imagePath + "': " + message;
        err << "primaps: " << message << "\n";
        return ExitSomeInputsFailed;
    }
    return ExitOk;
}

} // namespace primaps::cli
