// SPDX-License-Identifier: MIT
// Private to core: keeping LibTorch's OpenMP pool and a BLAS with its own thread pool
// from fighting over the cores (see VitThreading in vit.h for the measurements).
#pragma once

#include <ATen/Parallel.h>
#include <dlfcn.h>

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

/// Sets LibTorch's intra-op threads to one for a scope and restores them after: the
/// elementwise work then runs on the calling thread while the BLAS keeps its threads.
/// at::set_num_threads() acts on the calling thread's OpenMP setting (and the default
/// for threads that have not run LibTorch work yet), so other workers are unaffected.
class SerialAtenOps
{
public:
    explicit SerialAtenOps(bool active) : previous_(active ? at::get_num_threads() : 1)
    {
        if (previous_ > 1)
            at::set_num_threads(1);
    }
    ~SerialAtenOps()
    {
        if (previous_ > 1)
            at::set_num_threads(previous_);
    }
    SerialAtenOps(const SerialAtenOps&) = delete;
    SerialAtenOps& operator=(const SerialAtenOps&) = delete;

private:
    int previous_;
};

} // namespace primaps::detail
