// SPDX-License-Identifier: MIT
#include "pipeline/playback.h"

#include "support/error.h"
#include "decompose/featurepca.h"
#include "image/overlay.h"
#include "pipeline/pipeline.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace primaps {

namespace {

// Pixels per patch of the stand-in picture when a decomposition has no photo.
constexpr int kPixelsPerPatch = 8;

int evenAtLeast(int value, int minimum)
{
    value = std::max(value, minimum);
    return value + (value % 2);
}

std::string percent(double share)
{
    char text[32];
    std::snprintf(text, sizeof text, "%.1f %%", 100.0 * share);
    return text;
}

// A decomposition of a bare feature map has no image: a grey stand-in with
// a consistent geometry lets the same code draw it.
PreparedImage standInImage(int rows, int cols)
{
    PreparedImage prepared;
    prepared.rgb = cv::Mat(rows * kPixelsPerPatch, cols * kPixelsPerPatch, CV_8UC3,
                           cv::Scalar(150, 150, 150));
    prepared.originalSize = prepared.rgb.size();
    prepared.resizedSize = prepared.rgb.size();
    prepared.regionInResized = cv::Rect(cv::Point(), prepared.rgb.size());
    prepared.contentInPrepared = prepared.regionInResized;
    return prepared;
}

// The centre of grid cell (col, row) in pixels of a panel showing the original image.
cv::Point gridCellToPanel(int col, int row, int gridRows, int gridCols,
                          const PreparedImage& prepared, cv::Size panel)
{
    const double patchX = double(prepared.rgb.cols) / gridCols;
    const double patchY = double(prepared.rgb.rows) / gridRows;
    const double rx = (col + 0.5) * patchX - prepared.contentInPrepared.x + prepared.regionInResized.x;
    const double ry = (row + 0.5) * patchY - prepared.contentInPrepared.y + prepared.regionInResized.y;
    const double ox = rx * prepared.originalSize.width / prepared.resizedSize.width;
    const double oy = ry * prepared.originalSize.height / prepared.resizedSize.height;
    return {int(std::lround(ox * panel.width / prepared.originalSize.width)),
            int(std::lround(oy * panel.height / prepared.originalSize.height))};
}

void blendColour(cv::Vec3b& pixel, const cv::Vec3b& colour, float alpha)
{
    for (int c = 0; c < 3; ++c)
        pixel[c] = cv::saturate_cast<uchar>((1.0f - alpha) * pixel[c] + alpha * colour[c]);
}

double fontScale(int barHeight) { return 0.55 * barHeight / 60.0; }

// A caption in a dark pill at the top-left corner of a panel.
void drawPanelTitle(cv::Mat& panel, const std::string& text, int barHeight)
{
    const double scale = fontScale(barHeight);
    const int thickness = std::max(1, int(std::lround(scale * 1.6)));
    int baseline = 0;
    const cv::Size size = cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, scale, thickness, &baseline);
    const int pad = std::max(4, size.height / 2);
    cv::Mat box = panel(cv::Rect(0, 0, std::min(panel.cols, size.width + 2 * pad),
                                 std::min(panel.rows, size.height + baseline + 2 * pad)));
    box = box * 0.35;
    cv::putText(panel, text, cv::Point(pad, pad + size.height), cv::FONT_HERSHEY_SIMPLEX, scale,
                cv::Scalar(255, 255, 255), thickness, cv::LINE_AA);
}

} // namespace

