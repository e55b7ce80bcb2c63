// SPDX-License-Identifier: MIT
// Playback of a decomposition (core/pipeline/playback.h), its export as GIF, WebP, MP4
// and PNG strip (core/pipeline/animationwriter.h), read back with each format's own
// decoder; and the patch similarity and joint PCA of click-to-similarity
// (core/decompose/patchsimilarity.h).
#include "pipeline/animationwriter.h"
#include "support/atomicfile.h"
#include "backbones/backbone.h"
#include "support/error.h"
#include "image/overlay.h"
#include "decompose/patchsimilarity.h"
#include "pipeline/pipeline.h"
#include "pipeline/playback.h"
#include "testsupport.h"

#include <gif_lib.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <QElapsedTimer>
#include <QTemporaryDir>
#include <QtTest>
#include <random>
#include <webp/demux.h>

using namespace primaps;
using primaps::testing::errorOf;

namespace {

// Three flat-coloured regions with mild noise: a few PriMaPs iterations.
cv::Mat threeRegions(int rows = 120, int cols = 176)
{
    const cv::Vec3f colours[3] = {{200, 60, 50}, {40, 150, 70}, {60, 80, 210}};
    std::mt19937 rng(5);
    std::normal_distribution<float> noise(0.0f, 5.0f);
    cv::Mat rgb(rows, cols, CV_8UC3);
    for (int y = 0; y < rows; ++y)
        for (int x = 0; x < cols; ++x) {
            const double dx = x - 120.0, dy = y - 60.0;
            const int region = dx * dx + dy * dy < 35 * 35 ? 2 : (x + 0.5 * y < 80 ? 0 : 1);
            for (int c = 0; c < 3; ++c)
                rgb.at<cv::Vec3b>(y, x)[c] = cv::saturate_cast<uchar>(colours[region][c] + noise(rng));
        }
    return rgb;
}

const ImageDecomposition& fixture()
{
    static const ImageDecomposition result = [] {
        auto backbone = createBackbone("filterbank");
        PipelineParams params;
        params.crf = false;
        return decomposeImage(threeRegions(), *backbone, params);
    }();
    return result;
}

int gifFrames(const QString& path, cv::Size* size)
{
    int error = 0;
    GifFileType* gif = DGifOpenFileName(path.toLocal8Bit().constData(), &error);
    if (!gif)
        return -1;
    const int ok = DGifSlurp(gif);
    const int count = ok == GIF_OK ? gif->ImageCount : -1;
    *size = cv::Size(gif->SWidth, gif->SHeight);
    DGifCloseFile(gif, &error);
    return count;
}

int webpFrames(const QString& path, cv::Size* size)
{
    const std::string bytes = readFile(path.toStdString());
    WebPData data{reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()};
    WebPAnimDecoderOptions options;
    WebPAnimDecoderOptionsInit(&options);
    WebPAnimDecoder* decoder = WebPAnimDecoderNew(&data, &options);
    if (!decoder)
        return -1;
    WebPAnimInfo info;
    WebPAnimDecoderGetInfo(decoder, &info);
    *size = cv::Size(int(info.canvas_width), int(info.canvas_height));
    int decoded = 0;
    while (WebPAnimDecoderHasMoreFrames(decoder)) {
        uint8_t* pixels = nullptr;
        int timestamp = 0;
        if (!WebPAnimDecoderGetNext(decoder, &pixels, &timestamp))
            break;
        ++decoded;
    }
    WebPAnimDecoderDelete(decoder);
    return decoded == int(info.frame_count) ? decoded : -1;
}

// The fixture's playback written to a fresh folder as `name`, the write timed.
struct TimedExport
{
    QTemporaryDir dir;
    PlaybackRenderer renderer{fixture(), PlaybackStyle{240, 0.6f, true}};
    std::vector<cv::Mat> frames = renderPlaybackFrames(renderer);
    QString path;
    AnimationReport report;
    std::string error;

