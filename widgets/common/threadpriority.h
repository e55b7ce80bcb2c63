// SPDX-License-Identifier: MIT
#pragma once

namespace primaps {

/// How much lower than the GUI thread the studio's computing threads run, as a
/// Linux nice increment. The GUI thread's own work between two events is a few
/// milliseconds; at equal priority the decomposition, the CRF and the fit (one
/// thread each plus their OpenMP/TBB helpers) took both cores of a two-core
/// machine and the GUI thread waited up to 30 ms for one (bench_studio_stall,
/// "queued"). At +10 the scheduler gives a waking GUI thread a core at once
/// while the workers still get every cycle the window does not use.
constexpr int kWorkerNiceIncrement = 10;

/// Lowers the calling thread's scheduling priority to the GUI thread's nice
/// value + kWorkerNiceIncrement; threads it starts later (LibTorch's OpenMP
/// team, TBB workers) inherit that. Idempotent and cheap after the first call
/// on a thread. QThread::setPriority() cannot do this: Linux ignores static
/// priorities under SCHED_OTHER, but nice is per thread.
void lowerThisThreadPriority();

/// Lowers the threads the process started before the window existed that
/// carry no name of their own (a thread inherits its creator's name, so these
/// are the libraries' pools, such as OpenBLAS's, which it starts when it is
/// loaded). Qt's named threads (the display connection's reader) keep their
/// priority. Call on the GUI thread.
void lowerLibraryThreadPriority();

} // namespace primaps
