// SPDX-License-Identifier: MIT
#include "common/emptyplotcover.h"

#include <qcustomplot.h>
#include <QEvent>
#include <QPainter>
#include <QTimer>

namespace primaps {

EmptyPlotCover::EmptyPlotCover(QCustomPlot* plot, std::function<bool()> isEmpty,
                               const QString& text)
    : QWidget(plot), m_plot(plot), m_isEmpty(std::move(isEmpty)), m_text(text)
{
    setAttribute(Qt::WA_TransparentForMouseEvents);
    plot->installEventFilter(this);
    connect(plot, &QCustomPlot::afterReplot, this, &EmptyPlotCover::refresh);
    // The owner may still be building its members: ask once it is done.
    QTimer::singleShot(0, this, &EmptyPlotCover::refresh);
    hide();
}

void EmptyPlotCover::setText(const QString& text)
{
    m_text = text;
    update();
}

void EmptyPlotCover::refresh()
{
    setGeometry(m_plot->rect());
    const bool empty = m_isEmpty && m_isEmpty();
    setVisible(empty);
    if (empty)
        raise();
}

bool EmptyPlotCover::eventFilter(QObject* watched, QEvent* event)
{
    if (watched == m_plot && event->type() == QEvent::Resize)
        setGeometry(m_plot->rect());
    return QWidget::eventFilter(watched, event);
}

void EmptyPlotCover::paintEvent(QPaintEvent*)
{
    QPainter painter(this);
    painter.fillRect(rect(), palette().color(QPalette::Base));
    painter.setPen(QPen(palette().color(QPalette::Mid), 1.0, Qt::DashLine));
    painter.drawRoundedRect(QRectF(rect()).adjusted(6.5, 6.5, -6.5, -6.5), 6, 6);
    painter.setPen(palette().color(QPalette::PlaceholderText));
    painter.drawText(rect().adjusted(24, 24, -24, -24), Qt::AlignCenter | Qt::TextWordWrap, m_text);
}

} // namespace primaps
