// SPDX-License-Identifier: MIT
// Private to core: keeping LibTorch's OpenMP pool and a BLAS with its own thread pool
// from fighting over the cores (see VitThreading in vit.h for the measurements).
#pragma once

#include <ATen/Config.h>
#include <ATen/Parallel.h>
#if AT_PARALLEL_OPENMP
#include <omp.h>
#endif
#include <dlfcn.h>
#include <mutex>

namespace primaps::detail {

/// True when the BLAS in this process is OpenBLAS running its own pthreads pool (not
/// OpenMP's, MKL's or none). Looked up at run time: Debian switches BLAS implementations
/// through alternatives without relinking.
inline bool blasHasOwnThreadPool()
{
    static const bool value = [] {
        using GetParallel = int (*)();
        const auto get =
            reinterpret_cast<GetParallel>(dlsym(RTLD_DEFAULT, "openblas_get_parallel"));
        return get != nullptr && get() == 1; // 0 sequential, 1 pthreads, 2 OpenMP
    }();
    return value;
}

/// OpenBLAS on one thread for a scope, for callers that split their work across
/// threads of their own (each product then runs on the thread that calls it).
/// OpenBLAS has one process-wide setting: the first of overlapping scopes lowers
/// it, the last restores it. Does nothing without OpenBLAS.
class SingleThreadedBlas
{
public:
    SingleThreadedBlas()
    {
        const Functions& f = functions();
        if (!f.get || !f.set)
            return;
        std::lock_guard<std::mutex> lock(state().mutex);
        if (state().scopes++ == 0) {
            state().previous = f.get();
            if (state().previous != 1)
                f.set(1);
        }
    }
    ~SingleThreadedBlas()
    {
        const Functions& f = functions();
        if (!f.get || !f.set)
            return;
        std::lock_guard<std::mutex> lock(state().mutex);
        if (--state().scopes == 0 && state().previous != 1)
            f.set(state().previous);
    }
    SingleThreadedBlas(const SingleThreadedBlas&) = delete;
    SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

    /// Whether the BLAS in this process can be switched (OpenBLAS).
    static bool available() { return functions().get && functions().set; }

private:
    struct Functions
    {
        int (*get)() = nullptr;
        void (*set)(int) = nullptr;
    };
    struct State
    {
        std::mutex mutex;
        int scopes = 0;
        int previous = 1;
    };
    static const Functions& functions()
    {
        static const Functions f = [] {
            Functions out;
            out.get = reinterpret_cast<int (*)()>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
            out.set =
                reinterpret_cast<void (*)(int)>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
            return out;
        }();
        return f;
    }
    static State& state()
    {
        static State s;
        return s;
    }
};

/// Sets LibTorch's intra-op threads to one for a scope and restores them after: the
/// elementwise work then runs on the calling thread while the BLAS keeps its threads.
/// Only the calling thread's OpenMP setting changes (nthreads-var is per thread), so
/// other workers are unaffected. Not at::set_num_threads(): besides changing the
/// process-wide default, it rebuilds LibTorch's pthreadpool, whose fresh threads
/// spin; at two calls per PriMaPs iteration that cost 3x the decomposition's own
/// time on a loaded machine (measured with perf: 70% of the samples spinning).
class SerialAtenOps
{
public:
    explicit SerialAtenOps(bool active)
        // at::get_num_threads() also runs LibTorch's lazy per-thread initialisation,
        // which would otherwise reset the setting below at the first operation.
        : previous_(active ? at::get_num_threads() : 1)
    {
        if (previous_ > 1)
            setThreads(1);
    }
    ~SerialAtenOps()
    {
        if (previous_ > 1)
            setThreads(previous_);
    }
    SerialAtenOps(const SerialAtenOps&) = delete;
    SerialAtenOps& operator=(const SerialAtenOps&) = delete;

    static void setThreads(int threads)
    {
#if AT_PARALLEL_OPENMP
        omp_set_num_threads(threads);
#else
        at::set_num_threads(threads);
#endif
    }

private:
    int previous_;
};

/// LibTorch's elementwise operations on the calling thread from now on (for threads
/// that do their share of a split computation).
inline void serialAtenOpsOnThisThread()
{
    at::get_num_threads(); // LibTorch's lazy per-thread initialisation first
    SerialAtenOps::setThreads(1);
}

} // namespace primaps::detail
