// SPDX-License-Identifier: MIT
#pragma once

#include "explore/decomposejob.h"
#include "perspectives.h"

#include <QMainWindow>
#include <QStringList>

class QAction;
class QComboBox;
class QDockWidget;
class QDoubleSpinBox;
class QFrame;
class QLabel;
class QProgressBar;
class QSlider;
class QTimer;
class QToolButton;

namespace primaps {

class CanvasWidget;
class EvaluationWidget;
class FeatureViewWidget;
class FitMonitorWidget;
class ImageListWidget;
class LabelEditor;
class LegendWidget;
class MessageWidget;
class PlaybackPanel;
class SimilarityController;
class ProjectController;
class ReviewController;
class StepperWidget;

/// The PriMaPs Studio window: image list (left), canvas with legend (centre),
/// step list (right), decomposition controls in the tool bar.
///
/// Selecting an image, changing the backbone or (debounced) the threshold sends
/// a request to a DecomposeJob; its results replace what is shown. Nothing slow
/// runs on the GUI thread: decoding, decomposition and exports run elsewhere.
/// Problems are shown in a banner over the canvas and in the status bar.
///
/// The dense CRF (step 5) is a toggle. While the threshold slider is dragged the
/// masks are recomputed without it, one request at a time so that each result
/// is shown as soon as it is ready (the job reuses the image's features, so this
/// keeps up with the hand); on release, and for any other threshold edit, the
/// masks are computed with the CRF when it is on. The before/after view splits
/// the canvas between the masks before and after the CRF.
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

    enum class ExportKind
    {
        Masks,
        Overlay
    };
    /// Writes the current image's mask ids (8-bit PNG, 0 = background, at the
    /// image's resolution) or its overlay (RGB PNG, at the current opacity) to
    /// `path`, on a pool thread; exportFinished() reports the outcome. Overwrites
    /// without asking: the menu actions ask through the file dialog first.
    /// Returns false (and does nothing) when no decomposition is on display.
    bool exportCurrent(const QString& path, ExportKind kind);

    /// The threshold tau in the controls; setting it re-runs the decomposition
    /// after the debounce delay.
    double threshold() const;
    void setThreshold(double tau);
    /// Whether decompositions use the backbone's recommended threshold (no value set by the user).
    bool usesRecommendedThreshold() const { return m_useRecommendedThreshold; }

    /// The result on display (ok() is false before the first one or after an error).
    const DecomposeResult& currentResult() const { return m_current; }
    bool isBusy() const { return m_job->isBusy(); }
    const DecomposeJob* decomposeJob() const { return m_job; }

    /// Whether new decompositions use the dense CRF (the toggle; default on).
    bool isCrfEnabled() const;
    /// The shown result is a live preview without the CRF, to be replaced by a
    /// result with the CRF once the slider is released.
    bool isShowingPreview() const;

    CanvasWidget* canvas() const { return m_canvas; }
    StepperWidget* stepper() const { return m_stepper; }
    /// The Features dock's content: PCA-RGB and each step's direction.
    FeatureViewWidget* featureView() const { return m_features; }
    ImageListWidget* imageList() const { return m_images; }
    LegendWidget* legend() const { return m_legend; }
    /// Label correction: documents per image, undo, Edit menu, label export.
    LabelEditor* labelEditor() const { return m_editor; }
    MessageWidget* messageWidget() const { return m_messages; }
    /// The EM fit monitor dock's content (Fit menu).
    FitMonitorWidget* fitMonitor() const { return m_fitMonitor; }
    /// The Evaluation dock's content (Evaluation menu).
    EvaluationWidget* evaluationView() const { return m_evaluation; }
    /// Evaluation > Evaluate Last Fit: enabled once a fit has finished.
    QAction* evaluateLastFitAction() const { return m_evaluateLastFitAction; }
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
    QSlider* opacitySlider() const { return m_opacitySlider; }
    QSlider* thresholdSlider() const { return m_thresholdSlider; }
    /// Checkable: the dense CRF on or off.
    QAction* crfAction() const { return m_crfAction; }
    /// Checkable: the canvas splits into masks before (left) and after (right) the CRF.
    QAction* compareAction() const { return m_compareAction; }

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
    void createActions();
    void createToolBar();
    void createDocks();
    void createStatusBar();
    void writeSettings();
    void showInPerspective(PerspectiveController::Perspective perspective, QDockWidget* dock);

