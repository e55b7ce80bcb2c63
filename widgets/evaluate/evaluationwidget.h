// SPDX-License-Identifier: MIT
#pragma once

#include "runs/classtable.h"
#include "runs/evaluationreport.h"
#include "support/job.h"
#include "runs/matchedits.h"

#include <memory>
#include <QColor>
#include <QFutureWatcher>
#include <QString>
#include <QVector>
#include <QWidget>

class QCheckBox;
class QComboBox;
class QCPBars;
class QCPColorMap;
class QCustomPlot;
class QLabel;
class QProgressBar;
class QPushButton;
class QTableWidget;
class QTableWidgetItem;
class QUndoStack;
class QHBoxLayout;

namespace primaps {

class MessageWidget;

/// Name and colour the user gave a ground-truth class.
struct ClassStyle
{
    QString name;
    QColor color;
};

/// Reads a class-style file (JSON: format "primaps-class-styles", classes with
/// id, name and "#rrggbb" colour) into `styles`, overwriting the ids it names
/// and leaving the others. Returns an error message, or an empty string.
QString readClassStyles(const QString& path, QVector<ClassStyle>& styles);
/// Writes `styles` as such a file (atomically). Returns an error message, or an
/// empty string.
QString writeClassStyles(const QString& path, const QVector<ClassStyle>& styles);
/// Where the class styles of a results file live: "eval.json" -> "eval.classes.json".
QString classStylesPath(const QString& resultsPath);

/// The evaluation view (docs/ARCHITECTURE.md, "Widgets: evaluate"): Acc and mIoU, the confusion matrix as a heat
/// map (rows ground-truth classes, columns clusters ordered by their matched
/// class, each row normalised to its class's pixels; hovering shows the counts),
/// per-class IoU bars in the classes' colours (optionally sorted), and the
/// cluster-to-class match table whose class names and colours are editable. The
/// styles are saved beside the results file on every edit and read back with it.
///
/// Results come from an `eval --json` file (openResults()) or from evaluating a
/// finished run folder (evaluateRun()): the same core EvaluationJob as `primaps
/// eval`, run with QtConcurrent; opening the run, the backbone and the dataset
/// happen on the worker too, progress arrives through queued calls, cancel()
/// never blocks. The result is written to RUN_DIR/eval_theta_<m|r>[_crf].json so
/// that it can be opened again and the styles have a home. Errors go to the
/// banner, never to a dialog or an exception.
///
/// Threading: GUI thread only. The destructor cancels a running evaluation and
/// waits for it.
class EvaluationWidget : public QWidget
{
    Q_OBJECT

public:
    explicit EvaluationWidget(QWidget* parent = nullptr);
    ~EvaluationWidget() override;

    /// Reads an evaluation JSON (small: on the calling thread). Returns false and
    /// shows the error in the banner when it cannot be read; the view keeps what
    /// it showed.
    bool openResults(const QString& path);
    /// Shows `report`; `resultsPath` (may be empty) is where its styles are kept.
    void setReport(const EvaluationReport& report, const QString& resultsPath = {});
    bool hasReport() const { return m_hasReport; }
    const EvaluationReport& report() const { return m_report; }
    QString resultsPath() const { return m_resultsPath; }

    /// Starts evaluating the finished fit in `runDir` in the background on its
    /// validation split (run.json's val_split, else "val" for the benchmark
    /// datasets, else the fitted split), with theta_M ("m") or theta_R ("r") and
    /// optionally the dense CRF. Returns false while another evaluation runs.
    bool evaluateRun(const QString& runDir, const QString& theta = QStringLiteral("m"),
                     bool crf = false);
    bool isEvaluating() const { return m_watcher.isRunning(); }
    /// Blocks until a running evaluation has been delivered (tests, shutdown).
    bool waitForEvaluation(int timeoutMs = -1);

    int classCount() const { return int(m_styles.size()); }
    QString className(int cls) const;
    QColor classColor(int cls) const;
    /// Renames a class (an empty name restores the file's name) and saves the styles.
    void setClassName(int cls, const QString& name);
    void setClassColor(int cls, const QColor& color);

    bool sortedBars() const { return m_sortedBars; }
    void setSortedBars(bool sorted);

    /// Text of the hover tip of the heat map cell in `row` (class) and `column`
    /// (position in the column order); empty outside the matrix.
    QString cellToolTip(int row, int column) const;
    /// Cluster id shown in each heat map column, left to right.
    const QVector<int>& columnClusters() const { return m_columnClusters; }

    QLabel* headline() const { return m_headline; }
    /// The line under the headline naming the run, dataset, split, prototypes
    /// and CRF of the numbers shown (what the file does not record, it says so).
    QLabel* provenanceLabel() const { return m_provenance; }
    /// That line's text for `from`.
    static QString provenanceText(const EvaluationProvenance& from);
    /// The settings of the next "Evaluate run…": the prototypes ("m" or "r")
    /// and the CRF. Loading results sets them to those of the results; when
    /// they differ from the results shown, nextRunNote() says so.
    QString nextRunTheta() const;
    bool nextRunCrf() const;
    void setNextRunSettings(const QString& theta, bool crf);
    /// "next run: …; shown: …" while the settings differ from the results
    /// shown; hidden otherwise.
    QLabel* nextRunNote() const { return m_nextRunNote; }
    MessageWidget* messageWidget() const { return m_messages; }
    QCustomPlot* confusionPlot() const { return m_confusionPlot; }
    QCPColorMap* confusionMap() const { return m_colorMap; }
    QCustomPlot* iouPlot() const { return m_iouPlot; }
    /// The IoU bar of class `cls` (one QCPBars per class, so each has its colour).
    QCPBars* iouBars(int cls) const;
    /// Key (x position) of class `cls`'s bar.
    double barKey(int cls) const;
    QTableWidget* matchTable() const { return m_table; }

