// SPDX-License-Identifier: MIT
// Image headers, the pixel budget and partial decodes: sizes known before any
// pixel is decoded, and truncated files told apart from whole ones.
#include "support/atomicfile.h"
#include "image/imageheader.h"
#include "image/imageio.h"
#include "interchange/interchange.h"
#include "image/pngchunks.h"
#include "image/preprocess.h"
#include "support/stderrmute.h"
#include "testsupport.h"

#include <fcntl.h>
#include <opencv2/imgcodecs.hpp>
#include <fstream>
#include <QTemporaryDir>
#include <QtTest>
#include <sys/resource.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace primaps;

namespace {

std::string encoded(const cv::Mat& img, const char* ext)
{
    std::vector<uchar> buffer;
    cv::imencode(ext, img, buffer);
    return std::string(buffer.begin(), buffer.end());
}

// A valid PNG with a chunk inserted after IHDR that claims `length` bytes: the
// shape of the fuzzing finding (a tEXt chunk claiming 0x65000000 bytes in 1 kB).
std::string pngWithChunkClaiming(const char* type, std::uint32_t length)
{
    std::vector<uchar> buffer;
    cv::imencode(".png", testing::patternedImage(16, 16), buffer);
    const std::string png(buffer.begin(), buffer.end());
    const std::size_t afterIhdr = 8 + 12 + 13;
    std::string chunk;
    for (int shift = 24; shift >= 0; shift -= 8)
        chunk += char((length >> shift) & 0xFF);
    chunk += std::string(type, 4) + "primaps\0" + std::string(64, 'x');
    return png.substr(0, afterIhdr) + chunk + png.substr(afterIhdr);
}

// Descriptor 2 into a file while it lives, for what decoders print there.
struct CapturedStderr
{
    std::string path;
    int saved = -1;
    explicit CapturedStderr(std::string file) : path(std::move(file))
    {
        std::fflush(stderr);
        saved = ::dup(STDERR_FILENO);
        const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ::dup2(fd, STDERR_FILENO);
        ::close(fd);
    }
    ~CapturedStderr()
    {
        std::fflush(stderr);
        ::dup2(saved, STDERR_FILENO);
        ::close(saved);
    }
    std::string text() const { return readFile(path); }
};

// Restores the process-wide budget when a test ends, whatever it set.
struct BudgetGuard
{
    PixelBudget saved = pixelBudget();
    ~BudgetGuard() { setPixelBudget(saved); }
};

} // namespace

class TestImageIo : public QObject
{
    Q_OBJECT

    QTemporaryDir dir;
    std::string file(const char* name) const { return dir.filePath(name).toStdString(); }

private slots:
    void headersGiveTheSizeOfEveryFormat()
    {
        const cv::Mat img = testing::patternedImage(37, 53);
        for (const char* ext : {".png", ".jpg", ".bmp", ".tif", ".webp", ".ppm"}) {
            const std::string path = file((std::string("whole") + ext).c_str());
            writeFileAtomic(path, encoded(img, ext));
            const ImageHeader h = readImageHeader(path);
            const cv::Mat decoded = cv::imread(path, cv::IMREAD_UNCHANGED);
            QVERIFY2(h.width == decoded.cols && h.height == decoded.rows, ext);
            QVERIFY2(h.complete, ext);
        }
    }

    void truncatedFilesAreIncomplete()
    {
        const cv::Mat img = testing::patternedImage(120, 160);
        for (const char* ext : {".png", ".jpg", ".bmp", ".webp", ".ppm"}) {
            const std::string whole = encoded(img, ext);
            const std::string path = file((std::string("cut") + ext).c_str());
            writeFileAtomic(path, whole.substr(0, whole.size() * 2 / 3));
            const ImageHeader h = readImageHeader(path);
            QVERIFY2(!h.complete, ext);
            QVERIFY2(!h.incompleteWhy.empty(), ext);
            QCOMPARE(h.width, 160);
        }
        // Data after the end marker (a camera's trailer) does not make a JPEG partial.
        writeFileAtomic(file("trailer.jpg"), encoded(img, ".jpg") + std::string(500, 'x'));
        QVERIFY(readImageHeader(file("trailer.jpg")).complete);
    }

