// SPDX-License-Identifier: MIT
#include "image/preprocess.h"

#include "support/error.h"
#include "image/imageio.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <string>

namespace primaps {

namespace {

// Before the resize allocates: a thin image enlarged to the backbone's shorter
// side would otherwise grow without bound (3000x2 -> 480000x320).
void checkBudget(cv::Size original, long long longSide, long long shortSide, int shorter,
                 long long newLong)
{
    const PixelBudget budget = pixelBudget();
    const std::string size =
        std::to_string(original.width) + "x" + std::to_string(original.height) + "-pixel";
    if (double(longSide) > budget.maxAspect * double(shortSide))
        throw Error("the " + size + " image has an aspect ratio of " +
                    std::to_string(int(double(longSide) / double(shortSide) + 0.5)) +
                    ":1, beyond the limit of " + std::to_string(int(budget.maxAspect)) + ":1; " +
                    budget.howToRaise + ", or cut the image into pieces");
    if (shorter > 0)
        checkPixelCount(newLong, shorter,
                        "resized to " + std::to_string(shorter) +
                            " pixels on its shorter side, the " + size + " image would have " +
                            std::to_string(newLong) + "x" + std::to_string(shorter) + " pixels");
}

// Pixels of the prepared image a resize to `resized` gives in fit mode `fit`.
std::int64_t preparedArea(cv::Size resized, FitMode fit, int patch)
{
    const std::int64_t w = resized.width, h = resized.height;
    switch (fit) {
    case FitMode::CenterCropSquare: {
        const std::int64_t side = std::min(w, h) / patch * patch;
        return side * side;
    }
    case FitMode::CropToPatchMultiple:
        return (w / patch * patch) * (h / patch * patch);
    case FitMode::PadToPatchMultiple:
        break;
    }
    return (w + patch - 1) / patch * patch * ((h + patch - 1) / patch * patch);
}

// The resize of an image whose shorter side becomes `shorter` (torchvision's
// truncation of the longer side).
cv::Size resizedTo(cv::Size original, int shorter)
{
    const int shortSide = std::min(original.width, original.height);
    const int longSide = std::max(original.width, original.height);
    const int newLong = int((long long)shorter * longSide / shortSide);
    return original.width <= original.height ? cv::Size(shorter, newLong)
                                             : cv::Size(newLong, shorter);
}

// What the backbone and the CRF get is bounded by maxProcessingPixels: the CRF
// needs ~570 bytes per pixel, a ViT's attention the square of its patch count.
// A free-size fit shrinks to the largest shorter side within the budget; a
// centre-cropped square is a protocol's fixed size, so it is refused instead.
cv::Size withinProcessingBudget(cv::Size original, cv::Size target, FitMode fit, int patch)
{
    const PixelBudget budget = pixelBudget();
    const std::int64_t area = preparedArea(target, fit, patch);
    if (area <= budget.maxProcessingPixels)
        return target;
    const std::string limit = "the processing budget of " +
                              megapixels(double(budget.maxProcessingPixels)) + " (" +
                              std::to_string(budget.maxProcessingPixels) + " pixels)";
    if (fit == FitMode::CenterCropSquare) {
        const int side = std::min(target.width, target.height) / patch * patch;
        throw Error("a centre-cropped square of " + std::to_string(side) + "x" +
                    std::to_string(side) + " pixels (" + megapixels(double(area)) +
                    ") is more than " + limit + "; choose a smaller resolution, or " +
                    budget.howToRaise);
    }
    const int shorter = std::min(target.width, target.height);
    // From the estimate (padding to the patch grid makes it inexact) to the largest
    // shorter side that fits.
    const auto fits = [&](int side) {
        return preparedArea(resizedTo(original, side), fit, patch) <= budget.maxProcessingPixels;
    };
    int fitting = int(double(shorter) * std::sqrt(double(budget.maxProcessingPixels) / double(area)));
    while (fitting + 1 < shorter && fits(fitting + 1))
        ++fitting;
    while (fitting > 0 && !fits(fitting))
        --fitting;
    const cv::Size smaller = fitting > 0 ? resizedTo(original, fitting) : cv::Size();
    if (std::min(smaller.width, smaller.height) < patch)
        throw Error("the " + std::to_string(original.width) + "x" +
                    std::to_string(original.height) + "-pixel image cannot be processed within " +
                    limit + " with a shorter side of at least one patch; " + budget.howToRaise);
    return smaller;
}

} // namespace

std::string PreparedImage::budgetNote() const
{
    if (requestedSize.empty())
        return {};
    return "processed at " + std::to_string(resizedSize.width) + "x" +
           std::to_string(resizedSize.height) + " pixels instead of " +
           std::to_string(requestedSize.width) + "x" + std::to_string(requestedSize.height) +
           ", within the processing budget of " +
           megapixels(double(pixelBudget().maxProcessingPixels));
}

std::string tooSmallNote(cv::Size size, int patchSize)
{
    if (std::min(size.width, size.height) >= patchSize)
        return {};
    return std::to_string(size.width) + "x" + std::to_string(size.height) +
           " pixels: too small for a feature map, smaller than one " + std::to_string(patchSize) +
           "-pixel patch of the backbone (the resize enlarges it, and every feature describes "
           "made-up pixels)";
}

PreparedImage prepareImage(const cv::Mat& rgb, const PreprocessParams& params)
{
    if (rgb.empty())
        throw Error("cannot prepare an empty image");
    if (rgb.type() != CV_8UC3)
        throw Error("prepareImage expects an 8-bit RGB image (CV_8UC3)");
    if (params.patchSize < 1)
        throw Error("patch size must be positive, got " + std::to_string(params.patchSize));
    if (params.shorterSide < 0)
        throw Error("the resize length must not be negative, got " +
                    std::to_string(params.shorterSide));

    PreparedImage out;
    out.originalSize = rgb.size();

    if (params.shorterSide > kMaxResizeSide)
        throw Error("the resize length must be at most " + std::to_string(kMaxResizeSide) +
                    ", got " + std::to_string(params.shorterSide));

    const int shortSide = std::min(rgb.cols, rgb.rows);
    const int longSide = std::max(rgb.cols, rgb.rows);
    const cv::Size asked =
        params.shorterSide == 0 ? rgb.size() : resizedTo(rgb.size(), params.shorterSide);
    checkBudget(rgb.size(), longSide, shortSide, params.shorterSide,
                std::max(asked.width, asked.height));
    const cv::Size target = withinProcessingBudget(rgb.size(), asked, params.fit, params.patchSize);
    if (target != asked)
        out.requestedSize = asked;

    cv::Mat resized = rgb;
    if (target != rgb.size()) {
        const bool shrink = target.area() < rgb.size().area();
        cv::resize(rgb, resized, target, 0, 0, shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
    }
    out.resizedSize = resized.size();

    const int p = params.patchSize;
    switch (params.fit) {
    case FitMode::CenterCropSquare: {
        const int side = std::min(resized.cols, resized.rows) / p * p;
        if (side < p)
            throw Error("image is smaller than one patch after resizing");
        out.regionInResized =
            cv::Rect((resized.cols - side) / 2, (resized.rows - side) / 2, side, side);
        out.rgb = resized(out.regionInResized).clone();
        out.contentInPrepared = cv::Rect(0, 0, side, side);
        break;
    }
    case FitMode::CropToPatchMultiple: {
        const int w = resized.cols / p * p;
        const int h = resized.rows / p * p;
        if (w < p || h < p)
            throw Error("image is smaller than one patch after resizing");
        out.regionInResized = cv::Rect((resized.cols - w) / 2, (resized.rows - h) / 2, w, h);
        out.rgb = resized(out.regionInResized).clone();
        out.contentInPrepared = cv::Rect(0, 0, w, h);
        break;
    }
    case FitMode::PadToPatchMultiple: {
        const int w = (resized.cols + p - 1) / p * p;
        const int h = (resized.rows + p - 1) / p * p;
        out.regionInResized = cv::Rect(0, 0, resized.cols, resized.rows);
        out.contentInPrepared = out.regionInResized;
        // Reflection needs the source to be larger than the pad; replicate otherwise.
        const int padRight = w - resized.cols;
        const int padBottom = h - resized.rows;
        const int border = (padRight < resized.cols && padBottom < resized.rows)
                               ? cv::BORDER_REFLECT_101
                               : cv::BORDER_REPLICATE;
        cv::copyMakeBorder(resized, out.rgb, 0, padBottom, 0, padRight, border);
        if (out.rgb.data == resized.data || out.rgb.data == rgb.data)
            out.rgb = out.rgb.clone();
        break;
    }
    }
    return out;
}

cv::Mat labelsToOriginal(const cv::Mat& labels, const PreparedImage& prepared, int fill)
{
    const int type = labels.type();
    if ((type != CV_8U && type != CV_16U && type != CV_32S) || labels.size() != prepared.rgb.size())
        throw Error("labelsToOriginal: labels must be CV_8U, CV_16U or CV_32S at the prepared "
                    "image's size");
    cv::Mat resized(prepared.resizedSize, type, cv::Scalar(fill));
    labels(prepared.contentInPrepared).copyTo(resized(prepared.regionInResized));
    if (resized.size() == prepared.originalSize)
        return resized;
    cv::Mat original;
    cv::resize(resized, original, prepared.originalSize, 0, 0, cv::INTER_NEAREST);
    return original;
}

std::vector<float> imagenetNormalize(const cv::Mat& rgb)
{
    if (rgb.empty() || rgb.type() != CV_8UC3)
        throw Error("imagenetNormalize expects a non-empty 8-bit RGB image (CV_8UC3)");
    static const float mean[3] = {0.485f, 0.456f, 0.406f};
    static const float stdev[3] = {0.229f, 0.224f, 0.225f};
    const std::size_t plane = std::size_t(rgb.rows) * rgb.cols;
    std::vector<float> out(3 * plane);
    for (int y = 0; y < rgb.rows; ++y) {
        const cv::Vec3b* row = rgb.ptr<cv::Vec3b>(y);
        for (int x = 0; x < rgb.cols; ++x) {
            const std::size_t i = std::size_t(y) * rgb.cols + x;
            for (int c = 0; c < 3; ++c)
                out[c * plane + i] = (row[x][c] / 255.0f - mean[c]) / stdev[c];
        }
    }
    return out;
}

} // namespace primaps