    explicit TimedExport(const QString& name) : path(dir.filePath(name))
    {
        QElapsedTimer clock;
        clock.start();
        error = errorOf([&] { report = writeAnimation(path.toStdString(), frames); });
        if (error.empty())
            qInfo("%s%s: %d frames of %dx%d in %lld ms (%.1f ms per frame), %zu bytes",
                  toString(report.format), report.codec.empty() ? "" : (" " + report.codec).c_str(),
                  report.frames, frames[0].cols, frames[0].rows, clock.elapsed(),
                  double(clock.elapsed()) / report.frames, report.bytes);
    }
};

QStringList leftovers(const QString& dir)
{
    return QDir(dir).entryList(QDir::Files | QDir::Hidden | QDir::NoDotAndDotDot);
}

} // namespace

class TestAnimation : public QObject
{
    Q_OBJECT

private slots:
    void framesFollowTheTrace();
    void featuresWithoutPhotoRender();
    void gifReadsBack();
    void webpReadsBack();
    void mp4ReadsBack();
    void missingMp4CodecIsNamed();
    void pngStripIsOnePicture();
    void badRequestsAreRefused();
    void cosineSimilarityMatchesDirectComputation();
    void jointPcaSharesOneBasis();
};

void TestAnimation::framesFollowTheTrace()
{
    const ImageDecomposition& d = fixture();
    const int iterations = int(d.trace.iterations.size());
    QVERIFY2(iterations >= 2, "the fixture should take several iterations");
    PlaybackRenderer renderer(d, PlaybackStyle{240, 0.6f, true});
    QCOMPARE(renderer.frameCount(), iterations + 1);
    const std::vector<cv::Mat> frames = renderPlaybackFrames(renderer);
    QCOMPARE(int(frames.size()), iterations + 1);
    for (const cv::Mat& f : frames) {
        QCOMPARE(f.size(), renderer.frameSize());
        QCOMPARE(f.type(), CV_8UC3);
        QCOMPARE(f.cols % 2, 0);
        QCOMPARE(f.rows % 2, 0);
    }
    const double positions = double(d.trace.height) * d.trace.width;
    for (int i = 0; i < iterations; ++i) {
        const PlaybackFrameInfo& info = renderer.info(i);
        QCOMPARE(info.iteration, i);
        QVERIFY(!info.final);
        QCOMPARE(info.proposalShare, d.trace.iterations[std::size_t(i)].assigned / positions);
        QCOMPARE(info.remainingShare, d.trace.iterations[std::size_t(i)].remainingAfter / positions);
        QVERIFY(info.caption.find("Step " + std::to_string(i + 1)) == 0);
        // The remaining area shrinks, and each step's picture differs from the last.
        if (i > 0) {
            QVERIFY(info.remainingShare < renderer.info(i - 1).remainingShare);
            QVERIFY(cv::norm(frames[std::size_t(i)], frames[std::size_t(i - 1)], cv::NORM_L1) > 0);
        }
    }
    const PlaybackFrameInfo& last = renderer.info(iterations);
    QVERIFY(last.final);
    const cv::Mat labels = d.labelsAtOriginalSize();
    QCOMPARE(last.remainingShare, double(cv::countNonZero(labels == 0)) / double(labels.total()));
    // The final frame's right panel is the label map in the masks' colours.
    const cv::Size panel((renderer.frameSize().width - 8) / 2, 240);
    cv::Mat small;
    cv::resize(labels, small, panel, 0, 0, cv::INTER_NEAREST);
    const cv::Point probe(panel.width * 3 / 4, panel.height * 3 / 4);
    const cv::Vec3b expected = labelColor(small.at<uchar>(probe));
    QCOMPARE(frames.back().at<cv::Vec3b>(probe.y, panel.width + 8 + probe.x), expected);
    QVERIFY(!errorOf([&] { renderer.render(iterations + 1); }).empty());
}

void TestAnimation::featuresWithoutPhotoRender()
{
    const ImageDecomposition d = decomposeFeatures(fixture().features, PrimapsParams{});
    PlaybackRenderer renderer(d, PlaybackStyle{128, 0.5f, false});
    QCOMPARE(renderer.frameCount(), int(d.trace.iterations.size()) + 1);
    QCOMPARE(renderer.render(0).rows, renderer.frameSize().height);
}

