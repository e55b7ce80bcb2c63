// SPDX-License-Identifier: MIT
#pragma once
// A second thread for work that comes in pieces of tens of microseconds (private to
// core; no LibTorch here). PriMaPs' Lanczos products take ~50 us each at 40 x 40 x 384,
// and a condition variable's wake-up costs about as much, so the partner spins for a
// while after each piece before it sleeps; and the caller never waits for a partner
// that has not started yet (the machine may be busy): it runs the second part itself.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <type_traits>

namespace primaps::detail {

class PartnerThread
{
public:
    /// Starts the partner. After each piece of work it spins for `spin` (waiting for the
    /// next one at once), then sleeps until runTwo() wakes it. The default covers the gaps
    /// between the products of one Lanczos run, not the longer work between two runs.
    explicit PartnerThread(std::chrono::microseconds spin = std::chrono::microseconds(50));
    /// Stops the partner and joins it (after the piece it is running, if any).
    ~PartnerThread();
    PartnerThread(const PartnerThread&) = delete;
    PartnerThread& operator=(const PartnerThread&) = delete;

    /// Runs part(0) and part(1), returning when both have run: part(0) on the calling
    /// thread, part(1) on the partner if it takes it before the caller is through with
    /// part(0), else on the calling thread after part(0). So each part must write only
    /// its own outputs and must not care which thread runs it; the caller combines them
    /// (in a fixed order, if the result is to be independent of who ran what). The parts
    /// must not throw. One call at a time; from the thread that owns this object.
    /// Once disengaged (see engaged()), both parts run on the calling thread.
    template <typename Part> void runTwo(Part&& part)
    {
        runTwo(
            [](void* p, int which) { (*static_cast<std::remove_reference_t<Part>*>(p))(which); },
            static_cast<void*>(&part));
    }

    /// False once the partner has shown that it does not get a core of its own: the caller
    /// had to sleep waiting for it twice (it was preempted in the middle of a part), or
    /// it was late for half of the last 16 parts. On a busy machine a second thread only
    /// adds hand-overs and waits; the owner's remaining work then runs on one thread.
    bool engaged() const { return engaged_; }

    /// How many second parts the partner ran and the caller ran (benchmarks, tests).
    long partnerRan() const { return partnerRan_.load(std::memory_order_relaxed); }
    long callerRan() const { return callerRan_; }

private:
    using Call = void (*)(void*, int);
    void runTwo(Call call, void* context);
    void loop();
    bool claim(unsigned job);

    const std::chrono::microseconds spin_;
    // Job g is posted by setting posted_ to g (after call_ and context_); part 1 of it
    // belongs to whoever moves claimed_ from g - 1 to g, and the partner reports it
    // done by setting finished_ to g.
    Call call_ = nullptr;
    void* context_ = nullptr;
    std::atomic<unsigned> posted_{0};
    std::atomic<unsigned> claimed_{0};
    std::atomic<unsigned> finished_{0};
    std::atomic<bool> sleeping_{false};
    std::atomic<bool> callerSleeping_{false};
    std::atomic<bool> stopping_{false};
    std::atomic<long> partnerRan_{0};
    long callerRan_ = 0;
    bool engaged_ = true;
    int callerSlept_ = 0;
    unsigned lateHistory_ = 0; // bit i: the partner was late i jobs ago (last 16)
    std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable finishedWake_;
    std::thread thread_;
};

} // namespace primaps::detail