    // --- Match editing (evaluationmatchedit.cpp) --------------------------------
    /// The user's overrides, merges and ignored clusters on top of the computed
    /// match. The metrics, heat map, bars and table show the edited match,
    /// recomputed from the stored confusion counts (no re-prediction).
    const MatchEdits& matchEdits() const { return m_edits; }
    /// The match after the edits (class per cluster, -1 = ignored, kinds).
    const EditedMatch& editedMatch() const { return m_edited; }
    /// evaluate()'s own result for the counts, before any edit.
    const EvaluationResult& computedResult() const { return m_computed; }
    /// Replaces the edits without an undo step (e.g. read from match.json).
    /// Returns false and shows the error when they do not fit the counts.
    bool setMatchEdits(const MatchEdits& edits);
    /// One undoable step to `edits`, named `text` ("Cluster 3 → road").
    bool editMatch(const MatchEdits& edits, const QString& text);
    bool overrideCluster(int cluster, int cls);
    bool mergeCluster(int cluster, int into);
    bool setClusterIgnored(int cluster, bool ignored);
    /// Takes back every edit of `cluster`.
    bool resetCluster(int cluster);
    QUndoStack* matchUndoStack() const { return m_matchUndo; }
    /// How `cluster` got its class, as the table's Match column says it.
    QString matchKindText(int cluster) const;
    /// The context menu of a table row's cluster (tests call it with a position).
    void showMatchMenu(const QPoint& tablePos);

    /// The dataset-wide class table: names and colours of every class. With a
    /// `savePath` (RUN_DIR/classes.json) edits are saved there instead of in a
    /// sidecar beside the results file.
    void setClassTable(const ClassTable& table, const QString& savePath = {});
    ClassTable classTable() const;

    /// Table columns.
    enum Column
    {
        ClusterColumn,
        ClassColumn,
        ColorColumn,
        KindColumn,
        IoUColumn,
        ShareColumn,
        ColumnCount
    };

public slots:
    void cancel();
    /// Asks for a results file and opens it.
    void chooseResults();
    /// Asks for a run folder and evaluates it with the panel's theta and CRF choice.
    void chooseRun();

signals:
    void reportChanged();
    void classStylesChanged();
    void evaluatingChanged(bool running);
    /// The edited match changed (an edit, undo or redo): `edits` is the new state.
    void matchEditsChanged(const primaps::MatchEdits& edits);

private:
    /// Says so in the banner and returns true while an evaluation runs.
    bool refuseWhileEvaluating();
    struct Outcome;
    void onEvaluationDone();
    void onProgress(quint64 generation, double fraction, const QString& message);
    void rebuild();
    void refreshHeadline();
    void updateNextRunNote();
    void refreshConfusion();
    void refreshBars();
    void refreshTable();
    void applyStyles();
    void saveStyles();
    void onItemChanged(QTableWidgetItem* item);
    void onCellActivated(int row, int column);
    void onConfusionHover(QMouseEvent* event);
    int tableRowClass(int row) const;
    void createMatchEditing(QHBoxLayout* bar);
    void applyMatchEdits(const MatchEdits& edits);

    EvaluationReport m_report;
    bool m_hasReport = false;
    QString m_resultsPath;
    QVector<ClassStyle> m_styles;
    QVector<int> m_columnClusters;
    QVector<int> m_barOrder; ///< class at each bar position
    QVector<QCPBars*> m_bars;
    bool m_sortedBars = false;
    bool m_updatingTable = false;

    QFutureWatcher<std::shared_ptr<Outcome>> m_watcher;
    std::shared_ptr<JobControl> m_control;
    quint64 m_generation = 0;

    MessageWidget* m_messages = nullptr;
    QLabel* m_headline = nullptr;
    QLabel* m_provenance = nullptr;
    QComboBox* m_thetaCombo = nullptr;
    QCheckBox* m_crfCheck = nullptr;
    QLabel* m_nextRunNote = nullptr;
    QPushButton* m_cancelButton = nullptr;
    QProgressBar* m_progress = nullptr;
    QLabel* m_progressLabel = nullptr;
    QCheckBox* m_sortCheck = nullptr;
    QCustomPlot* m_confusionPlot = nullptr;
    QCPColorMap* m_colorMap = nullptr;
    QCustomPlot* m_iouPlot = nullptr;
    QTableWidget* m_table = nullptr;
    QVector<QPushButton*> m_runButtons;

    EvaluationResult m_computed;
    MatchEdits m_edits;
    EditedMatch m_edited;
    QUndoStack* m_matchUndo = nullptr;
    QString m_classTablePath;
    friend class MatchEditCommand;
};

} // namespace primaps
