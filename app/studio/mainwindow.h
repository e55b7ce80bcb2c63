// SPDX-License-Identifier: MIT
#pragma once

#include "exploreperspective.h"
#include "perspectives.h"

#include <QMainWindow>
#include <QStringList>

class QAction;
class QDockWidget;
class QLabel;
class QMenu;

namespace primaps {

class AnnotatePerspective;
class CanvasWidget;
class EvaluatePerspective;
class EvaluationWidget;
class FeatureViewWidget;
class FitMonitorWidget;
class FitPerspective;
class ImageListWidget;
class LabelEditor;
class LegendWidget;
class MessageWidget;
class PlaybackPanel;
class SimilarityController;
class ProjectController;
class ReviewController;
class StepperWidget;

/// The PriMaPs Studio window: it assembles the perspectives. The window owns
/// what every perspective shows — the canvas with its legend and message
/// banner in the centre, the menu bar, the status bar's message — and creates
/// one wiring object per perspective, which adds its docks, menus and tool bars
/// and connects them: ExplorePerspective (image list, steps, features, the
/// decomposition tool bar and job), ReviewController (Review), FitPerspective,
/// EvaluatePerspective, AnnotatePerspective (the label editor). The features that
/// span perspectives have controllers of their own (ProjectController,
/// PlaybackPanel, SimilarityController); PerspectiveController switches the dock
/// arrangements.
///
/// Nothing slow runs on the GUI thread: decoding, decomposition and exports run
/// elsewhere. Problems are shown in a banner over the canvas and in the status bar.
class MainWindow : public QMainWindow
{
    Q_OBJECT

public:
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    /// Opens `paths` (files or folders), or the bundled samples when it is
    /// empty, and decomposes the first image.
    void openInitial(const QStringList& paths);
    /// Adds files or folders to the image list and shows the first new image.
    void openPaths(const QStringList& paths);
    /// The bundled samples: the installed ones (share/primaps-studio/samples) where
    /// they are, else copies of the compiled-in ones in the cache folder, extracted
    /// on first use (core reads files, not Qt resources). Returns the paths that exist.
    QStringList bundledSamples();

    /// Restores window geometry, dock layout, overlay opacity, backbone, the
    /// CRF toggle and the before/after view from QSettings. Not done by the
    /// constructor, so that screenshots and tests start from the defaults.
    void restoreSettings();
    /// Whether closing the window stores those settings (default: yes).
    void setPersistSettings(bool persist);
    bool persistsSettings() const { return m_persistSettings; }

    using ExportKind = ExplorePerspective::ExportKind;
    /// Writes the current image's mask ids (8-bit PNG, 0 = background, at the
    /// image's resolution) or its overlay (RGB PNG, at the current opacity) to
    /// `path`, on a pool thread; exportFinished() reports the outcome. Overwrites
    /// without asking: the menu actions ask through the file dialog first.
    /// Returns false (and does nothing) when no decomposition is on display.
    bool exportCurrent(const QString& path, ExportKind kind)
    {
        return m_explore->exportCurrent(path, kind);
    }

    /// The threshold tau in the controls; setting it re-runs the decomposition
    /// after the debounce delay.
    double threshold() const { return m_explore->threshold(); }
    void setThreshold(double tau) { m_explore->setThreshold(tau); }
    /// Whether decompositions use the backbone's recommended threshold (no value set by the user).
    bool usesRecommendedThreshold() const { return m_explore->usesRecommendedThreshold(); }

    /// The result on display (ok() is false before the first one or after an error).
    const DecomposeResult& currentResult() const { return m_explore->currentResult(); }
    bool isBusy() const { return m_explore->job()->isBusy(); }
    const DecomposeJob* decomposeJob() const { return m_explore->job(); }

    /// Whether new decompositions use the dense CRF (the toggle; default on).
    bool isCrfEnabled() const { return m_explore->isCrfEnabled(); }
    /// The shown result is a live preview without the CRF, to be replaced by a
    /// result with the CRF once the slider is released.
    bool isShowingPreview() const { return m_explore->isShowingPreview(); }

