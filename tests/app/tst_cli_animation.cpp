// SPDX-License-Identifier: MIT
// `primaps decompose IMAGE --animation FILE`, run as a user would: the file's
// format follows its extension, a decoder reads back one frame per iteration
// plus the final map, and nothing is replaced without --overwrite.
#include "testsupport.h"

#include <gif_lib.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>
#include <fstream>
#include <QTemporaryDir>
#include <QtTest>
#include <random>

namespace {

using Run = primaps::testing::CliRun;

Run runCli(const QStringList& args)
{
    return primaps::testing::runProgram(PRIMAPS_CLI, args);
}

// Three flat regions with noise, written as a PNG (BGR for imwrite).
QString writeImage(const QString& path, unsigned seed)
{
    std::mt19937 rng(seed);
    std::normal_distribution<float> noise(0.0f, 6.0f);
    cv::Mat img(96, 128, CV_8UC3);
    for (int y = 0; y < img.rows; ++y)
        for (int x = 0; x < img.cols; ++x) {
            const cv::Vec3f c = x < img.cols / 3 ? cv::Vec3f(200, 40, 40)
                                : y < img.rows / 2 ? cv::Vec3f(40, 180, 60)
                                                   : cv::Vec3f(30, 60, 210);
            for (int k = 0; k < 3; ++k)
                img.at<cv::Vec3b>(y, x)[k] = cv::saturate_cast<uchar>(c[k] + noise(rng));
        }
    cv::imwrite(path.toStdString(), img);
    return path;
}

int iterationsInTrace(const QString& path)
{
    std::ifstream in(path.toStdString());
    const nlohmann::json trace = nlohmann::json::parse(in);
    return int(trace.at("iterations").size());
}

int gifFrames(const QString& path)
{
    int error = 0;
    GifFileType* gif = DGifOpenFileName(path.toLocal8Bit().constData(), &error);
    if (!gif)
        return -1;
    const int count = DGifSlurp(gif) == GIF_OK ? gif->ImageCount : -1;
    DGifCloseFile(gif, &error);
    return count;
}

} // namespace

class TestCliAnimation : public QObject
{
    Q_OBJECT

private slots:
    void gifHasOneFramePerIterationPlusTheMap()
    {
        QTemporaryDir dir;
        const QString image = writeImage(dir.filePath("scene.png"), 4);
        const QString gif = dir.filePath("steps.gif");
        const Run run = runCli({"decompose", image, "--out", dir.filePath("out"), "--animation", gif,
                                "--animation-height", "160"});
        QVERIFY2(run.exitCode == 0, qPrintable(run.err));
        QVERIFY2(run.out.contains("GIF " + gif), qPrintable(run.out));
        const int iterations = iterationsInTrace(dir.filePath("out/scene_trace.json"));
        QVERIFY(iterations >= 1);
        QCOMPARE(gifFrames(gif), iterations + 1);

        // An existing animation is kept unless --overwrite says otherwise.
        const QDateTime written = QFileInfo(gif).lastModified();
        const Run again = runCli({"decompose", image, "--out", dir.filePath("out2"), "--animation", gif});
        QCOMPARE(again.exitCode, 1);
        QVERIFY2(again.err.contains("--overwrite") && again.err.contains("steps.gif"), qPrintable(again.err));
        QCOMPARE(QFileInfo(gif).lastModified(), written);
        QVERIFY(!QFileInfo::exists(dir.filePath("out2/scene_masks.png")));
        const Run forced = runCli({"decompose", image, "--out", dir.filePath("out2"), "--animation",
                                   gif, "--overwrite", "--animation-height", "160"});
        QVERIFY2(forced.exitCode == 0, qPrintable(forced.err));
        QCOMPARE(gifFrames(gif), iterations + 1);
    }

    void formatsFollowTheExtension()
    {
        QTemporaryDir dir;
        const QString image = writeImage(dir.filePath("scene.png"), 9);
        const QString mp4 = dir.filePath("steps.mp4");
        const Run video = runCli({"decompose", image, "--out", dir.filePath("a"), "--animation", mp4,
                                  "--animation-height", "128", "--no-crf"});
        if (video.exitCode != 0 && video.err.contains("no MP4 video encoder"))
            QSKIP(qPrintable("this OpenCV build cannot encode MP4: " + video.err));
        QVERIFY2(video.exitCode == 0, qPrintable(video.err));
        const int iterations = iterationsInTrace(dir.filePath("a/scene_trace.json"));
        cv::VideoCapture capture(mp4.toStdString());
        int frames = 0;
        cv::Mat frame;
        while (capture.read(frame))
            ++frames;
        QCOMPARE(frames, iterations + 1);

        const QString strip = dir.filePath("steps.png");
        const Run sheet = runCli({"decompose", image, "--out", dir.filePath("b"), "--animation", strip,
                                  "--animation-height", "128", "--no-crf"});
        QVERIFY2(sheet.exitCode == 0, qPrintable(sheet.err));
        QVERIFY(!cv::imread(strip.toStdString()).empty());

        const Run unknown = runCli({"decompose", image, "--out", dir.filePath("c"), "--animation",
                                    dir.filePath("steps.avi")});
        QCOMPARE(unknown.exitCode, 2);
        QVERIFY2(unknown.err.contains(".gif, .webp, .mp4"), qPrintable(unknown.err));
        QVERIFY(!QFileInfo::exists(dir.filePath("c")));
    }

    void severalInputsGetOneFileEach()
    {
        QTemporaryDir dir;
        const QString a = writeImage(dir.filePath("first.png"), 1);
        const QString b = writeImage(dir.filePath("second.png"), 2);
        const Run run = runCli({"decompose", a, b, "--out", dir.filePath("out"), "--animation",
                                dir.filePath("steps.webp"), "--animation-height", "96", "--no-crf"});
        QVERIFY2(run.exitCode == 0, qPrintable(run.err));
        QVERIFY(QFileInfo(dir.filePath("first_steps.webp")).size() > 0);
        QVERIFY(QFileInfo(dir.filePath("second_steps.webp")).size() > 0);
        QVERIFY(!QFileInfo::exists(dir.filePath("steps.webp")));
    }
};

QTEST_GUILESS_MAIN(TestCliAnimation)
#include "tst_cli_animation.moc"
