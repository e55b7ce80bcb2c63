// SPDX-License-Identifier: MIT
#include "common/messagewidget.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QStyle>
#include <QToolButton>

namespace primaps {

namespace {
// A long session can produce many messages (a folder of broken files); the
// banner keeps the recent ones, which is all a tooltip can show anyway.
constexpr int kKeptMessages = 30;
} // namespace

MessageWidget::MessageWidget(QWidget* parent) : QFrame(parent)
{
    setObjectName(QStringLiteral("MessageWidget"));
    setFrameShape(QFrame::StyledPanel);
    auto* layout = new QHBoxLayout(this);
    layout->setContentsMargins(8, 4, 4, 4);
    layout->setSpacing(8);

    m_icon = new QLabel(this);
    m_icon->setAlignment(Qt::AlignTop);
    layout->addWidget(m_icon);

    m_label = new QLabel(this);
    m_label->setWordWrap(true);
    m_label->setTextFormat(Qt::PlainText);
    m_label->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_label->setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Preferred);
    layout->addWidget(m_label, 1);

    m_showAll = new QToolButton(this);
    m_showAll->setAutoRaise(true);
    m_showAll->setToolTip(tr("Every message of this session (View \u25b8 Message Log)"));
    layout->addWidget(m_showAll, 0, Qt::AlignTop);
    connect(m_showAll, &QToolButton::clicked, this, &MessageWidget::logRequested);

    m_close = new QToolButton(this);
    m_close->setAutoRaise(true);
    m_close->setText(QStringLiteral("\u2715"));
    m_close->setToolTip(tr("Dismiss"));
    m_close->setAccessibleName(tr("Dismiss message"));
    layout->addWidget(m_close, 0, Qt::AlignTop);
    connect(m_close, &QToolButton::clicked, this, &MessageWidget::dismiss);

    hide();
}

void MessageWidget::showMessage(const QString& text, Kind kind)
{
    // One broken file can be found out twice (thumbnail and decomposition);
    // saying it once is enough, but it becomes the newest message again.
    m_messages.removeAll(text);
    m_messages.append(text);
    while (m_messages.size() > kKeptMessages)
        m_messages.removeFirst();
    m_error = m_error || kind == Kind::Error;
    emit messageAdded(text, kind == Kind::Error);
    refresh();
    show();
}

void MessageWidget::dismiss()
{
    m_messages.clear();
    m_error = false;
    hide();
    emit dismissed();
}

void MessageWidget::refresh()
{
    const int earlier = m_messages.size() - 1;
    m_label->setText(m_messages.last());
    m_showAll->setText(earlier == 1  ? tr("1 more\u2026")
                       : earlier > 1 ? tr("%1 more\u2026").arg(earlier)
                                     : tr("Log\u2026"));

    const int iconSize = style()->pixelMetric(QStyle::PM_SmallIconSize, nullptr, this);
    const QIcon icon = style()->standardIcon(
        m_error ? QStyle::SP_MessageBoxWarning : QStyle::SP_MessageBoxInformation, nullptr, this);
    m_icon->setPixmap(icon.pixmap(iconSize, iconSize));
    // Fixed colours rather than palette roles: the banner must read as a warning
    // on light and dark themes alike.
    setStyleSheet(m_error
                      ? QStringLiteral("#MessageWidget { background: #fdecea; border: 1px solid "
                                       "#e8a5a0; border-radius: 4px; } #MessageWidget QLabel "
                                       "{ color: #7a1410; }")
                      : QStringLiteral("#MessageWidget { background: #e8f1fb; border: 1px solid "
                                       "#a9c7ea; border-radius: 4px; } #MessageWidget QLabel "
                                       "{ color: #14365c; }"));
}

} // namespace primaps
