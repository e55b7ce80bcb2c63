// SPDX-License-Identifier: MIT
#pragma once

#include <QFrame>
#include <QStringList>

class QLabel;
class QToolButton;

namespace primaps {

/// A dismissible banner for problems that the user should see but that must not
/// interrupt with a dialog. Messages accumulate: the newest is shown, a count
/// says how many came before it, and a "Show all" link asks for the message log
/// (logRequested()), which keeps every message of the session (messageAdded()).
/// Closing the banner forgets them here, not in the log. Hidden while it has
/// nothing to say.
class MessageWidget : public QFrame
{
    Q_OBJECT

public:
    enum class Kind
    {
        Error,
        Information
    };

    explicit MessageWidget(QWidget* parent = nullptr);

    /// Adds a message and shows the banner; a message it already holds moves to
    /// the end instead of appearing twice. An error turns the banner red, and it
    /// stays red until dismissed even if information follows.
    void showMessage(const QString& text, Kind kind = Kind::Error);
    /// The newest message, or an empty string.
    QString text() const { return m_messages.isEmpty() ? QString() : m_messages.last(); }
    QStringList messages() const { return m_messages; }
    bool hasError() const { return m_error; }

public slots:
    void dismiss();

signals:
    void dismissed();
    /// Every message shown, for the message log.
    void messageAdded(const QString& text, bool error);
    /// The user asked to see every message.
    void logRequested();

private:
    void refresh();

    QLabel* m_icon = nullptr;
    QLabel* m_label = nullptr;
    QToolButton* m_close = nullptr;
    QToolButton* m_showAll = nullptr;
    QStringList m_messages;
    bool m_error = false;
};

} // namespace primaps