void TestAnimation::gifReadsBack()
{
    const TimedExport e("steps.gif");
    QVERIFY2(e.error.empty(), e.error.c_str());
    QCOMPARE(e.report.format, AnimationFormat::Gif);
    cv::Size size;
    QCOMPARE(gifFrames(e.path, &size), e.renderer.frameCount());
    QCOMPARE(size, e.renderer.frameSize());
    QCOMPARE(leftovers(e.dir.path()), QStringList{"steps.gif"});
}

void TestAnimation::webpReadsBack()
{
    const TimedExport e("steps.webp");
    QVERIFY2(e.error.empty(), e.error.c_str());
    cv::Size size;
    QCOMPARE(webpFrames(e.path, &size), e.renderer.frameCount());
    QCOMPARE(size, e.renderer.frameSize());
    QCOMPARE(leftovers(e.dir.path()), QStringList{"steps.webp"});
}

void TestAnimation::mp4ReadsBack()
{
    const TimedExport e("steps.mp4");
    if (e.error.find("no MP4 video encoder") != std::string::npos)
        QSKIP(("this OpenCV build cannot encode MP4: " + e.error).c_str());
    QVERIFY2(e.error.empty(), e.error.c_str());
    cv::VideoCapture capture(e.path.toStdString());
    QVERIFY(capture.isOpened());
    int decoded = 0;
    cv::Mat frame;
    while (capture.read(frame)) {
        QCOMPARE(frame.size(), e.renderer.frameSize());
        ++decoded;
    }
    QCOMPARE(decoded, e.renderer.frameCount());
    QCOMPARE(leftovers(e.dir.path()), QStringList{"steps.mp4"});
}

void TestAnimation::missingMp4CodecIsNamed()
{
    // What a user without an MP4 encoder sees: a FourCC no FFmpeg knows stands in for it.
    QTemporaryDir dir;
    const std::vector<cv::Mat> frames(3, cv::Mat(32, 48, CV_8UC3, cv::Scalar(10, 200, 30)));
    AnimationOptions options;
    options.mp4Codecs = {"qqqq"};
    const QString path = dir.filePath("none.mp4");
    const std::string error = errorOf([&] { writeAnimation(path.toStdString(), frames, options); });
    QVERIFY2(error.find("no MP4 video encoder") != std::string::npos, error.c_str());
    QVERIFY2(error.find("qqqq") != std::string::npos, error.c_str());
    QVERIFY2(error.find(".gif") != std::string::npos, error.c_str());
    QVERIFY2(leftovers(dir.path()).isEmpty(), qPrintable(leftovers(dir.path()).join(", ")));
}

void TestAnimation::pngStripIsOnePicture()
{
    QTemporaryDir dir;
    const PlaybackRenderer renderer(fixture(), PlaybackStyle{240, 0.6f, true});
    const std::vector<cv::Mat> frames = renderPlaybackFrames(renderer);
    const QString path = dir.filePath("steps.png");
    const AnimationReport report = writeAnimation(path.toStdString(), frames);
    QCOMPARE(report.format, AnimationFormat::PngStrip);
    const cv::Mat sheet = cv::imread(path.toStdString());
    QVERIFY(!sheet.empty());
    QVERIFY(sheet.cols <= 1920);
    // Roughly 16:9, and it holds every frame: its area is at least the frames' at the sheet's scale.
    const double scale = std::min(1.0, 1920.0 / sheet.cols);
    QVERIFY(sheet.cols > frames[0].cols * scale);
    QVERIFY(double(sheet.total()) >= frames.size() * frames[0].total() * 0.5 * scale * scale);
}

