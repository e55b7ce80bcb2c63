// SPDX-License-Identifier: MIT
#include "datasetoptions.h"

#include "dataset/defaultsplit.h"
#include "support/error.h"

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

QString splitHelpFor(const QString& purpose, const QString& role)
{
    return QString("Split %1 (default: %2; a folder dataset without --holdout reads the images "
                   "ROOT/<split>.txt lists, and without ROOT/%2.txt all of its images).")
        .arg(purpose, role);
}

DatasetOptions datasetOptions(const QCommandLineParser& parser, const DatasetCliOptions& options,
                              const std::string& splitRole, OptionChecker& checker,
                              const DatasetOptions* fromRun)
{
    DatasetOptions o;
    if (fromRun) { // what is given replaces the run's
        o = *fromRun;
        o.split.clear();
    } else if (!parser.isSet(options.dataset) || !parser.isSet(options.root)) {
        checker.fail(nullptr, "--dataset KIND and --root DIR are required");
    }
    if (parser.isSet(options.dataset))
        checker.guard(&options.dataset, [&] {
            o.kind = datasetKindFromString(parser.value(options.dataset).toStdString());
        });
    if (parser.isSet(options.root))
        o.root = parser.value(options.root).toStdString();
    if (parser.isSet(options.classes))
        o.classes = checker.integer(options.classes, 1, 254);
    if (parser.isSet(options.holdout)) {
        o.holdout = checker.number(options.holdout, 0.0, 1.0, true, true);
        if (o.kind != DatasetKind::Folder)
            checker.fail(&options.holdout, "applies to folder datasets; " +
                                               QString(toString(o.kind)) + " has its own splits");
    }
    // The one rule of core (defaultSplit): a folder reads ROOT/train.txt for fit and
    // ROOT/val.txt for eval when they exist, the named split when held out, else
    // every image; the studio takes the same default.
    o.split = parser.isSet(options.split) ? parser.value(options.split).toStdString()
                                          : defaultSplit(o, splitRole);
    o.strict = parser.isSet(options.strict);
    if (parser.isSet(options.shard))
        checker.guard(&options.shard,
                      [&] { parseShard(parser.value(options.shard).toStdString()); });
    return o;
}

Dataset openDataset(const DatasetOptions& o, QTextStream& err, bool quiet)
{
    Dataset d = Dataset::open(o);
    for (const DatasetProblem& p : d.problems())
        err << "primaps: '" << QString::fromStdString(p.path)
            << "': " << QString::fromStdString(p.message) << "\n";
    if (!quiet)
        err << QString::fromStdString(toString(d.kind())) << " '"
            << QString::fromStdString(d.root()) << "'"
            << (d.split().empty() ? QString() : ", split " + QString::fromStdString(d.split()))
            << (d.holdout() > 0 ? QString(" (hold-out %1)").arg(d.holdout()) : QString()) << ": "
            // Opening only lists and looks for the files; decoding is each stage's,
            // which reports the files it could not use.
            << d.listed() << " listed, " << d.size() << " found (not decoded yet), "
            << d.problems().size() << " problem(s), " << d.classCount() << " classes\n";
    err.flush();
    return d;
}

QString wholeFolderNote(const Dataset& d)
{
    if (!d.allImagesOfFolder())
        return {};
    return QString("note: folder dataset '%1' has no split list %1/val.txt, so all %2 images are "
                   "evaluated, the ones a run was fitted on too; list the validation images in "
                   "val.txt or pass --holdout F to keep a fraction apart as 'val'")
        .arg(QString::fromStdString(d.root()))
        .arg(d.size());
}

