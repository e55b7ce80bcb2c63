// SPDX-License-Identifier: MIT
#include "support/partnerthread_p.h"

#include <bitset>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace primaps::detail {

namespace {

// One iteration of a spin-wait: tells the core it may give resources to its sibling.
inline void relax()
{
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#else
    std::this_thread::yield();
#endif
}

} // namespace

PartnerThread::PartnerThread(std::chrono::microseconds spin) : spin_(spin)
{
    thread_ = std::thread([this] { loop(); });
}

PartnerThread::~PartnerThread()
{
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_.store(true);
    }
    wake_.notify_one();
    thread_.join();
}

bool PartnerThread::claim(unsigned job)
{
    unsigned expected = job - 1;
    return claimed_.compare_exchange_strong(expected, job, std::memory_order_acq_rel);
}

void PartnerThread::runTwo(Call call, void* context)
{
    if (!engaged_) {
        call(context, 0);
        call(context, 1);
        ++callerRan_;
        return;
    }
    call_ = call;
    context_ = context;
    const unsigned job = posted_.load(std::memory_order_relaxed) + 1;
    posted_.store(job); // sequentially consistent: pairs with the partner's sleeping_
    if (sleeping_.load()) {
        // Taking the mutex orders the notification after the partner's last look at
        // posted_ (it holds the mutex from there until it waits): no lost wake-up.
        std::lock_guard<std::mutex> lock(mutex_);
        wake_.notify_one();
    }
    call(context, 0);
    const bool late = claim(job);
    lateHistory_ = (lateHistory_ << 1 | (late ? 1u : 0u)) & 0xFFFFu;
    if (late) {
        call(context, 1);
        ++callerRan_;
        if (std::bitset<16>(lateHistory_).count() >= 8)
            engaged_ = false;
        return;
    }
    // The partner is running part 1: a short wait as a rule. If it takes longer, the
    // partner was probably preempted by another process; sleeping frees this core,
    // where the scheduler can then run it.
    const auto deadline = std::chrono::steady_clock::now() + spin_;
    for (int spins = 1; finished_.load(std::memory_order_acquire) != job; ++spins) {
        relax();
        if (spins % 64 == 0 && std::chrono::steady_clock::now() > deadline) {
            std::unique_lock<std::mutex> lock(mutex_);
            callerSleeping_.store(true); // sequentially consistent, before looking at finished_
            finishedWake_.wait(lock, [&] { return finished_.load() == job; });
            callerSleeping_.store(false);
            if (++callerSlept_ >= 2)
                engaged_ = false;
            return;
        }
    }
}

void PartnerThread::loop()
{
    using Clock = std::chrono::steady_clock;
    unsigned seen = 0;
    for (;;) {
        Clock::time_point deadline = Clock::now() + spin_;
        unsigned job = 0;
        for (int spins = 1; (job = posted_.load(std::memory_order_acquire)) == seen; ++spins) {
            if (stopping_.load(std::memory_order_relaxed))
                return;
            relax();
            if (spins % 64 == 0 && Clock::now() > deadline) {
                std::unique_lock<std::mutex> lock(mutex_);
                sleeping_.store(true); // sequentially consistent, before looking at posted_
                wake_.wait(lock, [&] { return stopping_.load() || posted_.load() != seen; });
                sleeping_.store(false);
                deadline = Clock::now() + spin_;
            }
        }
        seen = job;
        // Claimed, the job cannot end (nor call_ and context_ change) before finished_
        // says so; unclaimed, the caller ran part 1 itself.
        if (!claim(job))
            continue;
        call_(context_, 1);
        partnerRan_.fetch_add(1, std::memory_order_relaxed);
        finished_.store(job); // sequentially consistent: pairs with callerSleeping_
        if (callerSleeping_.load()) {
            std::lock_guard<std::mutex> lock(mutex_);
            finishedWake_.notify_one();
        }
    }
}

} // namespace primaps::detail
