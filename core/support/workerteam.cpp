// SPDX-License-Identifier: MIT
#include "support/workerteam_p.h"

#include <stdexcept>

namespace primaps::detail {

WorkerTeam::WorkerTeam(int members, std::function<void()> onStart)
{
    for (int member = 1; member < members; ++member)
        helpers_.emplace_back([this, member, onStart] { helperLoop(member, onStart); });
}

WorkerTeam::~WorkerTeam()
{
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : helpers_)
        t.join();
}

void WorkerTeam::run(const std::function<void(int)>& task)
{
    std::lock_guard<std::mutex> serialise(runMutex_);
    {
        std::lock_guard<std::mutex> lock(mutex_);
        task_ = &task;
        pending_ = int(helpers_.size());
        error_ = nullptr;
        arrived_ = 0;
        failed_ = false;
        ++generation_;
    }
    wake_.notify_all();
    try {
        task(0);
    } catch (...) {
        abandonRounds(std::current_exception());
    }
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return pending_ == 0; });
    task_ = nullptr;
    if (error_)
        std::rethrow_exception(error_);
}

void WorkerTeam::sync()
{
    std::unique_lock<std::mutex> lock(mutex_);
    if (!failed_ && ++arrived_ == size()) {
        arrived_ = 0;
        ++round_;
        roundDone_.notify_all();
        return;
    }
    const unsigned long round = round_;
    roundDone_.wait(lock, [&] { return failed_ || round_ != round; });
    if (failed_)
        throw std::runtime_error("another member of the worker team failed");
}

void WorkerTeam::abandonRounds(std::exception_ptr error)
{
    std::lock_guard<std::mutex> lock(mutex_);
    if (!failed_)
        error_ = error; // the first failure; the others' follow from it
    failed_ = true;
    roundDone_.notify_all();
}

void WorkerTeam::finish()
{
    std::lock_guard<std::mutex> lock(mutex_);
    if (--pending_ == 0)
        done_.notify_one();
}

void WorkerTeam::helperLoop(int member, const std::function<void()>& onStart)
{
    if (onStart)
        onStart();
    unsigned long seen = 0;
    for (;;) {
        const std::function<void(int)>* task = nullptr;
        {
            std::unique_lock<std::mutex> lock(mutex_);
            wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
            if (stopping_)
                return;
            seen = generation_;
            task = task_;
        }
        try {
            (*task)(member);
        } catch (...) {
            abandonRounds(std::current_exception());
        }
        finish();
    }
}

} // namespace primaps::detail
