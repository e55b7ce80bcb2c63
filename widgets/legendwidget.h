// SPDX-License-Identifier: MIT
#pragma once

#include "labelmap.h"

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

    /// `fractions[id]` is the share of the labelled area with mask id `id`
    /// (index 0 = background); ids with a zero share get no chip.
    void setAreas(const std::vector<double>& fractions);
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
    /// The chip's text, e.g. "3 sky  12.0 %" (empty when `id` has no chip).
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

private:
    struct Entry
    {
        int id = 0;
        QColor color;
        double fraction = 0.0;
        QString text;
        QRect rect; // laid out by layoutEntries()
    };

    int layoutEntries(int width, QVector<Entry>* entries) const;
    int entryAt(const QPoint& pos) const;
    QString captionText() const;
    QString textFor(int id, double fraction) const;
    void rebuildEntries();

    QVector<Entry> m_entries;
    std::vector<double> m_fractions;
    LabelTable m_table;
    bool m_editable = false;
    bool m_showIds = true;
    int m_current = -1;
    QString m_caption;
    int m_highlighted = 0;
    int m_hovered = -1;
    int m_pointed = -1; // the chip under the mouse pointer
};

} // namespace primaps
