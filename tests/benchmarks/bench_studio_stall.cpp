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
// shows up in these numbers (a thread that waits for a core also misses ticks),
// so each phase also reports busy_*_ms: the most CPU time the GUI thread spent
// between two ticks, which a loaded machine stretches far less, and cpu_*_ms:
// all the CPU time the GUI thread spent in the phase. The slowest
// single events (receiver class, event type, GUI-thread CPU ms) are printed to
// stderr after the run: they name what to move off the GUI thread. queued_*_ms
// says how much of the largest gap the thread was runnable but had no core.
//
// The instruments stay light, so that they measure the studio rather than
// themselves: per tick and per event they read the thread's CPU clock and its
// schedstat (kept open, read with pread), and events are named only in the
// report. Until 2026-12-06 each read opened the file anew and every event's
// name was formatted as it was delivered, about a fifth of the GUI thread's
// samples; figures from before then include that cost.
#include "fit/fitmonitorwidget.h"
#include "explore/imagelistwidget.h"
#include "mainwindow.h"
#include "testsupport.h"

#include <algorithm>
#include <benchmark/benchmark.h>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <unistd.h>
#include <ctime>
#include <map>
#include <functional>
#include <QEvent>
#include <QEventLoop>
#include <QMetaEnum>
#include <QApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QSignalSpy>
#include <QSlider>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>
#include <QTimer>

using namespace primaps;

namespace {

constexpr int kTickMs = 5;
constexpr int kTimeoutMs = 600000;

/// CPU time of the calling thread in milliseconds.
double threadCpuMs()
{
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
}

/// Time the GUI thread has spent runnable but waiting for a core, in
/// milliseconds (Linux schedstat; 0 where it cannot be read). Called on every
/// tick and twice per event, so it must cost next to nothing: the file is
/// opened once (on the GUI thread, the only caller, so "thread-self" is the
/// GUI thread) and read again with pread at offset 0, which makes the kernel
/// produce fresh figures. Opening, scanning and closing it each time, as the
/// first version did, was a fifth of the GUI thread's samples under perf.
double threadQueuedMs()
{
    static const int fd = ::open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0.0;
    char text[96];
    const ssize_t n = ::pread(fd, text, sizeof text - 1, 0);
    if (n <= 0)
        return 0.0;
    text[n] = '\0';
    char* end = nullptr;
    std::strtoull(text, &end, 10); // time on a core
    const unsigned long long waiting = std::strtoull(end, nullptr, 10);
    return double(waiting) / 1e6;
}

/// The largest gap between the ticks of a kTickMs timer on the GUI thread, in
/// wall time and in the GUI thread's own CPU time; for the largest wall gap,
/// how much of it the thread was runnable but waiting for a core.
class StallProbe : public QObject
{
public:
    StallProbe()
    {
        m_timer.setTimerType(Qt::PreciseTimer);
        m_timer.setInterval(kTickMs);
        connect(&m_timer, &QTimer::timeout, this, [this] {
            const double now = m_clock.nsecsElapsed() / 1e6;
            const double cpu = threadCpuMs();
            const double queued = threadQueuedMs();
            if (now - m_last > m_largest) {
                m_largest = now - m_last;
                m_queuedInLargest = queued - m_lastQueued;
            }
            m_largestBusy = std::max(m_largestBusy, cpu - m_lastCpu);
            m_last = now;
            m_lastCpu = cpu;
            m_lastQueued = queued;
        });
    }
    void start()
    {
        m_largest = 0.0;
        m_largestBusy = 0.0;
        m_clock.start();
        m_last = 0.0;
        m_lastCpu = threadCpuMs();
        m_startCpu = m_lastCpu;
        m_lastQueued = threadQueuedMs();
        m_queuedInLargest = 0.0;
        m_timer.start();
    }
    /// Stops and returns the largest gap in milliseconds.
    double stop()
    {
        m_timer.stop();
        m_phaseCpu = threadCpuMs() - m_startCpu;
        return m_largest;
    }
    /// The GUI thread's CPU time over the last phase, ms: its whole work,
    /// which the load on the machine hardly changes.
    double phaseCpu() const { return m_phaseCpu; }
    /// The most GUI-thread CPU time between two ticks of the last phase.
    double largestBusy() const { return m_largestBusy; }
    /// How much of the largest gap the thread waited for a core.
    double queuedInLargest() const { return m_queuedInLargest; }

private:
    QTimer m_timer;
    QElapsedTimer m_clock;
    double m_last = 0.0;
    double m_lastCpu = 0.0;
    double m_startCpu = 0.0;
    double m_phaseCpu = 0.0;
    double m_largest = 0.0;
    double m_largestBusy = 0.0;
    double m_lastQueued = 0.0;
    double m_queuedInLargest = 0.0;
};

/// Times every event the GUI thread delivers (CPU time of the thread) and
/// keeps the slowest per receiver class and event type.
class ProfilingApplication : public QApplication
{
public:
    using QApplication::QApplication;

