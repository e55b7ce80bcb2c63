// SPDX-License-Identifier: MIT
#include "support/job.h"

#include <algorithm>
#include <exception>

namespace primaps {

const char* toString(JobState state)
{
    switch (state) {
    case JobState::Idle:
        return "idle";
    case JobState::Running:
        return "running";
    case JobState::Paused:
        return "paused";
    case JobState::Finished:
        return "finished";
    case JobState::Canceled:
        return "canceled";
    case JobState::Failed:
        return "failed";
    }
    return "idle";
}

void JobControl::setProgressCallback(ProgressCallback callback)
{
    std::lock_guard<std::mutex> lock(mutex_);
    callback_ = std::move(callback);
}

void JobControl::cancel()
{
    canceled_.store(true);
    std::lock_guard<std::mutex> lock(mutex_);
    wake_.notify_all();
}

void JobControl::pause()
{
    paused_.store(true);
}

void JobControl::resume()
{
    paused_.store(false);
    std::lock_guard<std::mutex> lock(mutex_);
    wake_.notify_all();
}

JobProgress JobControl::progress() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return progress_;
}

std::string JobControl::error() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return error_;
}

bool JobControl::proceed()
{
    if (canceled_.load())
        return false;
    if (!paused_.load())
        return true;
    std::unique_lock<std::mutex> lock(mutex_);
    const auto pausedAt = std::chrono::steady_clock::now();
    state_.store(JobState::Paused);
    wake_.wait(lock, [this] { return !paused_.load() || canceled_.load(); });
    pausedFor_ += std::chrono::steady_clock::now() - pausedAt;
    if (canceled_.load())
        return false;
    state_.store(JobState::Running);
    return true;
}

void JobControl::report(JobProgress progress)
{
    ProgressCallback callback;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        const auto now = std::chrono::steady_clock::now();
        const auto running = now - started_ - pausedFor_;
        progress.elapsedSeconds = std::chrono::duration<double>(running).count();
        const double measured = std::chrono::duration<double>(
                                    now - estimateStart_ - (pausedFor_ - pausedBeforeEstimate_))
                                    .count();
        const double done = progress.fraction - estimateFrom_;
        progress.etaSeconds =
            done > 0 && progress.fraction <= 1
                ? measured * std::max(0.0, estimateTo_ - progress.fraction) / done
                : -1;
        progress_ = progress;
        callback = callback_;
    }
    // Outside the lock: the callback may query the control (e.g. cancel()).
    if (callback)
        callback(progress);
}

void JobControl::setState(JobState state)
{
    state_.store(state);
}

void JobControl::setError(const std::string& message)
{
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = message;
}

void JobControl::markStarted()
{
    std::lock_guard<std::mutex> lock(mutex_);
    started_ = std::chrono::steady_clock::now();
    pausedFor_ = {};
    estimateStart_ = started_;
    pausedBeforeEstimate_ = {};
    estimateFrom_ = 0;
    estimateTo_ = 1;
}

void JobControl::startEstimate(double from, double to)
{
    std::lock_guard<std::mutex> lock(mutex_);
    estimateStart_ = std::chrono::steady_clock::now();
    pausedBeforeEstimate_ = pausedFor_;
    estimateFrom_ = from;
    estimateTo_ = to;
}

JobState runJob(Job& job, JobControl& control)
{
    control.markStarted();
    control.setState(JobState::Running);
    JobState end = JobState::Finished;
    try {
        job.run(control);
        if (control.isCanceled())
            end = JobState::Canceled;
    } catch (const std::exception& e) {
        control.setError(e.what());
        end = JobState::Failed;
    } catch (...) {
        control.setError("unknown error");
        end = JobState::Failed;
    }
    control.setState(end);
    return end;
}

JobRunner::JobRunner(std::unique_ptr<Job> job) : job_(std::move(job)) {}

JobRunner::~JobRunner()
{
    control_.cancel();
    if (thread_.joinable())
        thread_.join();
}

void JobRunner::start()
{
    if (thread_.joinable() || !job_)
        return;
    control_.setState(JobState::Running);
    thread_ = std::thread([this] { runJob(*job_, control_); });
}

JobState JobRunner::wait()
{
    if (thread_.joinable())
        thread_.join();
    return control_.state();
}

} // namespace primaps
