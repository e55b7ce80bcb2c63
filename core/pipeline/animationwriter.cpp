// SPDX-License-Identifier: MIT
#include "pipeline/animationwriter.h"

#include "support/atomicfile.h"
#include "support/error.h"
#include "pipeline/playback.h"

#include <gif_lib.h>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <webp/encode.h>
#include <webp/mux.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>

namespace primaps {

namespace {

std::string lowerExtension(const std::string& path)
{
    std::string ext = std::filesystem::path(path).extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char c) { return char(std::tolower(c)); });
    return ext;
}

int frameMilliseconds(const AnimationOptions& options, std::size_t index, std::size_t count)
{
    const double ms = 1000.0 / options.framesPerSecond;
    return int(std::lround(index + 1 == count ? ms * options.finalHold : ms));
}

// giflib hands the encoded bytes to this callback; they collect in a string so
// that the file can be written atomically at the end.
int appendGifBytes(GifFileType* gif, const GifByteType* bytes, int length)
{
    static_cast<std::string*>(gif->UserData)->append(reinterpret_cast<const char*>(bytes), std::size_t(length));
    return length;
}

std::string gifError(int code)
{
    const char* text = GifErrorString(code);
    return text ? text : "unknown giflib error " + std::to_string(code);
}

std::string encodeGif(const std::string& path, const std::vector<cv::Mat>& frames,
                      const AnimationOptions& options)
{
    std::string bytes;
    int error = 0;
    GifFileType* gif = EGifOpen(&bytes, appendGifBytes, &error);
    if (!gif)
        throw Error("cannot encode '" + path + "' as GIF: " + gifError(error));
    auto fail = [&](const std::string& what) {
        const int code = gif->Error;
        EGifCloseFile(gif, &error);
        throw Error("cannot encode '" + path + "' as GIF (" + what + "): " + gifError(code));
    };
    const int width = frames.front().cols, height = frames.front().rows;
    EGifSetGifVersion(gif, true);
    if (EGifPutScreenDesc(gif, width, height, 8, 0, nullptr) == GIF_ERROR)
        fail("screen");
    // NETSCAPE2.0 application extension: loop forever.
    static const GifByteType netscape[] = {'N', 'E', 'T', 'S', 'C', 'A', 'P', 'E', '2', '.', '0'};
    static const GifByteType loopForever[] = {1, 0, 0};
    if (EGifPutExtensionLeader(gif, APPLICATION_EXT_FUNC_CODE) == GIF_ERROR ||
        EGifPutExtensionBlock(gif, sizeof netscape, netscape) == GIF_ERROR ||
        EGifPutExtensionBlock(gif, sizeof loopForever, loopForever) == GIF_ERROR ||
        EGifPutExtensionTrailer(gif) == GIF_ERROR)
        fail("loop");

    const std::size_t pixels = std::size_t(width) * height;
    std::vector<GifByteType> red(pixels), green(pixels), blue(pixels), indices(pixels);
    for (std::size_t f = 0; f < frames.size(); ++f) {
        const cv::Mat& frame = frames[f];
        for (int y = 0; y < height; ++y) {
            const cv::Vec3b* row = frame.ptr<cv::Vec3b>(y);
            for (int x = 0; x < width; ++x) {
                const std::size_t i = std::size_t(y) * width + x;
                red[i] = row[x][0];
                green[i] = row[x][1];
                blue[i] = row[x][2];
            }
        }
        // Each frame gets its own median-cut palette: the heat maps and the
        // photo need different colours, and one shared palette would band both.
        int colours = 256;
        GifColorType palette[256] = {};
        if (GifQuantizeBuffer(unsigned(width), unsigned(height), &colours, red.data(), green.data(),
                              blue.data(), indices.data(), palette) == GIF_ERROR)
            fail("palette of frame " + std::to_string(f + 1));
        std::unique_ptr<ColorMapObject, void (*)(ColorMapObject*)> map(GifMakeMapObject(256, palette),
                                                                       GifFreeMapObject);
        if (!map)
            fail("palette of frame " + std::to_string(f + 1));

        GraphicsControlBlock control{};
        control.DisposalMode = DISPOSE_DO_NOT;
        control.UserInputFlag = false;
        control.DelayTime = std::max(2, (frameMilliseconds(options, f, frames.size()) + 5) / 10);
        control.TransparentColor = NO_TRANSPARENT_COLOR;
        GifByteType extension[4];
        const std::size_t length = EGifGCBToExtension(&control, extension);
        if (EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, int(length), extension) == GIF_ERROR ||
            EGifPutImageDesc(gif, 0, 0, width, height, false, map.get()) == GIF_ERROR)
            fail("frame " + std::to_string(f + 1));
        for (int y = 0; y < height; ++y)
            if (EGifPutLine(gif, indices.data() + std::size_t(y) * width, width) == GIF_ERROR)
                fail("frame " + std::to_string(f + 1));
    }
    if (EGifCloseFile(gif, &error) == GIF_ERROR)
        throw Error("cannot encode '" + path + "' as GIF: " + gifError(error));
    return bytes;
}

