// SPDX-License-Identifier: MIT
#pragma once

#include <opencv2/core/mat.hpp>

#include <string>
#include <vector>

namespace primaps {

/// The file formats writeAnimation() knows, chosen by the file's extension.
enum class AnimationFormat {
    Gif,      ///< .gif: giflib, one 256-colour palette per frame (median cut), loops forever
    WebP,     ///< .webp: libwebp's animation encoder (lossy, or lossless), loops forever
    Mp4,      ///< .mp4: OpenCV's VideoWriter (FFmpeg), H.264 when available, else MPEG-4 Part 2
    PngStrip, ///< .png: all frames on one slide-ready sheet (composeFrameStrip())
};

/// The format for `path`'s extension (case-insensitive). Throws primaps::Error
/// naming the path and the extensions that work for any other.
AnimationFormat animationFormatFor(const std::string& path);
/// "GIF", "WebP", "MP4", "PNG strip".
const char* toString(AnimationFormat format);

struct AnimationOptions
{
    double framesPerSecond = 1.0; ///< how fast the iterations follow each other (0.1..60)
    /// The last frame (the final label map) stays this many frame times in GIF
    /// and WebP, which can give each frame its own duration. MP4 frames all last
    /// one frame time (one video frame per playback frame).
    double finalHold = 3.0;
    float webpQuality = 85.0f; ///< 0..100
    bool webpLossless = false;
    /// FourCCs VideoWriter tries in order for .mp4; the first that opens is used.
    std::vector<std::string> mp4Codecs{"avc1", "mp4v"};
    int stripMaxWidth = 1920; ///< the PNG strip is scaled down to this width
};

/// What writeAnimation() wrote.
struct AnimationReport
{
    AnimationFormat format = AnimationFormat::Gif;
    int frames = 0;          ///< frames in the file (1 for the PNG strip's single picture)
    std::string codec;       ///< MP4: the FourCC that was used; empty otherwise
    std::size_t bytes = 0;   ///< size of the written file
};

/// Writes `frames` (RGB CV_8UC3, all of one size) as an animation in the
/// format `path`'s extension names. The file appears atomically: it is written
/// beside the target under a temporary name and renamed over it, so an error
/// leaves no partial file (and an existing file unchanged). Whether an
/// existing file may be replaced is the caller's decision.
///
/// Throws primaps::Error naming the path when the extension is unknown, the
/// frames are empty or differ in size, an option is out of range, the encoder
/// fails, or (MP4) none of options.mp4Codecs can be opened by this OpenCV
/// build: the message then names the codecs tried and the formats that need no
/// codec. Thread-safe (no shared state); call it off the GUI thread.
AnimationReport writeAnimation(const std::string& path, const std::vector<cv::Mat>& frames,
                               const AnimationOptions& options = {});

} // namespace primaps
