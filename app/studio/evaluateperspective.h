// SPDX-License-Identifier: MIT
#pragma once

#include <QObject>
#include <QString>

class QAction;
class QDockWidget;

namespace primaps {

class EvaluationWidget;
class MainWindow;

/// The Evaluate perspective's wiring: the "Evaluation" dock (a tab beside the
/// fit monitor), the Evaluation menu (Open Results…, Evaluate Run…, Evaluate
/// Last Fit) and the perspective coming forward when an evaluation runs.
/// GUI thread only.
class EvaluatePerspective : public QObject
{
    Q_OBJECT

public:
    /// Creates the view and its dock, tabbed with `besideDock` (hidden).
    EvaluatePerspective(MainWindow* window, QDockWidget* besideDock);

    /// The Evaluation menu, at the end of the menu bar.
    void createMenu();
    /// A fit finished: Evaluate Last Fit evaluates `runDir` from now on.
    void setLastFinishedRun(const QString& runDir);

    EvaluationWidget* view() const { return m_view; }
    QDockWidget* dock() const { return m_dock; }
    QAction* evaluateLastFitAction() const { return m_evaluateLastFitAction; }

private:
    void show();

    MainWindow* m_window;
    EvaluationWidget* m_view = nullptr;
    QDockWidget* m_dock = nullptr;
    QAction* m_evaluateLastFitAction = nullptr;
    QString m_lastFinishedRun; ///< run folder of the last fit that finished
};

} // namespace primaps
