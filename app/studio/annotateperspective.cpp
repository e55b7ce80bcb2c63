// SPDX-License-Identifier: MIT
#include "annotateperspective.h"

#include "mainwindow.h"

#include "annotate/labeleditor.h"

#include <QAction>
#include <QMenu>
#include <QMenuBar>
#include <QToolBar>

namespace primaps {

AnnotatePerspective::AnnotatePerspective(MainWindow* window) : QObject(window), m_window(window)
{
    m_editor = new LabelEditor(window->canvas(), window->legend(), window);
}

void AnnotatePerspective::addFileActions(QMenu* file)
{
    file->addAction(m_editor->exportAction());
    file->addAction(m_editor->exportAllAction());
}

void AnnotatePerspective::createMenu()
{
    m_window->menuBar()->addMenu(m_editor->editMenu());
}

void AnnotatePerspective::createToolBar()
{
    m_window->addToolBarBreak();
    m_window->addToolBar(m_editor->toolBar());
    updateToolBar();
    // Correcting labels is a mode: its tool row shows only while the mode is on,
    // so the window stays calm for people who only explore proposals.
    connect(m_editor, &LabelEditor::editModeChanged, m_editor->toolBar(), &QToolBar::setVisible);
}

void AnnotatePerspective::updateToolBar()
{
    m_editor->toolBar()->setVisible(m_editor->isEditMode());
}

bool AnnotatePerspective::readyToClose()
{
    return m_editor->maybeClose();
}

} // namespace primaps
