// SPDX-License-Identifier: MIT
// The studio's perspectives on a laptop and on a desktop screen, offscreen:
// for each perspective at 1366x768 and at 1920x1080 the window's frame lies
// inside the screen's available geometry and no visible dock is squeezed below
// its minimum size; the Steps dock shows at least three whole step cards on
// the 1080-pixel screen; each perspective keeps its own arrangement.
//
// Each screen size is its own process: the offscreen platform takes its
// screen from a configuration file, so main() runs this binary once per size
// (`--screen WxH`) and reports both.
//
// Set PRIMAPS_LAYOUT_SCREENSHOTS=folder to save a picture of every perspective.

#include "backbonehint.h"
#include "backbonemanager/backbonemanagerdialog.h"
#include "explore/canvaswidget.h"
#include "explore/imagelistwidget.h"
#include "annotate/labeleditor.h"
#include "labels/labelmap.h"
#include "backbones/modelcatalog.h"
#include "explore/legendwidget.h"
#include "common/messagewidget.h"
#include "mainwindow.h"
#include "perspectives.h"
#include "decompose/primaps.h"
#include "explore/stepperwidget.h"
#include "testsupport.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <QAction>
#include <QApplication>
#include <QDir>
#include <QDockWidget>
#include <QLabel>
#include <QFile>
#include <QProcess>
#include <QScreen>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QStatusBar>
#include <QTest>
#include <QToolBar>

using namespace primaps;
using Perspective = PerspectiveController::Perspective;

namespace {

constexpr int kTimeoutMs = 120000;
const QString kAstronaut = QStringLiteral(PRIMAPS_SAMPLES_DIR "/astronaut.jpg");
const QString kChelsea = QStringLiteral(PRIMAPS_SAMPLES_DIR "/chelsea.jpg");

QSize g_screen(1366, 768);

// The legend's and the step list's way of writing a share.
QString percent(double fraction)
{
    if (fraction > 0.0 && fraction < 0.0005)
        return QStringLiteral("<0.1 %");
    return QStringLiteral("%1 %").arg(100.0 * fraction, 0, 'f', 1);
}

// The width of a new window on this screen.
int defaultWidth(MainWindow& w)
{
    return w.perspectives()->defaultWindowSize().width();
}

QString describe(const QRect& r)
{
    return QStringLiteral("%1x%2+%3+%4").arg(r.width()).arg(r.height()).arg(r.x()).arg(r.y());
}

} // namespace

