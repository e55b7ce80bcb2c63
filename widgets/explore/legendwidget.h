// SPDX-License-Identifier: MIT
#pragma once

#include "labels/labelmap.h"

#include <QColor>
#include <QRect>
#include <QVector>
#include <QWidget>
#include <vector>

namespace primaps {

/// The key to the overlay: one chip per mask id with its colour (core's
/// labelColor()), its id and the share of the image it covers, background last.
/// Chips wrap onto further rows when the widget is narrow. Clicking a chip asks
/// for that mask to be highlighted; clicking the highlighted chip again clears it.
///
/// Labels the user named or recoloured (setLabelTable()) show their name and
/// colour. While editing (setEditable()) a click chooses the label to paint
/// with instead, and the current one is marked. A right click asks for a
/// label's menu and a double click for renaming it, in either mode.
class LegendWidget : public QWidget
{
    Q_OBJECT

public:
    explicit LegendWidget(QWidget* parent = nullptr);

    /// `fractions[id]` is the label-map share of mask id `id`: the share of the
    /// image's pixels with that label (index 0 = unassigned); ids with a zero
    /// share get no chip. Unnamed masks are numbered 1, 2, 3, … in extraction
    /// order (consecutiveLabelNumbers()); the tooltip names the extraction step.
    void setAreas(const std::vector<double>& fractions);
    /// The proposal area of each mask id (its PriMaPs step's share of the feature
    /// grid, as the step list shows it), for the chips' tooltips; may be empty.
    void setProposalAreas(const std::vector<double>& areas);
    /// The before | after view: the label-map shares of the left half's map
    /// (before the CRF), shown beside the right half's; empty = not comparing.
    void setBeforeAreas(const std::vector<double>& fractions);
    /// The number a chip shows for mask id `id` (0 when it has no chip or shows a name).
    int displayNumber(int id) const;
    /// The chip's tooltip (empty when `id` has no chip).
    QString chipToolTip(int id) const;
    void clear();
    /// Number of mask chips (background not counted).
    int maskCount() const;
    /// Share of `id`, or 0 when it has no chip.
    double fraction(int id) const;

    void setHighlightedMask(int id);
    void setHoveredMask(int id);
    /// Names and colours of the chips.
    void setLabelTable(const LabelTable& table);
    /// Whether chips of named labels show their id before the name (default
    /// yes). Class layers turn it off: their ids are display ids, not class ids.
    void setShowIds(bool show);
    /// Editing mode: clicks choose the current label (labelChosen()).
    void setEditable(bool editable);
    bool isEditable() const { return m_editable; }
    /// The label marked as the one being painted with (-1: none).
    void setCurrentLabel(int id);
    int currentLabel() const { return m_current; }
    /// The chip's text, e.g. "3 sky  12.0 %", "2  4.1 %" or "unassigned  46.7 %"
    /// (empty when `id` has no chip).
    QString chipText(int id) const;
    /// The chip's rectangle in widget coordinates (empty when `id` has no chip).
    QRect chipRect(int id) const;
    /// The word in front of the chips, e.g. which label map they describe
    /// ("Masks after CRF"); empty restores the default "Masks".
    void setCaption(const QString& caption);
    QString caption() const { return captionText(); }

    bool hasHeightForWidth() const override { return true; }
    int heightForWidth(int width) const override;
    QSize sizeHint() const override;
    QSize minimumSizeHint() const override;

signals:
    /// A chip was clicked: the mask to highlight, or 0 to clear the highlight.
    void maskClicked(int id);
    /// While editing, a chip was clicked: paint with `id`.
    void labelChosen(int id);
    /// A chip was right-clicked.
    void labelMenuRequested(int id, const QPoint& globalPos);
    /// A chip was double-clicked.
    void labelRenameRequested(int id);

protected:
    void paintEvent(QPaintEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;
    void mouseDoubleClickEvent(QMouseEvent* event) override;
    void contextMenuEvent(QContextMenuEvent* event) override;
    void mouseMoveEvent(QMouseEvent* event) override;
    void leaveEvent(QEvent* event) override;
    void resizeEvent(QResizeEvent* event) override;
    bool event(QEvent* event) override;

private:
    struct Entry
    {
        int id = 0;
        QColor color;
        double fraction = 0.0;
        int number = 0; ///< consecutive number shown instead of the id (0: the id or a name)
        QString text;
        QRect rect; // laid out by layoutEntries()
    };

    int layoutEntries(int width, QVector<Entry>* entries) const;
    int entryAt(const QPoint& pos) const;
    QString captionText() const;
    QString textFor(int id, double fraction, int number) const;
    QString nameOf(int id) const;
    void rebuildEntries();

    QVector<Entry> m_entries;
    std::vector<double> m_fractions;
    std::vector<double> m_beforeFractions;
    std::vector<double> m_proposalAreas;
    LabelTable m_table;
    bool m_editable = false;
    bool m_showIds = true;
    int m_current = -1;
    QString m_caption;
    int m_highlighted = 0;
    int m_hovered = -1;
    int m_pointed = -1; // the chip under the mouse pointer
    int m_laidOutHeight = -1; ///< layoutEntries()' height at the width when last asked
};

} // namespace primaps
