// SPDX-License-Identifier: MIT
#pragma once

#include "explore/decomposejob.h"
#include "labels/labelmap.h"

#include <functional>
#include <map>
#include <memory>
#include <QColor>
#include <QObject>
#include <QPoint>
#include <QStringList>

class QAction;
class QActionGroup;
class QComboBox;
class QLabel;
class QMenu;
class QSpinBox;
class QToolBar;
class QUndoGroup;
class QUndoStack;

namespace primaps {

class CanvasWidget;
class LegendWidget;

/// Correction of pseudo-labels: the editing mode of the studio.
///
/// Edits belong to an image. The first time an image is edited (or shown while
/// the editing mode is on) it gets a document: the label map of its
/// decomposition at the image's resolution, the map as corrected, names and
/// colours of its labels, and an undo stack. Every change (brush stroke, fill,
/// reassigning a segment or a whole label, rename, colour, taking new masks)
/// is an undoable command on that stack; the Edit menu's Undo/Redo follow the
/// image on display. Switching images keeps every document.
///
/// A decomposition arriving for an image whose labels were corrected (a new
/// threshold, the CRF toggled) never replaces the corrections: the canvas keeps
/// showing them, a badge says newer masks exist, and Edit > Use New Masks takes
/// them as an undoable command. An image without corrections simply follows
/// its decompositions.
///
/// The editor drives the canvas and legend it is given and owns the Edit menu,
/// the editing tool bar and the export actions. Threading contract: GUI thread
/// only; exports are encoded and written on a pool thread, from copies.
class LabelEditor : public QObject
{
    Q_OBJECT

public:
    LabelEditor(CanvasWidget* canvas, LegendWidget* legend, QWidget* window);
    ~LabelEditor() override;

    // --- Hooks for the window -------------------------------------------------
    /// The image list selected `path` (its decomposition may come later). A
    /// corrected image is shown at once from its document.
    void setCurrentImage(const QString& path);
    /// A decomposition of the current image was put on the canvas by the
    /// window. Returns true when the editor replaced it with the image's
    /// document (corrected labels, or the editing mode is on).
    bool showResult(const DecomposeResult& result);
    /// Legend caption and canvas badge while a document is on display; call
    /// after the window has set its own.
    void decorate();
    /// Whether the window may close now: asks about corrections that were not
    /// exported (export them, discard, or cancel). Exporting first returns
    /// false and closes the window once the files are written.
    bool maybeClose();

    QMenu* editMenu() const { return m_menu; }
    QToolBar* toolBar() const { return m_toolBar; }
    QAction* editModeAction() const { return m_editModeAction; }
    QAction* exportAction() const { return m_exportAction; }
    QAction* exportAllAction() const { return m_exportAllAction; }
    QAction* undoAction() const { return m_undoAction; }
    QAction* redoAction() const { return m_redoAction; }
    QAction* showEditsOnlyAction() const { return m_editsOnlyAction; }
    QAction* useNewMasksAction() const { return m_useNewAction; }
    QAction* toolAction(int tool) const;

    /// Shows a label map that another part of the studio keeps and stores (a
    /// reviewed image's classes: display id = class + 1, 0 = ignore) as the
    /// document `key`, editable with every tool. `base` is the map the edits
    /// start from, `labels` the map with the edits so far. A document whose base
    /// changed (e.g. a new cluster match) starts a new undo history. The owner
    /// reads labels(key) on labelsChanged() and saves them itself, so such
    /// documents are never "unexported" and not among editedImages().
    void showExternal(const QString& key, const QImage& photo, const cv::Mat& rgb,
                      const cv::Mat& base, const cv::Mat& labels, const LabelTable& table);
    /// Applies `patch` to the shown document as one undoable step named `text`.
    /// False when nothing is shown or the patch is empty.
    bool applyEdit(const LabelPatch& patch, const QString& text);

