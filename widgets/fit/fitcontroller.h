// SPDX-License-Identifier: MIT
#pragma once

#include "dataset/dataset.h"
#include "runs/fitrun.h"
#include "support/job.h"

#include <memory>
#include <QElapsedTimer>
#include <QMutex>
#include <QObject>
#include <QString>
#include <QVector>
#include <vector>

class QThread;

namespace primaps {

/// How a fit started by FitController ended.
struct FitOutcome
{
    JobState state = JobState::Idle; ///< Finished, Canceled or Failed
    QString error;                   ///< Failed: one line for the user
    QString runDir;
    qint64 stepsDone = 0; ///< 0 when the fit stage was not reached
    qint64 totalSteps = 0;
    qint64 resumedFrom = 0; ///< step the fit continued from; 0 when it started afresh
    int images = 0;
    double seconds = 0; ///< wall time of this start, pauses excluded
    bool someItemsFailed = false;
    bool checkpointRejected = false; ///< the run folder's checkpoint belongs to another fit
    double finalLoss = 0;
    QString prototypesPath; ///< theta_m.json of a finished run
};

/// Runs DatasetFitJob (features, masks, PriMaPs-EM, run folder) on a thread of
/// its own and reports to the GUI thread.
///
/// Threading contract: create, call and destroy it on the GUI thread. The job's
/// progress callback runs on the worker; it only appends to a queue under a
/// mutex and posts one queued drain, so a fast fit never floods the event loop
/// and the widgets are only touched by signals emitted on the GUI thread, in
/// the order the job reported. Opening the dataset and creating the backbone
/// happen on the worker too. pause(), resume() and cancel() never block. The
/// destructor cancels a running fit and joins its thread (a canceled fit saves
/// its checkpoint first).
class FitController : public QObject
{
    Q_OBJECT

public:
    explicit FitController(QObject* parent = nullptr);
    ~FitController() override;

    /// Starts a fit of `settings` on the dataset `dataset`. Returns false (and
    /// does nothing) while another fit runs.
    bool start(const DatasetOptions& dataset, const FitRunSettings& settings);
    /// True from start() until finished() was emitted.
    bool isRunning() const { return m_thread != nullptr; }
    /// Running or Paused while running (as requested: the worker stops at its
    /// next safe point), else the outcome's state (Idle before the first fit).
    JobState state() const { return m_state; }
    bool isPaused() const { return m_state == JobState::Paused; }
    /// The request of the current or last fit.
    const DatasetOptions& datasetOptions() const { return m_dataset; }
    const FitRunSettings& settings() const { return m_settings; }
    const FitOutcome& outcome() const { return m_outcome; }
    /// Blocks until the worker has ended and finished() was emitted, or
    /// `timeoutMs` passed (< 0: no limit). For shutdown and tests.
    bool waitForFinished(int timeoutMs = -1);

public slots:
    void pause();
    void resume();
    /// Stops at the next safe point; the caches and the checkpoint are kept.
    void cancel();

signals:
    void started();
    /// Steps restored from the run's checkpoint before it resumes (for plots).
    void historyLoaded(const primaps::FitHistory& history);
    /// Every report of the job, in order.
    void progressed(const primaps::JobProgress& progress);
    /// A line for the log (dataset summary, stage reports, resume notes).
    void logLine(const QString& line);
    void stateChanged(primaps::JobState state);
    void finished(const primaps::FitOutcome& outcome);

private:
    struct Event;
    void post(Event event);
    void drain();
    void workerMain();
    void onThreadFinished();

    DatasetOptions m_dataset;
    FitRunSettings m_settings;
    QThread* m_thread = nullptr;
    quint64 m_generation = 0;
    std::unique_ptr<JobControl> m_control;
    JobState m_state = JobState::Idle;
    FitOutcome m_outcome;       ///< the last fit's; GUI thread only
    FitOutcome m_workerOutcome; ///< written by the worker, read once its thread has ended
    QElapsedTimer m_clock;
    qint64 m_pausedMs = 0;
    QElapsedTimer m_pausedClock;

    QMutex m_mutex;
    std::vector<Event> m_pending; ///< guarded by m_mutex
    bool m_drainPosted = false;   ///< guarded by m_mutex
};

/// Formats seconds as "42 s", "3 min 05 s" or "2 h 07 min".
QString formatDuration(double seconds);

} // namespace primaps

Q_DECLARE_METATYPE(primaps::JobProgress)
Q_DECLARE_METATYPE(primaps::FitOutcome)
Q_DECLARE_METATYPE(primaps::FitHistory)
