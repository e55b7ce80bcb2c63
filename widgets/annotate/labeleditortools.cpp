// SPDX-License-Identifier: MIT
// The label editor's tools: its actions (edit mode, brush, eraser, fill, picker,
// undo/redo), the tool bar that shows them, and which of them are enabled.
#include "annotate/labeleditor.h"

#include "annotate/labeleditor_p.h"

#include "explore/canvaswidget.h"
#include "explore/legendwidget.h"

#include <algorithm>
#include <QAction>
#include <QActionGroup>
#include <QComboBox>
#include <QLabel>
#include <QMenu>
#include <QSpinBox>
#include <QToolBar>
#include <QUndoGroup>

namespace primaps {

void LabelEditor::createActions()
{
    m_menu = new QMenu(tr("&Edit"), m_window);

    m_undoAction = m_undoGroup->createUndoAction(this, tr("&Undo"));
    m_undoAction->setShortcuts(QKeySequence::Undo);
    m_redoAction = m_undoGroup->createRedoAction(this, tr("&Redo"));
    m_redoAction->setShortcuts(
        {QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Z), QKeySequence(Qt::CTRL | Qt::Key_Y)});
    m_menu->addAction(m_undoAction);
    m_menu->addAction(m_redoAction);
    m_menu->addSeparator();

    m_editModeAction = m_menu->addAction(tr("Edit &Labels"));
    m_editModeAction->setCheckable(true);
    m_editModeAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_L));
    m_editModeAction->setIconText(tr("Edit labels"));
    m_editModeAction->setToolTip(
        tr("Edit labels (Ctrl+L): correct the label map of the image with the brush, "
           "fill and reassign tools.\nEvery change can be undone; corrections stay with "
           "their image."));
    connect(m_editModeAction, &QAction::toggled, this, &LabelEditor::setEditMode);
    m_menu->addSeparator();

    m_tools = new QActionGroup(this);
    m_tools->setExclusive(true);
    auto tool = [this](const QString& text, const QString& iconText, Qt::Key key,
                       CanvasWidget::EditTool which, const QString& tip) {
        QAction* action = m_menu->addAction(text);
        action->setIconText(iconText);
        action->setCheckable(true);
        action->setShortcut(QKeySequence(key));
        action->setData(int(which));
        action->setToolTip(tip);
        m_tools->addAction(action);
        return action;
    };
    m_navigateAction = tool(tr("&Navigate"), tr("Navigate"), Qt::Key_H,
                            CanvasWidget::EditTool::None,
                            tr("Navigate (H): drag to pan, scroll to zoom"));
    m_brushAction = tool(tr("&Brush"), tr("Brush"), Qt::Key_B, CanvasWidget::EditTool::Brush,
                         tr("Brush (B): paint the current label. [ and ] change the size; "
                            "Alt+click picks a label; the middle button pans."));
    m_eraserAction =
        tool(tr("&Eraser"), tr("Eraser"), Qt::Key_E, CanvasWidget::EditTool::Eraser,
             tr("Eraser (E): paint background (label 0). [ and ] change the size."));
    m_fillAction = tool(tr("&Fill"), tr("Fill"), Qt::Key_G, CanvasWidget::EditTool::Fill,
                        tr("Fill (G): the connected segment under the click takes the current "
                           "label"));
    m_pickerAction =
        tool(tr("&Pick Label"), tr("Pick"), Qt::Key_I, CanvasWidget::EditTool::Picker,
             tr("Pick (I): click a pixel to paint with its label (or Alt+click with any tool)"));
    m_brushAction->setChecked(true);
    connect(m_tools, &QActionGroup::triggered, this, &LabelEditor::onToolChosen);

    m_smallerAction = m_menu->addAction(tr("S&maller Brush"), this, [this] {
        const int r = m_canvas->brushRadius();
        m_canvas->setBrushRadius(r - std::max(1, int(std::lround(r * 0.15))));
    });
    m_smallerAction->setShortcut(QKeySequence(Qt::Key_BracketLeft));
    m_largerAction = m_menu->addAction(tr("Lar&ger Brush"), this, [this] {
        const int r = m_canvas->brushRadius();
        m_canvas->setBrushRadius(r + std::max(1, int(std::lround(r * 0.15))));
    });
    m_largerAction->setShortcut(QKeySequence(Qt::Key_BracketRight));
    m_menu->addSeparator();

    m_newLabelAction = m_menu->addAction(tr("&New Label"), this, [this] {
        if (newLabel() >= 0 && isEditMode())
            m_brushAction->trigger();
    });
    m_newLabelAction->setShortcut(QKeySequence(Qt::Key_N));
    m_newLabelAction->setIconText(tr("New"));
    m_newLabelAction->setToolTip(tr("New label (N): paint with an id that is not used yet"));
    m_mergeAction = m_menu->addAction(tr("&Merge Labels\u2026"), this, &LabelEditor::askMerge);
    m_mergeAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_M));
    m_mergeAction->setStatusTip(tr("Give every pixel of one label another label"));
    m_renameAction = m_menu->addAction(tr("Re&name Label\u2026"), this,
                                       [this] { askRename(m_currentLabel); });
    m_renameAction->setShortcut(QKeySequence(Qt::Key_F2));
    m_colorAction = m_menu->addAction(tr("Label &Colour\u2026"), this,
                                      [this] { askColor(m_currentLabel); });
    m_menu->addSeparator();

    m_editsOnlyAction = m_menu->addAction(tr("Show Corrections &Only"));
    m_editsOnlyAction->setCheckable(true);
    m_editsOnlyAction->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_D));
    m_editsOnlyAction->setIconText(tr("Corrections only"));
    m_editsOnlyAction->setToolTip(
        tr("Show only the pixels whose label you changed (Ctrl+Shift+D)"));
    connect(m_editsOnlyAction, &QAction::toggled, this, [this](bool on) {
        m_canvas->setShowEditsOnly(on);
        emit displayChanged();
    });
    m_useNewAction = m_menu->addAction(tr("Use New &Masks"), this, &LabelEditor::useNewMasks);
    m_useNewAction->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_U));
    m_useNewAction->setIconText(tr("Use new masks"));
    m_revertAction = m_menu->addAction(tr("&Revert to Decomposition"), this,
                                       &LabelEditor::revertToDecomposition);
    m_revertAction->setStatusTip(
        tr("Undo every correction of this image's labels at once (itself undoable)"));

    m_exportAction = new QAction(tr("Export &Labels\u2026"), this);
    m_exportAction->setShortcut(QKeySequence(Qt::CTRL | Qt::ALT | Qt::Key_E));
    m_exportAction->setIconText(tr("Export\u2026"));
    m_exportAction->setStatusTip(
        tr("Save the corrected label map of this image as an 8-bit label PNG, with colour "
           "PNG, overlay and names"));
    connect(m_exportAction, &QAction::triggered, this, &LabelEditor::openExportDialog);
    m_exportAllAction = new QAction(tr("Export All &Edited Labels\u2026"), this);
    m_exportAllAction->setStatusTip(tr("Save the label maps of every corrected image to a folder"));
    connect(m_exportAllAction, &QAction::triggered, this, [this] { openExportAllDialog(); });
}