    // --- State ------------------------------------------------------------------
    bool isEditMode() const;
    void setEditMode(bool on);
    /// The corrected labels of `path` at the image's size (empty without a document).
    cv::Mat labels(const QString& path) const;
    /// The decomposition the corrections of `path` started from.
    cv::Mat baseLabels(const QString& path) const;
    LabelTable labelTable(const QString& path) const;
    QUndoStack* undoStack(const QString& path) const;
    QUndoGroup* undoGroup() const { return m_undoGroup; }
    /// The image whose document is on the canvas (empty when none).
    QString shownPath() const;
    /// Images whose labels or label table differ from their decomposition.
    QStringList editedImages() const;
    /// Edited images with changes that were not exported since.
    QStringList unsavedImages() const;
    /// A newer decomposition of the shown image waits (Use New Masks).
    bool hasNewMasks() const;

    // --- Edits of the shown image (all undoable; false when nothing changed) ---
    int currentLabel() const { return m_currentLabel; }
    void setCurrentLabel(int id);
    /// The smallest id without pixels and without a name; made current. -1 when
    /// all 255 are in use.
    int newLabel();
    /// Every pixel of `from` becomes `to` (reassign a whole mask / merge two).
    bool reassignLabel(int from, int to);
    /// The connected segment at label pixel `pixel` becomes `to`.
    bool reassignSegment(const QPoint& pixel, int to);
    bool renameLabel(int id, const QString& name);
    bool setLabelColor(int id, const QColor& color);
    /// Resets the labels to the decomposition they started from (name and colour stay).
    bool revertToDecomposition();
    /// Replaces the corrected labels with the newest decomposition.
    bool useNewMasks();

    // --- Export -------------------------------------------------------------
    /// Writes the shown image's labels (the decomposition's when not corrected)
    /// to `labelsPath` and the extras in `options`, on a pool thread. Existing
    /// files are replaced only after the overwrite question says yes. Returns
    /// false when nothing is written (no image, or the answer was no);
    /// exportFinished() reports the outcome otherwise.
    bool exportLabels(const QString& labelsPath, const LabelExportOptions& options);
    /// The same for every edited image into `folder`, as <stem>_labels.png.
    bool exportAll(const QString& folder, const LabelExportOptions& options);
    /// The files exportAll(folder, options) would write.
    QStringList exportAllFiles(const QString& folder, const LabelExportOptions& options) const;
    bool isExporting() const { return m_exportsRunning > 0; }

    /// Replaces the "replace these files?" question (default: a message box).
    void setOverwriteQuestion(std::function<bool(const QStringList& existing)> question);
    enum class UnsavedChoice
    {
        Export,
        Discard,
        Cancel
    };
    /// Replaces the question asked on close about unsaved corrections.
    void setUnsavedQuestion(std::function<UnsavedChoice(const QStringList& images)> question);

    // --- Corrections kept by the project --------------------------------------
    /// The labels kept from an earlier session for one image: the decomposition
    /// `base` with its stored corrections applied, or an empty map when there are
    /// none. Runs on any thread (it holds copies of what it needs, no widget);
    /// may throw primaps::Error naming the file.
    using LabelRestorer = std::function<cv::Mat(const cv::Mat& base)>;
    /// The restorer of `path`, or an empty function when it has nothing stored.
    /// Asked on the GUI thread: cheap (no file is read).
    using RestoreHook = std::function<LabelRestorer(const QString& path)>;
    /// Asked once per image document, with its first final (not preview)
    /// decomposition: restored labels become the document's corrected labels.
    void setRestoreHook(RestoreHook hook) { m_restoreHook = std::move(hook); }
    /// For a decomposition request of `path` (DecomposeRequest::restoreLabels):
    /// the hook's restorer while `path`'s document has not asked yet, else empty.
    /// The worker then runs it, and showResult() takes its labels from the
    /// result's pictures instead of reading and applying the corrections itself.
    LabelRestorer restorerFor(const QString& path) const;
    /// Whether `path`'s document belongs to another part of the studio (showExternal()).
    bool isExternal(const QString& path) const;

signals:
    void editModeChanged(bool on);
    /// The shown labels or label table changed.
    void labelsChanged();
    /// The labels of the document `path` changed (an edit, undo, redo, revert).
    void documentEdited(const QString& path);
    /// The editor took over or gave back the canvas; the window refreshes captions.
    void displayChanged();
    void unsavedChanged(bool any);
    /// An export ended; `error` is empty on success.
    void exportFinished(const QStringList& files, const QString& error);
    /// Stored corrections could not be restored; `message` names the file.
    void restoreFailed(const QString& message);

private:
    struct Document;
    class PatchCommand;
    class TableCommand;
    class ReplaceCommand;
    friend class PatchCommand;
    friend class TableCommand;
    friend class ReplaceCommand;

