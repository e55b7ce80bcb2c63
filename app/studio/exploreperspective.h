// SPDX-License-Identifier: MIT
#pragma once

#include "explore/decomposejob.h"

#include <QObject>
#include <QString>

class QAction;
class QComboBox;
class QDockWidget;
class QDoubleSpinBox;
class QFrame;
class QLabel;
class QMenu;
class QSlider;
class QTimer;
class QToolButton;

namespace primaps {

class FeatureViewWidget;
class ImageListWidget;
class MainWindow;
class StepperWidget;

/// The Explore perspective's wiring: the Images, PriMaPs steps and Features
/// docks, the decomposition tool bar (backbone, threshold, CRF, before/after,
/// overlay, zoom), the Decompose menu, the View menu's canvas actions, the
/// export of the current masks and overlay, and the DecomposeJob that feeds
/// the canvas, the legend, the step list and the feature view.
///
/// Selecting an image, changing the backbone or (debounced) the threshold sends
/// a request to the DecomposeJob; its results replace what is shown. The dense
/// CRF (step 5) is a toggle. While the threshold slider is dragged the masks are
/// recomputed without it, one request at a time so that each result is shown
/// as soon as it is ready (the job reuses the image's features, so this keeps
/// up with the hand); on release, and for any other threshold edit, the masks
/// are computed with the CRF when it is on. The before/after view splits the
/// canvas between the masks before and after the CRF.
///
/// The canvas, legend, message banner and label editor are the window's (every
/// perspective shows them); this class drives them for Explore. GUI thread only.
class ExplorePerspective : public QObject
{
    Q_OBJECT

public:
    enum class ExportKind
    {
        Masks,
        Overlay
    };

    /// Creates the job and the docks (call before the menus).
    explicit ExplorePerspective(MainWindow* window);
    ~ExplorePerspective() override;
    /// Stops and deletes the job (the window calls it before its widgets go).
    void stopJob();

    /// File menu: Export Masks, Export Overlay, Export Feature View.
    void addFileActions(QMenu* file);
    /// View menu: zoom, overlay, before/after, next/previous image, the docks.
    void addViewActions(QMenu* view);
    /// The Decompose menu: Dense CRF and Backbones….
    void createDecomposeMenu();
    /// The decomposition tool bar (after the menus: it shows their actions).
    void createToolBar();
    /// Enables what needs a result (call once everything exists).
    void updateActions();

    void restoreSettings();
    void writeSettings() const;

    bool exportCurrent(const QString& path, ExportKind kind);

    double threshold() const;
    void setThreshold(double tau);
    bool usesRecommendedThreshold() const { return m_useRecommendedThreshold; }
    const DecomposeResult& currentResult() const { return m_current; }
    DecomposeJob* job() const { return m_job; }
    bool isCrfEnabled() const;
    bool isShowingPreview() const;

    StepperWidget* stepper() const { return m_stepper; }
    FeatureViewWidget* featureView() const { return m_features; }
    ImageListWidget* imageList() const { return m_images; }
    QSlider* opacitySlider() const { return m_opacitySlider; }
    QSlider* thresholdSlider() const { return m_thresholdSlider; }
    QAction* crfAction() const { return m_crfAction; }
    QAction* compareAction() const { return m_compareAction; }
    /// The status bar's read-out of the image on display (shown in Explore and Annotate).
    QWidget* statusWidget() const { return m_statusBox; }
    /// Backbone, threshold, CRF, before/after and edit mode in the tool bar:
    /// hidden where the canvas shows another image than Explore's (Review).
    void setDecomposeControlsVisible(bool visible);

signals:
    void decompositionShown(bool ok);
    void exportFinished(const QString& path, const QString& error);

private:
    void createDocks();
    void createStatusWidgets();
    /// Asks for a file name (suggested beside the image) and exports there.
    void askAndExport(ExportKind kind);

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
    /// The canvas, legend, step list, feature view and status without a result.
    void clearResult();
    /// Decomposes the current image with the CRF when the toggle is on.
    void submitCurrent();
    void submit(bool crf);
    void updateCrfLabels();
    void updateThresholdControls(double tau);

    MainWindow* m_window;
    DecomposeJob* m_job = nullptr;
    DecomposeResult m_current;

    ImageListWidget* m_images = nullptr;
    StepperWidget* m_stepper = nullptr;
    FeatureViewWidget* m_features = nullptr;
    QDockWidget* m_imagesDock = nullptr;
    QDockWidget* m_stepsDock = nullptr;
    QDockWidget* m_featuresDock = nullptr;

    QComboBox* m_backboneCombo = nullptr;
    QSlider* m_thresholdSlider = nullptr;
    QDoubleSpinBox* m_thresholdSpin = nullptr;
    QToolButton* m_thresholdReset = nullptr;
    QSlider* m_opacitySlider = nullptr;
    QLabel* m_opacityValue = nullptr;
    QTimer* m_rerunTimer = nullptr;

    QLabel* m_statusTimings = nullptr;
    QWidget* m_statusBox = nullptr;
    QList<QAction*> m_decomposeOnlyActions;
    QLabel* m_statusMasks = nullptr;
    QFrame* m_statusSeparator = nullptr;
    /// "Computing…" while a decomposition runs: a still label, not an
    /// indeterminate progress bar, whose animation repainted the window 30
    /// times a second for as long as the decomposition and its CRF ran.
    QLabel* m_busyLabel = nullptr;

    QAction* m_exportMasksAction = nullptr;
    QAction* m_exportOverlayAction = nullptr;
    QAction* m_overlayAction = nullptr;
    QAction* m_zoomInAction = nullptr;
    QAction* m_zoomOutAction = nullptr;
    QAction* m_fitAction = nullptr;
    QAction* m_actualSizeAction = nullptr;
    QAction* m_crfAction = nullptr;
    QAction* m_compareAction = nullptr;

    bool m_useRecommendedThreshold = true;
    double m_recommendedThreshold = 0.0;
    // Threshold drag: whether the newest request came from the drag (without
    // the CRF), whether a newer slider value waits for it, and whether the drag
    // moved the value at all.
    bool m_dragRequestInFlight = false;
    bool m_previewPending = false;
    bool m_dragChanged = false;
};

} // namespace primaps