void LabelEditor::createToolBar()
{
    m_toolBar = new QToolBar(tr("Label editing"), m_window);
    m_toolBar->setObjectName(QStringLiteral("LabelEditToolBar"));
    m_toolBar->setMovable(false);
    m_toolBar->setToolButtonStyle(Qt::ToolButtonTextOnly);
    auto spacer = [this](int width) {
        auto* gap = new QWidget(m_toolBar);
        gap->setFixedWidth(width);
        m_toolBar->addWidget(gap);
    };
    spacer(6);
    for (QAction* action : m_tools->actions())
        m_toolBar->addAction(action);
    m_toolBar->addSeparator();

    auto* labelCaption = new QLabel(tr("Label"), m_toolBar);
    m_toolBar->addWidget(labelCaption);
    spacer(6);
    m_labelCombo = new QComboBox(m_toolBar);
    m_labelCombo->setMinimumContentsLength(14);
    m_labelCombo->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    m_labelCombo->setToolTip(tr("The label the brush and fill paint with. Click a chip in the "
                                "legend or Alt+click the picture to choose one."));
    labelCaption->setBuddy(m_labelCombo);
    m_toolBar->addWidget(m_labelCombo);
    connect(m_labelCombo, qOverload<int>(&QComboBox::activated), this, [this](int index) {
        setCurrentLabel(m_labelCombo->itemData(index).toInt());
    });
    m_toolBar->addAction(m_newLabelAction);
    m_toolBar->addSeparator();

    auto* sizeCaption = new QLabel(tr("Brush radius"), m_toolBar);
    m_toolBar->addWidget(sizeCaption);
    spacer(6);
    m_radiusSpin = new QSpinBox(m_toolBar);
    m_radiusSpin->setRange(0, CanvasWidget::kMaxBrushRadius);
    m_radiusSpin->setSuffix(tr(" px"));
    m_radiusSpin->setValue(m_canvas->brushRadius());
    m_radiusSpin->setToolTip(tr("Brush radius in image pixels ([ smaller, ] larger)"));
    sizeCaption->setBuddy(m_radiusSpin);
    m_toolBar->addWidget(m_radiusSpin);
    connect(m_radiusSpin, qOverload<int>(&QSpinBox::valueChanged), m_canvas,
            &CanvasWidget::setBrushRadius);
    connect(m_canvas, &CanvasWidget::brushRadiusChanged, this, [this](int radius) {
        const QSignalBlocker blocker(m_radiusSpin);
        m_radiusSpin->setValue(radius);
    });
    m_toolBar->addSeparator();
    m_toolBar->addAction(m_editsOnlyAction);
    m_toolBar->addAction(m_useNewAction);

    auto* stretch = new QWidget(m_toolBar);
    stretch->setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Preferred);
    m_toolBar->addWidget(stretch);
    m_unsavedLabel = new QLabel(m_toolBar);
    m_toolBar->addWidget(m_unsavedLabel);
    spacer(6);
    m_toolBar->addAction(m_exportAction);
    spacer(6);
}