    void truncatedJpegLoadsWithAWarning()
    {
        const std::string whole = encoded(testing::patternedImage(240, 320), ".jpg");
        writeFileAtomic(file("partial.jpg"), whole.substr(0, whole.size() / 3));
        std::string warning = "stale";
        const cv::Mat rgb = loadImageRgb8(file("partial.jpg"), &warning);
        QCOMPARE(rgb.size(), cv::Size(320, 240));
        QVERIFY2(warning.find("partial.jpg") != std::string::npos, warning.c_str());
        QVERIFY(warning.find("partly decoded") != std::string::npos);
        writeFileAtomic(file("complete.jpg"), whole);
        loadImageRgb8(file("complete.jpg"), &warning);
        QVERIFY(warning.empty());
    }

    void decoderChatterIsMutedOnEveryThread()
    {
        // libjpeg prints "Premature end of JPEG file" to stderr for a cut file;
        // the loader reports it as a warning naming the file instead, also when
        // several threads decode at once (the dataset stages do).
        if (!StderrMute::mutes())
            QSKIP("an AddressSanitizer build keeps the decoders' output (StderrMute::mutes())");
        const std::string whole = encoded(testing::patternedImage(240, 320), ".jpg");
        const std::string path = file("chatter.jpg");
        writeFileAtomic(path, whole.substr(0, whole.size() / 2));
        std::vector<std::string> warnings(4);
        {
            const CapturedStderr captured(file("stderr.txt"));
            std::vector<std::thread> threads;
            for (std::size_t t = 0; t < warnings.size(); ++t)
                threads.emplace_back([&, t] {
                    for (int i = 0; i < 8; ++i)
                        loadImageRgb8(path, &warnings[t]);
                });
            for (std::thread& t : threads)
                t.join();
            // Descriptor 2 is back where it was once every decode has ended.
            const char after[] = "after the decodes\n";
            QCOMPARE(::write(STDERR_FILENO, after, sizeof after - 1), ssize_t(sizeof after - 1));
            const std::string text = captured.text();
            QVERIFY2(text == after, text.c_str());
        }
        for (const std::string& w : warnings) {
            QVERIFY2(w.find("'" + path + "': partly decoded") == 0, w.c_str());
        }
    }

    void onlyCutShortFilesMuteTheDecoders()
    {
        // The mute is process-wide (descriptor 2): a complete file must never engage
        // it, or every decode would silence other threads' messages and crash reports.
        if (!StderrMute::mutes())
            QSKIP("an AddressSanitizer build mutes nothing (StderrMute::mutes())");
        const std::string whole = encoded(testing::patternedImage(240, 320), ".jpg");
        writeFileAtomic(file("whole.jpg"), whole);
        writeFileAtomic(file("whole.png"), encoded(testing::patternedImage(24, 32), ".png"));
        writeFileAtomic(file("cut.jpg"), whole.substr(0, whole.size() / 2));
        const long before = StderrMute::engagements();
        std::string warning;
        loadImageRgb8(file("whole.jpg"), &warning);
        loadImageRgb8(file("whole.png"), &warning);
        QCOMPARE(StderrMute::engagements(), before);
        loadImageRgb8(file("cut.jpg"), &warning);
        QCOMPARE(StderrMute::engagements(), before + 1);
    }

