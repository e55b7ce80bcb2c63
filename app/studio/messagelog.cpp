// SPDX-License-Identifier: MIT
#include "messagelog.h"

#include "mainwindow.h"
#include "common/messagelogwidget.h"
#include "common/messagewidget.h"

#include <QAction>
#include <QDockWidget>
#include <QMenu>
#include <QMenuBar>

namespace primaps {

QDockWidget* installMessageLog(MainWindow* window)
{
    auto* log = new MessageLogWidget(window);
    QDockWidget* dock = window->addStudioDock(MainWindow::tr("Messages"),
                                              QStringLiteral("MessageLogDock"), log,
                                              Qt::BottomDockWidgetArea);
    dock->hide();
    MessageWidget* banner = window->messageWidget();
    QObject::connect(banner, &MessageWidget::messageAdded, log, &MessageLogWidget::addMessage);
    QObject::connect(banner, &MessageWidget::logRequested, dock, [dock] {
        dock->show();
        dock->raise();
    });
    QAction* toggle = dock->toggleViewAction();
    toggle->setText(MainWindow::tr("&Message Log"));
    toggle->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_M));
    toggle->setStatusTip(MainWindow::tr("Every message of this session"));
    window->viewMenu()->addAction(toggle);
    return dock;
}

} // namespace primaps
