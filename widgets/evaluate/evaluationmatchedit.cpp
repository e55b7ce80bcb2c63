// SPDX-License-Identifier: MIT
// The Evaluation dock's editable match: override a cluster's class, merge a
// cluster into another, ignore a cluster; undo and redo. Every change is
// recomputed from the stored confusion counts with core's scoreMatch(), so the
// metrics, heat map, bars and table follow at once whatever the split's size.
#include "evaluate/evaluationwidget.h"

#include "common/messagewidget.h"

#include <QHBoxLayout>
#include <QMenu>
#include <QPushButton>
#include <QTableWidget>
#include <QUndoStack>

namespace primaps {

/// One change of the edits: the state before and after, both complete (a few
/// small maps), so undo needs no inverse operation.
class MatchEditCommand : public QUndoCommand
{
public:
    MatchEditCommand(EvaluationWidget* widget, MatchEdits before, MatchEdits after,
                     const QString& text)
        : QUndoCommand(text), m_widget(widget), m_before(std::move(before)),
          m_after(std::move(after))
    {
    }
    void redo() override { m_widget->applyMatchEdits(m_after); }
    void undo() override { m_widget->applyMatchEdits(m_before); }

private:
    EvaluationWidget* m_widget;
    MatchEdits m_before;
    MatchEdits m_after;
};

void EvaluationWidget::createMatchEditing(QHBoxLayout* bar)
{
    m_matchUndo = new QUndoStack(this);
    auto* undo = new QPushButton(tr("Undo match edit"), this);
    auto* redo = new QPushButton(tr("Redo"), this);
    undo->setToolTip(tr("Take back the last change of the cluster-to-class match"));
    undo->setEnabled(false);
    redo->setEnabled(false);
    connect(undo, &QPushButton::clicked, m_matchUndo, &QUndoStack::undo);
    connect(redo, &QPushButton::clicked, m_matchUndo, &QUndoStack::redo);
    connect(m_matchUndo, &QUndoStack::canUndoChanged, undo, &QWidget::setEnabled);
    connect(m_matchUndo, &QUndoStack::canRedoChanged, redo, &QWidget::setEnabled);
    connect(m_matchUndo, &QUndoStack::undoTextChanged, undo, [undo](const QString& text) {
        undo->setToolTip(text.isEmpty() ? tr("Nothing to undo") : tr("Undo: %1").arg(text));
    });
    bar->insertWidget(bar->count() - 1, undo);
    bar->insertWidget(bar->count() - 1, redo);

    m_table->setContextMenuPolicy(Qt::CustomContextMenu);
    connect(m_table, &QWidget::customContextMenuRequested, this, &EvaluationWidget::showMatchMenu);
    m_table->setToolTip(m_table->toolTip() +
                        tr("\nRight-click a cluster to give it another class, merge it into "
                           "another cluster or ignore it."));
}

QString EvaluationWidget::matchKindText(int cluster) const
{
    if (cluster < 0 || std::size_t(cluster) >= m_edited.kinds.size())
        return {};
    const std::size_t c = std::size_t(cluster);
    switch (m_edited.kinds[c]) {
    case MatchEntryKind::Hungarian:
        return tr("one-to-one");
    case MatchEntryKind::Majority:
        return tr("majority");
    case MatchEntryKind::Override:
        return tr("override (was %1)").arg(className(m_edited.computedClass[c]));
    case MatchEntryKind::Merged:
        return tr("merged into %1").arg(m_edited.mergedInto[c]);
    case MatchEntryKind::Ignored:
        return tr("ignored (was %1)").arg(className(m_edited.computedClass[c]));
    }
    return {};
}

void EvaluationWidget::applyMatchEdits(const MatchEdits& edits)
{
    // Undo commands hold states that were valid for these counts: no throw here.
    m_edits = edits;
    m_edited = primaps::applyMatchEdits(m_computed, m_edits);
    EvaluationResult scored = scoreMatch(m_report.confusion, m_edited.clusterToClass);
    scored.matchKind = m_computed.matchKind;
    m_report.result = scored;
    rebuild();
    emit matchEditsChanged(m_edits);
    emit reportChanged();
}

bool EvaluationWidget::setMatchEdits(const MatchEdits& edits)
{
    if (!m_hasReport)
        return false;
    try {
        primaps::applyMatchEdits(m_computed, edits); // validates
    } catch (const std::exception& e) {
        m_messages->showMessage(QString::fromStdString(e.what()));
        return false;
    }
    m_matchUndo->clear();
    applyMatchEdits(edits);
    return true;
}

bool EvaluationWidget::editMatch(const MatchEdits& edits, const QString& text)
{
    if (!m_hasReport || edits == m_edits)
        return false;
    try {
        primaps::applyMatchEdits(m_computed, edits);
    } catch (const std::exception& e) {
        m_messages->showMessage(QString::fromStdString(e.what()));
        return false;
    }
    m_matchUndo->push(new MatchEditCommand(this, m_edits, edits, text));
    return true;
}

bool EvaluationWidget::overrideCluster(int cluster, int cls)
{
    MatchEdits edits = m_edits;
    edits.ignored.erase(cluster);
    edits.merges.erase(cluster);
    if (cluster >= 0 && std::size_t(cluster) < m_edited.computedClass.size() &&
        m_edited.computedClass[std::size_t(cluster)] == cls)
        edits.overrides.erase(cluster); // back to what the match computed
    else
        edits.overrides[cluster] = cls;
    return editMatch(edits, tr("Cluster %1 \u2192 %2").arg(cluster).arg(className(cls)));
}

bool EvaluationWidget::mergeCluster(int cluster, int into)
{
    MatchEdits edits = m_edits;
    edits.ignored.erase(cluster);
    edits.overrides.erase(cluster);
    edits.merges[cluster] = into;
    return editMatch(edits, tr("Merge cluster %1 into %2").arg(cluster).arg(into));
}

bool EvaluationWidget::setClusterIgnored(int cluster, bool ignored)
{
    MatchEdits edits = m_edits;
    if (ignored)
        edits.ignored.insert(cluster);
    else
        edits.ignored.erase(cluster);
    return editMatch(edits, ignored ? tr("Ignore cluster %1").arg(cluster)
                                    : tr("Stop ignoring cluster %1").arg(cluster));
}

bool EvaluationWidget::resetCluster(int cluster)
{
    MatchEdits edits = m_edits;
    edits.ignored.erase(cluster);
    edits.overrides.erase(cluster);
    edits.merges.erase(cluster);
    return editMatch(edits, tr("Computed match for cluster %1").arg(cluster));
}

void EvaluationWidget::showMatchMenu(const QPoint& tablePos)
{
    const int row = m_table->rowAt(tablePos.y());
    if (!m_hasReport || row < 0 || row >= m_report.result.clusters)
        return; // class rows without a cluster have nothing to edit
    const int cluster = row;
    QMenu menu(this);
    QMenu* classes = menu.addMenu(tr("Give cluster %1 the class").arg(cluster));
    for (int j = 0; j < classCount(); ++j) {
        QAction* a = classes->addAction(className(j), this, [this, cluster, j] {
            overrideCluster(cluster, j);
        });
        a->setIcon(QIcon(QPixmap::fromImage([&] {
            QImage chip(12, 12, QImage::Format_RGB32);
            chip.fill(classColor(j));
            return chip;
        }())));
        a->setCheckable(true);
        a->setChecked(m_report.result.clusterToClass[std::size_t(cluster)] == j);
    }
    QMenu* merge = menu.addMenu(tr("Merge cluster %1 into").arg(cluster));
    for (int c = 0; c < m_report.result.clusters; ++c) {
        if (c == cluster)
            continue;
        const int cls = m_report.result.clusterToClass[std::size_t(c)];
        merge->addAction(tr("cluster %1 (%2)").arg(c).arg(cls >= 0 ? className(cls) : tr("ignored")),
                         this, [this, cluster, c] { mergeCluster(cluster, c); });
    }
    const bool ignored = m_edits.ignored.count(cluster) > 0;
    menu.addAction(ignored ? tr("Stop ignoring cluster %1").arg(cluster)
                           : tr("Ignore cluster %1 (its pixels get no class)").arg(cluster),
                   this, [this, cluster, ignored] { setClusterIgnored(cluster, !ignored); });
    QAction* reset = menu.addAction(tr("Computed match for cluster %1").arg(cluster), this,
                                    [this, cluster] { resetCluster(cluster); });
    reset->setEnabled(m_edits.ignored.count(cluster) || m_edits.overrides.count(cluster) ||
                      m_edits.merges.count(cluster));
    menu.exec(m_table->viewport()->mapToGlobal(tablePos));
}

void EvaluationWidget::setClassTable(const ClassTable& table, const QString& savePath)
{
    m_classTablePath = savePath;
    m_styles.resize(table.size());
    for (int j = 0; j < table.size(); ++j) {
        const ClassInfo& c = table.classes[std::size_t(j)];
        m_styles[j] = {QString::fromStdString(c.name), QColor(c.colour[0], c.colour[1], c.colour[2])};
    }
    if (m_hasReport)
        rebuild();
}

ClassTable EvaluationWidget::classTable() const
{
    ClassTable table;
    for (const ClassStyle& s : m_styles)
        table.classes.push_back(
            {s.name.toStdString(),
             cv::Vec3b(uchar(s.color.red()), uchar(s.color.green()), uchar(s.color.blue()))});
    return table;
}

} // namespace primaps
