// SPDX-License-Identifier: MIT
// Helpers of the widget tests: the canvas set-up and the decompose-job wait that
// several tests share. Widgets only; the core tests include testsupport.h alone.
#pragma once

#include "explore/canvaswidget.h"
#include "explore/decomposejob.h"
#include "testsupport.h"

#include <QColor>
#include <QImage>
#include <QSignalSpy>
#include <QSize>

namespace primaps::testing {

/// `canvas` at `viewSize` showing a photo of `photoSize` in one `colour`; shown
/// and exposed (when `show`) before the photo arrives, as in the studio. False
/// when the window never got exposed.
inline bool setUpCanvas(CanvasWidget& canvas, QSize viewSize, QSize photoSize,
                        const QColor& colour, bool show = true)
{
    canvas.resize(viewSize);
    if (show) {
        canvas.show();
        if (!QTest::qWaitForWindowExposed(&canvas))
            return false;
    }
    QImage photo(photoSize, QImage::Format_RGB888);
    photo.fill(colour);
    canvas.setPhoto(photo);
    return true;
}

/// The `count`-th result (1 = the first) that `finished`, a spy on
/// DecomposeJob::finished, has recorded, waiting for it up to `timeoutMs`
/// (scaledTimeout()); a default DecomposeResult (not ok(), generation 0) when it
/// does not come.
inline DecomposeResult waitForDecomposeResult(QSignalSpy& finished, int count,
                                              int timeoutMs = 120000)
{
    if (!QTest::qWaitFor([&] { return finished.count() >= count; }, scaledTimeout(timeoutMs)))
        return {};
    return finished.at(count - 1).at(0).value<DecomposeResult>();
}

} // namespace primaps::testing
