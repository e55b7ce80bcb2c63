// SPDX-License-Identifier: MIT
#include "review/maskvotewidget.h"

#include "image/overlay.h"

#include <algorithm>
#include <numeric>
#include <QLabel>
#include <QMenu>
#include <QPainter>
#include <QPushButton>
#include <QVBoxLayout>

namespace primaps {

namespace {

// More bars than this say nothing a reader can take in; the rest are summed up.
constexpr int kMaxBars = 6;

} // namespace

MaskVoteWidget::MaskVoteWidget(QWidget* parent) : QWidget(parent)
{
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 6, 6, 6);
    m_summary = new QLabel(this);
    m_summary->setWordWrap(true);
    m_summary->setTextFormat(Qt::RichText);
    layout->addWidget(m_summary);
    layout->addStretch(1);
    m_classButton = new QPushButton(tr("Give this mask the class\u2026"), this);
    m_classButton->setToolTip(tr("Correct the pseudo-label: every pixel of the mask gets the "
                                 "class you choose (undoable; saved as a correction)"));
    m_classMenu = new QMenu(m_classButton);
    m_classButton->setMenu(m_classMenu);
    layout->addWidget(m_classButton, 0, Qt::AlignLeft);
    clear();
}

void MaskVoteWidget::clear()
{
    m_vote = MaskVote();
    m_classButton->setEnabled(false);
    m_summary->setText(tr("Click a mask in the <b>pseudo-label</b> layer to see why it got its "
                          "class: \u03b8_M's vote over the mask's pixels (the E-step)."));
    update();
}

void MaskVoteWidget::setVote(const MaskVote& vote, const std::vector<int>& clusterToClass,
                             const ClassTable& classes)
{
    m_vote = vote;
    m_clusterToClass = clusterToClass;
    m_classes = classes;
    m_summary->setText(summary());
    m_classButton->setEnabled(true);
    update();
}

QString MaskVoteWidget::clusterName(int cluster) const
{
    if (cluster < 0)
        return tr("none");
    if (std::size_t(cluster) < m_clusterToClass.size()) {
        const int cls = m_clusterToClass[std::size_t(cluster)];
        if (cls < 0)
            return tr("cluster %1 (ignored)").arg(cluster);
        if (cls < m_classes.size())
            return tr("%1 (cluster %2)")
                .arg(QString::fromStdString(m_classes.classes[std::size_t(cls)].name))
                .arg(cluster);
    }
    return tr("cluster %1").arg(cluster);
}

QColor MaskVoteWidget::clusterColour(int cluster) const
{
    if (cluster >= 0 && std::size_t(cluster) < m_clusterToClass.size()) {
        const int cls = m_clusterToClass[std::size_t(cluster)];
        if (cls >= 0 && cls < m_classes.size()) {
            const cv::Vec3b c = m_classes.classes[std::size_t(cls)].colour;
            return QColor(c[0], c[1], c[2]);
        }
        return QColor(140, 140, 140);
    }
    const cv::Vec3b c = labelColor(cluster + 1);
    return QColor(c[0], c[1], c[2]);
}

QString MaskVoteWidget::summary() const
{
    if (m_vote.mask <= 0)
        return {};
    const double share = 100.0 * m_vote.winnerShare();
    QString text = tr("<b>Mask %1 \u2192 %2</b><br>%3 of %4 pixels voted for it (%5 %).")
                       .arg(m_vote.mask)
                       .arg(clusterName(m_vote.cluster).toHtmlEscaped())
                       .arg(m_vote.cluster >= 0 ? m_vote.votes[std::size_t(m_vote.cluster)] : 0)
                       .arg(m_vote.pixels)
                       .arg(share, 0, 'f', 1);
    if (m_vote.runnerUp >= 0)
        text += tr("<br>Runner-up: %1 with %2 pixels; margin %3 pixels (%4 % of the mask).")
                    .arg(clusterName(m_vote.runnerUp).toHtmlEscaped())
                    .arg(m_vote.votes[std::size_t(m_vote.runnerUp)])
                    .arg(m_vote.margin)
                    .arg(m_vote.pixels > 0 ? 100.0 * double(m_vote.margin) / double(m_vote.pixels)
                                           : 0.0,
                         0, 'f', 1);
    else
        text += tr("<br>No runner-up: every pixel voted for the same cluster.");
    return text;
}

void MaskVoteWidget::paintEvent(QPaintEvent* event)
{
    QWidget::paintEvent(event);
    if (m_vote.mask <= 0 || m_vote.pixels <= 0)
        return;
    std::vector<int> order(m_vote.votes.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
        return m_vote.votes[std::size_t(a)] > m_vote.votes[std::size_t(b)];
    });
    while (!order.empty() && m_vote.votes[std::size_t(order.back())] == 0)
        order.pop_back();
    std::int64_t rest = 0;
    if (int(order.size()) > kMaxBars) {
        for (std::size_t i = kMaxBars; i < order.size(); ++i)
            rest += m_vote.votes[std::size_t(order[i])];
        order.resize(kMaxBars);
    }
    QPainter painter(this);
    painter.setRenderHint(QPainter::Antialiasing);
    const QFontMetrics fm(font());
    const int top = m_summary->geometry().bottom() + 8;
    const int rowHeight = fm.height() + 6;
    const int labelWidth = std::min(width() / 2, 150);
    const int barLeft = 6 + labelWidth + 6;
    const int barWidth = std::max(20, width() - barLeft - 60);
    int y = top;
    auto drawRow = [&](const QString& name, std::int64_t votes, const QColor& colour, bool bold) {
        QFont f = font();
        f.setBold(bold);
        painter.setFont(f);
        painter.setPen(palette().color(QPalette::WindowText));
        painter.drawText(QRect(6, y, labelWidth, rowHeight), Qt::AlignVCenter | Qt::AlignRight,
                         fm.elidedText(name, Qt::ElideMiddle, labelWidth));
        const int w = int(double(barWidth) * double(votes) / double(m_vote.pixels));
        painter.fillRect(QRect(barLeft, y + 3, std::max(1, w), rowHeight - 6), colour);
        painter.drawText(QRect(barLeft + w + 4, y, 60, rowHeight), Qt::AlignVCenter,
                         QString::number(100.0 * double(votes) / double(m_vote.pixels), 'f', 1) +
                             QStringLiteral(" %"));
        y += rowHeight;
    };
    for (const int c : order)
        drawRow(clusterName(c), m_vote.votes[std::size_t(c)], clusterColour(c), c == m_vote.cluster);
    if (rest > 0)
        drawRow(tr("other clusters"), rest, QColor(170, 170, 170), false);
}

} // namespace primaps
