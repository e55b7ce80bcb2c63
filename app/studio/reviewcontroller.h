// SPDX-License-Identifier: MIT
#pragma once

#include "runs/classtable.h"
#include "labels/corrections.h"
#include "dataset/dataset.h"
#include "labels/labelmap.h"
#include "runs/matchedits.h"
#include "runs/runreview.h"

#include <map>
#include <memory>
#include <QObject>
#include <QPoint>
#include <QString>
#include <vector>

class QAction;
class QActionGroup;
class QComboBox;
class QDockWidget;
class QGraphicsPathItem;
class QLabel;
class QToolBar;

namespace primaps {

class DatasetBrowserWidget;
class MainWindow;
class MaskVoteWidget;
class ReviewJob;
struct ReviewOpenResult;

/// Reviewing a fitted run (or a dataset) in the studio: the Dataset dock (the
/// split's images), the Review tool bar (layers, θ, CRF, the image's Acc and
/// mIoU), the Mask vote dock, File ▸ Open Dataset… / Open Run…, and the link to
/// the Evaluation dock, whose editable match maps clusters to classes for every
/// class-space layer.
///
/// The review is "active" while the canvas shows a dataset image; choosing a
/// loose image in the Images dock hands the canvas back to the decomposition.
/// All slow work runs in ReviewJob; the GUI thread only maps, colours and draws
/// prepared-size maps. The match lives in RUN_DIR/match.json and the class
/// table in RUN_DIR/classes.json; both are written on every change.
///
/// Threading: GUI thread only.
class ReviewController : public QObject
{
    Q_OBJECT

public:
    enum class Layer
    {
        Photo,
        GroundTruth,
        Masks,
        PseudoLabel,
        Prediction,
        Errors,
    };
    Q_ENUM(Layer)
    /// "photo", "gt", "masks", "pseudo", "prediction", "errors" and back (false: unknown).
    static QString layerName(Layer layer);
    static bool layerFromName(const QString& name, Layer* layer);

    explicit ReviewController(MainWindow* window);
    ~ReviewController() override;

    /// Opens a fitted run on `dataset` (empty root: the run's own validation
    /// split), in the background; runOpened() tells the outcome.
    void openRun(const QString& runDir, const DatasetOptions& dataset = {});
    /// Opens a dataset split without a run: photos and ground truth.
    void openDataset(const DatasetOptions& dataset);
    /// Shows the image named `nameOrPath` (id, path relative to the root, or
    /// file stem). False when the open dataset has no such image.
    bool selectImage(const QString& nameOrPath);
    void selectIndex(int datasetIndex);
    int currentIndex() const { return m_index; }

    bool isActive() const { return m_active; }
    bool hasRun() const;
    QString runDir() const;

    Layer layer() const { return m_layer; }
    void setLayer(Layer layer);
    /// θ ("m" or "r") and the CRF of the prediction layer and of the metrics.
    void setPrediction(const QString& theta, bool crf);
    ReviewPrediction prediction() const { return m_prediction; }

    /// The review on display (null before the first one).
    std::shared_ptr<const ImageReview> currentReview() const { return m_review; }
    /// Cluster -> class of the edited match (empty until the split is counted or
    /// match.json was read).
    const std::vector<int>& clusterToClass() const { return m_clusterToClass; }
    const ClassTable& classTable() const { return m_classes; }
    /// Replaces the class table (same class count) and saves it in the run folder.
    void setClassTable(const ClassTable& table);
    /// The current image's numbers under the current match; pixels = 0 when unknown.
    ImageMetrics currentMetrics() const { return m_metrics; }
    /// The split's counts (null until counted).
    std::shared_ptr<const SplitCounts> splitCounts() const { return m_counts; }
    /// The map a layer shows (display ids: class + 1 for class layers, 0 = no
    /// class / no truth; mask ids; 1 correct, 2 wrong, 3 unpredicted for errors).
    cv::Mat layerMap(Layer layer, bool corrected = true) const;
    /// Names and colours of `layer`'s display ids.
    LabelTable layerTable(Layer layer) const;

    /// Corrections (class space): the shown class layer is edited in the label
    /// editor; each edit becomes a correction map of the image, kept in memory
    /// until flushCorrections() writes it to the store (autosave, image switch,
    /// close). The correction of `id`: pending, else stored; empty when none.
    cv::Mat correctionOf(const std::string& id) const;
    const CorrectionStore& correctionStore() const { return m_store; }
    bool hasPendingCorrections() const { return !m_pendingCorrections.empty(); }
    /// Writes pending corrections; false (reported) when one could not be written.
    bool flushCorrections();
    /// Gives every pixel of PriMaPs mask `mask` the class `cls` (-1: ignore) in
    /// the shown class layer, as one undoable edit.
    bool setMaskClass(int mask, int cls);

