// SPDX-License-Identifier: MIT
#include "runtime.h"

#include "primaps/version.h"

#include <ATen/Parallel.h>
#include <opencv2/core.hpp>
#include <opencv2/core/version.hpp>
#include <torch/version.h>

#include <dlfcn.h>
#include <thread>

namespace primaps {

void configureThreads(int threads)
{
    if (threads <= 0)
        threads = int(std::max(1u, std::thread::hardware_concurrency()));
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

} // namespace primaps