    bool notify(QObject* receiver, QEvent* event) override
    {
        if (QThread::currentThread() != thread() || m_depth > 0)
            return QApplication::notify(receiver, event);
        ++m_depth;
        // Named only in report(): formatting a name per event cost the GUI
        // thread more than many of the events it timed.
        const Key key{receiver->metaObject(), int(event->type())};
        QElapsedTimer wall;
        wall.start();
        const double before = threadCpuMs();
        const double queuedBefore = threadQueuedMs();
        const bool result = QApplication::notify(receiver, event);
        const double spent = threadCpuMs() - before;
        const double blocked =
            wall.nsecsElapsed() / 1e6 - spent - (threadQueuedMs() - queuedBefore);
        --m_depth;
        Slowest& slot = m_slowest[key];
        slot.largest = std::max(slot.largest, spent);
        slot.blocked = std::max(slot.blocked, blocked);
        slot.total += spent;
        ++slot.count;
        return result;
    }

    void report() const
    {
        std::vector<std::pair<double, QString>> rows;
        for (auto it = m_slowest.cbegin(); it != m_slowest.cend(); ++it)
            rows.emplace_back(it->second.largest,
                              QStringLiteral("%1 (n %2, total %3 ms, blocked up to %4 ms)")
                                  .arg(describe(it->first))
                                  .arg(it->second.count)
                                  .arg(it->second.total, 0, 'f', 0)
                                  .arg(it->second.blocked, 0, 'f', 0));
        std::sort(rows.rbegin(), rows.rend());
        fprintf(stderr, "Slowest GUI-thread events (CPU ms, largest single delivery):\n");
        for (size_t i = 0; i < std::min<size_t>(rows.size(), 15); ++i)
            fprintf(stderr, "  %7.1f  %s\n", rows[i].first, qPrintable(rows[i].second));
    }

private:
    /// The receiver's class and the event type.
    using Key = std::pair<const QMetaObject*, int>;

    struct Slowest
    {
        double largest = 0.0;
        double total = 0.0;
        double blocked = 0.0; ///< wall time neither running nor waiting for a core
        int count = 0;
    };

    static QString describe(const Key& key)
    {
        const char* type = QMetaEnum::fromType<QEvent::Type>().valueToKey(key.second);
        return QStringLiteral("%1 %2").arg(QLatin1String(key.first->className()),
                                           type ? QString::fromLatin1(type)
                                                : QStringLiteral("event %1").arg(key.second));
    }

    int m_depth = 0;
    std::map<Key, Slowest> m_slowest;
};

/// Runs the GUI thread's event loop until done() holds or timeoutMs pass, as
/// the application's own loop would: blocked in the event dispatcher between
/// events. (QTest::qWait and qWaitFor sleep 10 ms between event batches, and
/// those sleeps showed up as stalls that the studio itself never has.)
bool spinUntil(const std::function<bool()>& done, int timeoutMs)
{
    if (done())
        return true;
    QEventLoop loop;
    QTimer poll;
    poll.setInterval(2);
    QElapsedTimer clock;
    clock.start();
    QObject::connect(&poll, &QTimer::timeout, &loop, [&] {
        if (done() || clock.elapsed() >= timeoutMs)
            loop.quit();
    });
    poll.start();
    loop.exec();
    return done();
}

void spinFor(int ms)
{
    QElapsedTimer clock;
    clock.start();
    spinUntil([&] { return clock.elapsed() >= ms; }, ms + 1000);
}

/// Waits for the next emission of a (bool ok, …) signal and returns ok.
bool waitFinal(QSignalSpy& spy)
{
    const int before = spy.count();
    if (!spinUntil([&] { return spy.count() > before; }, kTimeoutMs))
        return false;
    return spy.last().at(0).toBool();
}

void BM_StudioGuiStall(benchmark::State& state)
{
    QTemporaryDir tmp;
    const QDir root(tmp.path());
    const QDir ds(root.filePath(QStringLiteral("ds")));
    primaps::testing::writeDiscAndBoxDataset(ds.path(), 12, 1);
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
        state.counters["busy_decompose_ms"] = probe.largestBusy();
        state.counters["cpu_decompose_ms"] = probe.phaseCpu();
        state.counters["queued_decompose_ms"] = probe.queuedInLargest();
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
                spinFor(40);
            }
        slider->setSliderDown(false);
        shown.clear();
        if (!waitFinal(shown)) {
            state.SkipWithError("the released threshold was not decomposed");
            return;
        }
        const double drag = probe.stop();
        state.counters["busy_drag_ms"] = probe.largestBusy();
        state.counters["cpu_drag_ms"] = probe.phaseCpu();
        state.counters["queued_drag_ms"] = probe.queuedInLargest();
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
        if (!spinUntil([&] { return !finished.isEmpty(); }, kTimeoutMs)) {
            state.SkipWithError("the fit did not finish");
            return;
        }
        const double fit = probe.stop();
        state.counters["phase_fit_s"] = phase.elapsed() / 1000.0;

        state.counters["busy_fit_ms"] = probe.largestBusy();
        state.counters["cpu_fit_ms"] = probe.phaseCpu();
        state.counters["queued_fit_ms"] = probe.queuedInLargest();
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
    ProfilingApplication app(argc, argv);
    QStandardPaths::setTestModeEnabled(true);
    QCoreApplication::setOrganizationName(QStringLiteral("PriMaPs"));
    QCoreApplication::setApplicationName(QStringLiteral("PriMaPs Studio Stall Benchmark"));
    QTemporaryDir recovery;
    qputenv("PRIMAPS_RECOVERY_DIR", recovery.path().toLocal8Bit());
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    app.report();
    return 0;
}
