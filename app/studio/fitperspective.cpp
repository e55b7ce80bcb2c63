// SPDX-License-Identifier: MIT
#include "fitperspective.h"

#include "mainwindow.h"
#include "perspectives.h"

#include "fit/fitcontroller.h"
#include "fit/fitdialog.h"
#include "fit/fitmonitorwidget.h"

#include <QDockWidget>
#include <QFileDialog>
#include <QMenu>
#include <QMenuBar>
#include <QSettings>
#include <QTimer>

namespace primaps {

FitPerspective::FitPerspective(MainWindow* window) : QObject(window), m_window(window)
{
    // The fit monitor is wide (plots over steps) and appears when a fit starts.
    m_monitor = new FitMonitorWidget(window);
    m_dock = window->addStudioDock(tr("Fit monitor"), QStringLiteral("FitDock"), m_monitor,
                                   Qt::BottomDockWidgetArea);
    m_dock->hide();
    connect(m_monitor, &FitMonitorWidget::errorOccurred, this, [this](const QString& message) {
        show();
        m_window->showStatus(message, MainWindow::StatusKind::Error);
    });
    connect(m_monitor, &FitMonitorWidget::runningChanged, this, [this](bool running) {
        // Plots over hundreds of steps need room: about half the window (once
        // the dock that was just shown has been laid out).
        if (running)
            QTimer::singleShot(0, this, [this] {
                const int half = m_window->height() / 2;
                if (m_dock->isVisible() && m_dock->height() < half)
                    m_window->resizeDocks({m_dock}, {half}, Qt::Vertical);
            });
    });
    connect(m_monitor, &FitMonitorWidget::fitFinished, this, [this](const FitOutcome& o) {
        if (m_closeAfterFit) {
            // One close per request: if this one is refused (unsaved
            // corrections), a later fit must not close the window.
            m_closeAfterFit = false;
            QTimer::singleShot(0, m_window, &QWidget::close);
            return;
        }
        if (o.state == JobState::Finished) {
            m_window->showStatus(m_monitor->summaryText(), MainWindow::StatusKind::Normal,
                                 MainWindow::StatusOwner::Fit);
            // The natural next step after a fit is to score it.
            emit finished(o.runDir);
        }
    });
}

void FitPerspective::createMenu()
{
    QMenu* fit = m_window->menuBar()->addMenu(tr("F&it"));
    QAction* newFit = fit->addAction(tr("&New Fit\u2026"), this, &FitPerspective::newFitDialog);
    newFit->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_F));
    newFit->setStatusTip(tr("Fit class prototypes over a dataset with PriMaPs-EM or the k-means "
                            "baseline, in the background"));
    QAction* resumeFit =
        fit->addAction(tr("&Resume Fit\u2026"), this, &FitPerspective::resumeFitDialog);
    resumeFit->setStatusTip(tr("Continue a run folder from its checkpoint (also one the "
                               "command line started)"));
    fit->addSeparator();
    fit->addAction(m_dock->toggleViewAction());
}

bool FitPerspective::readyToClose()
{
    if (!m_monitor->controller()->isRunning())
        return true;
    // The fit stops after its current step and saves its checkpoint; the
    // window closes when it has (see the constructor) and never waits frozen.
    m_closeAfterFit = true;
    m_monitor->controller()->cancel();
    m_window->showStatus(tr("Stopping the fit; its checkpoint is kept\u2026"),
                         MainWindow::StatusKind::Normal, MainWindow::StatusOwner::Fit);
    return false;
}

void FitPerspective::show()
{
    m_window->perspectives()->showDock(PerspectiveController::Perspective::Fit, m_dock);
}

void FitPerspective::newFitDialog()
{
    if (m_monitor->controller()->isRunning()) {
        show();
        m_window->showError(
            tr("A fit is running: cancel it in the fit monitor before starting another."));
        return;
    }
    FitDialog dialog(m_window);
    if (m_window->persistsSettings())
        dialog.restoreRecent();
    if (dialog.exec() != QDialog::Accepted)
        return;
    if (m_window->persistsSettings())
        dialog.saveRecent();
    show();
    m_monitor->startFit(dialog.datasetOptions(), dialog.settings());
}

void FitPerspective::resumeFitDialog()
{
    QSettings settings;
    const QString dir = QFileDialog::getExistingDirectory(
        m_window, tr("Resume Fit: Choose the Run Folder"),
        settings.value(QStringLiteral("fit/run")).toString());
    if (dir.isEmpty())
        return;
    settings.setValue(QStringLiteral("fit/run"), dir);
    show();
    m_monitor->resumeRun(dir);
}

} // namespace primaps