    void cvatPngEntryClaimsAreRefusedBeforeLibpng()
    {
        // The same 1.7 GB tEXt claim inside a CVAT zip's SegmentationClass/ PNG (the
        // fuzz regression input, a format byte and the zip): refused by the chunk walk,
        // naming the zip and the entry, before OpenCV's decoder allocates the claim.
        const std::string input = readFile(std::string(PRIMAPS_TEST_DATA_DIR) +
                                           "/../../fuzz/regressions/annotations/"
                                           "cvat-png-text-chunk-claims-1.7GB");
        QVERIFY(input.size() > 100);
        const std::string zip = file("claims.zip");
        writeFileAtomic(zip, input.substr(1));
        const interchange::AnnotationSet set = interchange::readCvat(zip);
        QCOMPARE(int(set.images.size()), 1);
        std::vector<std::string> labels = set.labels, problems;
        EXPECT_ERROR_CONTAINING(set.images.front().decode(labels, problems),
                                "'SegmentationClass/a.png' is a broken PNG: its 'tEXt' chunk "
                                "claims 1694498816 bytes");
    }

    void unmutedStderrReachesTheTerminalDuringAMute()
    {
        if (!StderrMute::mutes())
            QSKIP("an AddressSanitizer build mutes nothing (StderrMute::mutes())");
        const CapturedStderr captured(file("stderr2.txt"));
        {
            const StderrMute mute;
            const StderrMute nested; // another thread's decode
            const char muted[] = "muted\n", through[] = "through\n";
            QVERIFY(::write(STDERR_FILENO, muted, sizeof muted - 1) > 0);
            QVERIFY(::write(unmutedStderr(), through, sizeof through - 1) > 0);
        }
        QCOMPARE(captured.text(), std::string("through\n"));
    }

    void pngChunkClaimsAreCheckedBeforeLibpng()
    {
        // A 1 kB PNG whose tEXt chunk claims 0x65000000 bytes: libpng allocates
        // the claim before reading it (1.7 GB); the loader refuses the file first.
        const std::string path = file("claims.png");
        writeFileAtomic(path, pngWithChunkClaiming("tEXt", 0x65000000u));
        const auto overrun = readImageHeader(path).pngOverrun;
        QVERIFY(overrun.has_value());
        QCOMPARE(overrun->type, std::string("tEXt"));
        QCOMPARE(overrun->offset, std::uint64_t(33));
        QCOMPARE(overrun->length, std::uint64_t(0x65000000u));
        QCOMPARE(findPngChunkOverrun(readFile(path))->length, overrun->length);
        const std::string expected =
            "'" + path + "': a broken PNG: its 'tEXt' chunk claims 1694498816 bytes";
        EXPECT_ERROR_CONTAINING(loadImageRgb8(path), expected);
        // Without the memory for the claim (a child with 512 MB of address space
        // to spare), the same refusal.
        QVERIFY(testing::holdsWithLittleMemory([&] {
            return testing::errorOf([&] { loadImageRgb8(path); }).find(expected) == 0;
        }));

        // A download cut inside the image data is no such claim (libpng streams
        // IDAT): it goes to the decoder, which says where the file ends.
        const std::string whole = encoded(testing::patternedImage(120, 160), ".png");
        writeFileAtomic(file("cutdata.png"), whole.substr(0, whole.size() / 2));
        QCOMPARE(readImageHeader(file("cutdata.png")).pngOverrun->type, std::string("IDAT"));
        EXPECT_ERROR_CONTAINING(loadImageRgb8(file("cutdata.png")), "ends inside its 'IDAT' chunk");
        // Cut between two chunks, there is no claim to refuse.
        QVERIFY(!findPngChunkOverrun(whole.substr(0, whole.size() - 12)).has_value());
        // Whole files have none.
        QVERIFY(!findPngChunkOverrun(whole).has_value());
    }

