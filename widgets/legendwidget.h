// SPDX-License-Identifier: MIT
#pragma once

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

protected:
    void paintEvent(QPaintEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;
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

    QVector<Entry> m_entries;
    QString m_caption;
    int m_highlighted = 0;
    int m_hovered = -1;
    int m_pointed = -1; // the chip under the mouse pointer
};

} // namespace primaps
