// SPDX-License-Identifier: MIT
// Buffers of several megabytes that one run allocates and frees and the next
// run needs again at the same sizes (the dense CRF's lattice tables, label rows
// and messages): std::vector with an allocator that keeps released ones.
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

namespace primaps {

namespace detail {

/// Allocations from this size on take whole 2 MB pages' worth on a 2 MB
/// boundary. Released ones (up to 96 MB in all) are kept for the next
/// allocation of the same size, whose pages are then already mapped: the C
/// library would give them back to the system and the next image's CRF would
/// fault every 4 KB page in again and have the kernel zero it. Optionally (off by
/// default, see docs/crf.md) they are advised to the kernel as transparent
/// huge pages (Linux, madvise MADV_HUGEPAGE).
constexpr std::size_t kLargeBufferBytes = std::size_t(2) << 20;

void* allocateLargeBuffer(std::size_t bytes);
void releaseLargeBuffer(void* p, std::size_t bytes) noexcept;

/// Whether large buffers are advised to use huge pages (off by default: fewer
/// TLB misses did not pay for the huge pages' first faults, measured in
/// bench_densecrf's BM_DenseCrfHugePages), process-wide. Setting it gives the
/// kept buffers back; it affects buffers allocated afterwards.
bool largeBufferHugePages();
void setLargeBufferHugePages(bool on);

} // namespace detail

template <typename T> class LargeBufferAllocator
{
public:
    using value_type = T;

    LargeBufferAllocator() = default;
    template <typename U> LargeBufferAllocator(const LargeBufferAllocator<U>&) noexcept {}

    T* allocate(std::size_t n)
    {
        if (n > std::size_t(-1) / sizeof(T))
            throw std::bad_alloc();
        return static_cast<T*>(detail::allocateLargeBuffer(n * sizeof(T)));
    }
    void deallocate(T* p, std::size_t n) noexcept { detail::releaseLargeBuffer(p, n * sizeof(T)); }

    template <typename U> bool operator==(const LargeBufferAllocator<U>&) const noexcept
    {
        return true;
    }
    template <typename U> bool operator!=(const LargeBufferAllocator<U>&) const noexcept
    {
        return false;
    }
};

/// A std::vector whose storage is a large buffer once it reaches 2 MB.
template <typename T> using LargeVector = std::vector<T, LargeBufferAllocator<T>>;

/// LargeBufferAllocator whose vectors default-initialise new elements on resize():
/// numbers are left as they are, not zeroed, for buffers written in full right after
/// (zeroing megabytes that are overwritten at once was a few per cent of a PriMaPs
/// decomposition).
template <typename T> class UninitialisedLargeBufferAllocator : public LargeBufferAllocator<T>
{
public:
    template <typename U> struct rebind
    {
        using other = UninitialisedLargeBufferAllocator<U>;
    };

    UninitialisedLargeBufferAllocator() = default;
    template <typename U>
    UninitialisedLargeBufferAllocator(const UninitialisedLargeBufferAllocator<U>&) noexcept
    {
    }

    template <typename U>
    void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>)
    {
        ::new (static_cast<void*>(p)) U;
    }
    template <typename U, typename... Args> void construct(U* p, Args&&... args)
    {
        ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
    }
};

/// A LargeVector whose resize() leaves new numbers uninitialised.
template <typename T>
using UninitialisedLargeVector = std::vector<T, UninitialisedLargeBufferAllocator<T>>;

} // namespace primaps