std::string encodeWebP(const std::string& path, const std::vector<cv::Mat>& frames,
                       const AnimationOptions& options)
{
    const int width = frames.front().cols, height = frames.front().rows;
    if (width > WEBP_MAX_DIMENSION || height > WEBP_MAX_DIMENSION)
        throw Error("cannot encode '" + path + "' as WebP: frames are larger than " +
                    std::to_string(WEBP_MAX_DIMENSION) + " pixels");
    WebPAnimEncoderOptions encoderOptions;
    WebPConfig config;
    if (!WebPAnimEncoderOptionsInit(&encoderOptions) || !WebPConfigInit(&config))
        throw Error("cannot encode '" + path + "' as WebP: libwebp version mismatch");
    encoderOptions.anim_params.loop_count = 0; // forever
    config.quality = options.webpQuality;
    config.lossless = options.webpLossless ? 1 : 0;
    config.method = 4;
    std::unique_ptr<WebPAnimEncoder, void (*)(WebPAnimEncoder*)> encoder(
        WebPAnimEncoderNew(width, height, &encoderOptions), WebPAnimEncoderDelete);
    if (!encoder)
        throw Error("cannot encode '" + path + "' as WebP: out of memory");
    int timestamp = 0;
    for (std::size_t f = 0; f < frames.size(); ++f) {
        WebPPicture picture;
        if (!WebPPictureInit(&picture))
            throw Error("cannot encode '" + path + "' as WebP: libwebp version mismatch");
        picture.use_argb = 1;
        picture.width = width;
        picture.height = height;
        const cv::Mat frame = frames[f].isContinuous() ? frames[f] : frames[f].clone();
        const bool imported = WebPPictureImportRGB(&picture, frame.ptr<uint8_t>(), int(frame.step)) != 0;
        const bool added = imported && WebPAnimEncoderAdd(encoder.get(), &picture, timestamp, &config) != 0;
        WebPPictureFree(&picture);
        if (!added)
            throw Error("cannot encode '" + path + "' as WebP (frame " + std::to_string(f + 1) +
                        "): " + (imported ? WebPAnimEncoderGetError(encoder.get()) : "out of memory"));
        timestamp += frameMilliseconds(options, f, frames.size());
    }
    WebPData data;
    WebPDataInit(&data);
    if (!WebPAnimEncoderAdd(encoder.get(), nullptr, timestamp, nullptr) ||
        !WebPAnimEncoderAssemble(encoder.get(), &data))
        throw Error("cannot encode '" + path + "' as WebP: " + WebPAnimEncoderGetError(encoder.get()));
    std::string bytes(reinterpret_cast<const char*>(data.bytes), data.size);
    WebPDataClear(&data);
    return bytes;
}

