// SPDX-License-Identifier: MIT
#include "datasetoptions.h"

#include "error.h"

#include <atomic>
#include <csignal>
#include <QElapsedTimer>
#include <unistd.h>

namespace primaps::cli {

namespace {

// Set from the signal handler; only a lock-free atomic store happens there. The
// job is canceled from its own progress callback, on the job's thread.
std::atomic<bool> g_interrupted{false};

extern "C" void onInterrupt(int)
{
    g_interrupted.store(true);
}

QString duration(double seconds)
{
    if (seconds < 0)
        return "?";
    const long s = long(seconds + 0.5);
    if (s >= 3600)
        return QString("%1h%2m").arg(s / 3600).arg((s % 3600) / 60, 2, 10, QChar('0'));
    return QString("%1m%2s").arg(s / 60).arg(s % 60, 2, 10, QChar('0'));
}

} // namespace

bool interrupted()
{
    return g_interrupted.load();
}

Dataset openDataset(const QCommandLineParser& parser, const DatasetCliOptions& options,
                    const std::string& defaultSplit, QTextStream& err, bool quiet)
{
    if (!parser.isSet(options.dataset) || !parser.isSet(options.root))
        throw Error("--dataset KIND and --root DIR are required");
    DatasetOptions o;
    o.kind = datasetKindFromString(parser.value(options.dataset).toStdString());
    o.root = parser.value(options.root).toStdString();
    o.split = parser.isSet(options.split)     ? parser.value(options.split).toStdString()
              : o.kind == DatasetKind::Folder ? std::string()
                                              : defaultSplit;
    if (parser.isSet(options.classes)) {
        bool ok = false;
        o.classes = parser.value(options.classes).toInt(&ok);
        if (!ok || o.classes < 1 || o.classes > 254)
            throw Error("--classes must be a whole number in 1..254");
    }
    o.strict = parser.isSet(options.strict);
    Dataset d = Dataset::open(o);
    for (const DatasetProblem& p : d.problems())
        err << "primaps: '" << QString::fromStdString(p.path)
            << "': " << QString::fromStdString(p.message) << "\n";
    if (!quiet)
        err << QString::fromStdString(toString(d.kind())) << " '"
            << QString::fromStdString(d.root()) << "'"
            << (d.split().empty() ? QString() : ", split " + QString::fromStdString(d.split()))
            << ": " << d.listed() << " listed, " << d.size() << " usable, " << d.problems().size()
            << " problem(s), " << d.classCount() << " classes\n";
    err.flush();
    return d;
}

void printStageReport(const char* stage, const StageReport& report, QTextStream& err, bool quiet)
{
    for (const DatasetProblem& p : report.failures)
        err << "primaps: '" << QString::fromStdString(p.path)
            << "': " << QString(QString::fromStdString(p.message)).simplified() << "; skipped\n";
    if (!quiet || !report.failures.empty()) {
        err << stage << ": " << report.items << " item(s): " << report.computed << " computed, "
            << report.reused << " reused from the cache";
        if (report.skipped)
            err << ", " << report.skipped << " without labels";
        err << ", " << report.failures.size() << " failed\n";
    }
    err.flush();
}

JobState runWithProgress(Job& job, QTextStream& err, bool quiet, const QString& command)
{
    const bool terminal = ::isatty(STDERR_FILENO) == 1 && !quiet;
    JobControl control;
    QElapsedTimer sinceDraw;
    sinceDraw.start();
    bool drawn = false;
    control.setProgressCallback([&](const JobProgress& p) {
        if (g_interrupted.load())
            control.cancel();
        if (!terminal)
            return;
        if (sinceDraw.elapsed() < 200 && p.step < p.totalSteps)
            return;
        sinceDraw.restart();
        QString line = QString("\r%1 %2/%3 (%4%)")
                           .arg(QString::fromStdString(p.stage))
                           .arg(p.step)
                           .arg(p.totalSteps)
                           .arg(int(100 * p.fraction));
        if (p.epochs > 0)
            line += QString(" epoch %1/%2").arg(p.epoch + 1).arg(p.epochs);
        for (const auto& [name, value] : p.values)
            line += QString(" %1 %2").arg(QString::fromStdString(name)).arg(value, 0, 'g', 4);
        line += " ETA " + duration(p.etaSeconds);
        err << line.leftJustified(79) << Qt::flush;
        drawn = true;
    });
    auto previous = std::signal(SIGINT, onInterrupt);
    const JobState state = runJob(job, control);
    std::signal(SIGINT, previous);
    if (drawn)
        err << "\n";
    if (state == JobState::Failed)
        err << "primaps " << command << ": " << QString::fromStdString(control.error()) << "\n";
    if (state == JobState::Canceled)
        err << "primaps " << command
            << ": interrupted; the work so far is kept, run the same "
               "command again to continue\n";
    err.flush();
    return state;
}

} // namespace primaps::cli
