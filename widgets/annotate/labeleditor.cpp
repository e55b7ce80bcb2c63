// SPDX-License-Identifier: MIT
// The label editor: one document per image (its corrected map, label table and
// undo stack), the undo commands that change it, and the edit operations the tools,
// menus and studio call. The tools and their tool bar are in labeleditortools.cpp,
// the label menus and dialogs in labeleditormenus.cpp, saving in labeleditorexport.cpp.
#include "annotate/labeleditor.h"

#include "annotate/labeleditor_p.h"

#include "explore/canvaswidget.h"
#include "explore/explorepictures.h"
#include "explore/legendwidget.h"

#include <algorithm>
#include <opencv2/core.hpp>
#include <QComboBox>
#include <QDir>
#include <QFileInfo>
#include <QLabel>
#include <QMessageBox>
#include <QPainter>
#include <QPixmap>
#include <QPushButton>
#include <QSignalBlocker>
#include <QUndoGroup>
#include <QUndoStack>

namespace primaps {

namespace {

QString describe(const DecomposeResult& result)
{
    const bool crf = result.decomposition && result.decomposition->crfApplied;
    return LabelEditor::tr("%1, \u03c4 = %2, %3")
        .arg(result.backboneName)
        .arg(double(result.threshold), 0, 'f', 2)
        .arg(crf ? LabelEditor::tr("CRF") : LabelEditor::tr("no CRF"));
}

} // namespace

QIcon labelSwatch(const QColor& color)
{
    QPixmap pixmap(14, 14);
    pixmap.fill(Qt::transparent);
    QPainter painter(&pixmap);
    painter.setRenderHint(QPainter::Antialiasing);
    painter.setPen(QPen(QColor(0, 0, 0, 110), 1.0));
    painter.setBrush(color);
    painter.drawRoundedRect(QRectF(0.5, 0.5, 13, 13), 2, 2);
    return QIcon(pixmap);
}

class LabelEditor::PatchCommand : public QUndoCommand
{
public:
    PatchCommand(LabelEditor* editor, Document* doc, LabelPatch patch, const QString& text)
        : QUndoCommand(text), m_editor(editor), m_doc(doc), m_patch(std::move(patch))
    {
    }
    void redo() override { m_editor->applyPatch(m_doc, m_patch, true); }
    void undo() override { m_editor->applyPatch(m_doc, m_patch, false); }

private:
    LabelEditor* m_editor;
    Document* m_doc;
    LabelPatch m_patch;
};

class LabelEditor::TableCommand : public QUndoCommand
{
public:
    TableCommand(LabelEditor* editor, Document* doc, LabelTable before, LabelTable after,
                 const QString& text)
        : QUndoCommand(text), m_editor(editor), m_doc(doc), m_before(std::move(before)),
          m_after(std::move(after))
    {
    }
    void redo() override { m_editor->applyTable(m_doc, m_after); }
    void undo() override { m_editor->applyTable(m_doc, m_before); }

private:
    LabelEditor* m_editor;
    Document* m_doc;
    LabelTable m_before;
    LabelTable m_after;
};

// Swaps the whole map (revert, new masks). Keeps both states whole: these are
// rare, and a map is only width x height bytes.
class LabelEditor::ReplaceCommand : public QUndoCommand
{
public:
    ReplaceCommand(LabelEditor* editor, Document* doc, const cv::Mat& base, const cv::Mat& labels,
                   const cv::Mat& pending, const QString& text)
        : QUndoCommand(text), m_editor(editor), m_doc(doc), m_oldBase(doc->base),
          m_oldLabels(doc->labels.clone()), m_oldPending(doc->pending), m_newBase(base),
          m_newLabels(labels.clone()), m_newPending(pending)
    {
    }
    void redo() override { m_editor->replaceLabels(m_doc, m_newBase, m_newLabels, m_newPending); }
    void undo() override { m_editor->replaceLabels(m_doc, m_oldBase, m_oldLabels, m_oldPending); }

private:
    LabelEditor* m_editor;
    Document* m_doc;
    cv::Mat m_oldBase, m_oldLabels, m_oldPending;
    cv::Mat m_newBase, m_newLabels, m_newPending;
};

LabelEditor::LabelEditor(CanvasWidget* canvas, LegendWidget* legend, QWidget* window)
    : QObject(window), m_canvas(canvas), m_legend(legend), m_window(window)
{
    m_overwriteQuestion = [this](const QStringList& existing) {
        QStringList names;
        for (const QString& file : existing.mid(0, 6))
            names << QDir::toNativeSeparators(file);
        if (existing.size() > 6)
            names << tr("\u2026 and %1 more").arg(existing.size() - 6);
        QMessageBox box(QMessageBox::Warning, tr("Replace Files?"),
                        existing.size() == 1
                            ? tr("This file already exists and would be replaced:")
                            : tr("%1 files already exist and would be replaced:")
                                  .arg(existing.size()),
                        QMessageBox::Cancel, m_window);
        box.setInformativeText(names.join(QLatin1Char('\n')));
        QPushButton* replace = box.addButton(tr("Replace"), QMessageBox::DestructiveRole);
        box.setDefaultButton(QMessageBox::Cancel);
        box.exec();
        return box.clickedButton() == replace;
    };
    m_unsavedQuestion = [this](const QStringList& images) {
        QStringList names;
        for (const QString& path : images.mid(0, 8))
            names << QFileInfo(path).fileName();
        if (images.size() > 8)
            names << tr("\u2026 and %1 more").arg(images.size() - 8);
        QMessageBox box(QMessageBox::Question, tr("Unsaved Label Corrections"),
                        (images.size() == 1
                             ? tr("One image has label corrections that were not exported.")
                             : tr("%1 images have label corrections that were not exported.")
                                   .arg(images.size())) +
                            QLatin1Char(' ') + tr("They are lost when the studio closes."),
                        QMessageBox::NoButton, m_window);
        box.setInformativeText(names.join(QLatin1Char('\n')));
        QPushButton* exportButton = box.addButton(tr("Export All\u2026"), QMessageBox::AcceptRole);
        QPushButton* discard = box.addButton(tr("Discard"), QMessageBox::DestructiveRole);
        QPushButton* cancel = box.addButton(QMessageBox::Cancel);
        box.setDefaultButton(exportButton);
        box.setEscapeButton(cancel);
        box.exec();
        if (box.clickedButton() == exportButton)
            return UnsavedChoice::Export;
        return box.clickedButton() == discard ? UnsavedChoice::Discard : UnsavedChoice::Cancel;
    };

    m_undoGroup = new QUndoGroup(this);
    createActions();
    createToolBar();

    m_canvas->setBrushLabel(m_currentLabel);
    m_legend->setCurrentLabel(m_currentLabel);
    connect(m_canvas, &CanvasWidget::labelsEdited, this, &LabelEditor::onCanvasEdited);
    connect(m_canvas, &CanvasWidget::labelsChanged, this, [this] {
        if (!m_shown)
            return;
        m_legend->setAreas(m_canvas->areaFractions());
        updateLabelCombo();
    });
    connect(m_canvas, &CanvasWidget::labelPicked, this, [this](int id) {
        setCurrentLabel(id);
        if (m_pickerAction->isChecked())
            m_brushAction->trigger();
    });
    connect(m_canvas, &CanvasWidget::editMenuRequested, this, &LabelEditor::showCanvasMenu);
    connect(m_legend, &LegendWidget::labelChosen, this, &LabelEditor::setCurrentLabel);
    connect(m_legend, &LegendWidget::labelMenuRequested, this, &LabelEditor::showLabelMenu);
    connect(m_legend, &LegendWidget::labelRenameRequested, this, &LabelEditor::askRename);
    updateActions();
    updateUnsaved();
}

LabelEditor::~LabelEditor()
{
    // The commands point into the documents: the stacks go first. A stack
    // with changes reports cleanChanged() as it is deleted; that must not
    // reach this editor, which would look at the stacks deleted before it.
    for (auto& entry : m_documents)
        entry.second->stack->disconnect(this);
    for (auto& entry : m_documents)
        delete entry.second->stack;
}
LabelEditor::Document* LabelEditor::find(const QString& path) const
{
    const auto it = m_documents.find(path);
    return it == m_documents.end() ? nullptr : it->second.get();
}

LabelEditor::Document* LabelEditor::createDocument(const DecomposeResult& result,
                                                   const cv::Mat& labels, const cv::Mat& corrected)
{
    auto doc = std::make_unique<Document>();
    doc->path = result.request.path;
    doc->photo = result.photo;
    doc->image = result.image;
    doc->base = labels;
    // Restored corrections are the document's own copy already (restoredLabels()).
    doc->labels = corrected.empty() ? labels.clone() : corrected;
    doc->baseInfo = describe(result);
    doc->stack = new QUndoStack(this);
    m_undoGroup->addStack(doc->stack);
    connect(doc->stack, &QUndoStack::cleanChanged, this, &LabelEditor::updateUnsaved);
    connect(doc->stack, &QUndoStack::indexChanged, this, &LabelEditor::updateActions);
    Document* raw = doc.get();
    m_documents[raw->path] = std::move(doc);
    return raw;
}

LabelEditor::Document* LabelEditor::ensureDocument()
{
    if (m_shown)
        return m_shown;
    if (!m_result.ok() || m_result.request.path != m_currentPath)
        return nullptr;
    const cv::Mat fresh = m_result.decomposition->labelsAtOriginalSize();
    Document* doc = find(m_currentPath);
    if (!doc) {
        doc = createDocument(m_result, fresh);
        restore(doc, m_result);
    } else if (!doc->edited) {
        doc->photo = m_result.photo;
        doc->image = m_result.image;
        doc->base = fresh;
        doc->labels = fresh.clone();
        doc->pending = cv::Mat();
        doc->baseInfo = describe(m_result);
        doc->stack->clear();
    }
    takeOver(doc);
    return doc;
}

void LabelEditor::showExternal(const QString& key, const QImage& photo, const cv::Mat& rgb,
                               const cv::Mat& base, const cv::Mat& labels, const LabelTable& table)
{
    Document* doc = find(key);
    if (!doc) {
        auto created = std::make_unique<Document>();
        created->path = key;
        created->external = true;
        created->stack = new QUndoStack(this);
        m_undoGroup->addStack(created->stack);
        connect(created->stack, &QUndoStack::indexChanged, this, &LabelEditor::updateActions);
        doc = created.get();
        m_documents[key] = std::move(created);
    }
    if (!sameMat(doc->base, base) || !sameMat(doc->labels, labels)) {
        doc->base = base.clone();
        doc->labels = labels.clone();
        doc->stack->clear();
    }
    doc->photo = photo;
    doc->image = rgb;
    doc->table = table;
    doc->refreshEdited();
    m_currentPath = key;
    m_result = DecomposeResult();
    takeOver(doc);
}

bool LabelEditor::applyEdit(const LabelPatch& patch, const QString& text)
{
    return pushPatch(m_shown, patch, text);
}

void LabelEditor::setCurrentImage(const QString& path)
{
    m_currentPath = path;
    if (m_result.request.path != path)
        m_result = DecomposeResult();
    Document* doc = find(path);
    if (doc && (doc->edited || isEditMode()) && !doc->photo.isNull())
        takeOver(doc);
    else
        release();
}

bool LabelEditor::showResult(const DecomposeResult& result)
{
    if (result.request.path != m_currentPath)
        return false;
    m_result = result;
    if (!result.ok()) {
        release();
        return false;
    }
    Document* doc = find(result.request.path);
    // Resampled by the job's worker when it drew the result's pictures; a
    // document only ever replaces its base, never writes into it.
    const cv::Mat fresh = result.pictures && !result.pictures->labelsAtOriginalSize.empty()
                              ? result.pictures->labelsAtOriginalSize
                              : result.decomposition->labelsAtOriginalSize();
    if (!doc) {
        // Corrections kept from an earlier session make a document even outside
        // the editing mode, like corrections made in this one.
        const cv::Mat restored = restoredLabels(result, fresh);
        if (restored.empty() && !isEditMode()) {
            release();
            return false;
        }
        doc = createDocument(result, fresh, restored);
        doc->restoreAsked = !result.preview;
        if (!restored.empty())
            doc->refreshEdited();
    } else {
        doc->photo = result.photo;
        doc->image = result.image;
        if (!doc->edited) {
            // Nothing to protect: the image follows its decompositions.
            if (!sameMat(fresh, doc->base) || !sameMat(fresh, doc->labels)) {
                doc->base = fresh;
                doc->labels = fresh.clone();
                doc->stack->clear();
            }
            doc->pending = cv::Mat();
            doc->baseInfo = describe(result);
            restore(doc, result); // a document made from a preview had not asked yet
        } else if (sameMat(fresh, doc->base)) {
            doc->pending = cv::Mat();
        } else {
            doc->pending = fresh;
            doc->pendingInfo = describe(result);
        }
    }
    if (!isEditMode() && !doc->edited) {
        release();
        return false;
    }
    takeOver(doc);
    return true;
}

LabelEditor::LabelRestorer LabelEditor::restorerFor(const QString& path) const
{
    const Document* doc = find(path);
    if (!m_restoreHook || (doc && (doc->restoreAsked || doc->external)))
        return {};
    return m_restoreHook(path);
}

cv::Mat LabelEditor::restoredLabels(const DecomposeResult& result, const cv::Mat& base)
{
    if (result.preview)
        return {};
    cv::Mat restored;
    if (result.pictures && result.pictures->restoreAsked) {
        // Read and applied by the job's worker (DecomposeRequest::restoreLabels).
        restored = result.pictures->restoredLabels;
    } else if (m_restoreHook) {
        // A result the worker did not restore for (its request had no restorer).
        const LabelRestorer restorer = m_restoreHook(result.request.path);
        try {
            if (restorer)
                restored = restorer(base);
        } catch (const std::exception& e) {
            emit restoreFailed(QString::fromStdString(e.what()));
            return {};
        }
    }
    if (restored.empty() || restored.size() != base.size() || restored.type() != base.type())
        return {};
    // The document edits its labels in place; the result's pictures stay as made.
    return restored.clone();
}

bool LabelEditor::restore(Document* doc, const DecomposeResult& result)
{
    if (doc->external || doc->restoreAsked || result.preview)
        return false;
    doc->restoreAsked = true;
    const cv::Mat restored = restoredLabels(result, doc->base);
    if (restored.empty())
        return false;
    doc->labels = restored;
    doc->refreshEdited();
    return true;
}

bool LabelEditor::isExternal(const QString& path) const
{
    const Document* doc = find(path);
    return doc && doc->external;
}

void LabelEditor::takeOver(Document* doc)
{
    m_shown = doc;
    m_undoGroup->setActiveStack(doc->stack);
    if (m_canvas->photo().cacheKey() != doc->photo.cacheKey())
        m_canvas->setPhoto(doc->photo);
    m_canvas->setLabelTable(doc->table);
    m_canvas->setLabels(doc->labels, QRectF(0, 0, doc->labels.cols, doc->labels.rows));
    m_canvas->setEditBase(doc->base);
    m_canvas->setEditingEnabled(isEditMode());
    m_legend->setLabelTable(doc->table);
    m_legend->setAreas(m_canvas->areaFractions());
    updateLabelCombo();
    updateActions();
    emit displayChanged();
}

void LabelEditor::release()
{
    m_canvas->setEditingEnabled(false);
    if (!m_shown) {
        updateActions();
        return;
    }
    m_shown = nullptr;
    m_undoGroup->setActiveStack(nullptr);
    m_canvas->setEditBase(cv::Mat());
    m_canvas->setLabelTable(LabelTable());
    m_legend->setLabelTable(LabelTable());
    updateLabelCombo();
    updateActions();
    emit displayChanged();
}

QString LabelEditor::shownPath() const
{
    return m_shown ? m_shown->path : QString();
}

bool LabelEditor::isEditMode() const
{
    return m_editModeAction->isChecked();
}
cv::Mat LabelEditor::labels(const QString& path) const
{
    const Document* doc = find(path);
    return doc ? doc->labels : cv::Mat();
}

cv::Mat LabelEditor::baseLabels(const QString& path) const
{
    const Document* doc = find(path);
    return doc ? doc->base : cv::Mat();
}

LabelTable LabelEditor::labelTable(const QString& path) const
{
    const Document* doc = find(path);
    return doc ? doc->table : LabelTable();
}

QUndoStack* LabelEditor::undoStack(const QString& path) const
{
    const Document* doc = find(path);
    return doc ? doc->stack : nullptr;
}

QStringList LabelEditor::editedImages() const
{
    QStringList paths;
    for (const auto& entry : m_documents)
        if (entry.second->edited && !entry.second->external)
            paths << entry.first;
    return paths;
}

QStringList LabelEditor::unsavedImages() const
{
    QStringList paths;
    for (const auto& entry : m_documents)
        if (entry.second->edited && !entry.second->external && !entry.second->stack->isClean())
            paths << entry.first;
    return paths;
}

bool LabelEditor::hasNewMasks() const
{
    return m_shown && !m_shown->pending.empty();
}

void LabelEditor::applyPatch(Document* doc, const LabelPatch& patch, bool forward)
{
    primaps::applyPatch(doc->labels, patch, forward);
    if (doc == m_shown)
        m_canvas->applyLabelPatch(patch, forward);
    doc->refreshEdited();
    updateUnsaved();
    updateActions();
    emit labelsChanged();
    emit documentEdited(doc->path);
}

void LabelEditor::applyTable(Document* doc, const LabelTable& table)
{
    doc->table = table;
    doc->refreshEdited();
    if (doc == m_shown) {
        m_canvas->setLabelTable(table);
        m_legend->setLabelTable(table);
        updateLabelCombo();
    }
    updateUnsaved();
    updateActions();
    emit labelsChanged();
}

void LabelEditor::replaceLabels(Document* doc, const cv::Mat& base, const cv::Mat& labels,
                                const cv::Mat& pending)
{
    doc->base = base;
    doc->labels = labels.clone();
    doc->pending = pending;
    doc->refreshEdited();
    if (doc == m_shown)
        takeOver(doc);
    updateUnsaved();
    updateActions();
    emit labelsChanged();
    emit documentEdited(doc->path);
}

bool LabelEditor::pushPatch(Document* doc, const LabelPatch& patch, const QString& text)
{
    if (!doc || patch.empty())
        return false;
    doc->stack->push(new PatchCommand(this, doc, patch, text));
    return true;
}

bool LabelEditor::pushTable(Document* doc, const LabelTable& table, const QString& text)
{
    if (!doc || table == doc->table)
        return false;
    doc->stack->push(new TableCommand(this, doc, doc->table, table, text));
    return true;
}

void LabelEditor::onCanvasEdited(const LabelPatch& patch, const QString& description)
{
    if (!pushPatch(m_shown, patch, description))
        return;
    // Painting with a label makes it part of the map: the combo shows it with pixels now.
    updateLabelCombo();
}

void LabelEditor::setCurrentLabel(int id)
{
    id = std::clamp(id, 0, 255);
    m_currentLabel = id;
    m_canvas->setBrushLabel(id);
    m_legend->setCurrentLabel(id);
    // Choosing a label to paint with means painting, not erasing.
    if (id != 0 && m_eraserAction->isChecked())
        m_brushAction->trigger();
    updateLabelCombo();
    updateActions();
}

int LabelEditor::newLabel()
{
    const Document* doc = ensureDocument();
    LabelCounts counts{};
    LabelTable table;
    if (doc) {
        counts = countLabels(doc->labels);
        table = doc->table;
    }
    for (int id = 1; id < 256; ++id) {
        if (counts[std::size_t(id)] == 0 && !table.hasName(id) && !table.hasColor(id)) {
            setCurrentLabel(id);
            return id;
        }
    }
    return -1;
}

bool LabelEditor::reassignLabel(int from, int to)
{
    if (from < 0 || from > 255 || to < 0 || to > 255)
        return false;
    Document* doc = ensureDocument();
    if (!doc)
        return false;
    const LabelPatch patch = replaceLabelPatch(doc->labels, uchar(from), uchar(to));
    return pushPatch(doc, patch,
                     tr("Reassign %1 to %2").arg(labelTitle(from), labelTitle(to)));
}

bool LabelEditor::reassignSegment(const QPoint& pixel, int to)
{
    if (to < 0 || to > 255)
        return false;
    Document* doc = ensureDocument();
    if (!doc)
        return false;
    const LabelPatch patch = fillRegionPatch(doc->labels, cv::Point(pixel.x(), pixel.y()), uchar(to));
    return pushPatch(doc, patch, tr("Reassign segment to %1").arg(labelTitle(to)));
}

bool LabelEditor::renameLabel(int id, const QString& name)
{
    Document* doc = ensureDocument();
    if (!doc || id < 0 || id > 255)
        return false;
    LabelTable table = doc->table;
    const QString before = labelTitle(id);
    table.setName(id, name.trimmed().toStdString());
    return pushTable(doc, table, tr("Rename %1 to \u201c%2\u201d").arg(before, name.trimmed()));
}

bool LabelEditor::setLabelColor(int id, const QColor& color)
{
    Document* doc = ensureDocument();
    if (!doc || id < 0 || id > 255 || !color.isValid())
        return false;
    LabelTable table = doc->table;
    table.setColor(id, cv::Vec3b(uchar(color.red()), uchar(color.green()), uchar(color.blue())));
    return pushTable(doc, table, tr("Colour of %1").arg(labelTitle(id)));
}

bool LabelEditor::revertToDecomposition()
{
    Document* doc = m_shown;
    if (!doc || sameMat(doc->labels, doc->base))
        return false;
    doc->stack->push(new ReplaceCommand(this, doc, doc->base, doc->base, doc->pending,
                                        tr("Revert to decomposition")));
    return true;
}

bool LabelEditor::useNewMasks()
{
    Document* doc = m_shown;
    if (!doc || doc->pending.empty())
        return false;
    const QString info = doc->pendingInfo;
    doc->stack->push(new ReplaceCommand(this, doc, doc->pending, doc->pending, cv::Mat(),
                                        tr("Use new masks (%1)").arg(info)));
    doc->baseInfo = info;
    return true;
}

std::vector<int> LabelEditor::labelChoices() const
{
    std::vector<int> ids;
    if (m_shown) {
        const std::vector<double>& shares = m_canvas->areaFractions();
        for (std::size_t id = 0; id < shares.size(); ++id)
            if (shares[id] > 0.0)
                ids.push_back(int(id));
        for (const int id : m_shown->table.customisedIds())
            ids.push_back(id);
    }
    ids.push_back(m_currentLabel);
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    // Background last, as in the legend.
    if (!ids.empty() && ids.front() == 0)
        std::rotate(ids.begin(), ids.begin() + 1, ids.end());
    return ids;
}

QString LabelEditor::labelTitle(int id) const
{
    const LabelTable table = m_shown ? m_shown->table : LabelTable();
    const QString name = QString::fromStdString(table.name(id));
    return table.hasName(id) ? QStringLiteral("%1 \u00b7 %2").arg(id).arg(name) : name;
}

void LabelEditor::updateLabelCombo()
{
    const QSignalBlocker blocker(m_labelCombo);
    m_labelCombo->clear();
    const LabelTable table = m_shown ? m_shown->table : LabelTable();
    for (const int id : labelChoices())
        m_labelCombo->addItem(labelSwatch(toQColor(table.color(id))), labelTitle(id), id);
    m_labelCombo->setCurrentIndex(m_labelCombo->findData(m_currentLabel));
}

void LabelEditor::updateUnsaved()
{
    const QStringList unsaved = unsavedImages();
    const bool any = !unsaved.isEmpty();
    if (m_unsavedLabel) {
        if (!any) {
            m_unsavedLabel->setText(editedImages().isEmpty() ? QString()
                                                             : tr("All corrections exported"));
            m_unsavedLabel->setStyleSheet(QStringLiteral("QLabel { color: palette(mid); }"));
            m_unsavedLabel->setToolTip(QString());
        } else {
            m_unsavedLabel->setText(
                unsaved.size() == 1
                    ? tr("\u25cf Unexported corrections in %1").arg(QFileInfo(unsaved.first()).fileName())
                    : tr("\u25cf %1 images with unexported corrections").arg(unsaved.size()));
            m_unsavedLabel->setStyleSheet(QStringLiteral("QLabel { color: #b26a00; }"));
            QStringList names;
            for (const QString& path : unsaved)
                names << QFileInfo(path).fileName();
            m_unsavedLabel->setToolTip(names.join(QLatin1Char('\n')));
        }
    }
    if (any != m_lastUnsaved) {
        m_lastUnsaved = any;
        emit unsavedChanged(any);
    }
}

} // namespace primaps
