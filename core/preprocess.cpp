// SPDX-License-Identifier: MIT
#include "preprocess.h"

#include "error.h"
#include "imageio.h"

#include <opencv2/imgproc.hpp>

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

} // namespace

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

    cv::Mat resized = rgb;
    if (params.shorterSide == 0)
        checkBudget(rgb.size(), std::max(rgb.cols, rgb.rows), std::min(rgb.cols, rgb.rows), 0, 0);
    if (params.shorterSide > 0) {
        const int shortSide = std::min(rgb.cols, rgb.rows);
        const int longSide = std::max(rgb.cols, rgb.rows);
        const int newLong =
            int((long long)params.shorterSide * longSide / shortSide); // truncation as torchvision
        const cv::Size target = rgb.cols <= rgb.rows ? cv::Size(params.shorterSide, newLong)
                                                     : cv::Size(newLong, params.shorterSide);
        checkBudget(rgb.size(), longSide, shortSide, params.shorterSide, newLong);
        if (target != rgb.size()) {
            const bool shrink = target.area() < rgb.size().area();
            cv::resize(rgb, resized, target, 0, 0, shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
        }
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