PlaybackRenderer::PlaybackRenderer(const ImageDecomposition& d, const PlaybackStyle& style)
    : m_style(style)
{
    const PrimapsTrace& trace = d.trace;
    m_gridRows = trace.height;
    m_gridCols = trace.width;
    if (m_gridRows < 1 || m_gridCols < 1)
        throw Error("playback: the decomposition has no feature grid");
    const std::size_t positions = std::size_t(m_gridRows) * m_gridCols;
    for (const PrimapsIteration& it : trace.iterations)
        if (it.mask.size() != positions || it.similarity.size() != positions)
            throw Error("playback: an iteration's maps do not match the feature grid");
    if (!(m_style.opacity >= 0.0f && m_style.opacity <= 1.0f))
        throw Error("playback: the opacity must lie in [0, 1]");

    const bool hasPhoto = !d.prepared.rgb.empty() && !d.original.empty();
    const PreparedImage prepared = hasPhoto ? d.prepared : standInImage(m_gridRows, m_gridCols);
    const cv::Mat photo = hasPhoto ? d.original : prepared.rgb;

    const int panelHeight = evenAtLeast(m_style.panelHeight, 64);
    const int panelWidth = evenAtLeast(
        std::min(4 * panelHeight, int(std::lround(double(panelHeight) * photo.cols / photo.rows))), 32);
    m_panelSize = cv::Size(panelWidth, panelHeight);
    m_barHeight = evenAtLeast(panelHeight / 8, 40);
    const int columns = m_style.showDirection ? 2 : 1;
    m_frameSize = cv::Size(evenAtLeast(columns * panelWidth + (columns - 1) * 8, 2),
                           panelHeight + m_barHeight);
    cv::resize(photo, m_photo, m_panelSize, 0, 0, cv::INTER_AREA);

    // Which iteration took each cell out of the remaining area: the masks are
    // 0 outside it, so the first positive mask at a cell is the one that took it.
    m_owner = cv::Mat::zeros(m_gridRows, m_gridCols, CV_8U);
    for (std::size_t i = 0; i < trace.iterations.size(); ++i) {
        const std::vector<float>& mask = trace.iterations[i].mask;
        for (std::size_t p = 0; p < positions; ++p)
            if (mask[p] > 0.0f && m_owner.data[p] == 0)
                m_owner.data[p] = uchar(std::min<std::size_t>(i + 1, 255));
    }
    cv::Mat owner32;
    m_owner.convertTo(owner32, CV_32F);
    gridToImage(owner32, prepared, m_panelSize, false, cv::Scalar(0)).convertTo(m_ownerPanel, CV_8U);

    cv::Mat taken = cv::Mat::zeros(m_gridRows, m_gridCols, CV_8U);
    for (std::size_t i = 0; i < trace.iterations.size(); ++i) {
        const PrimapsIteration& it = trace.iterations[i];
        float span = 0.0f;
        for (std::size_t p = 0; p < positions; ++p)
            if (!taken.data[p])
                span = std::max(span, std::abs(it.similarity[p]));
        cv::Mat grid = heatmap(it.similarity, m_gridRows, m_gridCols, -std::max(span, 1e-6f),
                               std::max(span, 1e-6f));
        // What earlier proposals took is no longer part of the PCA: dark grey.
        for (std::size_t p = 0; p < positions; ++p)
            if (taken.data[p])
                grid.at<cv::Vec3b>(int(p / m_gridCols), int(p % m_gridCols)) = cv::Vec3b(60, 60, 60);
        m_similarityPanels.push_back(gridToImage(grid, prepared, m_panelSize, false));
        m_seeds.push_back(gridCellToPanel(it.seedIndex % m_gridCols, it.seedIndex / m_gridCols,
                                          m_gridRows, m_gridCols, prepared, m_panelSize));
        for (std::size_t p = 0; p < positions; ++p)
            if (it.mask[p] > 0.0f)
                taken.data[p] = 1;
    }

    cv::Mat labels;
    if (hasPhoto && !d.labels.empty())
        labels = d.labelsAtOriginalSize();
    else if (!d.labels.empty())
        labels = d.labels;
    else
        labels = cv::Mat::zeros(m_gridRows, m_gridCols, CV_8U);
    m_finalShares.assign(256, 0.0);
    for (auto it = labels.begin<uchar>(); it != labels.end<uchar>(); ++it)
        m_finalShares[*it] += 1.0;
    for (double& share : m_finalShares)
        share /= double(labels.total());
    cv::Mat labelsPanel;
    cv::resize(labels, labelsPanel, m_panelSize, 0, 0, cv::INTER_NEAREST);
    m_finalOverlay = overlayLabels(m_photo, labelsPanel, m_style.opacity);
    m_finalColours = colorizeLabels(labelsPanel);

    const int iterations = int(trace.iterations.size());
    for (int i = 0; i < iterations; ++i) {
        const PrimapsIteration& it = trace.iterations[std::size_t(i)];
        PlaybackFrameInfo info;
        info.frame = i;
        info.iteration = i;
        info.iterations = iterations;
        info.proposalShare = double(it.assigned) / double(positions);
        info.remainingShare = double(it.remainingAfter) / double(positions);
        info.caption = "Step " + std::to_string(i + 1) + " of " + std::to_string(iterations) +
                       ": proposal area " + percent(info.proposalShare) + ", remaining " +
                       percent(info.remainingShare);
        m_infos.push_back(info);
    }
    PlaybackFrameInfo last;
    last.frame = iterations;
    last.final = true;
    last.iterations = iterations;
    last.remainingShare = m_finalShares[0];
    last.proposalShare = 1.0 - m_finalShares[0];
    int kept = 0;
    for (std::size_t id = 1; id < m_finalShares.size(); ++id)
        kept += m_finalShares[id] > 0.0 ? 1 : 0;
    last.caption = "Label map" + std::string(d.crfApplied ? " after the dense CRF" : "") + ": " +
                   std::to_string(kept) + (kept == 1 ? " mask, " : " masks, ") +
                   percent(m_finalShares[0]) + " unassigned";
    m_infos.push_back(last);
}

