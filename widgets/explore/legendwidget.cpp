// SPDX-License-Identifier: MIT
#include "explore/legendwidget.h"

#include "explore/labelnumbering.h"
#include "image/overlay.h"

#include <algorithm>
#include <QContextMenuEvent>
#include <QHelpEvent>
#include <QToolTip>
#include <QMouseEvent>
#include <QPainter>

namespace primaps {

namespace {
constexpr int kMargin = 6;
constexpr int kSpacing = 6;
constexpr int kPadding = 6;
constexpr int kSwatch = 12;

QColor toQColor(const cv::Vec3b& rgb)
{
    return QColor(rgb[0], rgb[1], rgb[2]);
}

QString percent(double fraction)
{
    if (fraction > 0.0 && fraction < 0.0005)
        return QStringLiteral("<0.1 %");
    return QStringLiteral("%1 %").arg(100.0 * fraction, 0, 'f', 1);
}
} // namespace

LegendWidget::LegendWidget(QWidget* parent) : QWidget(parent)
{
    setMouseTracking(true);
    setSizePolicy(QSizePolicy::Preferred, QSizePolicy::Fixed);
}

void LegendWidget::setAreas(const std::vector<double>& fractions)
{
    m_fractions = fractions;
    rebuildEntries();
}

void LegendWidget::setProposalAreas(const std::vector<double>& areas)
{
    m_proposalAreas = areas;
}

void LegendWidget::setBeforeAreas(const std::vector<double>& fractions)
{
    if (fractions == m_beforeFractions)
        return;
    m_beforeFractions = fractions;
    rebuildEntries();
}

QString LegendWidget::nameOf(int id) const
{
    // The file formats call id 0 "background"; in the studio it is what it is:
    // pixels no mask was given.
    if (id == 0 && !m_table.hasName(0))
        return tr("unassigned");
    return QString::fromStdString(m_table.name(id));
}

QString LegendWidget::textFor(int id, double fraction, int number) const
{
    QString share = percent(fraction);
    if (!m_beforeFractions.empty()) {
        const double before =
            std::size_t(id) < m_beforeFractions.size() ? m_beforeFractions[std::size_t(id)] : 0.0;
        share = QStringLiteral("%1 | %2").arg(percent(before), share);
    }
    if (id == 0 || (m_table.hasName(id) && !m_showIds))
        return QStringLiteral("%1  %2").arg(nameOf(id), share);
    if (m_table.hasName(id))
        return QStringLiteral("%1 %2  %3").arg(id).arg(nameOf(id), share);
    return QStringLiteral("%1  %2").arg(number > 0 ? number : id).arg(share);
}

int LegendWidget::displayNumber(int id) const
{
    for (const Entry& entry : m_entries)
        if (entry.id == id)
            return entry.number > 0 ? entry.number : (m_table.hasName(id) ? 0 : id);
    return 0;
}

QString LegendWidget::chipToolTip(int id) const
{
    const Entry* found = nullptr;
    for (const Entry& entry : m_entries)
        if (entry.id == id)
            found = &entry;
    if (!found)
        return {};
    QString share = tr("Label-map share %1: the part of the image's pixels with this label.")
                        .arg(percent(found->fraction));
    if (!m_beforeFractions.empty())
        share = tr("Label-map share %1 before the CRF (left half), %2 after it (right half).")
                    .arg(percent(std::size_t(id) < m_beforeFractions.size()
                                     ? m_beforeFractions[std::size_t(id)]
                                     : 0.0),
                         percent(found->fraction));
    if (id == 0)
        return tr("Unassigned: pixels no mask was given. After a 3\u00d73 median filter the "
                  "proposals compete with an \"unassigned\" channel (their mean strength minus "
                  "their sum); where it wins, and where the CRF keeps it, no mask claims the "
                  "pixel.\n") +
               share;
    QString text = m_editable || m_table.hasName(id)
                       ? tr("%1 (label %2)").arg(nameOf(id)).arg(id)
                       : tr("Label %1: the proposal of PriMaPs step %2").arg(found->number).arg(id);
    text += QLatin1Char('\n') + share;
    if (std::size_t(id) < m_proposalAreas.size() && !m_editable)
        text += QLatin1Char('\n') +
                tr("Proposal area %1: the share of the feature grid step %2 claimed, before the "
                   "median filter, later steps and the CRF reshaped it.")
                    .arg(percent(m_proposalAreas[std::size_t(id)]))
                    .arg(id);
    text += QLatin1Char('\n') +
            (m_editable ? tr("Click to paint with it; right-click for rename, colour, merge; "
                             "double-click to rename.")
                        : tr("Click to highlight it, again to show all; right-click for rename, "
                             "colour and merge."));
    return text;
}

bool LegendWidget::event(QEvent* event)
{
    if (event->type() == QEvent::ToolTip) {
        auto* help = static_cast<QHelpEvent*>(event);
        const int index = entryAt(help->pos());
        if (index >= 0)
            QToolTip::showText(help->globalPos(), chipToolTip(m_entries[index].id), this,
                               m_entries[index].rect);
        else
            QToolTip::showText(help->globalPos(),
                               tr("The labels on the canvas with their label-map share: the part "
                                  "of the image's pixels each covers."),
                               this);
        return true;
    }
    return QWidget::event(event);
}

void LegendWidget::setShowIds(bool show)
{
    if (m_showIds == show)
        return;
    m_showIds = show;
    rebuildEntries();
    updateGeometry();
    update();
}

void LegendWidget::rebuildEntries()
{
    const std::vector<double>& fractions = m_fractions;
    // Consecutive numbers for the masks of a decomposition; an edited map keeps
    // its ids, which the editor's tools name.
    const std::vector<int> numbers =
        m_editable ? std::vector<int>(fractions.size(), 0) : consecutiveLabelNumbers(fractions);
    m_entries.clear();
    for (std::size_t id = 1; id < fractions.size(); ++id) {
        if (fractions[id] <= 0.0)
            continue;
        Entry entry;
        entry.id = int(id);
        entry.color = toQColor(m_table.color(int(id)));
        entry.fraction = fractions[id];
        entry.number = m_table.hasName(int(id)) ? 0 : numbers[id];
        entry.text = textFor(int(id), fractions[id], entry.number);
        m_entries << entry;
    }
    if (!fractions.empty() && fractions[0] > 0.0) {
        Entry entry;
        entry.id = 0;
        entry.color = toQColor(m_table.color(0));
        entry.fraction = fractions[0];
        entry.text = textFor(0, fractions[0], 0);
        m_entries << entry;
    }
    if (fraction(m_highlighted) <= 0.0)
        m_highlighted = 0;
    m_pointed = -1;
    const int height = layoutEntries(width(), &m_entries);
    // The layout around the legend only needs to hear of a new height: a
    // re-run that keeps the number of rows changes nothing there.
    if (height != m_laidOutHeight) {
        m_laidOutHeight = height;
        updateGeometry();
    }
    update();
}

void LegendWidget::clear()
{
    setAreas({});
}

int LegendWidget::maskCount() const
{
    return int(
        std::count_if(m_entries.begin(), m_entries.end(), [](const Entry& e) { return e.id > 0; }));
}

double LegendWidget::fraction(int id) const
{
    for (const Entry& entry : m_entries)
        if (entry.id == id)
            return entry.fraction;
    return 0.0;
}

void LegendWidget::setHighlightedMask(int id)
{
    if (id == m_highlighted)
        return;
    m_highlighted = id;
    update();
}

void LegendWidget::setLabelTable(const LabelTable& table)
{
    if (table == m_table)
        return;
    m_table = table;
    rebuildEntries();
}

void LegendWidget::setEditable(bool editable)
{
    if (editable == m_editable)
        return;
    m_editable = editable;
    rebuildEntries(); // ids while editing, consecutive numbers otherwise
}

void LegendWidget::setCurrentLabel(int id)
{
    if (id == m_current)
        return;
    m_current = id;
    update();
}

QString LegendWidget::chipText(int id) const
{
    for (const Entry& entry : m_entries)
        if (entry.id == id)
            return entry.text;
    return {};
}

QRect LegendWidget::chipRect(int id) const
{
    for (const Entry& entry : m_entries)
        if (entry.id == id)
            return entry.rect;
    return {};
}

void LegendWidget::setHoveredMask(int id)
{
    if (id == m_hovered)
        return;
    m_hovered = id;
    update();
}

void LegendWidget::setCaption(const QString& caption)
{
    if (caption == m_caption)
        return;
    m_caption = caption;
    // The chips start after the caption, so its width moves them.
    const int height = layoutEntries(width(), &m_entries);
    if (height != m_laidOutHeight) {
        m_laidOutHeight = height;
        updateGeometry();
    }
    update();
}

QString LegendWidget::captionText() const
{
    if (m_entries.isEmpty())
        return tr("No masks yet");
    return m_caption.isEmpty() ? tr("Masks") : m_caption;
}

int LegendWidget::layoutEntries(int width, QVector<Entry>* entries) const
{
    const QFontMetrics fm = fontMetrics();
    const int chipHeight = std::max(fm.height(), kSwatch) + 2 * 3;
    int x = kMargin + fm.horizontalAdvance(captionText()) + 2 * kSpacing;
    const int indent = x;
    int y = kMargin;
    for (Entry& entry : *entries) {
        const int chipWidth = kPadding + kSwatch + 5 + fm.horizontalAdvance(entry.text) + kPadding;
        if (x + chipWidth > width - kMargin && x > indent) {
            x = indent;
            y += chipHeight + 4;
        }
        entry.rect = QRect(x, y, chipWidth, chipHeight);
        x += chipWidth + kSpacing;
    }
    return y + chipHeight + kMargin;
}

int LegendWidget::heightForWidth(int width) const
{
    QVector<Entry> copy = m_entries;
    return layoutEntries(width, &copy);
}

QSize LegendWidget::sizeHint() const
{
    return QSize(480, heightForWidth(480));
}

QSize LegendWidget::minimumSizeHint() const
{
    return QSize(120, heightForWidth(std::max(width(), 120)));
}

void LegendWidget::resizeEvent(QResizeEvent* event)
{
    QWidget::resizeEvent(event);
    const int height = layoutEntries(width(), &m_entries);
    if (height != m_laidOutHeight) { // wrapped onto a different number of rows
        m_laidOutHeight = height;
        updateGeometry();
    }
}

void LegendWidget::paintEvent(QPaintEvent*)
{
    QPainter painter(this);
    painter.setRenderHint(QPainter::Antialiasing);
    const QFontMetrics fm = fontMetrics();
    const QPalette pal = palette();

    const int chipHeight = std::max(fm.height(), kSwatch) + 2 * 3;
    painter.setPen(pal.color(QPalette::PlaceholderText));
    painter.drawText(QRect(kMargin, kMargin, width(), chipHeight), Qt::AlignLeft | Qt::AlignVCenter,
                     captionText());

    for (int i = 0; i < m_entries.size(); ++i) {
        const Entry& entry = m_entries[i];
        const bool current = m_editable && entry.id == m_current;
        const bool highlighted = current || (!m_editable && entry.id > 0 && entry.id == m_highlighted);
        const bool hovered = entry.id == m_hovered || i == m_pointed;
        QColor fill = pal.color(QPalette::AlternateBase);
        QColor frame = pal.color(QPalette::Mid);
        if (highlighted) {
            fill = pal.color(QPalette::Highlight);
            fill.setAlpha(60);
            frame = pal.color(QPalette::Highlight);
        } else if (hovered) {
            frame = pal.color(QPalette::Text);
        }
        painter.setPen(QPen(frame, current ? 2.5 : highlighted ? 1.5 : 1.0));
        painter.setBrush(fill);
        painter.drawRoundedRect(QRectF(entry.rect).adjusted(0.5, 0.5, -0.5, -0.5), 4, 4);

        const QRect swatch(entry.rect.left() + kPadding, entry.rect.center().y() - kSwatch / 2 + 1,
                           kSwatch, kSwatch);
        painter.setPen(QPen(QColor(0, 0, 0, 90), 1.0));
        painter.setBrush(entry.color);
        painter.drawRoundedRect(QRectF(swatch).adjusted(0.5, 0.5, -0.5, -0.5), 2, 2);

        painter.setPen(pal.color(QPalette::Text));
        painter.drawText(entry.rect.adjusted(kPadding + kSwatch + 5, 0, 0, 0),
                         Qt::AlignLeft | Qt::AlignVCenter, entry.text);
    }
}

int LegendWidget::entryAt(const QPoint& pos) const
{
    for (int i = 0; i < m_entries.size(); ++i)
        if (m_entries[i].rect.contains(pos))
            return i;
    return -1;
}

void LegendWidget::mousePressEvent(QMouseEvent* event)
{
    const int index = entryAt(event->position().toPoint());
    if (index < 0 || event->button() != Qt::LeftButton)
        return QWidget::mousePressEvent(event);
    const int id = m_entries[index].id;
    if (m_editable) {
        emit labelChosen(id);
        return;
    }
    // The background is not a mask; clicking it clears the highlight.
    emit maskClicked(id == 0 || id == m_highlighted ? 0 : id);
}

void LegendWidget::mouseDoubleClickEvent(QMouseEvent* event)
{
    const int index = entryAt(event->position().toPoint());
    if (index < 0 || event->button() != Qt::LeftButton)
        return QWidget::mouseDoubleClickEvent(event);
    emit labelRenameRequested(m_entries[index].id);
}

void LegendWidget::contextMenuEvent(QContextMenuEvent* event)
{
    const int index = entryAt(event->pos());
    if (index < 0)
        return QWidget::contextMenuEvent(event);
    event->accept();
    emit labelMenuRequested(m_entries[index].id, event->globalPos());
}

void LegendWidget::mouseMoveEvent(QMouseEvent* event)
{
    const int index = entryAt(event->position().toPoint());
    if (index != m_pointed) {
        m_pointed = index;
        setCursor(index >= 0 ? Qt::PointingHandCursor : Qt::ArrowCursor);
        update();
    }
    QWidget::mouseMoveEvent(event);
}

void LegendWidget::leaveEvent(QEvent* event)
{
    m_pointed = -1;
    unsetCursor();
    update();
    QWidget::leaveEvent(event);
}

} // namespace primaps
