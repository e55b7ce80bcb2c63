// SPDX-License-Identifier: MIT
#pragma once

#include "runs/classtable.h"
#include "runs/runreview.h"

#include <QWidget>
#include <vector>

class QLabel;
class QMenu;
class QPushButton;

namespace primaps {

/// Why a PriMaPs mask got its pseudo-label class: the E-step's vote of θ_M over
/// the mask's pixels, as bars per cluster (most votes first, in the colour of
/// the class each cluster is matched to), with the winner, the runner-up and
/// the margin between them spelled out.
class MaskVoteWidget : public QWidget
{
    Q_OBJECT

public:
    explicit MaskVoteWidget(QWidget* parent = nullptr);

    /// Shows `vote`; `clusterToClass` (may be empty: clusters are shown by id)
    /// and `classes` name and colour the clusters.
    void setVote(const MaskVote& vote, const std::vector<int>& clusterToClass,
                 const ClassTable& classes);
    void clear();
    bool hasVote() const { return m_vote.mask > 0; }
    const MaskVote& vote() const { return m_vote; }
    /// The summary line ("Mask 3 → road: 812 of 940 px …").
    QString summary() const;

    /// "Give this mask the class…": its owner fills the menu before it shows.
    QMenu* classMenu() const { return m_classMenu; }

    QSize sizeHint() const override { return {260, 220}; }

protected:
    void paintEvent(QPaintEvent* event) override;

private:
    QString clusterName(int cluster) const;
    QColor clusterColour(int cluster) const;

    MaskVote m_vote;
    std::vector<int> m_clusterToClass;
    ClassTable m_classes;
    QLabel* m_summary = nullptr;
    QPushButton* m_classButton = nullptr;
    QMenu* m_classMenu = nullptr;
};

} // namespace primaps
