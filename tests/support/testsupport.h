// SPDX-License-Identifier: MIT
// Helpers shared by the test executables (header-only; every test gets this
// folder on its include path).
#pragma once

#include "support/error.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <functional>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QProcess>
#include <QString>
#include <QStringList>
#include <QtTest>
#include <random>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <string>
#include <vector>

namespace primaps::testing {

/// Runs `f` and returns the primaps::Error message ("" when nothing was thrown).
template <typename F> std::string errorOf(F&& f)
{
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return {};
}

/// Runs `check` in a forked child whose address space may grow by only
/// `extraBytes` beyond what it has (RLIMIT_AS), and returns the child's verdict:
/// true when `check` returned true. A reader that allocated what a hostile header
/// claims would fail (or abort) there; one that refuses first behaves as usual.
inline bool holdsWithLittleMemory(const std::function<bool()>& check,
                                  std::uint64_t extraBytes = std::uint64_t(512) << 20)
{
    const pid_t child = fork();
    if (child < 0)
        return false;
    if (child == 0) {
        std::ifstream status("/proc/self/status");
        std::string line;
        rlim_t current = 0;
        while (std::getline(status, line))
            if (line.rfind("VmSize:", 0) == 0)
                current = rlim_t(std::stoull(line.substr(7))) * 1024;
        const rlimit limit{current + rlim_t(extraBytes), current + rlim_t(extraBytes)};
        setrlimit(RLIMIT_AS, &limit);
        _exit(check() ? 0 : 1);
    }
    int status = 0;
    if (waitpid(child, &status, 0) != child)
        return false;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/// A deterministic, non-trivial RGB test picture (CV_8UC3).
inline cv::Mat patternedImage(int height, int width)
{
    cv::Mat rgb(height, width, CV_8UC3);
    for (int y = 0; y < height; ++y)
        for (int x = 0; x < width; ++x)
            for (int c = 0; c < 3; ++c)
                rgb.at<cv::Vec3b>(y, x)[c] =
                    std::uint8_t((37 * y + 11 * x + 101 * c + 13 * ((x * y) % 7)) % 256);
    return rgb;
}

/// One image of a tiny labelled dataset: a disc (class 1) and a box (class 2) on
/// ground (class 0), in noisy flat colours, 64 x 48. Writes the picture to
/// `imagePath` and the classes, mapped through `labelValue`, to `labelPath`
/// (creating their folders). Dataset, fit, export and GUI-fit tests share it.
inline void writeDiscAndBoxSample(const QString& imagePath, const QString& labelPath,
                                  unsigned seed,
                                  const std::function<int(int)>& labelValue = [](int c) {
                                      return c;
                                  })
{
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> pos(8, 40);
    std::normal_distribution<float> noise(0.0f, 12.0f);
    const int w = 64, h = 48;
    const int cx = pos(rng), cy = pos(rng) * 3 / 4, bx = pos(rng), by = pos(rng) / 2;
    cv::Mat bgr(h, w, CV_8UC3), labels(h, w, CV_8UC1);
    const cv::Vec3f colours[3] = {{40, 40, 200}, {40, 180, 40}, {220, 40, 40}};
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            int cls = 0;
            if ((x - cx) * (x - cx) + (y - cy) * (y - cy) < 100)
                cls = 1;
            if (x >= bx && x < bx + 20 && y >= by && y < by + 14)
                cls = 2;
            labels.at<std::uint8_t>(y, x) = std::uint8_t(labelValue(cls));
            for (int c = 0; c < 3; ++c)
                bgr.at<cv::Vec3b>(y, x)[c] = cv::saturate_cast<uchar>(colours[cls][c] + noise(rng));
        }
    QDir().mkpath(QFileInfo(imagePath).path());
    QDir().mkpath(QFileInfo(labelPath).path());
    QVERIFY(cv::imwrite(imagePath.toStdString(), bgr));
    QVERIFY(cv::imwrite(labelPath.toStdString(), labels));
}

/// A labelled folder dataset of `count` writeDiscAndBoxSample() pictures under
/// `root`: images/<stem>.png and labels/<stem>.png, the stem `stemPattern` with
/// %1 replaced by 0, 1, … (zero-padded to `indexWidth` digits) and the seeds
/// firstSeed, firstSeed + 1, …, and classes.txt naming the three classes
/// (ground, ball, box).
inline void writeDiscAndBoxDataset(const QString& root, int count, unsigned firstSeed,
                                   const QString& stemPattern = QStringLiteral("im%1"),
                                   int indexWidth = 0)
{
    const QDir d(root);
    for (int i = 0; i < count; ++i) {
        const QString stem = stemPattern.arg(i, indexWidth, 10, QLatin1Char('0'));
        writeDiscAndBoxSample(d.filePath("images/" + stem + ".png"),
                              d.filePath("labels/" + stem + ".png"), firstSeed + unsigned(i));
    }
    QFile classes(d.filePath(QStringLiteral("classes.txt")));
    QVERIFY(classes.open(QIODevice::WriteOnly | QIODevice::Truncate));
    classes.write("ground\nball\nbox\n");
}

/// A unit vector in `dim` dimensions, uniformly distributed on the sphere: `normal`
/// (mean 0, sd 1) draws each coordinate from `rng`, then the vector is normalised.
inline std::vector<float> randomUnitVector(int dim, std::mt19937& rng,
                                           std::normal_distribution<float>& normal)
{
    std::vector<float> v(static_cast<std::size_t>(dim));
    double n = 0;
    for (float& x : v) {
        x = normal(rng);
        n += double(x) * x;
    }
    for (float& x : v)
        x = float(x / std::sqrt(n));
    return v;
}

/// A `rows` x `cols` matrix of `type` filled with uniform noise in [0, 256) from `seed`.
inline cv::Mat randomMat(int rows, int cols, int type, unsigned seed)
{
    cv::Mat mat(rows, cols, type);
    cv::RNG rng(seed);
    rng.fill(mat, cv::RNG::UNIFORM, 0, 256);
    return mat;
}

/// True when `a` and `b` have the same size and type and equal pixels.
inline bool sameMat(const cv::Mat& a, const cv::Mat& b)
{
    return a.size() == b.size() && a.type() == b.type() &&
           (a.empty() || cv::norm(a, b, cv::NORM_INF) == 0.0);
}

/// A wall-clock limit of a test, stretched by PRIMAPS_TEST_TIME_SCALE (a whole number,
/// default 1): packaging/test.sh sets it for the sanitizer build, whose instrumented
/// decompositions and fits run several times slower than the Release build's.
inline int scaledTimeout(int ms)
{
    bool ok = false;
    const int scale = qEnvironmentVariableIntValue("PRIMAPS_TEST_TIME_SCALE", &ok);
    return ok && scale > 1 ? int(std::min<qint64>(qint64(ms) * scale, 24LL * 3600 * 1000)) : ms;
}

/// Waits up to `timeoutMs` (pass it through scaledTimeout()) for the next emission
/// recorded by `spy` and returns its first argument as a bool (e.g. the `ok` of
/// MainWindow::decompositionShown); false on timeout.
inline bool waitNextOk(QSignalSpy& spy, int timeoutMs)
{
    const int before = spy.count();
    if (!QTest::qWaitFor([&] { return spy.count() > before; }, timeoutMs))
        return false;
    return spy.last().at(0).toBool();
}

/// How long a studio test waits for one decomposition to be shown (two minutes,
/// stretched like scaledTimeout()).
inline int studioTimeoutMs()
{
    return scaledTimeout(120000);
}

/// Waits up to studioTimeoutMs() for the next MainWindow::decompositionShown()
/// recorded by `spy` and returns its `ok` argument.
inline bool waitShown(QSignalSpy& spy)
{
    return waitNextOk(spy, studioTimeoutMs());
}

/// What a finished command-line run printed and returned.
struct CliRun
{
    int exitCode = -1; ///< -1 when the process crashed
    QString out;
    QString err;
};

/// Runs `program` with `args` (optionally in `workingDirectory` with `environment`)
/// and waits up to five minutes for it.
inline CliRun
runProgram(const QString& program, const QStringList& args, const QString& workingDirectory = {},
           const QProcessEnvironment& environment = QProcessEnvironment::systemEnvironment())
{
    QProcess process;
    process.setProcessEnvironment(environment);
    if (!workingDirectory.isEmpty())
        process.setWorkingDirectory(workingDirectory);
    process.start(program, args);
    if (!process.waitForFinished(300000))
        qFatal("%s did not finish", qPrintable(program));
    CliRun r;
    r.exitCode = process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1;
    r.out = QString::fromUtf8(process.readAllStandardOutput());
    r.err = QString::fromUtf8(process.readAllStandardError());
    return r;
}

} // namespace primaps::testing

/// Fails the test unless evaluating `expr` throws a primaps::Error whose message
/// contains `needle`.
#define EXPECT_ERROR_CONTAINING(expr, needle)                                                      \
    do {                                                                                           \
        const std::string message_ = primaps::testing::errorOf([&] { (void)(expr); });             \
        if (message_.find(needle) == std::string::npos)                                            \
            QFAIL(qPrintable(                                                                      \
                QString("expected an error containing '%1', got '%2'")                             \
                    .arg(QString::fromStdString(needle), QString::fromStdString(message_))));      \
    } while (false)
