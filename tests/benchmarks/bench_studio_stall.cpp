// SPDX-License-Identifier: MIT
// How long the studio's GUI thread stalls while it works: the real main window
// (offscreen) decomposes every bundled sample with the dense CRF, the threshold
// slider is dragged across a range as a hand would, and a small EM fit runs on
// a generated folder dataset. A 5 ms timer on the GUI thread measures the
// largest gap between its ticks in each phase: that gap is the longest time
// the window could not react. The goal is 30 ms.
//
// Counters: stall_decompose_ms, stall_drag_ms, stall_fit_ms, stall_max_ms (the
// largest gap, ms) and phase_*_s (wall time of each phase). Load on the machine
// shows up in the numbers; compare runs made at the same time.
#include "fitmonitorwidget.h"
#include "imagelistwidget.h"
#include "mainwindow.h"
#include "testsupport.h"

#include <algorithm>
#include <benchmark/benchmark.h>
#include <QApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QSignalSpy>
#include <QSlider>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>

using namespace primaps;

namespace {

constexpr int kTickMs = 5;
constexpr int kTimeoutMs = 600000;

/// The largest gap between the ticks of a kTickMs timer on the GUI thread.
class StallProbe : public QObject
{
public:
    StallProbe()
    {
        m_timer.setTimerType(Qt::PreciseTimer);
        m_timer.setInterval(kTickMs);
        connect(&m_timer, &QTimer::timeout, this, [this] {
            const double now = m_clock.nsecsElapsed() / 1e6;
            m_largest = std::max(m_largest, now - m_last);
            m_last = now;
        });
    }
    void start()
    {
        m_largest = 0.0;
        m_clock.start();
        m_last = 0.0;
        m_timer.start();
    }
    /// Stops and returns the largest gap in milliseconds.
    double stop()
    {
        m_timer.stop();
        return m_largest;
    }

private:
    QTimer m_timer;
    QElapsedTimer m_clock;
    double m_last = 0.0;
    double m_largest = 0.0;
};

bool waitFinal(QSignalSpy& spy)
{
    return primaps::testing::waitNextOk(spy, kTimeoutMs);
}

void BM_StudioGuiStall(benchmark::State& state)
{
    QTemporaryDir tmp;
    const QDir root(tmp.path());
    root.mkpath(QStringLiteral("ds/images"));
    root.mkpath(QStringLiteral("ds/labels"));
    const QDir ds(root.filePath(QStringLiteral("ds")));
    for (int i = 0; i < 12; ++i)
        primaps::testing::writeDiscAndBoxSample(
            ds.filePath(QStringLiteral("images/im%1.png").arg(i)),
            ds.filePath(QStringLiteral("labels/im%1.png").arg(i)), unsigned(i + 1));
    for (auto _ : state) {
        MainWindow window;
        window.setPersistSettings(false);
        window.show();
        QSignalSpy shown(&window, &MainWindow::decompositionShown);
        StallProbe probe;
        QElapsedTimer phase;

        // 1. Every sample, with the CRF (the toggle's default).
        const QStringList samples = window.bundledSamples();
        probe.start();
        phase.start();
        window.openInitial(samples);
        if (!waitFinal(shown)) {
            state.SkipWithError("the first sample was not decomposed");
            return;
        }
        for (int i = 1; i < samples.size(); ++i) {
            window.imageList()->selectNext();
            if (!waitFinal(shown)) {
                state.SkipWithError("a sample was not decomposed");
                return;
            }
        }
        const double decompose = probe.stop();
        state.counters["phase_decompose_s"] = phase.elapsed() / 1000.0;

        // 2. The threshold slider dragged from 0.35 to 0.85 and back, a step
        // every 40 ms, then released (the CRF runs once more).
        QSlider* slider = window.thresholdSlider();
        probe.start();
        phase.start();
        slider->setSliderDown(true);
        for (int pass = 0; pass < 2; ++pass)
            for (int v = 35; v <= 85; v += 2) {
                slider->setValue(pass == 0 ? v : 120 - v);
                QTest::qWait(40);
            }
        slider->setSliderDown(false);
        shown.clear();
        if (!waitFinal(shown)) {
            state.SkipWithError("the released threshold was not decomposed");
            return;
        }
        const double drag = probe.stop();
        state.counters["phase_drag_s"] = phase.elapsed() / 1000.0;

        // 3. A small fit, monitored in the Fit perspective.
        DatasetOptions dataset;
        dataset.kind = DatasetKind::Folder;
        dataset.root = ds.path().toStdString();
        FitRunSettings s;
        s.runDir = root.filePath(QStringLiteral("run")).toStdString();
        s.cacheDir = root.filePath(QStringLiteral("cache")).toStdString();
        s.resolution = 96;
        s.maskCrf = true;
        s.em.epochs = 3;
        s.em.initEpochs = 1;
        s.em.batchSize = 4;
        s.em.pcaImages = 12;
        s.em.emaEvery = 2;
        s.checkpointEvery = 4;
        QDir(QString::fromStdString(s.runDir)).removeRecursively();
        QSignalSpy finished(window.fitMonitor(), &FitMonitorWidget::fitFinished);
        window.perspectives()->setCurrent(PerspectiveController::Perspective::Fit);
        probe.start();
        phase.start();
        if (!window.fitMonitor()->startFit(dataset, s)) {
            state.SkipWithError("the fit did not start");
            return;
        }
        if (!QTest::qWaitFor([&] { return !finished.isEmpty(); }, kTimeoutMs)) {
            state.SkipWithError("the fit did not finish");
            return;
        }
        const double fit = probe.stop();
        state.counters["phase_fit_s"] = phase.elapsed() / 1000.0;

        state.counters["stall_decompose_ms"] = decompose;
        state.counters["stall_drag_ms"] = drag;
        state.counters["stall_fit_ms"] = fit;
        state.counters["stall_max_ms"] = std::max({decompose, drag, fit});
    }
}
BENCHMARK(BM_StudioGuiStall)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

} // namespace

int main(int argc, char** argv)
{
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM"))
        qputenv("QT_QPA_PLATFORM", "offscreen");
    QApplication app(argc, argv);
    QStandardPaths::setTestModeEnabled(true);
    QCoreApplication::setOrganizationName(QStringLiteral("PriMaPs"));
    QCoreApplication::setApplicationName(QStringLiteral("PriMaPs Studio Stall Benchmark"));
    QTemporaryDir recovery;
    qputenv("PRIMAPS_RECOVERY_DIR", recovery.path().toLocal8Bit());
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