    void budgetRefusesBeforeDecoding()
    {
        BudgetGuard guard;
        // 30000 x 30000 claimed by a 8x8 PNG's header: refused, not decoded.
        std::string png = encoded(testing::patternedImage(8, 8), ".png");
        for (int i = 0; i < 4; ++i) {
            png[16 + std::size_t(i)] = char((30000u >> (24 - 8 * i)) & 0xFF);
            png[20 + std::size_t(i)] = char((30000u >> (24 - 8 * i)) & 0xFF);
        }
        writeFileAtomic(file("claims.png"), png);
        EXPECT_ERROR_CONTAINING(loadImageRgb8(file("claims.png")), "30000x30000 pixels (900.0 MP)");
        EXPECT_ERROR_CONTAINING(loadImageRgb8(file("claims.png")), "pixel budget of 64.0 MP");

        writeFileAtomic(file("small.png"), encoded(testing::patternedImage(20, 30), ".png"));
        PixelBudget tight;
        tight.maxPixels = 599;
        tight.howToRaise = "raise it in the test";
        setPixelBudget(tight);
        EXPECT_ERROR_CONTAINING(loadImageRgb8(file("small.png")), "raise it in the test");
        tight.maxPixels = 600;
        setPixelBudget(tight);
        QCOMPARE(loadImageRgb8(file("small.png")).size(), cv::Size(30, 20));
        tight.maxPixels = 0;
        QVERIFY_THROWS_EXCEPTION(Error, setPixelBudget(tight));
    }

    // Label maps, corrections and cached mask maps are read with the same care as
    // photographs: the budget on the header, a named error for every other failure.
    void singleChannelImagesAreReadWithCare()
    {
        BudgetGuard guard;
        cv::Mat ids(6, 5, CV_8UC1);
        for (int i = 0; i < ids.rows * ids.cols; ++i)
            ids.data[i] = std::uint8_t(i);
        const std::string png = encoded(ids, ".png");
        writeFileAtomic(file("ids.png"), png);
        const cv::Mat back = loadGray8(file("ids.png"), "correction");
        QCOMPARE(back.type(), CV_8UC1);
        QCOMPARE(cv::norm(back, ids, cv::NORM_INF), 0.0);

        std::string bomb = png;
        for (int i = 0; i < 4; ++i) {
            bomb[16 + std::size_t(i)] = char((30000u >> (24 - 8 * i)) & 0xFF);
            bomb[20 + std::size_t(i)] = char((30000u >> (24 - 8 * i)) & 0xFF);
        }
        writeFileAtomic(file("bomb.png"), bomb);
        EXPECT_ERROR_CONTAINING(loadGray8(file("bomb.png"), "correction"),
                                "bomb.png': correction of 30000x30000 pixels");
        writeFileAtomic(file("rgb.png"), encoded(testing::patternedImage(6, 5), ".png"));
        EXPECT_ERROR_CONTAINING(
            loadGray8(file("rgb.png"), "mask cache entry"),
            "rgb.png': a mask cache entry must be a single-channel 8-bit image");
        writeFileAtomic(file("cut.png"), png.substr(0, png.size() / 2));
        EXPECT_ERROR_CONTAINING(loadGray8(file("cut.png"), "label map"), "cut.png'");
        writeFileAtomic(file("text.png"), "not an image at all");
        EXPECT_ERROR_CONTAINING(loadGray8(file("text.png"), "label map"), "text.png'");
    }

    void thinImagesAndHugeResizesAreRefused()
    {
        BudgetGuard guard;
        PreprocessParams p;
        p.shorterSide = 320;
        // 3000 x 2 would be resized to 480000 x 320.
        EXPECT_ERROR_CONTAINING(prepareImage(testing::patternedImage(2, 3000), p), "1500:1");
        PixelBudget wide;
        wide.maxAspect = 5000;
        setPixelBudget(wide);
        EXPECT_ERROR_CONTAINING(prepareImage(testing::patternedImage(2, 3000), p), "480000x320");
        // Just inside both limits (with room for the processing size: see below).
        wide.maxAspect = 50;
        wide.maxProcessingPixels = 6'000'000;
        setPixelBudget(wide);
        QCOMPARE(prepareImage(testing::patternedImage(10, 500), p).resizedSize,
                 cv::Size(16000, 320));
        p.shorterSide = kMaxResizeSide + 1;
        EXPECT_ERROR_CONTAINING(prepareImage(testing::patternedImage(10, 10), p), "at most 2048");
    }

