// SPDX-License-Identifier: MIT
#pragma once

#include <QDateTime>
#include <QVector>
#include <QWidget>

class QListWidget;
class QPushButton;

namespace primaps {

/// Every message of the session, newest last, with the time it came and
/// whether it was an error: the banner over the canvas shows the newest and
/// forgets them when dismissed; this log keeps them (up to kCapacity) so that
/// none is reachable only by hovering. Messages can be copied.
class MessageLogWidget : public QWidget
{
    Q_OBJECT

public:
    static constexpr int kCapacity = 2000;

    struct Entry
    {
        QDateTime time;
        QString text;
        bool error = false;
    };

    explicit MessageLogWidget(QWidget* parent = nullptr);

    void addMessage(const QString& text, bool error);
    const QVector<Entry>& entries() const { return m_entries; }
    int count() const { return int(m_entries.size()); }
    /// The log as plain text, one "hh:mm:ss  [error] message" line per entry.
    QString toPlainText() const;

public slots:
    void clear();

signals:
    void countChanged(int count);

private:
    QListWidget* m_list = nullptr;
    QPushButton* m_copy = nullptr;
    QPushButton* m_clear = nullptr;
    QVector<Entry> m_entries;
};

} // namespace primaps
