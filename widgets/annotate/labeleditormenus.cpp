// SPDX-License-Identifier: MIT
// The label editor's context menus (on a legend chip, on the picture) and the
// dialogs they open: rename, recolour, merge.
#include "annotate/labeleditor.h"

#include "annotate/labeleditor_p.h"

#include <algorithm>
#include <QAction>
#include <QColorDialog>
#include <QComboBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QHBoxLayout>
#include <QInputDialog>
#include <QLabel>
#include <QMenu>
#include <QPushButton>
#include <QVBoxLayout>

namespace primaps {

void LabelEditor::fillReassignMenu(QMenu* menu, int exclude,
                                   const std::function<void(int)>& apply)
{
    const LabelTable table = m_shown ? m_shown->table : LabelTable();
    for (const int id : labelChoices()) {
        if (id == exclude)
            continue;
        QAction* action = menu->addAction(labelSwatch(toQColor(table.color(id))), labelTitle(id));
        connect(action, &QAction::triggered, this, [apply, id] { apply(id); });
    }
    menu->addSeparator();
    QAction* fresh = menu->addAction(tr("New Label"));
    connect(fresh, &QAction::triggered, this, [this, apply] {
        const int id = newLabel();
        if (id >= 0)
            apply(id);
    });
}

void LabelEditor::showLabelMenu(int id, const QPoint& globalPos)
{
    if (!ensureDocument())
        return;
    QMenu menu(m_window);
    const QString title = labelTitle(id);
    if (id != 0) {
        menu.addAction(tr("Paint with %1").arg(title), this, [this, id] {
            setEditMode(true);
            setCurrentLabel(id);
            m_brushAction->trigger();
        });
        menu.addSeparator();
    }
    menu.addAction(tr("Rename %1\u2026").arg(title), this, [this, id] { askRename(id); });
    menu.addAction(tr("Colour of %1\u2026").arg(title), this, [this, id] { askColor(id); });
    if (m_shown->table.hasName(id) || m_shown->table.hasColor(id))
        menu.addAction(tr("Default Name and Colour"), this, [this, id] {
            LabelTable table = m_shown->table;
            table.reset(id);
            pushTable(m_shown, table, tr("Default name and colour of %1").arg(id));
        });
    menu.addSeparator();
    QMenu* reassign = menu.addMenu(tr("Reassign All of %1 To").arg(title));
    fillReassignMenu(reassign, id, [this, id](int to) { reassignLabel(id, to); });
    if (id != 0)
        menu.addAction(tr("Erase %1 (Make It Background)").arg(title), this,
                       [this, id] { reassignLabel(id, 0); });
    menu.exec(globalPos);
}

void LabelEditor::showCanvasMenu(const QPoint& pixel, int id, const QPoint& globalPos)
{
    if (!m_shown)
        return;
    QMenu menu(m_window);
    const QString title = labelTitle(id);
    menu.addAction(tr("Paint with %1").arg(title), this, [this, id] {
        setCurrentLabel(id);
        if (id != 0)
            m_brushAction->trigger();
    });
    menu.addSeparator();
    QMenu* segment = menu.addMenu(tr("Reassign This Segment To"));
    fillReassignMenu(segment, id, [this, pixel](int to) { reassignSegment(pixel, to); });
    QMenu* all = menu.addMenu(tr("Reassign All of %1 To").arg(title));
    fillReassignMenu(all, id, [this, id](int to) { reassignLabel(id, to); });
    menu.addSeparator();
    menu.addAction(tr("Rename %1\u2026").arg(title), this, [this, id] { askRename(id); });
    menu.addAction(tr("Colour of %1\u2026").arg(title), this, [this, id] { askColor(id); });
    menu.exec(globalPos);
}

void LabelEditor::askRename(int id)
{
    if (!ensureDocument())
        return;
    bool ok = false;
    const QString current = QString::fromStdString(m_shown->table.name(id));
    const QString name = QInputDialog::getText(
        m_window, tr("Rename Label"),
        tr("Name of label %1 (written to the JSON sidecar on export; empty restores "
           "\u201c%2\u201d):")
            .arg(id)
            .arg(QString::fromStdString(LabelTable::defaultName(id))),
        QLineEdit::Normal, current, &ok);
    if (ok)
        renameLabel(id, name);
}

void LabelEditor::askColor(int id)
{
    if (!ensureDocument())
        return;
    const QColor color = QColorDialog::getColor(toQColor(m_shown->table.color(id)), m_window,
                                                tr("Colour of %1").arg(labelTitle(id)));
    if (color.isValid())
        setLabelColor(id, color);
}

void LabelEditor::askMerge()
{
    if (!ensureDocument())
        return;
    QDialog dialog(m_window);
    dialog.setWindowTitle(tr("Merge Labels"));
    auto* layout = new QVBoxLayout(&dialog);
    auto* text = new QLabel(tr("Every pixel of the first label gets the second label. "
                               "Undo (Ctrl+Z) takes it back."),
                            &dialog);
    text->setWordWrap(true);
    layout->addWidget(text);
    auto* row = new QHBoxLayout;
    auto* from = new QComboBox(&dialog);
    auto* to = new QComboBox(&dialog);
    const LabelTable table = m_shown->table;
    for (const int id : labelChoices()) {
        from->addItem(labelSwatch(toQColor(table.color(id))), labelTitle(id), id);
        to->addItem(labelSwatch(toQColor(table.color(id))), labelTitle(id), id);
    }
    from->setCurrentIndex(std::max(0, from->findData(m_currentLabel)));
    to->setCurrentIndex(to->count() > 1 && from->currentIndex() == 0 ? 1 : 0);
    row->addWidget(new QLabel(tr("Merge"), &dialog));
    row->addWidget(from, 1);
    row->addWidget(new QLabel(tr("into"), &dialog));
    row->addWidget(to, 1);
    layout->addLayout(row);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Cancel, &dialog);
    QPushButton* merge = buttons->addButton(tr("Merge"), QDialogButtonBox::AcceptRole);
    merge->setDefault(true);
    auto sync = [from, to, merge] {
        merge->setEnabled(from->currentData() != to->currentData());
    };
    connect(from, qOverload<int>(&QComboBox::currentIndexChanged), &dialog, sync);
    connect(to, qOverload<int>(&QComboBox::currentIndexChanged), &dialog, sync);
    sync();
    connect(buttons, &QDialogButtonBox::accepted, &dialog, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
    layout->addWidget(buttons);
    if (dialog.exec() == QDialog::Accepted)
        reassignLabel(from->currentData().toInt(), to->currentData().toInt());
}

} // namespace primaps
