// SPDX-License-Identifier: MIT
#include "support/runtime.h"

#include "primaps/version.h"

#include <ATen/Parallel.h>
#include <ctime>
#include <opencv2/core.hpp>
#include <opencv2/core/version.hpp>
#include <torch/version.h>

#include <cstdlib>
#include <dlfcn.h>
#include <sched.h>
#include <thread>

namespace primaps {

namespace {

// The CPUs this process may run on: a Slurm task, a container or `taskset` limits
// them (sched_getaffinity), unlike hardware_concurrency(), which counts the whole
// machine and would start one thread per core of a shared cluster node.
int availableCpus()
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    return int(std::max(1u, std::thread::hardware_concurrency()));
}

} // namespace

void configureThreads(int threads)
{
    if (threads <= 0) {
        // OMP_NUM_THREADS, as for any LibTorch program, when it holds a positive count.
        const char* omp = std::getenv("OMP_NUM_THREADS");
        const int requested = omp ? std::atoi(omp) : 0;
        threads = requested > 0 ? requested : availableCpus();
    }
    at::set_num_threads(threads);
    cv::setNumThreads(threads);
    // OpenBLAS keeps a pool of its own (sized from the cores at load time); it is
    // looked up at run time because Debian swaps BLAS libraries without relinking.
    using SetThreads = void (*)(int);
    if (const auto set =
            reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
        set(threads);
}

int computeThreads() { return at::get_num_threads(); }

std::string versionString() { return PRIMAPS_VERSION_STRING; }

std::string buildDescription()
{
    return std::string("LibTorch ") + TORCH_VERSION + ", OpenCV " + CV_VERSION;
}

std::string utcTimestamp()
{
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return text;
}

} // namespace primaps