    void openImagesDialog();
    void openFolderDialog();
    void exportMasks();
    void exportOverlay();
    void showAbout();
    void newFitDialog();
    void resumeFitDialog();

    void onCurrentImageChanged(const QString& path);
    void onDecomposed(const DecomposeResult& result);
    void onBusyChanged(bool busy);
    void onThresholdEdited(double tau);
    void onThresholdDragged(double tau);
    void onThresholdReleased();
    void onJobFinished();
    void onCrfToggled(bool on);
    void onCompareToggled(bool on);
    void onIterationSelected(int index);
    /// Decomposes the current image with the CRF when the toggle is on.
    void submitCurrent();
    void submit(bool crf);
    void updateCrfLabels();
    void showError(const QString& message);
    void updateThresholdControls(double tau);
    void updateActions();
    QString exportSuggestion(const QString& suffix) const;
    QString askSavePath(const QString& title, const QString& suggestion);

    DecomposeJob* m_job = nullptr;
    DecomposeResult m_current;

    CanvasWidget* m_canvas = nullptr;
    LegendWidget* m_legend = nullptr;
    LabelEditor* m_editor = nullptr;
    MessageWidget* m_messages = nullptr;
    ImageListWidget* m_images = nullptr;
    StepperWidget* m_stepper = nullptr;
    FitMonitorWidget* m_fitMonitor = nullptr;
    FeatureViewWidget* m_features = nullptr;
    QDockWidget* m_featuresDock = nullptr;
    QDockWidget* m_fitDock = nullptr;
    EvaluationWidget* m_evaluation = nullptr;
    ReviewController* m_review = nullptr;
    ProjectController* m_project = nullptr;
    PlaybackPanel* m_playback = nullptr;
    SimilarityController* m_similarity = nullptr;
    PerspectiveController* m_perspectives = nullptr;
    QAction* m_evaluateLastFitAction = nullptr;
    QString m_lastFinishedRun; ///< run folder of the last fit that finished
    QDockWidget* m_evaluationDock = nullptr;
    /// A close waits for a running fit to stop at its next step (it keeps its checkpoint).
    bool m_closeAfterFit = false;

    QComboBox* m_backboneCombo = nullptr;
    QSlider* m_thresholdSlider = nullptr;
    QDoubleSpinBox* m_thresholdSpin = nullptr;
    QToolButton* m_thresholdReset = nullptr;
    QSlider* m_opacitySlider = nullptr;
    QLabel* m_opacityValue = nullptr;
    QTimer* m_rerunTimer = nullptr;

    QLabel* m_statusMessage = nullptr;
    QLabel* m_statusTimings = nullptr;
    QLabel* m_statusMasks = nullptr;
    QFrame* m_statusSeparator = nullptr;
    QProgressBar* m_busyBar = nullptr;

    QAction* m_exportMasksAction = nullptr;
    QAction* m_exportOverlayAction = nullptr;
    QAction* m_overlayAction = nullptr;
    QAction* m_zoomInAction = nullptr;
    QAction* m_zoomOutAction = nullptr;
    QAction* m_fitAction = nullptr;
    QAction* m_actualSizeAction = nullptr;
    QAction* m_nextAction = nullptr;
    QAction* m_previousAction = nullptr;
    QAction* m_imagesDockAction = nullptr;
    QAction* m_stepsDockAction = nullptr;
    QAction* m_crfAction = nullptr;
    QAction* m_compareAction = nullptr;

    bool m_useRecommendedThreshold = true;
    double m_recommendedThreshold = 0.0;
    bool m_persistSettings = true;
    // Threshold drag: whether the newest request came from the drag (without
    // the CRF), whether a newer slider value waits for it, and whether the drag
    // moved the value at all.
    bool m_dragRequestInFlight = false;
    bool m_previewPending = false;
    bool m_dragChanged = false;
};

} // namespace primaps
