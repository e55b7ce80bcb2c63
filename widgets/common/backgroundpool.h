// SPDX-License-Identifier: MIT
#pragma once

#include "common/threadpriority.h"

#include <QtConcurrent/QtConcurrentRun>
#include <utility>

class QThreadPool;

namespace primaps {

/// The thread pool for the studio's own background work (feature PCA,
/// playback frames, similarity maps, exports, evaluations, checksums).
///
/// Not QThreadPool::globalInstance(): Qt's raster paint engine and its image
/// conversions split large fills and scalings across the global pool and the
/// GUI thread waits for those pieces. Work of ours that takes seconds on the
/// global pool therefore stalls painting until a pool thread is free again
/// (bench_studio_stall under load: the step list's and the canvas's paints
/// blocked for up to 165-260 ms in QRasterPaintEngine waiting for the global
/// pool). Use runInBackground() rather than passing it to QtConcurrent::run.
QThreadPool* backgroundPool();

/// Runs `work` on backgroundPool() at the workers' lower priority
/// (lowerThisThreadPriority()): the window stays first in line for a core.
template <typename Work> auto runInBackground(Work&& work)
{
    return QtConcurrent::run(backgroundPool(), [work = std::forward<Work>(work)]() mutable {
        lowerThisThreadPriority();
        return work();
    });
}

} // namespace primaps
