// SPDX-License-Identifier: MIT
#include "support/largebuffer.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace primaps::detail {

namespace {

std::atomic<bool> hugePages{false};

// Released large buffers kept for the next allocation of the same size class
// (whole 2 MB pages). The CRF allocates the same handful of sizes for every
// image of a size and frees them afterwards; the C library would return them
// to the system and the next image would fault every page in again (and have
// the kernel zero it). Capped, so that what stays reserved after a burst of
// work stays bounded.
constexpr std::size_t kKeptBytes = std::size_t(96) << 20;

struct KeptBuffers
{
    std::mutex mutex;
    std::vector<std::pair<void*, std::size_t>> buffers; // pointer, size class in bytes
    std::size_t bytes = 0;
};

KeptBuffers& kept()
{
    // Never destroyed: buffers released during static destruction still find it.
    static KeptBuffers* buffers = new KeptBuffers;
    return *buffers;
}

std::size_t sizeClass(std::size_t bytes)
{
    return (bytes + kLargeBufferBytes - 1) / kLargeBufferBytes * kLargeBufferBytes;
}

} // namespace

bool largeBufferHugePages()
{
    return hugePages.load(std::memory_order_relaxed);
}

void setLargeBufferHugePages(bool on)
{
    hugePages.store(on, std::memory_order_relaxed);
    // Kept buffers carry the previous advice: start afresh.
    KeptBuffers& pool = kept();
    const std::lock_guard<std::mutex> lock(pool.mutex);
    for (const auto& [p, size] : pool.buffers)
        ::operator delete(p, std::align_val_t(kLargeBufferBytes));
    pool.buffers.clear();
    pool.bytes = 0;
}

void* allocateLargeBuffer(std::size_t bytes)
{
    if (bytes < kLargeBufferBytes)
        return ::operator new(bytes);
    const std::size_t size = sizeClass(bytes);
    {
        KeptBuffers& pool = kept();
        const std::lock_guard<std::mutex> lock(pool.mutex);
        const auto found = std::find_if(pool.buffers.begin(), pool.buffers.end(),
                                        [&](const auto& b) { return b.second == size; });
        if (found != pool.buffers.end()) {
            void* p = found->first;
            pool.bytes -= size;
            pool.buffers.erase(found);
            return p;
        }
    }
    void* p = ::operator new(size, std::align_val_t(kLargeBufferBytes));
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    // A hint: where it fails or THP is off, 4 KB pages it is.
    if (largeBufferHugePages())
        (void)madvise(p, size, MADV_HUGEPAGE);
#endif
    return p;
}

void releaseLargeBuffer(void* p, std::size_t bytes) noexcept
{
    if (bytes < kLargeBufferBytes) {
        ::operator delete(p);
        return;
    }
    const std::size_t size = sizeClass(bytes);
    KeptBuffers& pool = kept();
    {
        const std::lock_guard<std::mutex> lock(pool.mutex);
        if (pool.bytes + size <= kKeptBytes) {
            try {
                pool.buffers.emplace_back(p, size);
                pool.bytes += size;
                return;
            } catch (...) {
                // No room to remember it: give it back below.
            }
        }
    }
    ::operator delete(p, std::align_val_t(kLargeBufferBytes));
}

} // namespace primaps::detail