QString fittedOnEvaluatedImagesNote(const DatasetOptions& fitted, const Dataset& evaluated)
{
    switch (fitOverlap(fitted, evaluated)) {
    case FitOverlap::FittedWhole:
        return QString("note: the run was fitted on every image of '%1' (it had no train.txt), "
                       "split '%2' included; list the training images in train.txt or fit with "
                       "--holdout F to evaluate on images the fit has not seen")
            .arg(QString::fromStdString(evaluated.root()),
                 QString::fromStdString(evaluated.split()));
    case FitOverlap::SameSplit:
        return QString("note: split '%1' of '%2' is the one the run was fitted on, so these "
                       "scores are on images the fit has seen")
            .arg(QString::fromStdString(evaluated.split()),
                 QString::fromStdString(evaluated.root()));
    case FitOverlap::EvaluatedWhole: // wholeFolderNote() says it, without needing the run
    case FitOverlap::None:
        break;
    }
    return {};
}

void printStageReport(const char* stage, const StageReport& report, QTextStream& err, bool quiet)
{
    // Core's messages usually name the file already; name it once.
    auto line = [&](const DatasetProblem& p) {
        const QString path = QString::fromStdString(p.path);
        QString why = QString::fromStdString(p.message).simplified();
        if (!why.startsWith("'"))
            why = "'" + path + "': " + why;
        return "primaps: " + why;
    };
    for (const DatasetProblem& p : report.failures)
        err << line(p) << "; skipped\n";
    for (const DatasetProblem& p : report.warnings)
        err << line(p) << "\n";
    if (!quiet || !report.failures.empty() || !report.warnings.empty()) {
        err << stage << ": " << report.items << " item(s): " << report.computed << " computed, "
            << report.reused << " reused from the cache";
        if (report.skipped)
            err << ", " << report.skipped << " without labels";
        err << ", " << report.failures.size() << " failed";
        if (!report.warnings.empty())
            err << ", " << report.warnings.size() << " warning(s)";
        err << "\n";
    }
    err.flush();
}

JobState runWithProgress(Job& job, QTextStream& err, bool quiet, const QString& command)
{
    const bool terminal = ::isatty(::fileno(errorOutput())) == 1;
    // Off a terminal (nohup, a pipe, a job scheduler's log) a plain line now and
    // then, so that a long run shows it is alive without flooding the log.
    bool ok = false;
    double interval = qEnvironmentVariable("PRIMAPS_PROGRESS_SECONDS").toDouble(&ok);
    if (!ok || !(interval >= 0))
        interval = 10.0;
    const qint64 intervalMs = terminal ? 200 : qint64(interval * 1000);
    JobControl control;
    QElapsedTimer sinceDraw;
    sinceDraw.start();
    bool drawn = false;
    control.setProgressCallback([&](const JobProgress& p) {
        if (g_interrupted.load())
            control.cancel();
        if (quiet)
            return;
        // A terminal's line is redrawn at a stage's end too; a log gets no
        // line for it, the stage report follows.
        if (sinceDraw.elapsed() < intervalMs && !(terminal && p.step >= p.totalSteps))
            return;
        sinceDraw.restart();
        QString line;
        if (p.stage == "pca" && !p.message.empty()) {
            // The PCA initialisation, one step of the fit's counter, in images.
            line = QString::fromStdString(p.message) + ", " + duration(p.elapsedSeconds);
        } else {
            line = QString("%1 %2/%3 (%4%)")
                       .arg(QString::fromStdString(p.stage))
                       .arg(p.step)
                       .arg(p.totalSteps)
                       .arg(int(100 * p.fraction));
            if (p.epochs > 0)
                line += QString(" epoch %1/%2").arg(p.epoch + 1).arg(p.epochs);
            for (const auto& [name, value] : p.values)
                line += QString(" %1 %2").arg(QString::fromStdString(name)).arg(value, 0, 'g', 4);
        }
        // The ETA is the stage's, from its own steps; none until it has a rate
        // (the fit's PCA initialisation has none: it is a single step).
        if (p.etaSeconds >= 0)
            line += " ETA " + duration(p.etaSeconds);
        if (terminal) {
            err << "\r" << line.leftJustified(79) << Qt::flush;
            drawn = true;
        } else {
            err << command << ": " << line << "\n" << Qt::flush;
        }
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
