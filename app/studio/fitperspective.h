// SPDX-License-Identifier: MIT
#pragma once

#include <QObject>
#include <QString>

class QDockWidget;

namespace primaps {

class FitMonitorWidget;
class MainWindow;

/// The Fit perspective's wiring: the "Fit monitor" dock, the Fit menu (New
/// Fit…, Resume Fit…), and what the window does when a fit starts, fails or
/// finishes (the perspective comes forward, the status bar says how it went,
/// finished() hands the run folder on to the evaluation).
///
/// A window that closes while a fit runs first stops the fit at its next step
/// (it keeps its checkpoint) and closes when it has. GUI thread only.
class FitPerspective : public QObject
{
    Q_OBJECT

public:
    /// Creates the monitor and its dock (hidden until a fit starts).
    explicit FitPerspective(MainWindow* window);

    /// The Fit menu, at the end of the menu bar.
    void createMenu();

    /// Whether the window may close now. With a fit running: asks it to stop,
    /// closes the window once it has, and returns false.
    bool readyToClose();

    FitMonitorWidget* monitor() const { return m_monitor; }
    QDockWidget* dock() const { return m_dock; }

signals:
    /// A fit finished (not cancelled, not failed) and left its run in `runDir`.
    void finished(const QString& runDir);

private:
    void newFitDialog();
    void resumeFitDialog();
    void show();

    MainWindow* m_window;
    FitMonitorWidget* m_monitor = nullptr;
    QDockWidget* m_dock = nullptr;
    /// A close waits for a running fit to stop at its next step.
    bool m_closeAfterFit = false;
};

} // namespace primaps
