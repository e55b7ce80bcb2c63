// SPDX-License-Identifier: MIT
// Image loading and preprocessing (docs/ALGORITHM.md, "Image preprocessing"): formats, depths, orientation,
// odd sizes, the three fit modes, normalisation, and bad files.
#include "support/atomicfile.h"
#include "support/error.h"
#include "image/imageio.h"
#include "image/preprocess.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <QTemporaryDir>
#include <QtTest>

using namespace primaps;

namespace {

// An RGB test picture whose top-left quadrant is red, so orientation is visible.
cv::Mat markedImage(int rows, int cols)
{
    cv::Mat rgb(rows, cols, CV_8UC3, cv::Scalar(20, 40, 200));
    rgb(cv::Rect(0, 0, cols / 2, rows / 2)).setTo(cv::Scalar(230, 10, 10));
    return rgb;
}

// A JPEG with an EXIF APP1 segment whose Orientation tag is `orientation`.
std::string jpegWithOrientation(const cv::Mat& bgr, int orientation)
{
    std::vector<uchar> jpeg;
    cv::imencode(".jpg", bgr, jpeg);
    // TIFF header (little endian), one IFD entry: 0x0112 SHORT count 1 value.
    const unsigned char tiff[] = {'I', 'I', 42, 0, 8, 0, 0, 0,  // header, IFD at 8
                                  1, 0,                          // one entry
                                  0x12, 0x01, 3, 0, 1, 0, 0, 0,  // tag, type, count
                                  (unsigned char)orientation, 0, 0, 0, // value
                                  0, 0, 0, 0};                   // no next IFD
    std::string app1 = "Exif";
    app1 += std::string(2, '\0');
    app1.append(reinterpret_cast<const char*>(tiff), sizeof(tiff));
    const std::size_t len = app1.size() + 2;
    std::string out;
    out += char(0xFF);
    out += char(0xD8);
    out += char(0xFF);
    out += char(0xE1);
    out += char(len >> 8);
    out += char(len & 0xff);
    out += app1;
    out.append(reinterpret_cast<const char*>(jpeg.data()) + 2, jpeg.size() - 2);
    return out;
}

} // namespace

class TestPreprocess : public QObject
{
    Q_OBJECT

    QTemporaryDir dir;
    std::string file(const char* name) { return dir.filePath(name).toStdString(); }

private slots:
    void loadsGrey16BitAndRgba()
    {
        cv::Mat grey(13, 17, CV_8U, cv::Scalar(100));
        cv::imwrite(file("grey.png"), grey);
        cv::Mat g = loadImageRgb8(file("grey.png"));
        QCOMPARE(g.type(), CV_8UC3);
        QCOMPARE(g.size(), cv::Size(17, 13));
        QCOMPARE(g.at<cv::Vec3b>(5, 5), cv::Vec3b(100, 100, 100));

        cv::Mat deep(9, 11, CV_16UC3, cv::Scalar(65535, 0, 32896)); // BGR
        cv::imwrite(file("deep.png"), deep);
        cv::Mat d = loadImageRgb8(file("deep.png"));
        QCOMPARE(d.type(), CV_8UC3);
        QCOMPARE(d.at<cv::Vec3b>(0, 0), cv::Vec3b(128, 0, 255)); // RGB, scaled to 8 bit

        cv::Mat rgba(7, 5, CV_8UC4, cv::Scalar(10, 20, 30, 0)); // BGRA, fully transparent
        cv::imwrite(file("alpha.png"), rgba);
        cv::Mat a = loadImageRgb8(file("alpha.png"));
        QCOMPARE(a.type(), CV_8UC3);
        QCOMPARE(a.at<cv::Vec3b>(3, 3), cv::Vec3b(30, 20, 10));
    }

    void appliesExifOrientation()
    {
        cv::Mat bgr;
        cv::cvtColor(markedImage(40, 60), bgr, cv::COLOR_RGB2BGR);
        writeFileAtomic(file("rotated.jpg"), jpegWithOrientation(bgr, 6)); // rotate 90 cw
        const cv::Mat img = loadImageRgb8(file("rotated.jpg"));
        QCOMPARE(img.size(), cv::Size(40, 60));
        // The red quadrant moved from top-left to top-right.
        QVERIFY(img.at<cv::Vec3b>(5, 35)[0] > 180);
        QVERIFY(img.at<cv::Vec3b>(5, 5)[0] < 80);
    }