    // What the backbone and the CRF get stays within maxProcessingPixels: a free fit
    // shrinks (aspect kept, the largest shorter side that fits), a protocol's fixed
    // square is refused, and an image within it is untouched.
    void processingBudgetShrinksFreeFitsAndRefusesFixedSquares()
    {
        BudgetGuard guard;
        const std::int64_t budget = PixelBudget().maxProcessingPixels;
        QCOMPARE(budget, std::int64_t(1024 * 1024));
        PreprocessParams p;
        p.shorterSide = 320;
        // 500 x 10 at 320 would be 16000 x 320 (5.1 MP): 144 is the largest shorter
        // side whose padded size fits (145 gives 7256 x 152 = 1.10 MP).
        const PreparedImage thin = prepareImage(testing::patternedImage(10, 500), p);
        QCOMPARE(thin.resizedSize, cv::Size(7200, 144));
        QCOMPARE(thin.requestedSize, cv::Size(16000, 320));
        QVERIFY(std::int64_t(thin.rgb.total()) <= budget);
        QVERIFY2(thin.budgetNote().find("7200x144 pixels instead of 16000x320") !=
                     std::string::npos,
                 thin.budgetNote().c_str());
        QCOMPARE(labelsToOriginal(cv::Mat(thin.rgb.size(), CV_8U, cv::Scalar(3)), thin).size(),
                 cv::Size(500, 10));
        // The same for a portrait image and for "keep the size" (shorterSide 0).
        QCOMPARE(prepareImage(testing::patternedImage(500, 10), p).resizedSize,
                 cv::Size(144, 7200));
        p.shorterSide = 0;
        const PreparedImage kept = prepareImage(testing::patternedImage(1100, 1100), p);
        QCOMPARE(kept.resizedSize, cv::Size(1024, 1024));
        QCOMPARE(kept.requestedSize, cv::Size(1100, 1100));
        // Cropping to the patch grid counts the cropped size: 1030 x 1030 fits as 1024 x 1024.
        p.fit = FitMode::CropToPatchMultiple;
        const PreparedImage cropped = prepareImage(testing::patternedImage(1030, 1030), p);
        QCOMPARE(cropped.rgb.size(), cv::Size(1024, 1024));
        QVERIFY(cropped.requestedSize.empty());
        QVERIFY(cropped.budgetNote().empty());
        // The evaluation protocol's square is a fixed size: refused, not shrunk.
        p.fit = FitMode::CenterCropSquare;
        p.shorterSide = 1032;
        EXPECT_ERROR_CONTAINING(prepareImage(testing::patternedImage(40, 60), p),
                                "1032x1032 pixels (1.1 MP) is more than the processing budget");
        p.shorterSide = 1024;
        QCOMPARE(prepareImage(testing::patternedImage(40, 60), p).rgb.size(), cv::Size(1024, 1024));
        // Configurable, with a floor of 64 x 64.
        PixelBudget raised;
        raised.maxProcessingPixels = 2048 * 2048;
        setPixelBudget(raised);
        p.shorterSide = 2048;
        QCOMPARE(prepareImage(testing::patternedImage(40, 60), p).rgb.size(), cv::Size(2048, 2048));
        raised.maxProcessingPixels = 64 * 64 - 1;
        EXPECT_ERROR_CONTAINING(setPixelBudget(raised), "at least 4096 pixels");
    }

    void unknownAndDamagedFilesNameThemselves()
    {
        writeFileAtomic(file("anim.gif"), "GIF89a\x01\0\x01\0\0\0\0;");
        EXPECT_ERROR_CONTAINING(readImageHeader(file("anim.gif")), "anim.gif");
        EXPECT_ERROR_CONTAINING(readImageHeader(file("anim.gif")), "not an image in a format");
        writeFileAtomic(file("empty.png"), "");
        EXPECT_ERROR_CONTAINING(readImageHeader(file("empty.png")), "empty");
        writeFileAtomic(file("short.png"), std::string("\x89PNG\r\n\x1a\n\0\0", 10));
        EXPECT_ERROR_CONTAINING(readImageHeader(file("short.png")), "short.png");
    }
};

QTEST_GUILESS_MAIN(TestImageIo)
#include "tst_imageio.moc"
