// SPDX-License-Identifier: MIT
#include "runtime.h"

#include "primaps/version.h"

#include <ATen/Parallel.h>
#include <ctime>
#include <opencv2/core.hpp>
#include <opencv2/core/version.hpp>
#include <torch/version.h>

#include <thread>

namespace primaps {

void configureThreads(int threads)
{
    if (threads <= 0)
        threads = int(std::max(1u, std::thread::hardware_concurrency()));
    at::set_num_threads(threads);
    cv::setNumThreads(threads);
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