const PlaybackFrameInfo& PlaybackRenderer::info(int frame) const
{
    if (frame < 0 || frame >= frameCount())
        throw Error("playback: frame " + std::to_string(frame) + " is outside 0.." +
                    std::to_string(frameCount() - 1));
    return m_infos[std::size_t(frame)];
}

cv::Mat PlaybackRenderer::imagePanel(int iteration) const
{
    cv::Mat panel = m_photo.clone();
    const int current = iteration + 1;
    for (int y = 0; y < panel.rows; ++y) {
        const uchar* owner = m_ownerPanel.ptr<uchar>(y);
        cv::Vec3b* pixel = panel.ptr<cv::Vec3b>(y);
        for (int x = 0; x < panel.cols; ++x) {
            const int id = owner[x];
            if (id == 0 || id > current)
                continue; // still remaining: the photo as it is
            const float alpha = id == current ? m_style.opacity : 0.75f * m_style.opacity;
            blendColour(pixel[x], labelColor(id), alpha);
        }
    }
    // The new proposal is outlined so that it stands out from the earlier ones.
    std::vector<std::vector<cv::Point>> contours;
    cv::findContours(m_ownerPanel == current, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);
    const int thickness = std::max(2, m_panelSize.height / 200);
    cv::drawContours(panel, contours, -1, cv::Scalar(255, 255, 255), thickness + 2, cv::LINE_AA);
    const cv::Vec3b colour = labelColor(current);
    cv::drawContours(panel, contours, -1, cv::Scalar(colour[0], colour[1], colour[2]), thickness,
                     cv::LINE_AA);
    drawPanelTitle(panel, "proposal " + std::to_string(current), m_barHeight);
    return panel;
}

cv::Mat PlaybackRenderer::directionPanel(int iteration) const
{
    cv::Mat panel = m_similarityPanels[std::size_t(iteration)].clone();
    const cv::Point seed = m_seeds[std::size_t(iteration)];
    const int radius = std::max(6, m_panelSize.height / 40);
    cv::circle(panel, seed, radius + 2, cv::Scalar(0, 0, 0), 2, cv::LINE_AA);
    cv::circle(panel, seed, radius, cv::Scalar(255, 255, 255), 2, cv::LINE_AA);
    drawPanelTitle(panel, "similarity to principal direction " + std::to_string(iteration + 1),
                   m_barHeight);
    return panel;
}

void PlaybackRenderer::drawBar(cv::Mat& frame, int frameIndex) const
{
    const PlaybackFrameInfo& info = m_infos[std::size_t(frameIndex)];
    const cv::Rect barRect(0, m_panelSize.height, frame.cols, m_barHeight);
    frame(barRect).setTo(cv::Scalar(32, 32, 32));
    const double scale = fontScale(m_barHeight);
    const int thickness = std::max(1, int(std::lround(scale * 1.6)));
    const int pad = m_barHeight / 6;
    cv::putText(frame, info.caption, cv::Point(pad, barRect.y + int(m_barHeight * 0.45)),
                cv::FONT_HERSHEY_SIMPLEX, scale, cv::Scalar(255, 255, 255), thickness, cv::LINE_AA);

    // Stacked bar: each proposal's (or label's) share in its colour, the rest grey.
    const int x0 = pad;
    const int width = frame.cols - 2 * pad;
    const int y0 = barRect.y + int(m_barHeight * 0.6);
    const int height = std::max(4, int(m_barHeight * 0.28));
    cv::rectangle(frame, cv::Rect(x0, y0, width, height), cv::Scalar(90, 90, 90), cv::FILLED);
    std::vector<std::pair<int, double>> segments;
    if (info.final) {
        for (std::size_t id = 1; id < m_finalShares.size(); ++id)
            if (m_finalShares[id] > 0.0)
                segments.emplace_back(int(id), m_finalShares[id]);
    } else {
        for (int i = 0; i <= info.iteration; ++i)
            segments.emplace_back(i + 1, m_infos[std::size_t(i)].proposalShare);
    }
    double start = 0.0;
    for (const auto& [id, share] : segments) {
        const int a = x0 + int(std::lround(start * width));
        start += share;
        const int b = x0 + int(std::lround(std::min(1.0, start) * width));
        if (b > a) {
            const cv::Vec3b c = labelColor(id);
            cv::rectangle(frame, cv::Rect(a, y0, b - a, height), cv::Scalar(c[0], c[1], c[2]),
                          cv::FILLED);
        }
    }
}

