// SPDX-License-Identifier: MIT
#include "common/dialogrows.h"

#include <algorithm>
#include <QBoxLayout>
#include <QDir>
#include <QEvent>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QScreen>

namespace primaps {

namespace {

// Grows a dialog when its contents need more height than it has: the progress
// bar appearing, a status line wrapping onto more lines. A wrapping label's
// height is not part of a window's minimum size, so Qt squeezed the rows above
// instead (combo boxes 5 px below their height cut the underscore of "θ_R").
class GrowToContents : public QObject
{
public:
    explicit GrowToContents(QWidget* window) : QObject(window), m_window(window)
    {
        window->installEventFilter(this);
    }

    bool eventFilter(QObject* watched, QEvent* event) override
    {
        // After the layout has handled the request: queued.
        if (watched == m_window && event->type() == QEvent::LayoutRequest)
            QMetaObject::invokeMethod(this, &GrowToContents::grow, Qt::QueuedConnection);
        return false;
    }

private:
    void grow()
    {
        QLayout* layout = m_window->layout();
        if (!layout || !m_window->isVisible())
            return;
        const int needed = layout->hasHeightForWidth()
                               ? layout->totalHeightForWidth(m_window->width())
                               : layout->totalSizeHint().height();
        if (needed <= m_window->height())
            return;
        const QScreen* screen = m_window->screen();
        if (!screen) {
            m_window->resize(m_window->width(), needed);
            return;
        }
        // The window with its frame (title bar) stays on the screen's free
        // area: grown as far as that allows (the layout squeezes or scrolls the
        // rest), then moved up so that its bottom, with OK and Cancel, is not
        // below the screen (at 1366x768 it was).
        const QRect area = screen->availableGeometry();
        const QRect frame = m_window->frameGeometry();
        const int frameExtra = frame.height() - m_window->height();
        const int room = std::min(needed, area.height() - frameExtra);
        // Already as tall as the screen allows: a window the user moved stays
        // where they put it (every status line would snap it back otherwise).
        if (room <= m_window->height())
            return;
        m_window->resize(m_window->width(), room);
        QRect grown = m_window->frameGeometry();
        grown.moveBottom(std::min(grown.bottom(), area.bottom()));
        grown.moveTop(std::max(grown.top(), area.top()));
        grown.moveRight(std::min(grown.right(), area.right()));
        grown.moveLeft(std::max(grown.left(), area.left()));
        if (grown.topLeft() != m_window->frameGeometry().topLeft())
            m_window->move(grown.topLeft()); // a window's pos() is its frame's
    }

    QWidget* m_window;
};

} // namespace

QLabel* addRunIntro(QBoxLayout* layout, const QString& text, const QString& runDir,
                    QWidget* parent)
{
    auto* intro = new QLabel(text.arg(QDir::toNativeSeparators(runDir).toHtmlEscaped()), parent);
    intro->setWordWrap(true);
    layout->addWidget(intro);
    return intro;
}

QPushButton* addPathRow(QFormLayout* form, const QString& label, QLineEdit* edit, QWidget* parent)
{
    auto* browse = new QPushButton(QObject::tr("Browse\u2026"), parent);
    auto* row = new QHBoxLayout;
    row->addWidget(edit, 1);
    row->addWidget(browse);
    form->addRow(label, row);
    return browse;
}

JobFeedback addJobFeedback(QBoxLayout* layout, QWidget* parent)
{
    JobFeedback feedback;
    feedback.progress = new QProgressBar(parent);
    feedback.progress->setRange(0, 1000);
    feedback.progress->hide();
    layout->addWidget(feedback.progress);
    feedback.status = new QLabel(parent);
    feedback.status->setWordWrap(true);
    feedback.status->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(feedback.status);
    new GrowToContents(parent->window());
    return feedback;
}

} // namespace primaps
