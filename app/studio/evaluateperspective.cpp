// SPDX-License-Identifier: MIT
#include "evaluateperspective.h"

#include "mainwindow.h"
#include "perspectives.h"

#include "evaluate/evaluationwidget.h"

#include <QAction>
#include <QDockWidget>
#include <QFileInfo>
#include <QMenu>
#include <QMenuBar>

namespace primaps {

EvaluatePerspective::EvaluatePerspective(MainWindow* window, QDockWidget* besideDock)
    : QObject(window), m_window(window)
{
    // Evaluation results share the bottom area with the fit monitor, as a tab.
    m_view = new EvaluationWidget(window);
    m_dock = window->addStudioDock(tr("Evaluation"), QStringLiteral("EvaluationDock"), m_view,
                                   Qt::BottomDockWidgetArea);
    window->tabifyDockWidget(besideDock, m_dock);
    m_dock->hide();
    connect(m_view, &EvaluationWidget::evaluatingChanged, this, &EvaluatePerspective::show);
}

void EvaluatePerspective::show()
{
    m_window->perspectives()->showDock(PerspectiveController::Perspective::Evaluate, m_dock);
}

void EvaluatePerspective::createMenu()
{
    QMenu* evaluation = m_window->menuBar()->addMenu(tr("E&valuation"));
    QAction* openResults = evaluation->addAction(tr("&Open Results\u2026"), this, [this] {
        show();
        m_view->chooseResults();
    });
    openResults->setStatusTip(tr("Show a JSON file written by 'primaps eval --json'"));
    QAction* evaluateRun = evaluation->addAction(tr("&Evaluate Run\u2026"), this, [this] {
        show();
        m_view->chooseRun();
    });
    evaluateRun->setStatusTip(tr("Evaluate a finished fit's run folder on its validation split, "
                                 "in the background"));
    m_evaluateLastFitAction = evaluation->addAction(tr("Evaluate &Last Fit"), this, [this] {
        show();
        m_view->evaluateRun(m_lastFinishedRun);
    });
    m_evaluateLastFitAction->setEnabled(false);
    m_evaluateLastFitAction->setStatusTip(
        tr("Evaluate the run folder of the fit that finished last (theta_M, no CRF)"));
    evaluation->addSeparator();
    evaluation->addAction(m_dock->toggleViewAction());
}

void EvaluatePerspective::setLastFinishedRun(const QString& runDir)
{
    m_lastFinishedRun = runDir;
    m_evaluateLastFitAction->setEnabled(true);
    m_evaluateLastFitAction->setText(
        tr("Evaluate &Last Fit (%1)").arg(QFileInfo(runDir).fileName()));
}

} // namespace primaps
