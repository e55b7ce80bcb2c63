// SPDX-License-Identifier: MIT
#pragma once

#include <QWidget>
#include <vector>

class QLabel;
class QListWidget;

namespace primaps {

struct PrimapsTrace;
struct StepPictures;
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
    /// `pictures`, when given, are the cards' maps already drawn (one per
    /// iteration, stepPicturesOf()), e.g. by the DecomposeJob's worker; the
    /// existing cards are reused.
    void setTrace(const PrimapsTrace& trace, const std::vector<StepPictures>* pictures = nullptr);
    void clear();
    /// Shows that a newer decomposition is being computed; the rows stay until it arrives.
    void setBusy(bool busy);

    int iterationCount() const;
    /// The label-map shares of the mask ids (index = iteration + 1, as the
    /// legend gets them): each card says which label its proposal became, in
    /// the legend's consecutive numbering, or that it is not in the label map.
    void setLabelShares(const std::vector<double>& shares);
    /// The card's label number (0: not in the label map), "proposal area …" and detail line.
    int labelNumber(int index) const;
    /// Each mask id's proposal area (index = iteration + 1; 0 = none): the share
    /// of the feature grid its step claimed.
    const std::vector<double>& proposalAreas() const { return m_proposalAreas; }
    QString areaText(int index) const;
    QString detailText(int index) const;
    /// Rows (step cards) shown whole in the list's viewport right now.
    int fullyVisibleRows() const;
    /// Selected iteration (0-based), or -1.
    int selectedIteration() const;
    /// The summary line under the rows: why the decomposition stopped (with
    /// plain spaces; the label keeps figures and their "%" together).
    QString summaryText() const;
    /// The caption above the rows (threshold, grid size).
    QString headerText() const;

public slots:
    /// Selects a row (-1 clears); emits iterationSelected() when it changes.
    void setSelectedIteration(int index);

signals:
    void iterationSelected(int index);

protected:
    void resizeEvent(QResizeEvent* event) override;

private:
    void placeBusyMark();

    QListWidget* m_list = nullptr;
    QLabel* m_header = nullptr;
    QLabel* m_busyMark = nullptr; ///< "updating…" over the header's top right
    QLabel* m_summary = nullptr;
    StepHeader* m_columns = nullptr;
    QString m_headerBase;
    std::vector<double> m_proposalAreas;
    bool m_busy = false;
};

} // namespace primaps
