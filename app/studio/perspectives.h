// SPDX-License-Identifier: MIT
#pragma once

#include <map>
#include <QByteArray>
#include <QList>
#include <QObject>
#include <QRect>
#include <QString>

class QDockWidget;
class QTabBar;
class QToolBar;

namespace primaps {

class MainWindow;

/// The studio's perspectives: Explore (images, canvas, steps, features),
/// Review (a dataset or fitted run image by image), Fit (the EM fit monitor),
/// Evaluate (scores, confusion matrix, match) and Annotate (label correction).
/// A tab bar in the menu bar's corner switches between them.
///
/// Each perspective has its own dock arrangement. Switching away saves the
/// arrangement (QMainWindow::saveState()) under the perspective's name in
/// QSettings, switching to it restores that; a perspective never arranged
/// starts from a default laid out for the window's size. The window is kept
/// inside its screen's available geometry: at start, on every switch and
/// whenever a dock appears (dock contents that need more room scroll).
///
/// Threading: GUI thread only.
class PerspectiveController : public QObject
{
    Q_OBJECT

public:
    enum class Perspective
    {
        Explore,
        Review,
        Fit,
        Evaluate,
        Annotate,
    };
    Q_ENUM(Perspective)

    static QList<Perspective> all();
    /// "explore", "review", "fit", "evaluate", "annotate" (the command line's names).
    static QString name(Perspective perspective);
    /// The tab's title ("Explore", …).
    static QString title(Perspective perspective);
    static bool fromName(const QString& name, Perspective* perspective);
    /// The QSettings key of a perspective's saved dock arrangement.
    static QString settingsKey(Perspective perspective);

    explicit PerspectiveController(MainWindow* window);

    Perspective current() const { return m_current; }
    /// Saves the current arrangement and shows `perspective`'s.
    void setCurrent(Perspective perspective);
    /// Back to the default arrangement of the current perspective.
    void resetLayout();
    /// Whether arrangements are written to QSettings (default: yes); tests and
    /// screenshots leave the user's settings alone.
    void setPersist(bool persist) { m_persist = persist; }
    /// Reads the last perspective and the saved arrangements from QSettings.
    void restoreSettings();
    /// The default arrangement of the current perspective, for a new window
    /// (once every dock exists).
    void applyInitial();
    /// Stores the current arrangement (also in QSettings when persisting).
    void saveCurrent();

    /// A dock that opens by itself (a fit starts, an evaluation runs): shows
    /// and raises it, and brings `perspective` unless the user looks at Review.
    void showDock(Perspective perspective, QDockWidget* dock);

    /// The area the window must fit: its screen's available geometry, or the
    /// override (the command line's --size).
    QRect availableGeometry() const;
    void setAvailableOverride(const QRect& area) { m_override = area; }
    /// The size of a new window: most of a large screen, all of a small one.
    QSize defaultWindowSize() const;
    /// Moves and shrinks the window so that its frame lies inside availableGeometry().
    void fitToScreen();

    QTabBar* tabBar() const { return m_tabs; }
    QDockWidget* dock(const QString& objectName) const;

signals:
    void perspectiveChanged(Perspective perspective);

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    void applyDefault(Perspective perspective);
    /// The default sizes of the docks shown (from the window's size).
    void resizeDefaultDocks();
    /// Explore on a tall screen: the Features dock under the image list.
    bool featuresOnTheLeft() const;
    void switchTo(Perspective perspective);
    void scheduleFit();

    MainWindow* m_window;
    QTabBar* m_tabs = nullptr;
    Perspective m_current = Perspective::Explore;
    std::map<Perspective, QByteArray> m_states;
    QRect m_override;
    bool m_persist = true;
    bool m_switching = false;
    bool m_fitScheduled = false;
    bool m_sizeOnShow = false;
};

} // namespace primaps