std::string writeMp4(const std::string& path, const std::vector<cv::Mat>& frames,
                     const AnimationOptions& options)
{
    const cv::Size size = frames.front().size();
    if (size.width % 2 || size.height % 2)
        throw Error("cannot encode '" + path + "' as MP4: the frame size must be even");
    const std::string temporary = createTemporaryBeside(path, ".mp4");
    std::string tried;
    for (const std::string& codec : options.mp4Codecs) {
        if (codec.size() != 4)
            continue;
        tried += (tried.empty() ? "" : ", ") + codec;
        cv::VideoWriter writer;
        try {
            writer.open(temporary, cv::CAP_FFMPEG,
                        cv::VideoWriter::fourcc(codec[0], codec[1], codec[2], codec[3]),
                        options.framesPerSecond, size, true);
        } catch (const cv::Exception&) {
            continue;
        }
        if (!writer.isOpened())
            continue;
        cv::Mat bgr;
        for (const cv::Mat& frame : frames) {
            cv::cvtColor(frame, bgr, cv::COLOR_RGB2BGR);
            writer.write(bgr);
        }
        writer.release();
        std::error_code ec;
        if (std::filesystem::file_size(temporary, ec) == 0 || ec)
            continue; // opened but wrote nothing: try the next codec
        commitTemporaryFile(temporary, path);
        return codec;
    }
    std::filesystem::remove(temporary);
    throw Error("cannot write '" + path + "': this OpenCV build has no MP4 video encoder (tried " +
                (tried.empty() ? std::string("no codec") : "FourCC " + tried) +
                " through FFmpeg); write .gif, .webp or .png instead, or install OpenCV's "
                "video I/O with FFmpeg (Debian: libopencv-videoio406, libavcodec59)");
}

} // namespace

AnimationFormat animationFormatFor(const std::string& path)
{
    const std::string ext = lowerExtension(path);
    if (ext == ".gif")
        return AnimationFormat::Gif;
    if (ext == ".webp")
        return AnimationFormat::WebP;
    if (ext == ".mp4")
        return AnimationFormat::Mp4;
    if (ext == ".png")
        return AnimationFormat::PngStrip;
    throw Error("'" + path + "': unknown animation format '" + ext +
                "'; use .gif, .webp, .mp4 or .png (a strip of all frames)");
}

const char* toString(AnimationFormat format)
{
    switch (format) {
    case AnimationFormat::Gif: return "GIF";
    case AnimationFormat::WebP: return "WebP";
    case AnimationFormat::Mp4: return "MP4";
    case AnimationFormat::PngStrip: return "PNG strip";
    }
    return "?";
}

AnimationReport writeAnimation(const std::string& path, const std::vector<cv::Mat>& frames,
                               const AnimationOptions& options)
{
    AnimationReport report;
    report.format = animationFormatFor(path);
    if (frames.empty())
        throw Error("cannot write '" + path + "': there are no frames");
    for (const cv::Mat& frame : frames)
        if (frame.type() != CV_8UC3 || frame.size() != frames.front().size() || frame.empty())
            throw Error("cannot write '" + path + "': the frames must be RGB images of one size");
    if (!(options.framesPerSecond >= 0.1 && options.framesPerSecond <= 60.0))
        throw Error("cannot write '" + path + "': frames per second must lie in 0.1..60");
    if (!(options.finalHold >= 1.0 && options.finalHold <= 100.0))
        throw Error("cannot write '" + path + "': the final hold must lie in 1..100 frame times");
    if (!(options.webpQuality >= 0.0f && options.webpQuality <= 100.0f))
        throw Error("cannot write '" + path + "': the WebP quality must lie in 0..100");

    report.frames = int(frames.size());
    switch (report.format) {
    case AnimationFormat::Gif:
        writeFileAtomic(path, encodeGif(path, frames, options));
        break;
    case AnimationFormat::WebP:
        writeFileAtomic(path, encodeWebP(path, frames, options));
        break;
    case AnimationFormat::Mp4:
        report.codec = writeMp4(path, frames, options);
        break;
    case AnimationFormat::PngStrip: {
        cv::Mat bgr;
        cv::cvtColor(composeFrameStrip(frames, options.stripMaxWidth), bgr, cv::COLOR_RGB2BGR);
        writeImageAtomic(path, bgr);
        report.frames = 1;
        break;
    }
    }
    std::error_code ec;
    report.bytes = std::size_t(std::filesystem::file_size(path, ec));
    return report;
}

} // namespace primaps