    /// The pseudo-label layer's answer to a click at `photoPixel` (prepared
    /// image pixels): selects that mask, outlines it and shows its vote.
    /// Returns the mask id (0 when the click was on background).
    int inspectMask(const QPoint& photoPixel);
    int inspectedMask() const { return m_inspectedMask; }

    DatasetBrowserWidget* browser() const { return m_browser; }
    MaskVoteWidget* voteView() const { return m_vote; }
    ReviewJob* job() const { return m_job; }
    QToolBar* toolBar() const { return m_toolBar; }
    QAction* layerAction(Layer layer) const;
    QAction* openRunAction() const { return m_openRunAction; }
    QAction* openDatasetAction() const { return m_openDatasetAction; }
    /// File ▸ Export Pseudo-Label Dataset… (enabled with a run).
    QAction* exportAction() const { return m_exportAction; }
    /// File ▸ Import Corrections… (enabled with a run).
    QAction* importAction() const { return m_importAction; }
    QLabel* metricsLabel() const { return m_metricsLabel; }

signals:
    /// A run or dataset was opened (ok) or could not be (error says why).
    void opened(bool ok, const QString& error);
    /// The current image's layer is on the canvas (ok) or the image could not be
    /// reviewed (`error` says why, naming the file).
    void layerShown(bool ok, const QString& error);
    /// The split's per-image metrics are known (or could not be computed).
    void metricsReady(bool ok);
    /// The user changed something worth saving (a correction, the match, a class).
    void edited();
    /// Another image was chosen after edits of the previous one (autosave point).
    void imageSwitched();

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    void createActions();
    void createDocks();
    void openRunDialog();
    void openDatasetDialog();
    void openExportDialog();
    /// File ▸ Import Corrections…: ImportCorrectionsDialog on the run, modal.
    void openImportDialog();
    void onOpened(const ReviewOpenResult& result);
    void onReviewed(int index, std::shared_ptr<const ImageReview> review, const QString& error);
    void onCountsFinished(std::shared_ptr<const SplitCounts> counts, const QString& error);
    void onMatchEdited(const MatchEdits& edits);
    void onClassesEdited();
    void setActive(bool active);
    void requestCurrent();
    void showLayer();
    void updateMetrics();
    void updateListMetrics();
    void clearOutline();
    void saveMatch();
    bool isEditableLayer() const;
    QString editorKey() const;
    void onEditorChanged();
    void updateCorrectionSummary();

    MainWindow* m_window;
    ReviewJob* m_job = nullptr;
    DatasetBrowserWidget* m_browser = nullptr;
    QDockWidget* m_browserDock = nullptr;
    MaskVoteWidget* m_vote = nullptr;
    QDockWidget* m_voteDock = nullptr;
    QToolBar* m_toolBar = nullptr;
    QActionGroup* m_layerGroup = nullptr;
    QComboBox* m_thetaCombo = nullptr;
    QAction* m_crfAction = nullptr;
    QLabel* m_metricsLabel = nullptr;
    QLabel* m_correctionsLabel = nullptr;
    QAction* m_openRunAction = nullptr;
    QAction* m_openDatasetAction = nullptr;
    QAction* m_exportAction = nullptr;
    QAction* m_importAction = nullptr;
    QGraphicsPathItem* m_outline = nullptr;

    bool m_active = false;
    int m_index = -1;
    Layer m_layer = Layer::PseudoLabel;
    ReviewPrediction m_prediction;
    std::shared_ptr<const ImageReview> m_review;
    std::shared_ptr<const SplitCounts> m_counts;
    QString m_fitNote; ///< the split holds images the run was fitted on (ReviewOpenResult)
    std::vector<int> m_clusterToClass;
    ClassTable m_classes;
    ImageMetrics m_metrics;
    int m_inspectedMask = 0;
    CorrectionStore m_store;
    std::map<std::string, cv::Mat> m_pendingCorrections;
    QPoint m_pressPos{-1, -1};
    /// The canvas's viewport, whose clicks inspect masks; kept so that eventFilter()
    /// can recognise it without calling into a window that may be half destroyed.
    QObject* m_canvasViewport = nullptr;
};

} // namespace primaps