    CanvasWidget* canvas() const { return m_canvas; }
    LegendWidget* legend() const { return m_legend; }
    MessageWidget* messageWidget() const { return m_messages; }
    StepperWidget* stepper() const { return m_explore->stepper(); }
    /// The Features dock's content: PCA-RGB and each step's direction.
    FeatureViewWidget* featureView() const { return m_explore->featureView(); }
    ImageListWidget* imageList() const { return m_explore->imageList(); }
    /// Label correction: documents per image, undo, Edit menu, label export.
    LabelEditor* labelEditor() const;
    /// The EM fit monitor dock's content (Fit menu).
    FitMonitorWidget* fitMonitor() const;
    /// The Evaluation dock's content (Evaluation menu).
    EvaluationWidget* evaluationView() const;
    /// Evaluation > Evaluate Last Fit: enabled once a fit has finished.
    QAction* evaluateLastFitAction() const;
    /// Reviewing a fitted run or a dataset (Dataset dock, Review tool bar).
    ReviewController* reviewController() const { return m_review; }
    /// The project file, autosave and crash recovery (File menu).
    ProjectController* projectController() const { return m_project; }
    /// Step-through playback of the iterations and its export (Playback dock).
    PlaybackPanel* playbackPanel() const { return m_playback; }
    /// Ctrl+click similarity and the PCA-RGB fitted across images.
    SimilarityController* similarityController() const { return m_similarity; }
    /// Explore / Review / Fit / Evaluate / Annotate and their dock arrangements.
    PerspectiveController* perspectives() const { return m_perspectives; }
    QSlider* opacitySlider() const { return m_explore->opacitySlider(); }
    QSlider* thresholdSlider() const { return m_explore->thresholdSlider(); }
    /// Checkable: the dense CRF on or off.
    QAction* crfAction() const { return m_explore->crfAction(); }
    /// Checkable: the canvas splits into masks before (left) and after (right) the CRF.
    QAction* compareAction() const { return m_explore->compareAction(); }

    /// The File and View menus, which the perspectives and controllers add to.
    QMenu* fileMenu() const { return m_fileMenu; }
    /// The File menu's separator after the actions that open something: other
    /// parts of the window insert their open actions before it, their exports
    /// right after it.
    QAction* fileOpenSeparator() const { return m_fileOpenSeparator; }
    QMenu* viewMenu() const { return m_viewMenu; }
    /// A dock of the studio: movable, closable, floatable, in `area`; its object
    /// name is what the saved dock arrangements know it by.
    QDockWidget* addStudioDock(const QString& title, const QString& objectName, QWidget* content,
                               Qt::DockWidgetArea area);
    enum class StatusKind
    {
        Normal,
        Error
    };
    /// Whose a status message is: Explore's (its image, also shown in Annotate),
    /// the Fit's, or whichever perspective is current (Any).
    enum class StatusOwner
    {
        Any,
        Explore,
        Fit
    };
    /// A message in the status bar (red for an error). A message owned by a
    /// perspective shows while that perspective is current, and again when the
    /// user comes back to it; another perspective's status bar does not show it.
    void showStatus(const QString& message, StatusKind kind = StatusKind::Normal,
                    StatusOwner owner = StatusOwner::Any);
    /// The status message on display (empty when the current perspective has none).
    QString statusText() const;
    /// A problem: in the banner over the canvas and, red, in the status bar.
    void showError(const QString& message);

signals:
    /// The newest decomposition of the selected image is on display (ok) or
    /// failed and its error is shown (not ok).
    void decompositionShown(bool ok);
    /// An export ended; `error` is empty on success.
    void exportFinished(const QString& path, const QString& error);

protected:
    void closeEvent(QCloseEvent* event) override;
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    void createCentralArea();
    void createMenus();
    void writeSettings();
    void openImagesDialog();
    void openFolderDialog();
    void showAbout();

    CanvasWidget* m_canvas = nullptr;
    LegendWidget* m_legend = nullptr;
    MessageWidget* m_messages = nullptr;
    QLabel* m_statusMessage = nullptr;
    struct OwnedStatus
    {
        QString text;
        StatusKind kind = StatusKind::Normal;
    };
    OwnedStatus m_exploreStatus;
    OwnedStatus m_fitStatus;
    void displayStatus(const QString& message, StatusKind kind);
    /// The current perspective's status: its message, Explore's status widgets.
    void updatePerspectiveStatus();
    QMenu* m_fileMenu = nullptr;
    QAction* m_fileOpenSeparator = nullptr;
    QMenu* m_viewMenu = nullptr;

    ExplorePerspective* m_explore = nullptr;
    AnnotatePerspective* m_annotate = nullptr;
    FitPerspective* m_fit = nullptr;
    EvaluatePerspective* m_evaluate = nullptr;
    ReviewController* m_review = nullptr;
    ProjectController* m_project = nullptr;
    PlaybackPanel* m_playback = nullptr;
    SimilarityController* m_similarity = nullptr;
    PerspectiveController* m_perspectives = nullptr;
    bool m_persistSettings = true;
};

} // namespace primaps