    void createActions();
    void createToolBar();
    Document* find(const QString& path) const;
    Document* ensureDocument();
    /// A document of `result` with `labels` as its base; its labels are
    /// `corrected` when given, else a copy of the base.
    Document* createDocument(const DecomposeResult& result, const cv::Mat& labels,
                             const cv::Mat& corrected = cv::Mat());
    void takeOver(Document* doc);
    void release();
    void applyPatch(Document* doc, const LabelPatch& patch, bool forward);
    void applyTable(Document* doc, const LabelTable& table);
    void replaceLabels(Document* doc, const cv::Mat& base, const cv::Mat& labels,
                       const cv::Mat& pending);
    /// The restore hook's labels for a fresh document; false when there are none.
    bool restore(Document* doc, const DecomposeResult& result);
    /// The restored labels for `result` (of `base`'s size and type), or empty:
    /// made by the worker when the result carries them, else asked here.
    cv::Mat restoredLabels(const DecomposeResult& result, const cv::Mat& base);
    bool pushTable(Document* doc, const LabelTable& table, const QString& text);
    bool pushPatch(Document* doc, const LabelPatch& patch, const QString& text);
    void onCanvasEdited(const LabelPatch& patch, const QString& description);
    void onToolChosen(QAction* action);
    void updateActions();
    void updateLabelCombo();
    void updateUnsaved();
    std::vector<int> labelChoices() const;
    QString labelTitle(int id) const;
    void fillReassignMenu(QMenu* menu, int exclude, const std::function<void(int)>& apply);
    void showLabelMenu(int id, const QPoint& globalPos);
    void showCanvasMenu(const QPoint& pixel, int id, const QPoint& globalPos);
    void askRename(int id);
    void askColor(int id);
    void askMerge();
    void openExportDialog();
    bool openExportAllDialog();
    bool runExport(const std::vector<Document*>& docs, const QStringList& labelPaths,
                   const LabelExportOptions& options);

    CanvasWidget* m_canvas;
    LegendWidget* m_legend;
    QWidget* m_window;
    std::map<QString, std::unique_ptr<Document>> m_documents;
    Document* m_shown = nullptr;
    QString m_currentPath;
    DecomposeResult m_result; // the newest decomposition of the current image
    int m_currentLabel = 1;
    int m_exportsRunning = 0;
    bool m_closeAfterExport = false;
    bool m_lastUnsaved = false;
    std::function<bool(const QStringList&)> m_overwriteQuestion;
    std::function<UnsavedChoice(const QStringList&)> m_unsavedQuestion;
    RestoreHook m_restoreHook;

    QUndoGroup* m_undoGroup = nullptr;
    QMenu* m_menu = nullptr;
    QToolBar* m_toolBar = nullptr;
    QActionGroup* m_tools = nullptr;
    QAction* m_editModeAction = nullptr;
    QAction* m_undoAction = nullptr;
    QAction* m_redoAction = nullptr;
    QAction* m_navigateAction = nullptr;
    QAction* m_brushAction = nullptr;
    QAction* m_eraserAction = nullptr;
    QAction* m_fillAction = nullptr;
    QAction* m_pickerAction = nullptr;
    QAction* m_smallerAction = nullptr;
    QAction* m_largerAction = nullptr;
    QAction* m_newLabelAction = nullptr;
    QAction* m_mergeAction = nullptr;
    QAction* m_renameAction = nullptr;
    QAction* m_colorAction = nullptr;
    QAction* m_editsOnlyAction = nullptr;
    QAction* m_useNewAction = nullptr;
    QAction* m_revertAction = nullptr;
    QAction* m_exportAction = nullptr;
    QAction* m_exportAllAction = nullptr;
    QComboBox* m_labelCombo = nullptr;
    QSpinBox* m_radiusSpin = nullptr;
    QLabel* m_unsavedLabel = nullptr;
};

} // namespace primaps
