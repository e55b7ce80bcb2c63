// SPDX-License-Identifier: MIT
#pragma once

namespace primaps {

/// How much lower than the GUI thread the studio's computing threads run, as a
/// Linux nice increment. The GUI thread's own work between two events is a few
/// milliseconds; at equal priority the decomposition, the CRF and the fit (one
/// thread each plus their OpenMP/TBB helpers) took both cores of a two-core
/// machine and the GUI thread waited up to 30 ms for one (bench_studio_stall,
/// "queued"). Idle machine: +10 kept every stall under 30 ms, +4 under 36 ms,
/// 0 up to 63 ms. But against another program busy at normal priority a +10
/// thread gets about a tenth of a core's share (CFS weights 110 : 1024) — a
/// researcher's training job would freeze the studio's work, and a test beside
/// another test timed out — while +4 keeps about 30 % (423 : 1024).
/// docs/performance.md has the measurements; PRIMAPS_WORKER_NICE overrides.
constexpr int kWorkerNiceIncrement = 4;

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
