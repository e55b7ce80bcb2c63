// SPDX-License-Identifier: MIT
// primaps-studio's --perspective NAME and --size WxH: the gallery of the
// perspectives (scripts/studio-gallery.sh) renders each one for a given screen.
#pragma once

#include <QCommandLineOption>
#include <QList>
#include <QSize>

class QCommandLineParser;

namespace primaps {

class MainWindow;

/// --perspective NAME (explore, review, fit, evaluate, annotate) and --size WxH.
QList<QCommandLineOption> perspectiveOptions();

/// "1366x768" -> 1366 x 768; an invalid size for anything else.
QSize parseScreenSize(const QString& text);

/// Before the QApplication exists: with --size on the offscreen platform (set,
/// or chosen here for a --screenshot without a display), gives that platform
/// one screen of that size, so the window is laid out as on such a screen.
void prepareScreenForArguments(int argc, char* argv[]);
/// After the QApplication exists: removes what prepareScreenForArguments() wrote.
void cleanUpScreenPreparation();

/// Applies --size (the window fits a screen of that size) and --perspective.
/// Returns a non-negative exit code when an argument is wrong (one line on
/// stderr), -1 to go on.
int applyPerspectiveOptions(MainWindow& window, const QCommandLineParser& parser);

/// For a screenshot: moves the pointer to the screen's bottom-right corner. A
/// virtual X screen starts with it in the middle, over the canvas, whose hover
/// read-outs would then show in the picture as if someone pointed there.
void parkPointerForScreenshot(MainWindow& window);

} // namespace primaps
