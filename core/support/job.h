// SPDX-License-Identifier: MIT
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace primaps {

/// A snapshot of a job's progress, toolkit-free so that the CLI prints it and the
/// GUI plots it.
struct JobProgress
{
    double fraction = 0;   ///< 0..1 of the whole job
    std::string stage;     ///< e.g. "pca", "k-means", "em", "features"
    std::int64_t step = 0; ///< steps done in the whole job
    std::int64_t totalSteps = 0;
    int epoch = 0;             ///< 0-based epoch of the current stage
    int epochs = 0;            ///< epochs of the current stage
    double elapsedSeconds = 0; ///< running time, pauses excluded (filled in by JobControl)
    double etaSeconds =
        -1; ///< estimated remaining time; < 0 when unknown (filled in by JobControl)
    /// Named numbers of the last step (losses, metrics, EMA decay), in a stable order.
    std::vector<std::pair<std::string, double>> values;
    std::string message; ///< one human-readable line
};

/// How a job ended (or where it is).
enum class JobState
{
    Idle, ///< not started
    Running,
    Paused,
    Finished, ///< ran to the end
    Canceled, ///< stopped at a safe point on request; its work so far is kept (e.g. a checkpoint)
    Failed,   ///< threw; JobControl::error() has the message
};

const char* toString(JobState state);

/// The channel between a job and whoever controls it.
///
/// Controller side (any thread): cancel(), pause(), resume(), state(), progress().
/// Job side (the worker thread): proceed() at safe points, report() for progress.
/// Everything is thread-safe. The progress callback runs on the worker thread;
/// a GUI forwards it with a queued signal and never touches widgets from it.
class JobControl
{
public:
    using ProgressCallback = std::function<void(const JobProgress&)>;

    /// Called for every report(); set it before the job starts.
    void setProgressCallback(ProgressCallback callback);

    /// Asks the job to stop at its next safe point (also wakes a paused job).
    void cancel();
    bool isCanceled() const { return canceled_.load(); }
    /// Asks the job to wait at its next safe point until resume() or cancel().
    void pause();
    void resume();
    bool isPausing() const { return paused_.load(); }

    JobState state() const { return state_.load(); }
    /// The latest progress snapshot.
    JobProgress progress() const;
    /// The failure message of a Failed job; empty otherwise.
    std::string error() const;

    /// Job side: a safe point. Blocks while paused; returns false when the job
    /// should stop (canceled).
    bool proceed();
    /// Job side: publishes progress; fills in elapsedSeconds (the running time since
    /// markStarted()) and etaSeconds (see startEstimate()), then calls the callback.
    void report(JobProgress progress);
    /// Job side: from now on the ETA is the time until the fraction reaches `to`,
    /// extrapolated from the progress made since this call beyond `from`: for a
    /// part of a job whose steps take another time than the ones before it (a
    /// fit's PCA initialisation, its k-means steps, its EM steps), so that no
    /// part's rate is extrapolated to another. Until a report passes `from`, the
    /// ETA is unknown (< 0). markStarted() returns to the rate of the whole job
    /// (from 0 to 1). Pauses are excluded.
    void startEstimate(double from, double to);

    /// Runner side: state transitions (used by runJob()).
    void setState(JobState state);
    void setError(const std::string& message);
    void markStarted();

private:
    std::atomic<bool> canceled_{false};
    std::atomic<bool> paused_{false};
    std::atomic<JobState> state_{JobState::Idle};
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    JobProgress progress_;
    std::string error_;
    ProgressCallback callback_;
    std::chrono::steady_clock::time_point started_{};
    std::chrono::steady_clock::duration pausedFor_{};
    // startEstimate(): where the ETA's rate is measured from, and its end.
    std::chrono::steady_clock::time_point estimateStart_{};
    std::chrono::steady_clock::duration pausedBeforeEstimate_{};
    double estimateFrom_ = 0;
    double estimateTo_ = 1;
};

/// A unit of long-running work. run() is called on one thread; it calls
/// control.proceed() between steps and control.report() after them, and throws
/// on failure (primaps::Error or any std::exception).
class Job
{
public:
    virtual ~Job() = default;
    virtual void run(JobControl& control) = 0;
};

/// Runs `job` on the calling thread. Errors come back as values: the state is
/// Finished, Canceled (proceed() returned false, or cancel() was called before
/// the job returned) or Failed (the exception's message is in control.error()).
/// Never throws.
JobState runJob(Job& job, JobControl& control);

/// Runs a job on its own std::thread. The destructor cancels the job and waits
/// for it, so a runner going out of scope never leaves a thread behind.
class JobRunner
{
public:
    /// Takes ownership of the job; it runs when start() is called.
    explicit JobRunner(std::unique_ptr<Job> job);
    ~JobRunner();
    JobRunner(const JobRunner&) = delete;
    JobRunner& operator=(const JobRunner&) = delete;

    JobControl& control() { return control_; }
    /// Starts the worker thread; call once.
    void start();
    /// Waits for the job to end and returns its final state.
    JobState wait();

private:
    std::unique_ptr<Job> job_;
    JobControl control_;
    std::thread thread_;
};

} // namespace primaps
