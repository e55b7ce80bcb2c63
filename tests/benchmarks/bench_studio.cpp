// SPDX-License-Identifier: MIT
// The studio's dataset image list on a 5,000-image split: time from opening
// the split to the first painted list (the target: 1 s), and the
// memory the list costs, before and after scrolling through every row (the
// thumbnail cache is bounded, so scrolling must not grow it without end).
// Runs offscreen; the fixture (5,000 small PNGs) is generated once per run.
#include "dataset/dataset.h"
#include "review/datasetbrowserwidget.h"

#include <benchmark/benchmark.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <opencv2/imgcodecs.hpp>
#include <QAbstractItemView>
#include <QApplication>
#include <QCoreApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QEvent>
#include <QListView>
#include <QScrollBar>
#include <QTemporaryDir>
#include <unistd.h>

namespace {

constexpr int kImages = 5000;

/// Resident memory of this process in bytes (Linux).
double residentBytes()
{
    long pages = 0, resident = 0;
    std::ifstream statm("/proc/self/statm");
    statm >> pages >> resident;
    return double(resident) * double(sysconf(_SC_PAGESIZE));
}

/// A folder dataset of kImages 160 x 120 pictures, written once.
const QString& datasetRoot()
{
    static QTemporaryDir dir;
    static bool written = false;
    if (!written) {
        QDir(dir.path()).mkpath(QStringLiteral("images"));
        for (int i = 0; i < kImages; ++i) {
            cv::Mat bgr(120, 160, CV_8UC3, cv::Scalar(i % 255, (7 * i) % 255, (13 * i) % 255));
            const QString path =
                QDir(dir.path()).filePath(QStringLiteral("images/im%1.png").arg(i, 5, 10, QChar('0')));
            cv::imwrite(path.toStdString(), bgr);
        }
        written = true;
    }
    static const QString root = dir.path();
    return root;
}

/// Sets a flag when the watched widget paints.
class PaintWatcher : public QObject
{
public:
    bool painted = false;

protected:
    bool eventFilter(QObject* watched, QEvent* event) override
    {
        if (event->type() == QEvent::Paint)
            painted = true;
        return QObject::eventFilter(watched, event);
    }
};

void BM_DatasetListFirstPaint(benchmark::State& state)
{
    const std::string root = datasetRoot().toStdString();
    double rssList = 0, rssScrolled = 0, cached = 0;
    for (auto _ : state) {
        const double before = residentBytes();
        QElapsedTimer clock;
        clock.start();
        primaps::DatasetOptions options;
        options.root = root;
        auto dataset = std::make_shared<const primaps::Dataset>(primaps::Dataset::open(options));
        auto browser = std::make_unique<primaps::DatasetBrowserWidget>();
        browser->resize(260, 720);
        PaintWatcher watcher;
        browser->view()->viewport()->installEventFilter(&watcher);
        browser->setDataset(dataset, QStringLiteral("bench"));
        browser->setCurrentIndex(0);
        browser->show();
        while (!watcher.painted)
            QCoreApplication::processEvents(QEventLoop::AllEvents, 5);
        state.SetIterationTime(double(clock.nsecsElapsed()) * 1e-9);

        state.PauseTiming();
        browser->model()->waitForThumbnails();
        QCoreApplication::processEvents();
        rssList = residentBytes() - before;
        // Scroll through the whole list a screen at a time, letting each
        // screen's thumbnails load.
        QScrollBar* bar = browser->view()->verticalScrollBar();
        for (int v = 0; v <= bar->maximum(); v += std::max(1, bar->pageStep())) {
            bar->setValue(v);
            QCoreApplication::processEvents();
            browser->model()->waitForThumbnails();
        }
        cached = browser->model()->cachedThumbnails();
        rssScrolled = residentBytes() - before;
        browser.reset();
        state.ResumeTiming();
    }
    state.counters["images"] = kImages;
    state.counters["rss_after_first_paint_MB"] = rssList / (1024.0 * 1024.0);
    state.counters["rss_after_scrolling_all_MB"] = rssScrolled / (1024.0 * 1024.0);
    state.counters["thumbnails_cached"] = cached;
}
BENCHMARK(BM_DatasetListFirstPaint)
    ->Unit(benchmark::kMillisecond)
    ->UseManualTime()
    ->Iterations(3);

} // namespace

int main(int argc, char** argv)
{
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM"))
        qputenv("QT_QPA_PLATFORM", "offscreen");
    QApplication app(argc, argv);
    benchmark::Initialize(&argc, argv);
    datasetRoot(); // the fixture is not part of any measurement
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
