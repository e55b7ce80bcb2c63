// SPDX-License-Identifier: MIT
#include "labeleditor.h"
#include "backgroundpool.h"

#include "canvaswidget.h"
#include "exportfolder.h"
#include "labelexportdialog.h"
#include "legendwidget.h"
#include "messagewidget.h"

#include <algorithm>
#include <opencv2/core.hpp>
#include <QAction>
#include <QActionGroup>
#include <QColorDialog>
#include <QComboBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileInfo>
#include <QFutureWatcher>
#include <QHBoxLayout>
#include <QInputDialog>
#include <QLabel>
#include <QMainWindow>
#include <QMenu>
#include <QMessageBox>
#include <QPainter>
#include <QPixmap>
#include <QPushButton>
#include <QSet>
#include <QSettings>
#include <QSpinBox>
#include <QStatusBar>
#include <QToolBar>
#include <QtConcurrent/QtConcurrentRun>
#include <QUndoGroup>
#include <QUndoStack>
#include <QVBoxLayout>

namespace primaps {

namespace {

bool sameMat(const cv::Mat& a, const cv::Mat& b)
{
    if (a.empty() || b.empty())
        return a.empty() && b.empty();
    return a.size() == b.size() && a.type() == b.type() && cv::norm(a, b, cv::NORM_INF) == 0.0;
}

QString describe(const DecomposeResult& result)
{
    const bool crf = result.decomposition && result.decomposition->crfApplied;
    return LabelEditor::tr("%1, \u03c4 = %2, %3")
        .arg(result.backboneName)
        .arg(double(result.threshold), 0, 'f', 2)
        .arg(crf ? LabelEditor::tr("CRF") : LabelEditor::tr("no CRF"));
}

QColor toQColor(const cv::Vec3b& rgb)
{
    return QColor(rgb[0], rgb[1], rgb[2]);
}

QIcon swatch(const QColor& color)
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

struct ExportJob
{
    QString path; ///< the image, to find its document again
    int undoIndex = 0;
    LabelExportFiles files;
    cv::Mat labels;
    LabelTable table;
    cv::Mat image;
    std::string imageName;
};

} // namespace

struct LabelEditor::Document
{
    QString path;
    QImage photo;
    cv::Mat image;   ///< RGB at the original size, for overlays
    cv::Mat base;    ///< the decomposition the corrections started from
    cv::Mat labels;  ///< the corrected map (same size)
    cv::Mat pending; ///< a newer decomposition that was not taken (empty: none)
    QString baseInfo;
    QString pendingInfo;
    LabelTable table;
    QUndoStack* stack = nullptr;
    bool edited = false; ///< labels differ from base, or the table is customised
    bool external = false; ///< kept and saved by its owner (showExternal())
    bool restoreAsked = false; ///< the restore hook was asked for this document