void TestAnimation::badRequestsAreRefused()
{
    const std::vector<cv::Mat> frames(2, cv::Mat(16, 16, CV_8UC3, cv::Scalar::all(0)));
    QVERIFY(errorOf([&] { writeAnimation("/tmp/x.avi", frames); }).find("unknown animation format") !=
            std::string::npos);
    QVERIFY(!errorOf([&] { writeAnimation("/tmp/x.gif", {}); }).empty());
    std::vector<cv::Mat> mixed = frames;
    mixed.push_back(cv::Mat(8, 8, CV_8UC3));
    QVERIFY(!errorOf([&] { writeAnimation("/tmp/x.gif", mixed); }).empty());
    QVERIFY(errorOf([&] { writeAnimation("/nonexistent-folder/x.gif", frames); }).find("/nonexistent-folder/x.gif") !=
            std::string::npos);
    AnimationOptions slow;
    slow.framesPerSecond = 0;
    QVERIFY(!errorOf([&] { writeAnimation("/tmp/x.gif", frames, slow); }).empty());
}

void TestAnimation::cosineSimilarityMatchesDirectComputation()
{
    FeatureMap f(5, 3, 4);
    std::mt19937 rng(3);
    std::normal_distribution<float> normal;
    for (float& v : f.values)
        v = normal(rng);
    for (int c = 0; c < f.channels; ++c)
        f.at(c, 2, 3) = 0.0f; // a zero feature has similarity 0
    const int col = 1, row = 2;
    const std::vector<float> map = patchSimilarityMap(f, col, row);
    QCOMPARE(int(map.size()), 12);
    for (int y = 0; y < f.height; ++y)
        for (int x = 0; x < f.width; ++x) {
            double dot = 0, a = 0, b = 0;
            for (int c = 0; c < f.channels; ++c) {
                dot += double(f.at(c, row, col)) * f.at(c, y, x);
                a += double(f.at(c, row, col)) * f.at(c, row, col);
                b += double(f.at(c, y, x)) * f.at(c, y, x);
            }
            const double expected = b > 0 ? dot / std::sqrt(a * b) : 0.0;
            QVERIFY2(std::abs(map[std::size_t(y * f.width + x)] - expected) < 1e-6,
                     qPrintable(QString("(%1, %2): %3 vs %4").arg(x).arg(y).arg(map[std::size_t(y * f.width + x)]).arg(expected)));
        }
    QCOMPARE(map[std::size_t(row * f.width + col)], 1.0f);
    QVERIFY(!errorOf([&] { patchSimilarityMap(f, 4, 0); }).empty());
    QVERIFY(!errorOf([&] { cosineSimilarityMap(f, std::vector<float>(3, 1.0f)); }).empty());
}

void TestAnimation::jointPcaSharesOneBasis()
{
    const FeatureMap& a = fixture().features;
    FeatureMap b = a; // the same image mirrored: the same features elsewhere
    for (int c = 0; c < b.channels; ++c)
        for (int y = 0; y < b.height; ++y)
            for (int x = 0; x < b.width; ++x)
                b.at(c, y, x) = a.at(c, y, b.width - 1 - x);
    FeaturePcaParams params;
    params.components = 3;
    const FeaturePca basis = computeJointFeaturePca({&a, &b}, params);
    const cv::Mat rgbA = pcaRgb(projectOntoPca(basis, a));
    const cv::Mat rgbB = pcaRgb(projectOntoPca(basis, b));
    cv::Mat mirrored;
    cv::flip(rgbB, mirrored, 1);
    // One basis and one colour scale: the same feature gets the same colour in both images.
    QCOMPARE(cv::norm(rgbA, mirrored, cv::NORM_INF), 0.0);
    // With a single map, the joint basis is the image's own PCA.
    const FeaturePca own = computeFeaturePca(a, params);
    const FeaturePca single = projectOntoPca(computeJointFeaturePca({&a}, params), a);
    for (std::size_t i = 0; i < own.projections.size(); ++i)
        QVERIFY(std::abs(own.projections[i] - single.projections[i]) < 1e-3f * (1.0f + std::abs(own.projections[i])));
    FeatureMap other(a.channels + 1, 2, 2);
    QVERIFY(errorOf([&] { computeJointFeaturePca({&a, &other}, params); }).find("channel") != std::string::npos);
}

QTEST_GUILESS_MAIN(TestAnimation)
#include "tst_animation.moc"
