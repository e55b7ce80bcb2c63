// SPDX-License-Identifier: MIT
#include "common/messagelogwidget.h"

#include <QApplication>
#include <QClipboard>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QPushButton>
#include <QStyle>
#include <QVBoxLayout>

namespace primaps {

namespace {

QString lineOf(const MessageLogWidget::Entry& e)
{
    return QStringLiteral("%1  %2%3")
        .arg(e.time.toString(QStringLiteral("HH:mm:ss")),
             e.error ? MessageLogWidget::tr("error: ") : QString(), e.text);
}

} // namespace

MessageLogWidget::MessageLogWidget(QWidget* parent) : QWidget(parent)
{
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    m_list = new QListWidget(this);
    m_list->setWordWrap(true);
    m_list->setUniformItemSizes(false);
    m_list->setSelectionMode(QAbstractItemView::ExtendedSelection);
    m_list->setAccessibleName(tr("Messages"));
    layout->addWidget(m_list, 1);
    auto* buttons = new QHBoxLayout;
    auto* hint = new QLabel(tr("Every message of this session, newest last."), this);
    hint->setForegroundRole(QPalette::PlaceholderText);
    buttons->addWidget(hint, 1);
    m_copy = new QPushButton(tr("Copy All"), this);
    m_clear = new QPushButton(tr("Clear"), this);
    buttons->addWidget(m_copy);
    buttons->addWidget(m_clear);
    layout->addLayout(buttons);
    connect(m_copy, &QPushButton::clicked, this,
            [this] { QApplication::clipboard()->setText(toPlainText()); });
    connect(m_clear, &QPushButton::clicked, this, &MessageLogWidget::clear);
}

void MessageLogWidget::addMessage(const QString& text, bool error)
{
    Entry entry{QDateTime::currentDateTime(), text, error};
    m_entries.append(entry);
    auto* item = new QListWidgetItem(lineOf(entry), m_list);
    if (error)
        item->setIcon(style()->standardIcon(QStyle::SP_MessageBoxWarning));
    while (m_entries.size() > kCapacity) {
        m_entries.removeFirst();
        delete m_list->takeItem(0);
    }
    m_list->scrollToBottom();
    emit countChanged(count());
}

QString MessageLogWidget::toPlainText() const
{
    QStringList lines;
    for (const Entry& e : m_entries)
        lines << lineOf(e);
    return lines.join(QLatin1Char('\n'));
}

void MessageLogWidget::clear()
{
    m_entries.clear();
    m_list->clear();
    emit countChanged(0);
}

} // namespace primaps
