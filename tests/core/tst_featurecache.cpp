// SPDX-License-Identifier: MIT
// Feature and mask caches: fp16 round trip, atomic entries under a killed writer,
// reuse, and invalidation when the key changes.
#include "support/error.h"
#include "dataset/featurecache.h"

#include <cmath>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <opencv2/core.hpp>
#include <QTemporaryDir>
#include <QtTest>
#include <random>
#include <sys/wait.h>
#include <unistd.h>

using namespace primaps;
namespace fs = std::filesystem;

namespace {

FeatureMap randomFeatures(int c, int h, int w, unsigned seed)
{
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 3.0f);
    FeatureMap f(c, h, w);
    for (float& v : f.values)
        v = normal(rng);
    return f;
}

CacheKey keyFor(int resolution)
{
    CacheKey key;
    key.set("dataset", "folder:/data/x").set("backbone", "filterbank").set("weights", "");
    key.set("resolution", double(resolution)).set("preprocessing", "center-crop-square");
    return key;
}

void truncateFile(const std::string& path, std::uintmax_t size)
{
    fs::resize_file(path, size);
}

} // namespace

class TestFeatureCache : public QObject
{
    Q_OBJECT

    QTemporaryDir dir;
    std::string root() const { return dir.path().toStdString(); }

private slots:
    void halfConversions()
    {
        QCOMPARE(floatToHalf(1.0f), std::uint16_t(0x3c00));
        QCOMPARE(floatToHalf(-2.0f), std::uint16_t(0xc000));
        QCOMPARE(floatToHalf(65504.0f), std::uint16_t(0x7bff));
        QCOMPARE(floatToHalf(65520.0f), std::uint16_t(0x7c00)); // rounds up to infinity
        QCOMPARE(floatToHalf(0.1f), std::uint16_t(0x2e66));
        QCOMPARE(floatToHalf(std::ldexp(1.0f, -24)), std::uint16_t(0x0001));
        QCOMPARE(floatToHalf(std::ldexp(1.0f, -25)), std::uint16_t(0x0000)); // tie to even
        QCOMPARE(floatToHalf(std::ldexp(1.5f, -25)), std::uint16_t(0x0001));
        QCOMPARE(floatToHalf(1.0f + std::ldexp(1.0f, -11)), std::uint16_t(0x3c00)); // tie to even
        QCOMPARE(floatToHalf(1.0f + std::ldexp(3.0f, -11)), std::uint16_t(0x3c02));
        QCOMPARE(halfToFloat(0x2e66), 0.0999755859375f);
        // Every finite half survives the round trip bit for bit.
        for (std::uint32_t h = 0; h < 0x10000u; ++h) {
            if ((h & 0x7c00u) == 0x7c00u && (h & 0x3ffu))
                continue; // NaN payloads are not preserved
            QCOMPARE(floatToHalf(halfToFloat(std::uint16_t(h))), std::uint16_t(h));
        }
    }

    void readingConvertsEveryFiniteHalfExactly()
    {
        // The vectorised conversion of a read (F16C where the processor has it)
        // gives halfToFloat's bits for every finite half, denormals and -0 included.
        std::vector<std::uint16_t> halfs;
        for (std::uint32_t h = 0; h < 0x10000u; ++h)
            if ((h & 0x7c00u) != 0x7c00u)
                halfs.push_back(std::uint16_t(h));
        FeatureMap f(1, 1, int(halfs.size()));
        for (std::size_t i = 0; i < halfs.size(); ++i)
            f.values[i] = halfToFloat(halfs[i]);
        FeatureCache cache(root(), keyFor(64));
        cache.write("every-half", f);
        const FeatureMap back = cache.read("every-half");
        QCOMPARE(back.values.size(), halfs.size());
        for (std::size_t i = 0; i < halfs.size(); ++i) {
            const float expected = halfToFloat(halfs[i]);
            QVERIFY(std::memcmp(&back.values[i], &expected, sizeof expected) == 0);
        }
    }

    void roundTripAndReuse()
    {
        const FeatureMap f = randomFeatures(16, 5, 7, 1);
        {
            FeatureCache cache(root(), keyFor(320));
            QVERIFY(!cache.contains("a/b"));
            cache.write("a/b", f);
            QVERIFY(cache.contains("a/b"));
        }
        // A new instance (a later run) finds the entry: resumable.
        FeatureCache again(root(), keyFor(320));
        QVERIFY(again.contains("a/b"));
        const MappedFeatures m = again.map("a/b");
        QCOMPARE(m.channels(), 16);
        QCOMPARE(m.height(), 5);
        QCOMPARE(m.width(), 7);
        const FeatureMap back = m.toFeatureMap();
        for (std::size_t i = 0; i < f.values.size(); ++i) {
            QCOMPARE(back.values[i], halfToFloat(floatToHalf(f.values[i])));
            QVERIFY(std::abs(back.values[i] - f.values[i]) <= std::abs(f.values[i]) / 1024 + 1e-7f);
        }
        QVERIFY_THROWS_EXCEPTION(Error, again.write("../escape", f));
        QVERIFY_THROWS_EXCEPTION(Error, again.write("x", FeatureMap()));
        FeatureMap huge = f;
        huge.values[3] = 1e6f;
        QVERIFY_THROWS_EXCEPTION(Error, again.write("huge", huge));
        QVERIFY(!again.contains("huge"));
    }

