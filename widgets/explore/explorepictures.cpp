// SPDX-License-Identifier: MIT
#include "explore/explorepictures.h"

#include "common/imageconvert.h"
#include "decompose/primaps.h"
#include "image/overlay.h"
#include "pipeline/pipeline.h"

#include <algorithm>
#include <cmath>

namespace primaps {

namespace {

// Background pixels are darkened by this share of the opacity, as in core's
// overlayLabels(), so the masks stand out without hiding what they left out.
constexpr double kBackgroundDim = 0.55;

// Diverging map of a similarity map with `taken` positions in grey. The scale
// is symmetric about 0 and uses the map's own largest magnitude: the maps'
// ranges differ a lot between iterations, and a shared scale hides the later ones.
QImage similarityImage(const std::vector<float>& values, const std::vector<bool>& taken, int h,
                       int w)
{
    float span = 0.0f;
    for (std::size_t i = 0; i < values.size(); ++i)
        if (!taken[i])
            span = std::max(span, std::abs(values[i]));
    if (!(span > 0.0f))
        span = 1.0f;
    QImage image = toQImage(heatmap(values, h, w, -span, span)); // RGB888
    const uchar grey = uchar(qRed(kTakenPatchRgb));
    for (int y = 0; y < h; ++y) {
        uchar* row = image.scanLine(y);
        for (int x = 0; x < w; ++x)
            if (taken[std::size_t(y) * w + x])
                row[3 * x] = row[3 * x + 1] = row[3 * x + 2] = grey;
    }
    return image;
}

QImage maskImage(const std::vector<float>& mask, const std::vector<bool>& taken, int h, int w,
                 const cv::Vec3b& color)
{
    QImage image(w, h, QImage::Format_RGB32);
    for (int y = 0; y < h; ++y) {
        auto* row = reinterpret_cast<QRgb*>(image.scanLine(y));
        for (int x = 0; x < w; ++x) {
            const std::size_t i = std::size_t(y) * w + x;
            if (taken[i]) {
                row[x] = kTakenPatchRgb;
            } else if (mask[i] > 0.0f) {
                // Soft values shade the colour; even a weak member stays visible.
                const double t = 0.35 + 0.65 * std::clamp(double(mask[i]), 0.0, 1.0);
                row[x] = qRgb(int(255 + (color[0] - 255) * t), int(255 + (color[1] - 255) * t),
                              int(255 + (color[2] - 255) * t));
            } else {
                row[x] = qRgb(255, 255, 255);
            }
        }
    }
    return image;
}

} // namespace

std::array<QRgb, 256> overlayLut(const LabelTable& table)
{
    std::array<QRgb, 256> lut;
    const std::array<cv::Vec3b, 256> palette = table.palette();
    for (std::size_t id = 0; id < 256; ++id)
        lut[id] = qRgb(palette[id][0], palette[id][1], palette[id][2]);
    return lut;
}

void drawLabelOverlay(QImage& image, const cv::Mat& labels, const cv::Rect& r, int highlighted,
                      const std::array<QRgb, 256>& lut, const cv::Mat& base)
{
    const QRgb dim = qPremultiply(qRgba(0, 0, 0, int(std::lround(255 * kBackgroundDim))));
    const QRgb border = qRgb(255, 255, 255);
    const int rows = labels.rows;
    const int cols = labels.cols;
    for (int y = r.y; y < r.y + r.height; ++y) {
        const uchar* lab = labels.ptr<uchar>(y);
        const uchar* up = labels.ptr<uchar>(std::max(0, y - 1));
        const uchar* down = labels.ptr<uchar>(std::min(rows - 1, y + 1));
        const uchar* was = base.empty() ? nullptr : base.ptr<uchar>(y);
        auto* out = reinterpret_cast<QRgb*>(image.scanLine(y));
        for (int x = r.x; x < r.x + r.width; ++x) {
            const int id = lab[x];
            if (was && was[x] == id) {
                out[x] = 0;
                continue;
            }
            const bool shown = id != 0 && (highlighted == 0 || id == highlighted);
            if (!shown) {
                out[x] = dim;
                continue;
            }
            const bool edge = (x > 0 && lab[x - 1] != id) || (x + 1 < cols && lab[x + 1] != id) ||
                              up[x] != id || down[x] != id;
            out[x] = edge ? border : lut[std::size_t(id)];
        }
    }
}

QImage labelOverlay(const cv::Mat& labels, int highlighted, const std::array<QRgb, 256>& lut,
                    const cv::Mat& base)
{
    if (labels.empty())
        return QImage();
    QImage image(labels.cols, labels.rows, QImage::Format_ARGB32_Premultiplied);
    drawLabelOverlay(image, labels, cv::Rect(0, 0, labels.cols, labels.rows), highlighted, lut,
                     base);
    return image;
}

std::vector<double> labelShares(const LabelCounts& counts)
{
    std::int64_t total = 0;
    int last = -1;
    for (int id = 0; id < 256; ++id) {
        total += counts[std::size_t(id)];
        if (counts[std::size_t(id)] > 0)
            last = id;
    }
    if (total == 0)
        return {};
    std::vector<double> shares(std::size_t(last) + 1);
    for (int id = 0; id <= last; ++id)
        shares[std::size_t(id)] = double(counts[std::size_t(id)]) / double(total);
    return shares;
}

CanvasLabelPictures canvasLabelsOf(const ImageDecomposition& decomposition, bool draw)
{
    CanvasLabelPictures out;
    const PreparedImage& prepared = decomposition.prepared;
    if (!decomposition.fineLabels.empty()) {
        // A CRF above the processing resolution left finer maps that cover the
        // whole photo.
        out.labels = decomposition.fineLabels.clone();
        out.rectInPhoto = QRectF(0, 0, prepared.originalSize.width, prepared.originalSize.height);
        if (decomposition.fineLabelsBeforeCrf.size() == out.labels.size() &&
            decomposition.fineLabelsBeforeCrf.type() == out.labels.type())
            out.before = decomposition.fineLabelsBeforeCrf.clone();
    } else if (!decomposition.labels.empty()) {
        out.labels = decomposition.labels(prepared.contentInPrepared).clone();
        // The content is regionInResized of the resized image; scaling that region
        // back to the original's size gives where the labels lie on the photo.
        const double sx = double(prepared.originalSize.width) / prepared.resizedSize.width;
        const double sy = double(prepared.originalSize.height) / prepared.resizedSize.height;
        const cv::Rect& region = prepared.regionInResized;
        out.rectInPhoto = QRectF(region.x * sx, region.y * sy, region.width * sx, region.height * sy);
        if (decomposition.crfApplied &&
            decomposition.labelsBeforeCrf.size() == decomposition.labels.size())
            out.before = decomposition.labelsBeforeCrf(prepared.contentInPrepared).clone();
    }
    if (draw && !out.labels.empty()) {
        const std::array<QRgb, 256> lut = overlayLut(LabelTable());
        out.counts = countLabels(out.labels);
        out.overlay = labelOverlay(out.labels, 0, lut);
        if (!out.before.empty()) {
            out.beforeCounts = countLabels(out.before);
            out.beforeOverlay = labelOverlay(out.before, 0, lut);
        }
    }
    return out;
}

std::vector<StepPictures> stepPicturesOf(const PrimapsTrace& trace)
{
    const int h = trace.height;
    const int w = trace.width;
    std::vector<StepPictures> pictures;
    pictures.reserve(trace.iterations.size());
    std::vector<bool> taken(std::size_t(std::max(0, h * w)), false);
    for (std::size_t k = 0; k < trace.iterations.size(); ++k) {
        const PrimapsIteration& it = trace.iterations[k];
        StepPictures p;
        p.principal = similarityImage(it.similarity, taken, h, w);
        p.refined = similarityImage(it.refinedSimilarity, taken, h, w);
        p.mask = maskImage(it.mask, taken, h, w, labelColor(int(k) + 1));
        pictures.push_back(std::move(p));
        for (std::size_t i = 0; i < it.mask.size() && i < taken.size(); ++i)
            if (it.mask[i] > 0.0f)
                taken[i] = true;
    }
    return pictures;
}

} // namespace primaps