class TestStudioLayout : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("PriMaPs"));
        QCoreApplication::setApplicationName(QStringLiteral("PriMaPs Studio Layout Test"));
        QSettings().clear();
        QVERIFY(m_recovery.isValid());
        qputenv("PRIMAPS_RECOVERY_DIR", m_recovery.path().toLocal8Bit());
        QCOMPARE(QGuiApplication::primaryScreen()->availableGeometry().size(), g_screen);
        // No backbone checkpoint anywhere: the first-contact hint shows (and the
        // perspectives must fit with it).
        QVERIFY(m_models.isValid());
        for (const char* var : {"PRIMAPS_MODELS_DIR", "XDG_DATA_HOME", "TORCH_HOME"})
            qputenv(var, QDir(m_models.path()).filePath(QLatin1String(var)).toLocal8Bit());
    }

    void backboneHintOnFirstContact()
    {
        QSettings().remove(BackboneHint::settingsKey());
        QVERIFY(!BackboneHint::anyCheckpointInstalled());
        {
            MainWindow w;
            w.setPersistSettings(false);
            w.show();
            auto* hint = w.findChild<BackboneHint*>();
            QVERIFY(hint);
            QVERIFY(hint->isVisible());
            QVERIFY(hint->text().contains(QStringLiteral("filter-bank")));
            QVERIFY(hint->text().contains(QStringLiteral("Backbones")));
            w.perspectives()->setCurrent(Perspective::Fit);
            QVERIFY(!hint->isVisible()); // Explore only
            w.perspectives()->setCurrent(Perspective::Explore);
            QVERIFY(hint->isVisible());
            // The button opens the manager; nothing is fetched without a click there.
            hint->openBackbones();
            auto* manager = w.findChild<BackboneManagerDialog*>();
            QVERIFY(manager);
            QVERIFY(manager->isVisible());
            manager->close();
            QVERIFY(QDir(qEnvironmentVariable("XDG_DATA_HOME")).isEmpty() ||
                    !QDir(qEnvironmentVariable("XDG_DATA_HOME")).exists());
            hint->dismiss();
            QVERIFY(!hint->isVisible());
        }
        {
            MainWindow again; // dismissed for good
            again.show();
            QVERIFY(!again.findChild<BackboneHint*>()->isVisible());
        }
        QSettings().remove(BackboneHint::settingsKey());
        // A checkpoint in the models folder: no hint.
        const QString folder = qEnvironmentVariable("PRIMAPS_MODELS_DIR");
        QVERIFY(QDir().mkpath(folder));
        QFile fake(QDir(folder).filePath(QString::fromStdString(modelCatalog().front().fileName)));
        QVERIFY(fake.open(QIODevice::WriteOnly));
        fake.close();
        QVERIFY(BackboneHint::anyCheckpointInstalled());
        {
            MainWindow withWeights;
            withWeights.show();
            QVERIFY(!withWeights.findChild<BackboneHint*>()->isVisible());
        }
        QVERIFY(fake.remove());
    }

    void everyPerspectiveFitsTheScreen()
    {
        MainWindow w;
        w.setPersistSettings(false);
        QSignalSpy shown(&w, &MainWindow::decompositionShown);
        w.show();
        w.openInitial({kAstronaut, kChelsea});
        QVERIFY(primaps::testing::waitNextOk(shown, kTimeoutMs));
        const QRect available = w.screen()->availableGeometry();
        const QString shots = qEnvironmentVariable("PRIMAPS_LAYOUT_SCREENSHOTS");
        for (Perspective p : PerspectiveController::all()) {
            const QString name = PerspectiveController::name(p);
            w.perspectives()->setCurrent(p);
            QTest::qWait(150); // docks shown, the layout settled, a fit to the screen run
            QCOMPARE(w.perspectives()->current(), p);
            if (!shots.isEmpty())
                QVERIFY(w.grab().save(QDir(shots).filePath(QStringLiteral("%1-%2x%3.png")
                                                               .arg(name)
                                                               .arg(g_screen.width())
                                                               .arg(g_screen.height()))));
            QVERIFY2(available.contains(w.frameGeometry()),
                     qPrintable(QStringLiteral("%1: frame %2 outside %3")
                                    .arg(name, describe(w.frameGeometry()), describe(available))));
            int visibleDocks = 0;
            for (QDockWidget* dock : w.findChildren<QDockWidget*>()) {
                if (!dock->isVisible() || dock->isFloating() || dock->visibleRegion().isEmpty())
                    continue;
                ++visibleDocks;
                const QSize min = dock->minimumSizeHint().expandedTo(dock->minimumSize());
                QVERIFY2(dock->width() >= min.width() && dock->height() >= min.height(),
                         qPrintable(QStringLiteral("%1: dock %2 is %3x%4, needs %5x%6")
                                        .arg(name, dock->objectName())
                                        .arg(dock->width())
                                        .arg(dock->height())
                                        .arg(min.width())
                                        .arg(min.height())));
                QWidget* content = dock->widget();
                const QSize contentMin = content->minimumSizeHint();
                QVERIFY2(content->width() >= contentMin.width() &&
                             content->height() >= contentMin.height(),
                         qPrintable(QStringLiteral("%1: %2's content is %3x%4, needs %5x%6")
                                        .arg(name, dock->objectName())
                                        .arg(content->width())
                                        .arg(content->height())
                                        .arg(contentMin.width())
                                        .arg(contentMin.height())));
            }
            QVERIFY2(visibleDocks > 0, qPrintable(name));
            QVERIFY(w.centralWidget()->width() >= 200 && w.centralWidget()->height() >= 150);
            if (p == Perspective::Explore) {
                // A demo's controls in the default arrangement, under the canvas.
                auto* playback = w.findChild<QDockWidget*>(QStringLiteral("PlaybackDock"));
                QVERIFY(playback && playback->isVisible());
                QCOMPARE(w.dockWidgetArea(playback), Qt::BottomDockWidgetArea);
            }
            if (p == Perspective::Explore && g_screen.height() >= 1080) {
                QVERIFY(w.stepper()->iterationCount() >= 3);
                QVERIFY2(w.stepper()->fullyVisibleRows() >= 3,
                         qPrintable(QStringLiteral("%1 whole step cards")
                                        .arg(w.stepper()->fullyVisibleRows())));
                // Why it stopped, in one line of the dock.
                QLabel* summary = nullptr;
                for (QLabel* label : w.stepper()->findChildren<QLabel*>())
                    if (label->isVisible() &&
                        QString(label->text()).replace(QChar(0x00a0), QLatin1Char(' ')) ==
                            w.stepper()->summaryText())
                        summary = label;
                QVERIFY(summary);
                const QMargins m = summary->contentsMargins();
                QVERIFY2(summary->heightForWidth(summary->width()) - m.top() - m.bottom() <
                             2 * summary->fontMetrics().lineSpacing(),
                         qPrintable(w.stepper()->summaryText()));
            }
            if (p == Perspective::Annotate)
                QVERIFY(w.labelEditor()->isEditMode());
            else
                QVERIFY(!w.labelEditor()->isEditMode());
        }
        // Opening the fit monitor or the evaluation from the menus in Explore
        // does not push the window off the screen either.
        w.perspectives()->setCurrent(Perspective::Explore);
        for (const char* dockName : {"FitDock", "EvaluationDock"}) {
            auto* dock = w.findChild<QDockWidget*>(QLatin1String(dockName));
            QVERIFY(dock);
            dock->show();
            QTest::qWait(150);
            QVERIFY2(available.contains(w.frameGeometry()),
                     qPrintable(QStringLiteral("%1 shown: frame %2 outside %3")
                                    .arg(QLatin1String(dockName), describe(w.frameGeometry()),
                                         describe(available))));
            dock->hide();
        }
    }

    // The banner's "n more…" opens the Message Log under the canvas: the side
    // columns keep their width, also in the arrangement a new window restores.
    void messageLogKeepsTheSideColumns()
    {
        QSettings().clear();
        const int usableImages = 200; // a thumbnail beside its name and size
        const int usableSteps = 290;  // three maps per step card, captions readable
        auto widthOf = [](MainWindow& w, const char* name) {
            auto* dock = w.findChild<QDockWidget*>(QLatin1String(name));
            return dock && dock->isVisible() ? dock->widget()->width() : -1;
        };
        {
            MainWindow w;
            QSignalSpy shown(&w, &MainWindow::decompositionShown);
            w.show();
            w.openInitial({kAstronaut});
            QVERIFY(primaps::testing::waitNextOk(shown, kTimeoutMs));
            QTest::qWait(150);
            const int images = widthOf(w, "ImagesDock");
            const int steps = widthOf(w, "StepsDock");
            QVERIFY2(images >= usableImages && steps >= usableSteps,
                     qPrintable(QStringLiteral("before: %1, %2").arg(images).arg(steps)));
            emit w.messageWidget()->logRequested();
            QTest::qWait(150);
            auto* log = w.findChild<QDockWidget*>(QStringLiteral("MessageLogDock"));
            QVERIFY(log && log->isVisible());
            QVERIFY2(widthOf(w, "ImagesDock") >= std::min(images, 2 * usableImages) - 8 &&
                         widthOf(w, "StepsDock") >= std::min(steps, 2 * usableSteps) - 8,
                     qPrintable(QStringLiteral("with the log: images %1 (was %2), steps %3 "
                                               "(was %4)")
                                    .arg(widthOf(w, "ImagesDock"))
                                    .arg(images)
                                    .arg(widthOf(w, "StepsDock"))
                                    .arg(steps)));
            w.perspectives()->saveCurrent();
        }
        MainWindow again;
        QSignalSpy shown(&again, &MainWindow::decompositionShown);
        again.show();
        again.restoreSettings();
        again.openInitial({kAstronaut});
        QVERIFY(primaps::testing::waitNextOk(shown, kTimeoutMs));
        QTest::qWait(150);
        QVERIFY2(widthOf(again, "ImagesDock") >= usableImages &&
                     widthOf(again, "StepsDock") >= usableSteps,
                 qPrintable(QStringLiteral("restored: images %1, steps %2")
                                .arg(widthOf(again, "ImagesDock"))
                                .arg(widthOf(again, "StepsDock"))));
        QSettings().clear();
    }

    // The status bar and the tool bar show what belongs to the perspective on
    // display: Explore's image statistics and its decomposition controls are
    // not shown in Review (another image) or Fit, and come back with Explore.
    void statusBarBelongsToThePerspective()
    {
        MainWindow w;
        w.setPersistSettings(false);
        QSignalSpy shown(&w, &MainWindow::decompositionShown);
        w.show();
        w.openInitial({kAstronaut});
        QVERIFY(primaps::testing::waitNextOk(shown, kTimeoutMs));
        QTest::qWait(100);
        auto visibleStatus = [&w] {
            QStringList texts;
            for (QLabel* label : w.statusBar()->findChildren<QLabel*>())
                if (label->isVisible() && !label->text().isEmpty())
                    texts << label->text();
            return texts.join(QLatin1String(" | "));
        };
        auto thresholdVisible = [&w] {
            auto* bar = w.findChild<QToolBar*>(QStringLiteral("DecompositionToolBar"));
            if (!bar || !bar->isVisible())
                return false;
            for (QLabel* label : bar->findChildren<QLabel*>())
                if (label->text().startsWith(QLatin1String("Threshold")))
                    return label->isVisible();
            return false;
        };
        QVERIFY2(visibleStatus().contains(QLatin1String("astronaut")) &&
                     visibleStatus().contains(QLatin1String("proposals")),
                 qPrintable(visibleStatus()));
        QVERIFY(thresholdVisible());
        for (Perspective p : {Perspective::Review, Perspective::Fit, Perspective::Evaluate}) {
            w.perspectives()->setCurrent(p);
            QTest::qWait(50);
            QVERIFY2(!visibleStatus().contains(QLatin1String("astronaut")) &&
                         !visibleStatus().contains(QLatin1String("proposals")),
                     qPrintable(PerspectiveController::name(p) + QLatin1String(": ") +
                                visibleStatus()));
            QVERIFY2(!thresholdVisible(), qPrintable(PerspectiveController::name(p)));
        }
        w.perspectives()->setCurrent(Perspective::Explore);
        QTest::qWait(50);
        QVERIFY2(visibleStatus().contains(QLatin1String("astronaut")) &&
                     visibleStatus().contains(QLatin1String("proposals")),
                 qPrintable(visibleStatus()));
        QVERIFY(thresholdVisible());
    }

    void eachPerspectiveKeepsItsArrangement()
    {
        QSettings().clear();
        MainWindow w;
        w.show();
        auto* features = w.findChild<QDockWidget*>(QStringLiteral("FeaturesDock"));
        auto* fit = w.findChild<QDockWidget*>(QStringLiteral("FitDock"));
        QVERIFY(features && fit);
        QCOMPARE(w.perspectives()->current(), Perspective::Explore);
        QVERIFY(features->isVisible());
        QVERIFY(!fit->isVisible());
        features->hide(); // the user's choice for Explore

        w.perspectives()->setCurrent(Perspective::Fit);
        QVERIFY(fit->isVisible());
        QVERIFY(!features->isVisible());
        // Saved per user, under the perspective's name.
        QVERIFY(QSettings().contains(PerspectiveController::settingsKey(Perspective::Explore)));

        w.perspectives()->setCurrent(Perspective::Explore);
        QVERIFY(!features->isVisible());
        QVERIFY(!fit->isVisible());

        // A new window reads the arrangements back, and the last perspective.
        w.perspectives()->setCurrent(Perspective::Fit);
        w.perspectives()->saveCurrent();
        MainWindow again;
        again.show();
        again.restoreSettings();
        QCOMPARE(again.perspectives()->current(), Perspective::Fit);
        again.perspectives()->setCurrent(Perspective::Explore);
        QVERIFY(!again.findChild<QDockWidget*>(QStringLiteral("FeaturesDock"))->isVisible());
        // Reset brings the default back.
        again.perspectives()->resetLayout();
        QVERIFY(again.findChild<QDockWidget*>(QStringLiteral("FeaturesDock"))->isVisible());
        QSettings().clear();
    }

    // One sample, three views: the canvas's label map, the legend's chips and
    // the step cards give each surviving proposal the same consecutive number
    // and the same label-map share; the proposal area is named as such in the
    // step card and the chip's tooltip; id 0 is "unassigned".
    void legendStepsAndCanvasAgree()
    {
        MainWindow w;
        w.setPersistSettings(false);
        QSignalSpy shown(&w, &MainWindow::decompositionShown);
        w.show();
        // At tau 0.6 some proposals vanish from the label map (astronaut, filter
        // bank v2: 14 proposals, 12 ids), so both kinds of step card are checked.
        w.setThreshold(0.6);
        w.openInitial({kAstronaut});
        QVERIFY(primaps::testing::waitNextOk(shown, kTimeoutMs));
        const cv::Mat labels = w.canvas()->labels();
        QVERIFY(!labels.empty());
        const LabelCounts counts = countLabels(labels);
        const double total = double(labels.total());
        const PrimapsTrace& trace = w.currentResult().decomposition->trace;
        const double grid = double(trace.height) * trace.width;
        LegendWidget* legend = w.legend();
        StepperWidget* steps = w.stepper();
        QCOMPARE(steps->iterationCount(), int(trace.iterations.size()));
        int expected = 0;
        int survivors = 0;
        for (int k = 0; k < steps->iterationCount(); ++k) {
            const int id = k + 1;
            const double share = counts[std::size_t(id)] / total;
            const QString area = percent(trace.iterations[std::size_t(k)].assigned / grid);
            QCOMPARE(steps->areaText(k), QStringLiteral("proposal area %1").arg(area));
            if (counts[std::size_t(id)] == 0) {
                QCOMPARE(steps->labelNumber(k), 0);
                QCOMPARE(legend->displayNumber(id), 0);
                QVERIFY(legend->chipText(id).isEmpty());
                QVERIFY(steps->detailText(k).contains(QStringLiteral("not in the label map")));
                continue;
            }
            ++survivors;
            ++expected; // consecutive, in extraction order
            QCOMPARE(std::abs(w.canvas()->areaFractions()[std::size_t(id)] - share) < 1e-12, true);
            QCOMPARE(legend->displayNumber(id), expected);
            QCOMPARE(steps->labelNumber(k), expected);
            QCOMPARE(legend->chipText(id),
                     QStringLiteral("%1  %2").arg(expected).arg(percent(share)));
            QVERIFY2(
                steps->detailText(k).contains(
                    QStringLiteral("label %1: %2 of the map").arg(expected).arg(percent(share))),
                qPrintable(steps->detailText(k)));
            const QString tip = legend->chipToolTip(id);
            QVERIFY2(tip.contains(QStringLiteral("PriMaPs step %1").arg(id)), qPrintable(tip));
            QVERIFY(tip.contains(QStringLiteral("Label-map share %1").arg(percent(share))));
            QVERIFY(tip.contains(QStringLiteral("Proposal area %1").arg(area)));
        }
        QVERIFY(survivors > 1);
        QCOMPARE(legend->maskCount(), survivors);
        QVERIFY(survivors < steps->iterationCount()); // the sample has proposals that vanish
        // Pixels of no mask: "unassigned", with the reason.
        QVERIFY(counts[0] > 0);
        QCOMPARE(legend->chipText(0),
                 QStringLiteral("unassigned  %1").arg(percent(counts[0] / total)));
        QVERIFY(legend->chipToolTip(0).contains(QStringLiteral("median filter")));

        // Before | after: each chip gives the left half's share and the right half's.
        w.compareAction()->setChecked(true);
        QVERIFY(w.canvas()->isComparing());
        QCOMPARE(legend->caption(), QStringLiteral("Before | after CRF"));
        const LabelCounts before = countLabels(w.canvas()->beforeLabels());
        const double beforeTotal = double(w.canvas()->beforeLabels().total());
        for (int id = 1; id <= steps->iterationCount(); ++id)
            if (counts[std::size_t(id)] > 0)
                QCOMPARE(legend->chipText(id),
                         QStringLiteral("%1  %2 | %3")
                             .arg(legend->displayNumber(id))
                             .arg(percent(before[std::size_t(id)] / beforeTotal),
                                  percent(counts[std::size_t(id)] / total)));
        w.compareAction()->setChecked(false);
        QCOMPARE(legend->caption(), QStringLiteral("Labels after CRF"));
    }

    // One truth about the zoom: the canvas's corner read-out states it; the
    // tool bar states no percentage of its own, and its "Fit" stays pressed
    // exactly while the read-out says "Fit · …".
    void zoomSaysOneThing()
    {
        MainWindow w;
        w.setPersistSettings(false);
        QSignalSpy shown(&w, &MainWindow::decompositionShown);
        w.show();
        w.openInitial({kAstronaut});
        QVERIFY(primaps::testing::waitNextOk(shown, kTimeoutMs));
        CanvasWidget* canvas = w.canvas();
        auto* bar = w.findChild<QToolBar*>(QStringLiteral("DecompositionToolBar"));
        QVERIFY(bar);
        QAction* fit = nullptr;
        QAction* actualSize = nullptr;
        for (QAction* a : bar->actions()) {
            QVERIFY2(!a->iconText().contains(QLatin1Char('%')), qPrintable(a->iconText()));
            if (a->iconText() == QLatin1String("Fit"))
                fit = a;
            if (a->iconText() == QLatin1String("1:1"))
                actualSize = a;
        }
        QVERIFY(fit && actualSize);
        const auto badgeShows = [canvas](const QString& text) {
            for (QLabel* label : canvas->findChildren<QLabel*>())
                if (label->isVisible() && label->text() == text)
                    return true;
            return false;
        };
        const auto percentOf = [canvas] {
            return QStringLiteral("%1 %").arg(std::lround(canvas->zoom() * 100.0));
        };

        QTRY_VERIFY(canvas->isFitToWindow());
        QVERIFY(fit->isChecked());
        QCOMPARE(canvas->zoomText(), QStringLiteral("Fit \u00b7 ") + percentOf());
        QVERIFY(badgeShows(canvas->zoomText()));

        canvas->zoomIn();
        QVERIFY(!fit->isChecked());
        QCOMPARE(canvas->zoomText(), percentOf());
        QVERIFY(badgeShows(canvas->zoomText()));

        actualSize->trigger();
        QCOMPARE(canvas->zoomText(), QStringLiteral("100 %"));
        QVERIFY(!fit->isChecked());
        QVERIFY(badgeShows(QStringLiteral("100 %")));

        fit->trigger();
        QVERIFY(fit->isChecked());
        QVERIFY(canvas->zoomText().startsWith(QStringLiteral("Fit")));
        fit->trigger(); // pressing it again keeps fitting, and pressed
        QVERIFY(fit->isChecked());
        QVERIFY(canvas->isFitToWindow());
        QVERIFY(badgeShows(canvas->zoomText()));
    }

    // A window comes back at the size and place it was closed with, in every
    // perspective it was closed in: the window's geometry is restored after the
    // perspective's dock arrangement, so the minimum size of another
    // perspective's docks (Explore's, shown first) does not widen it.
    void restoredWindowKeepsItsSize_data()
    {
        QTest::addColumn<Perspective>("perspective");
        QTest::addColumn<QSize>("size");
        for (Perspective p : PerspectiveController::all()) {
            QTest::addRow("%s 720x560", qPrintable(PerspectiveController::name(p)))
                << p << QSize(720, 560);
            QTest::addRow("%s 1180x700", qPrintable(PerspectiveController::name(p)))
                << p << QSize(1180, 700);
        }
    }

    void restoredWindowKeepsItsSize()
    {
        QFETCH(Perspective, perspective);
        QFETCH(QSize, size);
        QSettings().clear();
        QSize saved;
        QPoint savedPosition;
        {
            MainWindow w;
            w.show();
            QVERIFY(QTest::qWaitForWindowExposed(&w));
            w.perspectives()->setCurrent(perspective);
            // Clear of the screen's top edge, where restoreGeometry() would move
            // a window without a title bar (offscreen) down by a title bar's height.
            w.move(40, 60);
            w.resize(size);
            QTest::qWait(100); // the layout settled, any fit to the screen done
            // As small as the perspective's docks allow (Explore's and Fit's
            // need more than 720 px).
            saved = w.size();
            savedPosition = w.pos();
            QVERIFY(saved.width() < defaultWidth(w));
            QVERIFY(w.close()); // writes the settings as a user's close does
        }
        for (int round = 0; round < 2; ++round) { // and again: no creeping
            MainWindow w;
            w.restoreSettings();
            w.show();
            QVERIFY(QTest::qWaitForWindowExposed(&w));
            QTest::qWait(100);
            QCOMPARE(w.perspectives()->current(), perspective);
            QCOMPARE(w.size(), saved);
            QCOMPARE(w.pos(), savedPosition);
            QVERIFY(w.close());
        }
        QSettings().clear();
    }

    void namesRoundTrip()
    {
        for (Perspective p : PerspectiveController::all()) {
            Perspective back = Perspective::Explore;
            QVERIFY(PerspectiveController::fromName(PerspectiveController::name(p), &back));
            QCOMPARE(back, p);
        }
        Perspective unused;
        QVERIFY(!PerspectiveController::fromName(QStringLiteral("gallery"), &unused));
    }

