// SPDX-License-Identifier: MIT
// primaps-studio: the desktop application. Everything but the command line
// lives in MainWindow.

#include "common/imagelimitsdialog.h"
#include "explore/featureviewwidget.h"
#include "explore/imagelistwidget.h"
#include "mainwindow.h"
#include "perspectivecommandline.h"
#include "projectcontroller.h"
#include "reviewcommandline.h"
#include "support/runtime.h"

#include <cstdio>
#include <cstring>
#include <QAction>
#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QTimer>

namespace {

// A screenshot run must end even if the decomposition never comes back.
constexpr int kScreenshotTimeoutMs = 180000;
// Lets the docks settle and the last paint happen before the window is grabbed.
constexpr int kScreenshotSettleMs = 500;

// --help and --version only print text, so they must work without a display
// (help2man runs them at build time). QApplication aborts (SIGABRT) when its
// platform finds no display, so those two use the offscreen platform unless the
// user chose one, and a window run without any display says what to do instead.
// Returns false when the studio cannot start.
bool choosePlatform(int argc, char* argv[])
{
    if (qEnvironmentVariableIsSet("QT_QPA_PLATFORM"))
        return true;
    for (int i = 1; i < argc && std::strcmp(argv[i], "--") != 0; ++i)
        for (const char* option : {"-h", "--help", "-help", "--help-all", "-v", "--version"})
            if (std::strcmp(argv[i], option) == 0) {
                qputenv("QT_QPA_PLATFORM", "offscreen");
                return true;
            }
    if (qEnvironmentVariableIsEmpty("DISPLAY") && qEnvironmentVariableIsEmpty("WAYLAND_DISPLAY")) {
        std::fprintf(stderr,
                     "primaps-studio: no display (neither DISPLAY nor WAYLAND_DISPLAY is set).\n"
                     "Run it in a desktop session, under a virtual one (xvfb-run -a "
                     "primaps-studio), or\nwith QT_QPA_PLATFORM=offscreen; the command line "
                     "'primaps' needs no display.\n");
        return false;
    }
    return true;
}

} // namespace

