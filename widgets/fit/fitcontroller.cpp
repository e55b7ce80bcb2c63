// SPDX-License-Identifier: MIT
#include "fit/fitcontroller.h"

#include "common/threadpriority.h"
#include "support/error.h"

#include <cmath>
#include <QDeadlineTimer>
#include <QMutexLocker>
#include <QThread>

namespace primaps {

/// One thing the worker has to tell the GUI thread, queued in report order.
struct FitController::Event
{
    enum class Kind
    {
        Progress,
        Log,
        History
    };
    Kind kind = Kind::Progress;
    JobProgress progress;
    QString line;
    FitHistory history;
};

QString formatDuration(double seconds)
{
    if (seconds < 0)
        return FitController::tr("unknown");
    const long s = long(std::lround(seconds));
    if (s < 60)
        return FitController::tr("%1 s").arg(s);
    if (s < 3600)
        return FitController::tr("%1 min %2 s").arg(s / 60).arg(s % 60, 2, 10, QChar('0'));
    return FitController::tr("%1 h %2 min").arg(s / 3600).arg((s % 3600) / 60, 2, 10, QChar('0'));
}

FitController::FitController(QObject* parent) : QObject(parent)
{
    qRegisterMetaType<primaps::JobProgress>();
    qRegisterMetaType<primaps::FitOutcome>();
    qRegisterMetaType<primaps::FitHistory>();
}

FitController::~FitController()
{
    if (m_thread) {
        m_control->cancel();
        m_thread->wait();
        // onThreadFinished() deletes the thread, but it is queued to this object and
        // will never run now (LeakSanitizer found the QThread of every fit still
        // running when its window closed).
        delete m_thread;
        m_thread = nullptr;
        // Nothing may reach this object once it is gone: the drain and the
        // thread's finished() are queued to it, and Qt drops them with it.
    }
}

bool FitController::start(const DatasetOptions& dataset, const FitRunSettings& settings)
{
    if (m_thread)
        return false;
    m_dataset = dataset;
    m_settings = settings;
    m_outcome = FitOutcome();
    m_workerOutcome = FitOutcome();
    m_control = std::make_unique<JobControl>();
    m_control->setProgressCallback([this](const JobProgress& progress) {
        Event event;
        event.progress = progress;
        post(std::move(event));
    });
    m_pausedMs = 0;
    m_clock.start();
    m_thread = QThread::create([this] { workerMain(); });
    m_thread->setObjectName(QStringLiteral("primaps-fit"));
    // A generation, not the pointer: waitForFinished() may have handled this
    // thread's end already, and a new thread may live at the same address.
    const quint64 generation = ++m_generation;
    connect(
        m_thread, &QThread::finished, this,
        [this, generation] {
            if (generation == m_generation)
                onThreadFinished();
        },
        Qt::QueuedConnection);
    m_state = JobState::Running;
    m_thread->start();
    emit started();
    emit stateChanged(m_state);
    return true;
}

void FitController::pause()
{
    if (!m_thread || m_state != JobState::Running)
        return;
    m_control->pause();
    m_pausedClock.start();
    m_state = JobState::Paused;
    emit stateChanged(m_state);
}

void FitController::resume()
{
    if (!m_thread || m_state != JobState::Paused)
        return;
    m_control->resume();
    m_pausedMs += m_pausedClock.elapsed();
    m_state = JobState::Running;
    emit stateChanged(m_state);
}

void FitController::cancel()
{
    if (m_thread)
        m_control->cancel();
}

bool FitController::waitForFinished(int timeoutMs)
{
    if (!m_thread)
        return true;
    const QDeadlineTimer deadline =
        timeoutMs < 0 ? QDeadlineTimer(QDeadlineTimer::Forever) : QDeadlineTimer(timeoutMs);
    if (!m_thread->wait(deadline))
        return false;
    onThreadFinished();
    return true;
}

void FitController::post(Event event)
{
    bool postDrain = false;
    {
        QMutexLocker lock(&m_mutex);
        m_pending.push_back(std::move(event));
        postDrain = !m_drainPosted;
        m_drainPosted = true;
    }
    if (postDrain)
        QMetaObject::invokeMethod(this, &FitController::drain, Qt::QueuedConnection);
}

void FitController::drain()
{
    std::vector<Event> events;
    {
        QMutexLocker lock(&m_mutex);
        events.swap(m_pending);
        m_drainPosted = false;
    }
    for (const Event& event : events) {
        switch (event.kind) {
        case Event::Kind::Progress:
            emit progressed(event.progress);
            break;
        case Event::Kind::Log:
            emit logLine(event.line);
            break;
        case Event::Kind::History:
            emit historyLoaded(event.history);
            break;
        }
    }
}

// The worker thread: everything slow, including listing the dataset and
// loading the backbone. It only touches m_control, m_workerOutcome (read by
// the GUI thread after the thread has ended) and the event queue.
void FitController::workerMain()
{
    // Below the GUI thread, as are the OpenMP and TBB helpers it starts.
    lowerThisThreadPriority();
    auto log = [this](const QString& line) {
        Event event;
        event.kind = Event::Kind::Log;
        event.line = line;
        post(std::move(event));
    };
    FitOutcome& outcome = m_workerOutcome;
    outcome.runDir = QString::fromStdString(m_settings.runDir);
    try {
        const Dataset dataset = Dataset::open(m_dataset);
        for (const DatasetProblem& p : dataset.problems())
            log(tr("'%1': %2")
                    .arg(QString::fromStdString(p.path), QString::fromStdString(p.message)));
        log(tr("%1 '%2'%3: %4 listed, %5 usable, %6 problem(s), %7 classes")
                .arg(QString::fromLatin1(toString(dataset.kind())),
                     QString::fromStdString(dataset.root()),
                     dataset.split().empty()
                         ? QString()
                         : tr(", split %1").arg(QString::fromStdString(dataset.split())))
                .arg(dataset.listed())
                .arg(dataset.size())
                .arg(dataset.problems().size())
                .arg(dataset.classCount()));
        DatasetFitJob job(dataset, m_settings);
        job.setLogCallback([&](const std::string& line) { log(QString::fromStdString(line)); });
        job.setStageCallback([&](const std::string& stage, const StageReport& report) {
            for (const DatasetProblem& p : report.failures)
                log(tr("'%1': %2; skipped")
                        .arg(QString::fromStdString(p.path),
                             QString::fromStdString(p.message).simplified()));
            QString line = tr("%1: %2 item(s): %3 computed, %4 reused from the cache")
                               .arg(QString::fromStdString(stage))
                               .arg(report.items)
                               .arg(report.computed)
                               .arg(report.reused);
            if (report.skipped)
                line += tr(", %1 without labels").arg(report.skipped);
            log(line + tr(", %1 failed").arg(report.failures.size()));
        });
        if (!job.settings().restart) {
            FitHistory history = readFitHistory(job.settings().runDir);
            if (!history.steps.empty()) {
                Event event;
                event.kind = Event::Kind::History;
                event.history = std::move(history);
                post(std::move(event));
            }
        }
        outcome.state = runJob(job, *m_control);
        outcome.error = QString::fromStdString(m_control->error());
        outcome.stepsDone = job.stepsDone();
        outcome.totalSteps = job.totalSteps();
        outcome.resumedFrom = job.resumedFromStep();
        outcome.images = int(job.images());
        outcome.someItemsFailed = job.someItemsFailed();
        outcome.checkpointRejected = job.checkpointRejected();
        outcome.finalLoss = job.history().empty() ? 0.0 : job.history().back().loss;
        if (outcome.state == JobState::Finished)
            outcome.prototypesPath = QString::fromStdString(job.prototypesPath());
    } catch (const std::bad_alloc&) {
        outcome.state = JobState::Failed;
        outcome.error = tr("not enough memory for this fit");
    } catch (const std::exception& e) {
        outcome.state = JobState::Failed;
        outcome.error = QString::fromLocal8Bit(e.what()).trimmed();
    }
}

void FitController::onThreadFinished()
{
    if (!m_thread)
        return; // waitForFinished() got here first
    m_thread->wait();
    delete m_thread;
    m_thread = nullptr;
    drain(); // whatever the worker reported last comes before the outcome
    if (m_state == JobState::Paused)
        m_pausedMs += m_pausedClock.elapsed();
    m_outcome = m_workerOutcome;
    m_outcome.seconds = double(m_clock.elapsed() - m_pausedMs) / 1000.0;
    m_state = m_outcome.state;
    emit stateChanged(m_state);
    emit finished(m_outcome);
}

} // namespace primaps
