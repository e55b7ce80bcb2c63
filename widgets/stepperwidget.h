// SPDX-License-Identifier: MIT
#pragma once

#include <QWidget>

class QLabel;
class QListWidget;

namespace primaps {

struct PrimapsTrace;
class StepHeader;

/// The step list: one row per PriMaPs iteration of a trace (docs/ALGORITHM.md, "PriMaPs decomposition"),
/// showing the similarity to the principal component, the similarity to the
/// nearest-neighbour seed, and the thresholded mask, each at the feature
/// grid's resolution (grey = taken by earlier masks), with the iteration number,
/// the seed, the share it assigned and the coverage after it. A last line says
/// why the decomposition stopped. Selecting a row emits iterationSelected(),
/// which the window uses to highlight that mask; mask id = iteration + 1.
class StepperWidget : public QWidget
{
    Q_OBJECT

public:
    explicit StepperWidget(QWidget* parent = nullptr);

    /// Replaces the rows with those of `trace` (copied; the trace may go away).
    void setTrace(const PrimapsTrace& trace);
    void clear();
    /// Shows that a newer decomposition is being computed; the rows stay until it arrives.
    void setBusy(bool busy);

    int iterationCount() const;
    /// Rows (step cards) shown whole in the list's viewport right now.
    int fullyVisibleRows() const;
    /// Selected iteration (0-based), or -1.
    int selectedIteration() const;
    /// The summary line (stop reason) under the rows.
    QString summaryText() const;
    /// The caption above the rows (threshold, grid size).
    QString headerText() const;

public slots:
    /// Selects a row (-1 clears); emits iterationSelected() when it changes.
    void setSelectedIteration(int index);

signals:
    void iterationSelected(int index);

private:
    QListWidget* m_list = nullptr;
    QLabel* m_header = nullptr;
    QLabel* m_summary = nullptr;
    StepHeader* m_columns = nullptr;
    QString m_headerBase;
    bool m_busy = false;
};

} // namespace primaps
