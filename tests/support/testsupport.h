// SPDX-License-Identifier: MIT
// Helpers shared by the test executables (header-only; every test gets this
// folder on its include path).
#pragma once

#include "error.h"

#include <cstdint>
#include <opencv2/core/mat.hpp>
#include <QProcess>
#include <QString>
#include <QStringList>
#include <QtTest>
#include <string>

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