int main(int argc, char* argv[])
{
    primaps::prepareScreenForArguments(argc, argv); // --size on the offscreen platform
    if (!choosePlatform(argc, argv))
        return 1;
    QApplication app(argc, argv);
    primaps::cleanUpScreenPreparation();
    QApplication::setOrganizationName(QStringLiteral("PriMaPs"));
    QApplication::setApplicationName(QStringLiteral("PriMaPs Studio"));
    QApplication::setApplicationVersion(QString::fromStdString(primaps::versionString()));
    QApplication::setWindowIcon(QIcon(QStringLiteral(":/primaps/icons/primaps-studio-256.png")));
    QApplication::setDesktopFileName(QStringLiteral("primaps-studio"));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "PriMaPs Studio: unsupervised segmentation with Principal Mask Proposals.\n"
        "Opens the given images and folders, or the bundled samples when none are given."));
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption screenshot(
        QStringLiteral("screenshot"),
        QStringLiteral("Wait for the first decomposition, save a picture of the window to "
                       "FILE (PNG) and quit."),
        QStringLiteral("FILE"));
    parser.addOption(screenshot);
    const QCommandLineOption compare(
        QStringLiteral("compare"),
        QStringLiteral("Start in the before/after CRF view (View > Before / After CRF)."));
    parser.addOption(compare);
    parser.addOptions(primaps::reviewOptions());
    parser.addOptions(primaps::perspectiveOptions());
    parser.addPositionalArgument(QStringLiteral("images"),
                                 QStringLiteral("Image files or folders to open, or one "
                                                "PROJECT.primaps file."),
                                 QStringLiteral("[images...|PROJECT.primaps]"));
    parser.process(app);

    primaps::configureThreads();
    primaps::applyStoredPixelBudget(); // Decompose > Image limits

    primaps::MainWindow window;
    const QString shotPath = parser.value(screenshot);
    if (primaps::wantsReview(parser)) {
        window.setPersistSettings(shotPath.isEmpty());
        if (shotPath.isEmpty())
            window.restoreSettings();
        if (const int code = primaps::applyPerspectiveOptions(window, parser); code >= 0)
            return code;
        if (!shotPath.isEmpty())
            primaps::parkPointerForScreenshot(window);
        window.show();
        const int code = primaps::startReviewFromCommandLine(window, parser, shotPath);
        return code >= 0 ? code : app.exec();
    }
    if (shotPath.isEmpty()) {
        window.restoreSettings();
    } else {
        // A screenshot shows the default layout and leaves the settings alone.
        window.setPersistSettings(false);
        QObject::connect(
            &window, &primaps::MainWindow::decompositionShown, &window,
            [&window, shotPath](bool ok) {
                // The feature view computes its picture after the decomposition
                // is shown: the screenshot waits for it, not for a fixed time.
                auto* poll = new QTimer(&window);
                poll->setInterval(50);
                QObject::connect(poll, &QTimer::timeout, &window, [&window, shotPath, ok, poll] {
                    if (window.featureView()->isBusy())
                        return;
                    poll->deleteLater();
                    poll->stop();
                    QTimer::singleShot(kScreenshotSettleMs, &window, [&window, shotPath, ok] {
                        if (!window.grab().save(shotPath)) {
                            std::fprintf(stderr, "primaps-studio: cannot write '%s'\n",
                                         qPrintable(QDir::toNativeSeparators(shotPath)));
                            QApplication::exit(1);
                            return;
                        }
                        std::printf("primaps-studio: saved %s\n",
                                    qPrintable(QDir::toNativeSeparators(shotPath)));
                        QApplication::exit(ok ? 0 : 1);
                    });
                });
                poll->start();
            },
            Qt::SingleShotConnection);
        QTimer::singleShot(kScreenshotTimeoutMs, &window, [] {
            std::fprintf(stderr, "primaps-studio: no decomposition within %d s; no screenshot\n",
                         kScreenshotTimeoutMs / 1000);
            QApplication::exit(1);
        });
    }
    if (parser.isSet(compare))
        window.compareAction()->setChecked(true);
    if (!shotPath.isEmpty()) {
        // An image that turns out unreadable is taken out of the list; when none
        // is left there is nothing to wait for: say why and stop at once.
        QObject::connect(window.imageList(), &primaps::ImageListWidget::imageRejected, &window,
                         [](const QString& path, const QString& reason) {
                             std::fprintf(stderr, "primaps-studio: %s: %s\n",
                                          qPrintable(QDir::toNativeSeparators(path)),
                                          qPrintable(reason));
                         });
        QObject::connect(window.imageList(), &primaps::ImageListWidget::loadingFinished, &window,
                         [&window] {
                             if (window.imageList()->count() > 0)
                                 return;
                             std::fprintf(stderr, "primaps-studio: no readable image to "
                                                  "decompose; no screenshot\n");
                             QApplication::exit(1);
                         });
    }
    if (const int code = primaps::applyPerspectiveOptions(window, parser); code >= 0)
        return code;
    if (!shotPath.isEmpty())
        primaps::parkPointerForScreenshot(window);
    window.show();
    QStringList paths = parser.positionalArguments();
    if (paths.size() == 1 && paths.first().endsWith(QLatin1String(".primaps"))) {
        // primaps-studio PROJECT.primaps: the project, not images.
        window.openInitial({});
        if (!window.projectController()->open(paths.first()))
            std::fprintf(stderr, "primaps-studio: cannot open the project '%s'\n",
                         qPrintable(paths.first()));
        return app.exec();
    }
    window.openInitial(paths);
    if (shotPath.isEmpty())
        QTimer::singleShot(0, &window, [&window] { window.projectController()->offerRecovery(); });
    if (!shotPath.isEmpty() && window.imageList()->count() == 0) {
        std::fprintf(stderr, "primaps-studio: no image to decompose; no screenshot\n");
        return 1;
    }
    return app.exec();
}
