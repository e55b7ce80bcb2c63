// SPDX-License-Identifier: MIT
// FitMonitorWidget::showRun(): a run folder's fit on the plot, without running
// anything (the studio started on a fitted run, the screenshot gallery).
#include "common/backgroundpool.h"
#include "common/messagewidget.h"
#include "fit/fitmonitorwidget.h"
#include "fit/fitmonitorwidget_p.h"

#include <qcustomplot.h>
#include <QDir>
#include <QFutureWatcher>
#include <QLabel>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QtConcurrent/QtConcurrentRun>

namespace primaps {

QString FitMonitorWidget::currentRunDir() const
{
    const std::string running = m_controller->settings().runDir;
    return running.empty() ? m_shownRun : QString::fromStdString(running);
}

bool FitMonitorWidget::showRun(const QString& runDir)
{
    if (m_controller->isRunning()) {
        m_messages->showMessage(tr("A fit is running; its curves stay on the plot."));
        return false;
    }
    FitRunFolder run;
    try {
        run = readFitRunFolder(runDir.toStdString());
    } catch (const std::exception& e) {
        m_messages->showMessage(
            tr("Cannot show the run: %1").arg(QString::fromLocal8Bit(e.what())));
        return false;
    }
    clearPlot();
    m_log->clear();
    m_status->setStyleSheet(QString());
    m_status->setToolTip(QString());
    m_eta->clear();
    m_shownRun = runDir;
    run.settings.runDir = runDir.toStdString();
    setFitTitle(run.dataset, run.settings);
    m_statusText = tr("Reading the run's history\u2026");
    m_status->setText(m_statusText);
    m_progress->setRange(0, 0);
    updateButtons();

    // The checkpoint (state.json) holds the optimiser's state too: read off the GUI thread.
    auto* watcher = new QFutureWatcher<FitHistory>(this);
    connect(watcher, &QFutureWatcher<FitHistory>::finished, this, [this, watcher, run, runDir] {
        watcher->deleteLater();
        if (m_controller->isRunning() || m_shownRun != runDir)
            return; // a fit started, or another run was asked for, meanwhile
        const FitHistory history = watcher->result();
        plotHistory(history);
        replotNow();
        const qint64 steps = history.steps.empty() ? 0 : history.steps.back().step;
        m_progress->setRange(0, 1000);
        m_progress->setValue(run.complete ? 1000 : 0);
        QString metrics;
        if (!history.validations.empty()) {
            double acc = -1, miou = -1;
            for (const auto& [name, value] : history.validations.back().second) {
                if (name == "val_miou")
                    miou = value;
                else if (name == "val_acc")
                    acc = value;
            }
            if (miou >= 0 && acc >= 0)
                metrics = tr(", last validation mIoU %1 %, Acc %2 %")
                              .arg(miou, 0, 'f', 1)
                              .arg(acc, 0, 'f', 1);
        }
        const QString folder = QDir::toNativeSeparators(runDir);
        if (run.complete)
            m_summaryText =
                tr("\u2714 Fitted run: %1 steps%2. Run: %3").arg(run.steps).arg(metrics, folder);
        else if (steps > 0)
            m_summaryText = tr("Stopped at step %1%2; Fit \u25b8 Resume Fit\u2026 continues it. "
                               "Run: %3")
                                .arg(steps)
                                .arg(metrics, folder);
        else
            m_summaryText = tr("This run has no checkpoint yet. Run: %1").arg(folder);
        m_statusText = m_summaryText;
        m_status->setText(m_statusText);
        appendLog(tr("showing the %1 step(s) of %2 (nothing runs)")
                      .arg(history.steps.size())
                      .arg(folder));
        emit runShown();
    });
    watcher->setFuture(runInBackground([dir = runDir.toStdString()] {
        try {
            return readFitHistory(dir);
        } catch (const std::exception&) {
            return FitHistory(); // the plot stays empty; the status line says so
        }
    }));
    return true;
}

} // namespace primaps
