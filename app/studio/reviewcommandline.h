// SPDX-License-Identifier: MIT
// The review part of primaps-studio's command line: --run, --dataset/--root/
// --split, --image, --layer, --theta, --crf, and --screenshot in review mode.
#pragma once

#include <QCommandLineOption>
#include <QList>

class QCommandLineParser;

namespace primaps {

class MainWindow;

/// The options; add them to the parser before process().
QList<QCommandLineOption> reviewOptions();

/// True when the command line asks for a review (--run or --dataset).
bool wantsReview(const QCommandLineParser& parser);

/// Starts the review the command line asks for. With --screenshot, the window is
/// grabbed once the chosen layer of the chosen image is on the canvas (and the
/// split's metrics are known), saved, and the application quits (exit code 0, or
/// 1 with one line on stderr naming the problem: the run cannot be opened, the
/// image does not exist, the layer cannot be shown). Returns a non-negative
/// exit code when the arguments are wrong and the program should end at once;
/// -1 to go on into the event loop.
int startReviewFromCommandLine(MainWindow& window, const QCommandLineParser& parser,
                               const QString& screenshotPath);

} // namespace primaps
