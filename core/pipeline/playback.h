// SPDX-License-Identifier: MIT
#pragma once

#include <opencv2/core/mat.hpp>

#include <string>
#include <vector>

namespace primaps {

struct ImageDecomposition;

/// How the frames of a decomposition's playback look.
struct PlaybackStyle
{
    /// Height of each picture panel in pixels; the width follows the image's aspect.
    /// Frame sizes are rounded to even numbers (H.264 needs them).
    int panelHeight = 480;
    float opacity = 0.6f; ///< mask colours over the photo, 0..1
    /// Show the principal-direction heat map beside the image (off: the image panel alone).
    bool showDirection = true;
};

/// What one frame shows, in numbers (the caption says the same in words).
struct PlaybackFrameInfo
{
    int frame = 0;
    bool final = false;  ///< the last frame: the label map after step 5
    int iteration = -1;  ///< 0-based PriMaPs iteration; -1 on the final frame
    int iterations = 0;  ///< how many iterations the trace holds
    /// Share of the feature grid this iteration's proposal took out of the
    /// remaining area ("proposal area"); on the final frame: 1 - unassigned.
    double proposalShare = 0;
    double remainingShare = 1; ///< share of the grid still unassigned after this frame
    std::string caption;
};

/// Renders a finished decomposition as a playback: one frame per PriMaPs
/// iteration (the masks so far on the photo with the new proposal outlined, the
/// similarity to the iteration's principal direction as a heat map with the
/// nearest-neighbour seed ringed, and a bar of the assigned area against the
/// remaining area), then one frame with the final label map. Every frame has the
/// same size, RGB CV_8UC3.
///
/// The decomposition is copied where needed (its maps are small), so the
/// renderer outlives it. A decomposition without a photo (decomposeFeatures())
/// is drawn on a neutral grey at eight pixels per patch. Throws primaps::Error
/// when the trace and masks do not fit together. Const methods are thread-safe.
class PlaybackRenderer
{
public:
    explicit PlaybackRenderer(const ImageDecomposition& decomposition,
                              const PlaybackStyle& style = {});

    /// Iterations + 1 (the final map).
    int frameCount() const { return int(m_infos.size()); }
    const PlaybackFrameInfo& info(int frame) const;
    /// Throws primaps::Error for a frame outside 0..frameCount()-1.
    cv::Mat render(int frame) const;
    cv::Size frameSize() const { return m_frameSize; }

    /// One picture of a frame alone, at panelSize() (the image's aspect), for a
    /// viewer that lays it over the photo: the photo with the masks so far
    /// (final frame: the label map's overlay), or the principal-direction heat
    /// map (final frame: the label map's colours). Throws like render().
    enum class Panel { Image, Direction };
    cv::Mat renderPanel(int frame, Panel panel) const;
    cv::Size panelSize() const { return m_panelSize; }

private:
    cv::Mat imagePanel(int iteration) const;
    cv::Mat directionPanel(int iteration) const;
    void drawBar(cv::Mat& frame, int iteration) const;

    PlaybackStyle m_style;
    int m_gridRows = 0;
    int m_gridCols = 0;
    cv::Mat m_photo;          ///< RGB, panel size
    cv::Mat m_finalOverlay;   ///< RGB, panel size
    cv::Mat m_finalColours;   ///< RGB, panel size
    cv::Mat m_owner;          ///< CV_8U grid: 1-based iteration that took the cell, 0 = never
    cv::Mat m_ownerPanel;     ///< m_owner at panel size (nearest: one square per patch)
    std::vector<cv::Mat> m_similarityPanels; ///< per iteration, RGB heat map at panel size
    std::vector<cv::Point> m_seeds;          ///< per iteration, seed centre in panel pixels
    std::vector<double> m_finalShares;       ///< label-map share per id (0 = unassigned)
    std::vector<PlaybackFrameInfo> m_infos;
    cv::Size m_panelSize;
    cv::Size m_frameSize;
    int m_barHeight = 0;
};

/// All frames of `renderer`, in order.
std::vector<cv::Mat> renderPlaybackFrames(const PlaybackRenderer& renderer);

/// A slide-ready contact sheet of `frames` (RGB, all the same size): tiles in
/// reading order on white, as many columns as bring the sheet closest to 16:9,
/// scaled to at most `maxWidth` pixels wide. Throws primaps::Error on no frames.
cv::Mat composeFrameStrip(const std::vector<cv::Mat>& frames, int maxWidth = 1920);

} // namespace primaps