    void refreshEdited() { edited = !table.empty() || !sameMat(labels, base); }
};

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

LabelEditor::Document* LabelEditor::find(const QString& path) const
{
    const auto it = m_documents.find(path);
    return it == m_documents.end() ? nullptr : it->second.get();
}

LabelEditor::Document* LabelEditor::createDocument(const DecomposeResult& result,
                                                   const cv::Mat& labels)
{
    auto doc = std::make_unique<Document>();
    doc->path = result.request.path;
    doc->photo = result.photo;
    doc->image = result.image;
    doc->base = labels;
    doc->labels = labels.clone();
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
    const cv::Mat fresh = result.decomposition->labelsAtOriginalSize();
    if (!doc) {
        // Corrections kept from an earlier session make a document even outside
        // the editing mode, like corrections made in this one.
        const cv::Mat restored = restoredLabels(result.request.path, fresh, result.preview);
        if (restored.empty() && !isEditMode()) {
            release();
            return false;
        }
        doc = createDocument(result, fresh);
        doc->restoreAsked = !result.preview;
        if (!restored.empty()) {
            doc->labels = restored;
            doc->refreshEdited();
        }
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

cv::Mat LabelEditor::restoredLabels(const QString& path, const cv::Mat& base, bool preview) const
{
    if (!m_restoreHook || preview)
        return {};
    const cv::Mat restored = m_restoreHook(path, base);
    if (restored.empty() || restored.size() != base.size() || restored.type() != base.type())
        return {};
    return restored.clone();
}

bool LabelEditor::restore(Document* doc, const DecomposeResult& result)
{
    if (doc->external || doc->restoreAsked || result.preview)
        return false;
    doc->restoreAsked = true;
    const cv::Mat restored = restoredLabels(doc->path, doc->base, false);
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
        m_labelCombo->addItem(swatch(toQColor(table.color(id))), labelTitle(id), id);
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

void LabelEditor::fillReassignMenu(QMenu* menu, int exclude,
                                   const std::function<void(int)>& apply)
{
    const LabelTable table = m_shown ? m_shown->table : LabelTable();
    for (const int id : labelChoices()) {
        if (id == exclude)
            continue;
        QAction* action = menu->addAction(swatch(toQColor(table.color(id))), labelTitle(id));
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
        from->addItem(swatch(toQColor(table.color(id))), labelTitle(id), id);
        to->addItem(swatch(toQColor(table.color(id))), labelTitle(id), id);
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

namespace {

LabelExportOptions savedOptions(float opacity)
{
    QSettings settings;
    LabelExportOptions options;
    options.colorPng = settings.value(QStringLiteral("labels/color"), true).toBool();
    options.overlayPng = settings.value(QStringLiteral("labels/overlay"), false).toBool();
    options.sidecar = settings.value(QStringLiteral("labels/sidecar"), true).toBool();
    options.overlayOpacity = opacity;
    return options;
}

void saveOptions(const LabelExportOptions& options, const QString& folder)
{
    QSettings settings;
    settings.setValue(QStringLiteral("labels/color"), options.colorPng);
    settings.setValue(QStringLiteral("labels/overlay"), options.overlayPng);
    settings.setValue(QStringLiteral("labels/sidecar"), options.sidecar);
    settings.setValue(QStringLiteral("paths/labels"), folder);
}

QStringList toQStrings(const std::vector<std::string>& paths)
{
    QStringList list;
    for (const std::string& path : paths)
        list << QString::fromStdString(path);
    return list;
}

} // namespace

void LabelEditor::openExportDialog()
{
    const QString image = m_shown ? m_shown->path : m_result.request.path;
    if (image.isEmpty())
        return;
    const QFileInfo info(image);
    const QString folder =
        QSettings().value(QStringLiteral("paths/labels"), defaultExportFolder(image)).toString();
    LabelExportDialog dialog(
        LabelExportDialog::Mode::File,
        QDir::toNativeSeparators(QDir(folder).filePath(info.completeBaseName() +
                                                       QStringLiteral("_labels.png"))),
        savedOptions(float(m_canvas->overlayOpacity())),
        [](const QString& target, const LabelExportOptions& options) {
            return toQStrings(labelExportFiles(QDir::fromNativeSeparators(target).toStdString(),
                                               options)
                                  .all());
        },
        m_window);
    if (dialog.exec() != QDialog::Accepted)
        return;
    const QString target = QDir::fromNativeSeparators(dialog.target());
    saveOptions(dialog.options(), QFileInfo(target).absolutePath());
    exportLabels(target, dialog.options());
}

bool LabelEditor::openExportAllDialog()
{
    if (editedImages().isEmpty())
        return false;
    QSettings settings;
    const QString folder =
        settings.value(QStringLiteral("paths/labels"), defaultExportFolder(editedImages().first()))
            .toString();
    LabelExportDialog dialog(
        LabelExportDialog::Mode::Folder, QDir::toNativeSeparators(folder),
        savedOptions(float(m_canvas->overlayOpacity())),
        [this](const QString& target, const LabelExportOptions& options) {
            return exportAllFiles(QDir::fromNativeSeparators(target), options);
        },
        m_window);
    if (dialog.exec() != QDialog::Accepted)
        return false;
    const QString target = QDir::fromNativeSeparators(dialog.target());
    saveOptions(dialog.options(), target);
    return exportAll(target, dialog.options());
}

bool LabelEditor::exportLabels(const QString& labelsPath, const LabelExportOptions& options)
{
    Document* doc = ensureDocument();
    if (!doc || labelsPath.isEmpty())
        return false;
    return runExport({doc}, {labelsPath}, options);
}

namespace {

// <stem>_labels.png per image; images of the same name from different folders
// get -2, -3, ... so that none overwrites another (nor an image named <stem>-2;
// compared without case, for the file systems that ignore it).
QStringList uniqueLabelNames(const QStringList& images, const QString& folder)
{
    QStringList names;
    QSet<QString> used;
    for (const QString& image : images) {
        const QString stem = QFileInfo(image).completeBaseName();
        QString unique = stem;
        for (int n = 2; used.contains(unique.toLower()); ++n)
            unique = QStringLiteral("%1-%2").arg(stem).arg(n);
        used.insert(unique.toLower());
        names << QDir(folder).filePath(unique + QStringLiteral("_labels.png"));
    }
    return names;
}

} // namespace

QStringList LabelEditor::exportAllFiles(const QString& folder,
                                        const LabelExportOptions& options) const
{
    QStringList files;
    if (folder.isEmpty())
        return files;
    for (const QString& path : uniqueLabelNames(editedImages(), folder))
        files << toQStrings(labelExportFiles(path.toStdString(), options).all());
    return files;
}

bool LabelEditor::exportAll(const QString& folder, const LabelExportOptions& options)
{
    const QStringList images = editedImages();
    if (images.isEmpty() || folder.isEmpty())
        return false;
    if (!QDir().mkpath(folder)) {
        if (auto* messages = m_window->findChild<MessageWidget*>())
            messages->showMessage(
                tr("Cannot create the folder '%1'.").arg(QDir::toNativeSeparators(folder)));
        return false;
    }
    std::vector<Document*> docs;
    for (const QString& image : images)
        docs.push_back(find(image));
    return runExport(docs, uniqueLabelNames(images, folder), options);
}

bool LabelEditor::runExport(const std::vector<Document*>& docs, const QStringList& labelPaths,
                            const LabelExportOptions& options)
{
    std::vector<ExportJob> jobs;
    QStringList files, existing;
    for (std::size_t i = 0; i < docs.size(); ++i) {
        ExportJob job;
        job.path = docs[i]->path;
        job.undoIndex = docs[i]->stack->index();
        job.files = labelExportFiles(labelPaths[int(i)].toStdString(), options);
        // Copies: the pool thread must not see later edits.
        job.labels = docs[i]->labels.clone();
        job.table = docs[i]->table;
        job.image = options.overlayPng ? docs[i]->image : cv::Mat();
        job.imageName = QFileInfo(docs[i]->path).fileName().toStdString();
        for (const QString& file : toQStrings(job.files.all())) {
            files << file;
            if (QFileInfo::exists(file))
                existing << file;
        }
        jobs.push_back(std::move(job));
    }
    if (!existing.isEmpty() && !(m_overwriteQuestion && m_overwriteQuestion(existing)))
        return false;

    ++m_exportsRunning;
    const float opacity = options.overlayOpacity;
    auto* watcher = new QFutureWatcher<QString>(this);
    connect(watcher, &QFutureWatcher<QString>::finished, this, [this, watcher, jobs, files] {
        const QString error = watcher->result();
        watcher->deleteLater();
        --m_exportsRunning;
        if (error.isEmpty()) {
            // Exported as they are now: nothing unsaved, unless edited meanwhile.
            for (const ExportJob& job : jobs) {
                Document* doc = find(job.path);
                if (doc && doc->stack->index() == job.undoIndex)
                    doc->stack->setClean();
            }
        }
        updateUnsaved();
        if (auto* window = qobject_cast<QMainWindow*>(m_window)) {
            window->statusBar()->showMessage(
                error.isEmpty()
                    ? (files.size() == 1
                           ? tr("Saved %1").arg(QDir::toNativeSeparators(files.first()))
                           : tr("Saved %1 and %2 more files")
                                 .arg(QDir::toNativeSeparators(files.first()))
                                 .arg(files.size() - 1))
                    : error,
                8000);
        }
        if (!error.isEmpty())
            if (auto* messages = m_window->findChild<MessageWidget*>())
                messages->showMessage(error);
        emit exportFinished(files, error);
        if (m_closeAfterExport) {
            m_closeAfterExport = false;
            if (error.isEmpty() && unsavedImages().isEmpty())
                m_window->close();
        }
    });
    watcher->setFuture(QtConcurrent::run(backgroundPool(), [jobs, opacity] {
        try {
            for (const ExportJob& job : jobs)
                writeLabelExport(job.files, job.labels, job.table, job.image, job.imageName,
                                 opacity);
            return QString();
        } catch (const std::exception& e) {
            return QString::fromLocal8Bit(e.what());
        }
    }));
    return true;
}

void LabelEditor::setOverwriteQuestion(std::function<bool(const QStringList&)> question)
{
    m_overwriteQuestion = std::move(question);
}

void LabelEditor::setUnsavedQuestion(std::function<UnsavedChoice(const QStringList&)> question)
{
    m_unsavedQuestion = std::move(question);
}

bool LabelEditor::maybeClose()
{
    m_canvas->finishStroke();
    const QStringList unsaved = unsavedImages();
    if (unsaved.isEmpty())
        return true;
    switch (m_unsavedQuestion ? m_unsavedQuestion(unsaved) : UnsavedChoice::Cancel) {
    case UnsavedChoice::Discard:
        return true;
    case UnsavedChoice::Cancel:
        return false;
    case UnsavedChoice::Export:
        m_closeAfterExport = openExportAllDialog();
        return false;
    }
    return false;
}

} // namespace primaps
