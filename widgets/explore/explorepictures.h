// SPDX-License-Identifier: MIT
// The pixel and figure work behind the Explore views (the canvas's label
// layers, the step cards' maps), as plain functions on QImage and cv::Mat, so
// that the DecomposeJob's worker can do it for every result and the GUI thread
// only hands the finished pictures to its widgets. The widgets use the same
// functions when something the worker could not know changes (a highlighted
// mask, a recoloured label, an edit), so either way the pixels are the same.
#pragma once

#include "labels/labelmap.h"

#include <array>
#include <memory>
#include <opencv2/core/mat.hpp>
#include <QImage>
#include <QRectF>
#include <vector>

namespace primaps {

struct ImageDecomposition;
struct PrimapsTrace;

/// Grey of the feature-grid patches earlier steps took, in the step cards.
constexpr QRgb kTakenPatchRgb = 0xff8c8c8c;

/// Colour of each label id in a label table, as the overlay draws it.
std::array<QRgb, 256> overlayLut(const LabelTable& table);

/// Draws rectangle `r` of the overlay of `labels` into `image` (ARGB32
/// premultiplied, the labels' size), as core's overlayLabels() draws it: label
/// colours, white borders between labels, background dimmed. With `highlighted`
/// > 0 every other label reads as background. With an edit `base`, pixels whose
/// label equals the base's are left transparent.
void drawLabelOverlay(QImage& image, const cv::Mat& labels, const cv::Rect& r, int highlighted,
                      const std::array<QRgb, 256>& lut, const cv::Mat& base = cv::Mat());
/// The whole overlay of `labels` (null for an empty map).
QImage labelOverlay(const cv::Mat& labels, int highlighted, const std::array<QRgb, 256>& lut,
                    const cv::Mat& base = cv::Mat());

/// Share of the pixels per label id (index 0 = unassigned), up to the last id
/// present; empty when there are no pixels.
std::vector<double> labelShares(const LabelCounts& counts);

/// What the canvas shows of a decomposition: where its mask ids lie on the
/// photo, and their overlays drawn with the default label table and nothing
/// highlighted. The maps are the canvas's own copies (it edits them in place).
struct CanvasLabelPictures
{
    cv::Mat labels; ///< CV_8U mask ids on display
    QRectF rectInPhoto;
    cv::Mat before; ///< the map before the CRF (same size), or empty
    LabelCounts counts{};
    LabelCounts beforeCounts{};
    QImage overlay;
    QImage beforeOverlay;
};

/// The label maps of `decomposition` as the canvas places them over the
/// original photo (the padding of the prepared image left out; the finer maps
/// of a CRF above the processing resolution when there are some), with or
/// without their counts and overlays.
CanvasLabelPictures canvasLabelsOf(const ImageDecomposition& decomposition, bool draw);

/// A step card's three maps at the feature grid's resolution: the similarity to
/// the principal direction, the refined similarity, the thresholded mask (grey
/// where earlier masks took the patch).
struct StepPictures
{
    QImage principal;
    QImage refined;
    QImage mask;
};
std::vector<StepPictures> stepPicturesOf(const PrimapsTrace& trace);

/// Everything above for one decomposition, made by the DecomposeJob's worker.
/// Never modified after it is made, so any thread may read it.
struct ExplorePictures
{
    CanvasLabelPictures canvas;
    /// Shared between a request's preview and its CRF result (same trace).
    std::shared_ptr<const std::vector<StepPictures>> steps;
    /// ImageDecomposition::labelsAtOriginalSize(), for the label editor.
    cv::Mat labelsAtOriginalSize;
    /// DecomposeRequest::restoreLabels was run on labelsAtOriginalSize (final
    /// results whose request had one): restoredLabels is its answer, empty when
    /// the image has no saved corrections, and the label editor does not ask again.
    bool restoreAsked = false;
    cv::Mat restoredLabels;
};

} // namespace primaps
