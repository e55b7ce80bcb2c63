// SPDX-License-Identifier: MIT
// Every keyboard shortcut of the main window does one thing: in each
// perspective, no two enabled actions of the window (menus, tool bars, docks,
// window-wide actions) share a key sequence. Qt fires neither of two actions
// that share one ("ambiguous shortcut"), so a clash silently disables both.

#include "mainwindow.h"
#include "perspectives.h"

#include <map>
#include <QAction>
#include <QApplication>
#include <QKeySequence>
#include <QSettings>
#include <QStandardPaths>
#include <QTest>

using namespace primaps;
using Perspective = PerspectiveController::Perspective;

class TestStudioShortcuts : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("PriMaPs"));
        QCoreApplication::setApplicationName(QStringLiteral("PriMaPs Studio Shortcut Test"));
        QSettings().clear();
    }

    void noTwoActionsShareAShortcut()
    {
        MainWindow w;
        w.setPersistSettings(false);
        w.show();
        int checked = 0;
        for (Perspective p : PerspectiveController::all()) {
            w.perspectives()->setCurrent(p);
            QTest::qWait(50);
            std::map<QString, QAction*> owner;
            for (QAction* action : w.findChildren<QAction*>()) {
                if (!action->isEnabled())
                    continue;
                for (const QKeySequence& key : action->shortcuts()) {
                    if (key.isEmpty())
                        continue;
                    ++checked;
                    const QString text = key.toString(QKeySequence::PortableText);
                    auto [it, inserted] = owner.emplace(text, action);
                    QVERIFY2(inserted || it->second == action,
                             qPrintable(QStringLiteral("%1: %2 is both '%3' and '%4'")
                                            .arg(PerspectiveController::name(p), text,
                                                 it->second->text(), action->text())));
                }
            }
        }
        QVERIFY(checked > 20); // the walk saw the menus
    }

    void openRunAndOpenFolderHaveTheirOwnKeys()
    {
        MainWindow w;
        w.setPersistSettings(false);
        QAction* openRun = nullptr;
        QAction* openFolder = nullptr;
        for (QAction* action : w.findChildren<QAction*>()) {
            const QString text = action->text().remove(QLatin1Char('&'));
            if (text.startsWith(QLatin1String("Open Run")))
                openRun = action;
            else if (text.startsWith(QLatin1String("Open Folder")))
                openFolder = action;
        }
        QVERIFY(openRun && openFolder);
        // The README documents Ctrl+Shift+O for Open Run.
        QCOMPARE(openRun->shortcut(), QKeySequence(QStringLiteral("Ctrl+Shift+O")));
        QVERIFY(!openFolder->shortcut().isEmpty());
        QVERIFY(openFolder->shortcut() != openRun->shortcut());
    }
};

QTEST_MAIN(TestStudioShortcuts)
#include "tst_studio_shortcuts.moc"
