// SPDX-License-Identifier: MIT
#pragma once
// A fixed team of threads that run one task together and wait for each other
// (private to core; no LibTorch here). The ViT splits each block's work across
// the team itself and runs the BLAS single-threaded inside each member: one
// handover per block instead of a fork and join of two thread pools for every
// product and elementwise step (see docs/performance.md, "The ViT").

#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace primaps::detail {

class WorkerTeam
{
public:
    /// `members` threads in all: the caller of run() and members - 1 helpers,
    /// each of which calls `onStart` once before its first task.
    explicit WorkerTeam(int members, std::function<void()> onStart = {});
    ~WorkerTeam();
    WorkerTeam(const WorkerTeam&) = delete;
    WorkerTeam& operator=(const WorkerTeam&) = delete;

    int size() const { return int(helpers_.size()) + 1; }

    /// Runs task(member) for every member 0..size()-1 (0 on the calling thread)
    /// and returns when all have finished; the first exception is rethrown.
    /// One run at a time per team.
    void run(const std::function<void(int)>& task);

    /// Inside a task: waits until every member has called it (as often). If a
    /// member's task throws, the others leave their wait with an exception too,
    /// and run() rethrows the first one.
    void sync();

private:
    void helperLoop(int member, const std::function<void()>& onStart);
    void finish();
    void abandonRounds(std::exception_ptr error);

    std::vector<std::thread> helpers_;
    std::mutex mutex_;
    std::mutex runMutex_;
    std::condition_variable wake_, done_;
    const std::function<void(int)>* task_ = nullptr;
    unsigned long generation_ = 0;
    int pending_ = 0;
    bool stopping_ = false;
    std::exception_ptr error_;
    // sync(): members arrived in the current round, rounds completed, and
    // whether a member failed in this run.
    int arrived_ = 0;
    unsigned long round_ = 0;
    bool failed_ = false;
    std::condition_variable roundDone_;
};

} // namespace primaps::detail
