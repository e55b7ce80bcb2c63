// SPDX-License-Identifier: MIT
#include "perspectivecommandline.h"

#include "mainwindow.h"
#include "perspectives.h"
#include "fit/fitmonitorwidget.h"
#include "reviewcontroller.h"

#include <cstdio>
#include <cstring>
#include <QCommandLineParser>
#include <QCoreApplication>
#include <QCursor>
#include <QDir>
#include <QFile>
#include <QRegularExpression>
#include <QScreen>

namespace primaps {

namespace {

QString g_screenConfig; // the offscreen platform's configuration, while it is read

// The value of `--name VALUE` or `--name=VALUE` in argv (empty when absent).
QString argumentValue(int argc, char* argv[], const char* name)
{
    const QByteArray option = QByteArray("--") + name;
    for (int i = 1; i < argc && std::strcmp(argv[i], "--") != 0; ++i) {
        if (option == argv[i] && i + 1 < argc)
            return QString::fromLocal8Bit(argv[i + 1]);
        if (QByteArray(argv[i]).startsWith(option + "="))
            return QString::fromLocal8Bit(argv[i] + option.size() + 1);
    }
    return {};
}

} // namespace

QList<QCommandLineOption> perspectiveOptions()
{
    return {
        QCommandLineOption(QStringLiteral("perspective"),
                           QStringLiteral("Start in perspective NAME: explore, review, fit, "
                                          "evaluate or annotate."),
                           QStringLiteral("NAME")),
        QCommandLineOption(QStringLiteral("size"),
                           QStringLiteral("Lay the window out for a screen of WxH pixels (e.g. "
                                          "1366x768), as with --screenshot for documentation."),
                           QStringLiteral("WxH")),
    };
}

QSize parseScreenSize(const QString& text)
{
    static const QRegularExpression pattern(QStringLiteral("^(\\d{3,5})[xX](\\d{3,5})$"));
    const QRegularExpressionMatch m = pattern.match(text.trimmed());
    if (!m.hasMatch())
        return {};
    return QSize(m.captured(1).toInt(), m.captured(2).toInt());
}

void prepareScreenForArguments(int argc, char* argv[])
{
    const QSize size = parseScreenSize(argumentValue(argc, argv, "size"));
    if (!size.isValid())
        return;
    QString platform = qEnvironmentVariable("QT_QPA_PLATFORM");
    const bool noDisplay =
        qEnvironmentVariableIsEmpty("DISPLAY") && qEnvironmentVariableIsEmpty("WAYLAND_DISPLAY");
    if (platform.isEmpty() && noDisplay && !argumentValue(argc, argv, "screenshot").isEmpty())
        platform = QStringLiteral("offscreen");
    if (platform != QLatin1String("offscreen"))
        return; // a real (or virtual X) screen: --size bounds the window on it
    g_screenConfig = QDir::temp().filePath(
        QStringLiteral("primaps-studio-screen-%1.json").arg(QCoreApplication::applicationPid()));
    QFile config(g_screenConfig);
    if (!config.open(QIODevice::WriteOnly | QIODevice::Truncate))
        return;
    config.write(QStringLiteral("{\"screens\": [{\"name\": \"screen\", \"x\": 0, \"y\": 0, "
                                "\"width\": %1, \"height\": %2, \"logicalDpi\": 96, "
                                "\"logicalBaseDpi\": 96, \"dpr\": 1}]}\n")
                     .arg(size.width())
                     .arg(size.height())
                     .toUtf8());
    config.close();
    qputenv("QT_QPA_PLATFORM", ("offscreen:configfile=" + g_screenConfig).toLocal8Bit());
}

void cleanUpScreenPreparation()
{
    if (!g_screenConfig.isEmpty())
        QFile::remove(g_screenConfig);
    g_screenConfig.clear();
}

int applyPerspectiveOptions(MainWindow& window, const QCommandLineParser& parser)
{
    PerspectiveController* perspectives = window.perspectives();
    if (parser.isSet(QStringLiteral("size"))) {
        const QSize size = parseScreenSize(parser.value(QStringLiteral("size")));
        if (!size.isValid()) {
            std::fprintf(stderr,
                         "primaps-studio: --size must be WIDTHxHEIGHT (e.g. 1366x768), "
                         "not '%s'\n",
                         qPrintable(parser.value(QStringLiteral("size"))));
            return 2;
        }
        QScreen* screen = window.screen();
        const QPoint origin = screen ? screen->availableGeometry().topLeft() : QPoint();
        perspectives->setAvailableOverride(QRect(origin, size));
        window.resize(perspectives->defaultWindowSize());
        window.move(origin);
        perspectives->applyInitial();
    }
    if (parser.isSet(QStringLiteral("perspective"))) {
        PerspectiveController::Perspective p;
        if (!PerspectiveController::fromName(parser.value(QStringLiteral("perspective")), &p)) {
            std::fprintf(stderr,
                         "primaps-studio: unknown perspective '%s' (explore, review, "
                         "fit, evaluate, annotate)\n",
                         qPrintable(parser.value(QStringLiteral("perspective"))));
            return 2;
        }
        perspectives->setCurrent(p);
        // Opening a run switches to Review; the command line has the last word.
        QObject::connect(
            window.reviewController(), &ReviewController::opened, perspectives,
            [perspectives, p] { perspectives->setCurrent(p); }, Qt::SingleShotConnection);
    }
    // --run RUN: the Fit perspective shows how that run was fitted (its curves, read
    // from the run folder; nothing runs).
    if (parser.isSet(QStringLiteral("run")))
        window.fitMonitor()->showRun(parser.value(QStringLiteral("run")));
    return -1;
}

void parkPointerForScreenshot(MainWindow& window)
{
    if (QScreen* screen = window.screen())
        QCursor::setPos(screen, screen->geometry().bottomRight());
}

} // namespace primaps
