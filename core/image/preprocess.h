// SPDX-License-Identifier: MIT
#pragma once

#include <opencv2/core/mat.hpp>

#include <string>
#include <vector>

namespace primaps {

/// The largest shorter side an image may be resized to (`--resize`): beyond it a
/// ViT's attention alone would need tens of gigabytes.
constexpr int kMaxResizeSide = 2048;

/// How the resized image is made to fit the patch grid.
enum class FitMode {
    PadToPatchMultiple,  ///< keep every pixel; pad bottom/right by reflection (GUI, CLI default)
    CropToPatchMultiple, ///< drop up to patch-1 pixels, centred
    CenterCropSquare,    ///< evaluation protocol: centre crop to shorterSide x shorterSide
};

struct PreprocessParams
{
    int shorterSide = 320; ///< resize so the shorter side has this length; 0 keeps the size
    int patchSize = 8;     ///< the backbone's patch size
    FitMode fit = FitMode::PadToPatchMultiple;
};

/// An image made ready for a backbone, and how it relates to the original.
struct PreparedImage
{
    cv::Mat rgb;               ///< CV_8UC3 RGB; rows and cols are multiples of the patch size
    cv::Size originalSize;     ///< size of the image before preprocessing
    cv::Size resizedSize;      ///< size after the shorter-side resize
    cv::Rect regionInResized;  ///< part of the resized image that `rgb` holds
    cv::Rect contentInPrepared; ///< where that part sits in `rgb` (the rest is padding)
    /// The resized size that was asked for, when the processing budget
    /// (PixelBudget::maxProcessingPixels) made resizedSize smaller; empty otherwise.
    cv::Size requestedSize;

    /// Empty, or one sentence saying that and how the processing budget shrank
    /// the image (for a CLI line or the studio's message log).
    std::string budgetNote() const;

    int gridRows(int patch) const { return rgb.rows / patch; }
    int gridCols(int patch) const { return rgb.cols / patch; }
};

/// Resizes (area interpolation when shrinking, bilinear when enlarging; the long
/// side is truncated like torchvision's Resize) and crops or pads to the patch
/// grid. `rgb` must be CV_8UC3. Throws primaps::Error on an empty image, a wrong
/// type, an image smaller than one patch after resizing, bad parameters
/// (shorterSide beyond kMaxResizeSide), or, before anything is allocated, an
/// image beyond the pixel budget (imageio.h): an aspect ratio over maxAspect,
/// more than maxPixels after the resize, or a centre-cropped square of more than
/// maxProcessingPixels. In the other fit modes a prepared image that would have
/// more than maxProcessingPixels is resized smaller instead (the shorter side
/// lowered, the aspect ratio kept; also with shorterSide 0), and requestedSize
/// records what was asked for.
PreparedImage prepareImage(const cv::Mat& rgb, const PreprocessParams& params);

/// Empty, or one sentence saying that an image of `size` is too small to give a
/// feature map of its own: its shorter side is below one patch of `patchSize`
/// pixels, so every feature describes pixels the resize made up (a 1x1 image
/// enlarged to 320x320 is one colour, and PriMaPs finds nothing in it). Such an
/// image is still processed; the CLI and the dataset stages report this as a
/// note or a warning naming the file.
std::string tooSmallNote(cv::Size size, int patchSize);

/// Maps a per-pixel label map of the prepared image (CV_8U, CV_16U or CV_32S, size
/// of `prepared.rgb`) back to the original image size, keeping the type: padding is
/// dropped, cropped-away borders get `fill`, and the result is resized with
/// nearest-neighbour interpolation. Throws primaps::Error on another type or size.
cv::Mat labelsToOriginal(const cv::Mat& labels, const PreparedImage& prepared, int fill = 0);

/// x/255, then ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225),
/// as 3 x H x W float32, channel-major. `rgb` must be CV_8UC3 in RGB order.
std::vector<float> imagenetNormalize(const cv::Mat& rgb);

} // namespace primaps