    void corruptAndMissingFilesGiveErrorsNamingTheFile()
    {
        writeFileAtomic(file("corrupt.png"), "\x89PNG\r\n\x1a\n this is not really a png");
        writeFileAtomic(file("empty.jpg"), "");
        for (const char* name : {"corrupt.png", "empty.jpg", "missing.jpg"}) {
            try {
                loadImageRgb8(file(name));
                QFAIL(qPrintable(QString("%1 was accepted").arg(name)));
            } catch (const Error& e) {
                QVERIFY2(QString(e.what()).contains(name), e.what());
            }
        }
        QVERIFY_THROWS_EXCEPTION(Error, loadImageRgb8(dir.path().toStdString()));
    }

    void padKeepsEveryPixelAtOddSizes()
    {
        const cv::Mat rgb = markedImage(300, 451);
        PreprocessParams p; // shorter side 320, patch 8, pad
        const PreparedImage prepared = prepareImage(rgb, p);
        QCOMPARE(prepared.resizedSize, cv::Size(481, 320)); // 320 * 451 / 300, truncated
        QCOMPARE(prepared.rgb.size(), cv::Size(488, 320));
        QCOMPARE(prepared.contentInPrepared, cv::Rect(0, 0, 481, 320));
        QCOMPARE(prepared.rgb.type(), CV_8UC3);

        // Labels drawn on the prepared image come back at the original size.
        cv::Mat labels(prepared.rgb.size(), CV_8U, cv::Scalar(2));
        labels(cv::Rect(0, 0, 240, 160)).setTo(1);
        const cv::Mat back = labelsToOriginal(labels, prepared);
        QCOMPARE(back.size(), rgb.size());
        QCOMPARE(int(back.at<uchar>(10, 10)), 1);
        QCOMPARE(int(back.at<uchar>(290, 440)), 2);

        // Patch 14 (DINOv2), tiny odd image, no resize.
        p.patchSize = 14;
        p.shorterSide = 0;
        const PreparedImage tiny = prepareImage(markedImage(15, 29), p);
        QCOMPARE(tiny.rgb.size(), cv::Size(42, 28));
    }

    void cropModes()
    {
        const cv::Mat rgb = markedImage(300, 451);
        PreprocessParams p;
        p.fit = FitMode::CenterCropSquare;
        const PreparedImage square = prepareImage(rgb, p);
        QCOMPARE(square.rgb.size(), cv::Size(320, 320));
        QCOMPARE(square.regionInResized, cv::Rect(80, 0, 320, 320));
        const cv::Mat back = labelsToOriginal(cv::Mat(320, 320, CV_8U, cv::Scalar(3)), square, 0);
        QCOMPARE(back.size(), rgb.size());
        QCOMPARE(int(back.at<uchar>(150, 2)), 0);   // cropped away: fill
        QCOMPARE(int(back.at<uchar>(150, 225)), 3);

        p.fit = FitMode::CropToPatchMultiple;
        const PreparedImage crop = prepareImage(rgb, p);
        QCOMPARE(crop.rgb.size(), cv::Size(480, 320));
    }

    void rejectsBadImages()
    {
        QVERIFY_THROWS_EXCEPTION(Error, prepareImage(cv::Mat(), PreprocessParams{}));
        QVERIFY_THROWS_EXCEPTION(Error, prepareImage(cv::Mat(8, 8, CV_32FC3), PreprocessParams{}));
        PreprocessParams p;
        p.shorterSide = 0;
        p.fit = FitMode::CropToPatchMultiple;
        QVERIFY_THROWS_EXCEPTION(Error, prepareImage(markedImage(5, 5), p)); // < one patch
        p.patchSize = 0;
        QVERIFY_THROWS_EXCEPTION(Error, prepareImage(markedImage(16, 16), p));
    }

    void imagenetNormalisation()
    {
        cv::Mat rgb(2, 3, CV_8UC3, cv::Scalar(255, 0, 124));
        const std::vector<float> n = imagenetNormalize(rgb);
        QCOMPARE(n.size(), std::size_t(18));
        QVERIFY(std::abs(n[0] - (1.0f - 0.485f) / 0.229f) < 1e-6f);
        QVERIFY(std::abs(n[6] - (0.0f - 0.456f) / 0.224f) < 1e-6f);
        QVERIFY(std::abs(n[12] - (124.0f / 255.0f - 0.406f) / 0.225f) < 1e-6f);
        QVERIFY_THROWS_EXCEPTION(Error, imagenetNormalize(cv::Mat()));
    }
};

QTEST_APPLESS_MAIN(TestPreprocess)
#include "tst_preprocess.moc"