    void changedKeyNeverReusesEntries()
    {
        FeatureCache a(root(), keyFor(320));
        a.write("img", randomFeatures(4, 2, 2, 2));
        FeatureCache b(root(), keyFor(322));
        QVERIFY(a.directory() != b.directory());
        QVERIFY(!b.contains("img"));
        // Even a file planted under b's name is refused: the header carries the key.
        fs::copy_file(a.entryPath("img"), b.entryPath("img"));
        QVERIFY(!b.contains("img"));
        QVERIFY_THROWS_EXCEPTION(Error, b.map("img"));
        // Same fields in another order is another key too (the text differs), and the
        // weights hash is part of it.
        CacheKey c = keyFor(320);
        c.set("weights", "0123456789abcdef");
        QVERIFY(c.digest() != keyFor(320).digest());
        // A folder whose key.txt holds another key is not taken over.
        fs::create_directories(fs::path(root()) / ("features-" + keyFor(998).digest()));
        std::ofstream(fs::path(root()) / ("features-" + keyFor(998).digest()) / "key.txt")
            << "primaps-cache-key 1\nsomething=else\n";
        QVERIFY_THROWS_EXCEPTION(Error, FeatureCache(root(), keyFor(998)));
    }

    void damagedEntriesAreMissing()
    {
        FeatureCache cache(root(), keyFor(100));
        cache.write("t", randomFeatures(8, 3, 3, 3));
        truncateFile(cache.entryPath("t"), 32 + 10);
        QVERIFY(!cache.contains("t"));
        QVERIFY_THROWS_EXCEPTION(Error, cache.map("t"));
        truncateFile(cache.entryPath("t"), 5);
        QVERIFY(!cache.contains("t"));
        QVERIFY_THROWS_EXCEPTION(Error, cache.map("t"));
        QVERIFY_THROWS_EXCEPTION(Error, cache.map("never-written"));
    }

    void killedWriterLeavesNoCorruptEntry()
    {
        // A child process writes large entries in a loop and is killed with SIGKILL
        // in the middle; every entry visible under its final name must be complete.
        const CacheKey key = keyFor(640);
        const FeatureMap f = randomFeatures(384, 40, 40, 4);
        const pid_t child = ::fork();
        QVERIFY(child >= 0);
        if (child == 0) {
            try {
                FeatureCache cache(root(), key);
                for (int i = 0; i < 400; ++i)
                    cache.write("e" + std::to_string(i), f);
            } catch (...) {
            }
            ::_exit(0);
        }
        // Kill it once the first entry is in place, while later ones are being written.
        const std::string first = FeatureCache(root(), key).entryPath("e0");
        for (int waited = 0; waited < 2000 && !fs::exists(first); ++waited)
            ::usleep(5 * 1000);
        ::usleep(30 * 1000);
        ::kill(child, SIGKILL);
        int status = 0;
        ::waitpid(child, &status, 0);
        QVERIFY(WIFSIGNALED(status)); // it really was interrupted

        FeatureCache cache(root(), key);
        int complete = 0;
        for (int i = 0; i < 400; ++i) {
            const std::string id = "e" + std::to_string(i);
            if (!fs::exists(cache.entryPath(id)))
                continue;
            QVERIFY2(cache.contains(id), id.c_str());
            const FeatureMap back = cache.read(id);
            QCOMPARE(back.values.back(), halfToFloat(floatToHalf(f.values.back())));
            ++complete;
        }
        QVERIFY(complete > 0);
        QVERIFY(complete < 400);
    }

    void maskCache()
    {
        CacheKey key = keyFor(320);
        key.set("threshold", 0.4);
        MaskCache cache(root(), key);
        cv::Mat m(4, 5, CV_8UC1, cv::Scalar(0));
        m.at<std::uint8_t>(1, 2) = 3;
        QVERIFY(!cache.contains("x/y"));
        cache.write("x/y", m);
        QVERIFY(cache.contains("x/y"));
        const cv::Mat back = MaskCache(root(), key).read("x/y");
        QCOMPARE(cv::countNonZero(back != m), 0);
        truncateFile(cache.entryPath("x/y"), 30);
        QVERIFY(!cache.contains("x/y"));
        QVERIFY_THROWS_EXCEPTION(Error, cache.write("z", cv::Mat(2, 2, CV_8UC3)));
        // The feature and mask caches of one key live apart.
        QVERIFY(cache.directory() != FeatureCache(root(), key).directory());
    }
};

QTEST_APPLESS_MAIN(TestFeatureCache)
#include "tst_featurecache.moc"
