// SPDX-License-Identifier: MIT
#pragma once

class QDockWidget;

namespace primaps {

class MainWindow;

/// The Messages dock (View ▸ Message Log, Ctrl+Shift+M): every message the
/// banner over the canvas showed this session, kept when the banner is
/// dismissed; the banner's "more…" button opens it. Returns the dock.
QDockWidget* installMessageLog(MainWindow* window);

} // namespace primaps
