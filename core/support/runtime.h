// SPDX-License-Identifier: MIT
#pragma once

#include <string>

namespace primaps {

/// Sets the intra-op thread count of LibTorch, OpenCV and OpenBLAS (LibTorch
/// defaults to one thread here). `threads` <= 0 means $OMP_NUM_THREADS when set,
/// else one per CPU this process may use (its affinity mask, e.g. a Slurm task's). Call once at
/// start-up, from the main thread, before any work is queued.
void configureThreads(int threads = 0);

/// Threads LibTorch will use for one operation.
int computeThreads();

/// "0.1.0", from the CMake project version.
std::string versionString();

/// The current time in UTC, ISO 8601 to the second ("2026-12-05T23:15:07Z"),
/// for the files that record when they were written. Any thread.
std::string utcTimestamp();

/// One line naming the library versions this build uses (for --version and About).
std::string buildDescription();

} // namespace primaps
