// SPDX-License-Identifier: MIT
#include "image/imageio.h"

#include "support/error.h"
#include "image/imageheader.h"
#include "image/pngchunks.h"
#include "support/stderrmute.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cstdio>
#include <filesystem>
#include <mutex>
#include <optional>

namespace primaps {

namespace {

std::mutex g_budgetMutex;
PixelBudget g_budget;

constexpr std::int64_t kMinProcessingPixels = 64 * 64;

/// The header read and checked against the budget, then the file decoded with
/// `flags`; `noun` names what the file is in messages ("" for a picture). The
/// decoders' own chatter ("Premature end of JPEG file") is muted for a file the
/// header walk found cut short, which the callers report themselves, naming it;
/// only then, as the mute is process-wide (see support/stderrmute.h). An OpenCV
/// exception becomes primaps::Error.
cv::Mat decodeChecked(const std::string& path, int flags, const std::string& noun,
                      ImageHeader& header)
{
    header = readImageHeader(path);
    checkPixelCount(header.width, header.height,
                    "'" + path + "': " + (noun.empty() ? "" : noun + " of ") +
                        std::to_string(header.width) + "x" + std::to_string(header.height) +
                        " pixels");
    refusePngChunkOverrun(header.pngOverrun, path);
    try {
        std::optional<StderrMute> quietDecoders;
        if (!header.complete)
            quietDecoders.emplace();
        return cv::imread(path, flags);
    } catch (const cv::Exception& e) {
        throw Error("'" + path + "': cannot decode " + (noun.empty() ? "image" : "the " + noun) +
                    " (" + e.err + ")");
    }
}

} // namespace

std::string megapixels(double pixels)
{
    char text[32];
    std::snprintf(text, sizeof text, "%.1f MP", pixels / 1e6);
    return text;
}

PixelBudget pixelBudget()
{
    std::lock_guard<std::mutex> lock(g_budgetMutex);
    return g_budget;
}

void setPixelBudget(const PixelBudget& budget)
{
    if (budget.maxPixels < 1)
        throw Error("the pixel budget must allow at least one pixel");
    if (!(budget.maxAspect >= 1.0))
        throw Error("the aspect-ratio limit must be at least 1");
    if (budget.maxProcessingPixels < kMinProcessingPixels)
        throw Error("the processing budget must allow at least " +
                    std::to_string(kMinProcessingPixels) + " pixels (64 x 64)");
    std::lock_guard<std::mutex> lock(g_budgetMutex);
    g_budget = budget;
}

void checkPixelCount(std::int64_t width, std::int64_t height, const std::string& what)
{
    const PixelBudget budget = pixelBudget();
    const double pixels = double(width) * double(height);
    if (pixels > double(budget.maxPixels))
        throw Error(what + " (" + megapixels(pixels) + "), more than the pixel budget of " +
                    megapixels(double(budget.maxPixels)) + " (" + std::to_string(budget.maxPixels) +
                    " pixels); " + budget.howToRaise);
}

cv::Mat loadImageRgb8(const std::string& path, std::string* partial)
{
    namespace fs = std::filesystem;
    if (partial)
        partial->clear();
    std::error_code ec;
    if (!fs::exists(path, ec))
        throw Error("'" + path + "': no such file");
    if (fs::is_directory(path, ec))
        throw Error("'" + path + "': is a folder, not an image");

    // The size from the header, before a decoder allocates anything for it.
    // IMREAD_COLOR applies the EXIF orientation (IMREAD_UNCHANGED would not);
    // IMREAD_ANYDEPTH keeps 16-bit data so we can scale it ourselves.
    ImageHeader header;
    cv::Mat raw = decodeChecked(path, cv::IMREAD_COLOR | cv::IMREAD_ANYDEPTH, "", header);
    if (raw.empty()) {
        if (!header.complete)
            throw Error("'" + path + "': cannot decode this " + header.format +
                        " image: " + header.incompleteWhy);
        throw Error("'" + path + "': the " + header.format +
                    " image data is damaged and cannot be decoded");
    }
    if (!header.complete && partial)
        *partial = "'" + path + "': partly decoded: " + header.incompleteWhy +
                   "; the missing part of the picture is filler";

    cv::Mat bgr8;
    switch (raw.depth()) {
    case CV_8U:
        bgr8 = raw;
        break;
    case CV_16U:
        raw.convertTo(bgr8, CV_8U, 255.0 / 65535.0);
        break;
    case CV_32F:
    case CV_64F:
        // Floating-point images (TIFF, EXR) are taken to be in [0, 1].
        raw.convertTo(bgr8, CV_8U, 255.0);
        break;
    default:
        raw.convertTo(bgr8, CV_8U);
        break;
    }
    raw.release();
    cv::Mat rgb;
    cv::cvtColor(bgr8, rgb, cv::COLOR_BGR2RGB);
    return rgb;
}

const std::vector<std::string>& imageExtensions()
{
    static const std::vector<std::string> extensions = {
        ".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm"};
    return extensions;
}

cv::Mat loadGray8(const std::string& path, const std::string& what)
{
    ImageHeader header;
    const cv::Mat raw = decodeChecked(path, cv::IMREAD_UNCHANGED, what, header);
    if (raw.empty())
        throw Error("'" + path + "': not a readable " + what +
                    (header.complete ? std::string(", or the file is corrupt")
                                     : ": " + header.incompleteWhy));
    if (!header.complete)
        throw Error("'" + path + "': " + what + " only partly decoded: " + header.incompleteWhy);
    if (raw.type() != CV_8UC1)
        throw Error("'" + path + "': a " + what + " must be a single-channel 8-bit image");
    return raw;
}

} // namespace primaps
