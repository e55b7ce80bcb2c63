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
    /// next one at once), then sleeps until runTwo() wakes it.
    explicit PartnerThread(std::chrono::microseconds spin = std::chrono::microseconds(500));
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
    template <typename Part> void runTwo(Part&& part)
    {
        runTwo(
            [](void* p, int which) { (*static_cast<std::remove_reference_t<Part>*>(p))(which); },
            static_cast<void*>(&part));
    }

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
    std::atomic<bool> stopping_{false};
    std::atomic<long> partnerRan_{0};
    long callerRan_ = 0;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::thread thread_;
};

} // namespace primaps::detail