QAction* LabelEditor::toolAction(int tool) const
{
    for (QAction* action : m_tools->actions())
        if (action->data().toInt() == tool)
            return action;
    return nullptr;
}
void LabelEditor::setEditMode(bool on)
{
    if (m_editModeAction->isChecked() != on) {
        m_editModeAction->setChecked(on); // comes back here through toggled()
        return;
    }
    m_legend->setEditable(on);
    QAction* tool = m_tools->checkedAction();
    m_canvas->setEditTool(on && tool ? CanvasWidget::EditTool(tool->data().toInt())
                                     : CanvasWidget::EditTool::None);
    if (on) {
        ensureDocument();
    } else if (m_shown && !m_shown->edited) {
        // Back to the decomposition as the window shows it.
        release();
        if (m_result.ok() && m_result.request.path == m_currentPath) {
            m_canvas->setDecomposition(m_result.photo, *m_result.decomposition);
            m_legend->setAreas(m_canvas->areaFractions());
        }
    }
    m_canvas->setEditingEnabled(on && m_shown);
    if (on)
        m_canvas->setFocus();
    updateActions();
    emit editModeChanged(on);
    emit displayChanged();
}

void LabelEditor::onToolChosen(QAction* action)
{
    m_canvas->setEditTool(isEditMode() ? CanvasWidget::EditTool(action->data().toInt())
                                       : CanvasWidget::EditTool::None);
    updateActions();
}
void LabelEditor::updateActions()
{
    const bool edit = isEditMode();
    const bool haveImage = m_shown || (m_result.ok() && m_result.request.path == m_currentPath);
    m_editModeAction->setEnabled(haveImage || edit);
    for (QAction* action : m_tools->actions())
        action->setEnabled(edit);
    const bool brush = edit && (m_brushAction->isChecked() || m_eraserAction->isChecked());
    m_smallerAction->setEnabled(brush);
    m_largerAction->setEnabled(brush);
    m_radiusSpin->setEnabled(edit);
    m_labelCombo->setEnabled(haveImage);
    for (QAction* action : {m_newLabelAction, m_mergeAction, m_renameAction, m_colorAction,
                            m_exportAction})
        action->setEnabled(haveImage);
    m_editsOnlyAction->setEnabled(m_shown != nullptr);
    const bool pending = m_shown && !m_shown->pending.empty();
    m_useNewAction->setEnabled(pending);
    m_useNewAction->setText(pending ? tr("Use New &Masks (%1)").arg(m_shown->pendingInfo)
                                    : tr("Use New &Masks"));
    m_useNewAction->setToolTip(
        pending ? tr("Replace the corrected labels with the newest decomposition (%1). "
                     "Undoable.")
                      .arg(m_shown->pendingInfo)
                : tr("No newer decomposition of this image"));
    m_revertAction->setEnabled(m_shown && !sameMat(m_shown->labels, m_shown->base));
    m_exportAllAction->setEnabled(!editedImages().isEmpty());
}

void LabelEditor::decorate()
{
    if (!m_shown)
        return;
    if (isEditMode())
        m_legend->setCaption(tr("Labels \u00b7 editing"));
    else if (m_shown->edited)
        m_legend->setCaption(tr("Corrected labels"));
    if (!m_shown->edited)
        return; // the window's own badge (e.g. a preview) still applies
    QString badge;
    if (!m_shown->pending.empty())
        badge = tr("Showing your corrections \u00b7 newer masks (%1) are not applied: "
                   "Edit \u25b8 Use New Masks (Ctrl+Shift+U)")
                    .arg(m_shown->pendingInfo);
    else if (m_canvas->isShowingEditsOnly())
        badge = tr("Showing only the corrected pixels (Ctrl+Shift+D shows all)");
    m_canvas->setBadgeText(badge);
}

} // namespace primaps