private:
    QTemporaryDir m_recovery;
    QTemporaryDir m_models;
};

namespace {

// The offscreen platform with one screen of `size`.
bool useScreen(const QSize& size, const QString& configPath)
{
    QFile config(configPath);
    if (!config.open(QIODevice::WriteOnly))
        return false;
    config.write(QStringLiteral("{\"screens\": [{\"name\": \"screen\", \"x\": 0, \"y\": 0, "
                                "\"width\": %1, \"height\": %2, \"logicalDpi\": 96, "
                                "\"logicalBaseDpi\": 96, \"dpr\": 1}]}")
                     .arg(size.width())
                     .arg(size.height())
                     .toUtf8());
    config.close();
    qputenv("QT_QPA_PLATFORM", ("offscreen:configfile=" + configPath).toLocal8Bit());
    return true;
}

} // namespace

int main(int argc, char** argv)
{
    QStringList forwarded;
    QString screen;
    for (int i = 1; i < argc; ++i) {
        if (QString::fromLocal8Bit(argv[i]) == QLatin1String("--screen") && i + 1 < argc)
            screen = QString::fromLocal8Bit(argv[++i]);
        else
            forwarded << QString::fromLocal8Bit(argv[i]);
    }
    if (screen.isEmpty()) {
        // Both sizes, each in its own process; failing if either fails.
        int failures = 0;
        QCoreApplication app(argc, argv);
        for (const char* size : {"1366x768", "1920x1080"}) {
            QProcess child;
            child.setProcessChannelMode(QProcess::ForwardedChannels);
            child.start(QCoreApplication::applicationFilePath(),
                        QStringList{QStringLiteral("--screen"), QLatin1String(size)} + forwarded);
            if (!child.waitForStarted() || !child.waitForFinished(-1) ||
                child.exitStatus() != QProcess::NormalExit || child.exitCode() != 0)
                ++failures;
        }
        return failures;
    }
    const QStringList parts = screen.split(QLatin1Char('x'));
    g_screen = QSize(parts.value(0).toInt(), parts.value(1).toInt());
    QTemporaryDir dir;
    if (g_screen.isEmpty() || !dir.isValid() ||
        !useScreen(g_screen, dir.filePath(QStringLiteral("screen.json")))) {
        std::fprintf(stderr, "tst_studio_layout: bad --screen '%s'\n", qPrintable(screen));
        return 2;
    }
    std::printf("=== screen %dx%d ===\n", g_screen.width(), g_screen.height());
    std::fflush(stdout);
    QByteArrayList args{argv[0]};
    for (const QString& a : forwarded)
        args << a.toLocal8Bit();
    std::vector<char*> childArgv;
    for (QByteArray& a : args)
        childArgv.push_back(a.data());
    int childArgc = int(childArgv.size());
    QApplication app(childArgc, childArgv.data());
    TestStudioLayout test;
    QTEST_SET_MAIN_SOURCE_PATH
    return QTest::qExec(&test, childArgc, childArgv.data());
}
#include "tst_studio_layout.moc"
