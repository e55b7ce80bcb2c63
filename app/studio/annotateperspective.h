// SPDX-License-Identifier: MIT
#pragma once

#include <QObject>

class QMenu;

namespace primaps {

class LabelEditor;
class MainWindow;

/// The Annotate perspective's wiring: the LabelEditor on the window's canvas
/// and legend, its Edit menu, its export actions in the File menu, and its
/// tool row, which shows only while the edit mode is on (the perspective
/// switches the mode; PerspectiveController). GUI thread only.
class AnnotatePerspective : public QObject
{
    Q_OBJECT

public:
    /// Creates the editor (the window's canvas and legend must exist).
    explicit AnnotatePerspective(MainWindow* window);

    /// File menu: Export Labels…, Export All Edited Labels….
    void addFileActions(QMenu* file);
    /// The Edit menu, at the end of the menu bar.
    void createMenu();
    /// The editing tool row, on a tool bar line of its own.
    void createToolBar();
    /// The tool row follows the mode, not a saved window state.
    void updateToolBar();
    /// Whether the window may close (asks about unsaved corrections).
    bool readyToClose();

    LabelEditor* editor() const { return m_editor; }

private:
    MainWindow* m_window;
    LabelEditor* m_editor = nullptr;
};

} // namespace primaps