cv::Mat PlaybackRenderer::render(int frame) const
{
    const PlaybackFrameInfo& frameInfo = info(frame);
    cv::Mat out(m_frameSize, CV_8UC3, cv::Scalar(32, 32, 32));
    cv::Mat left, right;
    if (frameInfo.final) {
        left = m_finalOverlay.clone();
        drawPanelTitle(left, "label map", m_barHeight);
        right = m_finalColours.clone();
        drawPanelTitle(right, "masks", m_barHeight);
    } else {
        left = imagePanel(frameInfo.iteration);
        if (m_style.showDirection)
            right = directionPanel(frameInfo.iteration);
    }
    left.copyTo(out(cv::Rect(cv::Point(0, 0), m_panelSize)));
    if (m_style.showDirection)
        right.copyTo(out(cv::Rect(cv::Point(m_panelSize.width + 8, 0), m_panelSize)));
    drawBar(out, frame);
    return out;
}

cv::Mat PlaybackRenderer::renderPanel(int frame, Panel panel) const
{
    const PlaybackFrameInfo& frameInfo = info(frame);
    if (frameInfo.final)
        return (panel == Panel::Image ? m_finalOverlay : m_finalColours).clone();
    return panel == Panel::Image ? imagePanel(frameInfo.iteration) : directionPanel(frameInfo.iteration);
}

std::vector<cv::Mat> renderPlaybackFrames(const PlaybackRenderer& renderer)
{
    std::vector<cv::Mat> frames;
    frames.reserve(std::size_t(renderer.frameCount()));
    for (int i = 0; i < renderer.frameCount(); ++i)
        frames.push_back(renderer.render(i));
    return frames;
}

cv::Mat composeFrameStrip(const std::vector<cv::Mat>& frames, int maxWidth)
{
    if (frames.empty())
        throw Error("frame strip: there are no frames");
    const cv::Size tile = frames.front().size();
    for (const cv::Mat& f : frames)
        if (f.size() != tile || f.type() != CV_8UC3)
            throw Error("frame strip: the frames differ in size or type");
    const int n = int(frames.size());
    const int gap = std::max(4, tile.height / 24);
    int bestColumns = 1;
    double bestDistance = 1e300;
    for (int columns = 1; columns <= n; ++columns) {
        const int rows = (n + columns - 1) / columns;
        const double aspect = double(columns * tile.width + (columns + 1) * gap) /
                              double(rows * tile.height + (rows + 1) * gap);
        const double distance = std::abs(std::log(aspect / (16.0 / 9.0)));
        if (distance < bestDistance) {
            bestDistance = distance;
            bestColumns = columns;
        }
    }
    const int rows = (n + bestColumns - 1) / bestColumns;
    cv::Mat sheet(rows * tile.height + (rows + 1) * gap, bestColumns * tile.width + (bestColumns + 1) * gap,
                  CV_8UC3, cv::Scalar(255, 255, 255));
    for (int i = 0; i < n; ++i) {
        const int r = i / bestColumns, c = i % bestColumns;
        frames[std::size_t(i)].copyTo(
            sheet(cv::Rect(gap + c * (tile.width + gap), gap + r * (tile.height + gap), tile.width,
                           tile.height)));
    }
    if (maxWidth > 0 && sheet.cols > maxWidth) {
        cv::Mat scaled;
        cv::resize(sheet, scaled,
                   cv::Size(maxWidth, std::max(1, int(std::lround(double(sheet.rows) * maxWidth / sheet.cols)))),
                   0, 0, cv::INTER_AREA);
        return scaled;
    }
    return sheet;
}

} // namespace primaps
