// SPDX-License-Identifier: MIT
#pragma once

#include "evaluationreport.h"
#include "job.h"

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

/// The evaluation view (DESIGN 5): Acc and mIoU, the confusion matrix as a heat
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
    MessageWidget* messageWidget() const { return m_messages; }
    QCustomPlot* confusionPlot() const { return m_confusionPlot; }
    QCPColorMap* confusionMap() const { return m_colorMap; }
    QCustomPlot* iouPlot() const { return m_iouPlot; }
    /// The IoU bar of class `cls` (one QCPBars per class, so each has its colour).
    QCPBars* iouBars(int cls) const;
    /// Key (x position) of class `cls`'s bar.
    double barKey(int cls) const;
    QTableWidget* matchTable() const { return m_table; }

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

private:
    /// Says so in the banner and returns true while an evaluation runs.
    bool refuseWhileEvaluating();
    struct Outcome;
    void onEvaluationDone();
    void onProgress(quint64 generation, double fraction, const QString& message);
    void rebuild();
    void refreshHeadline();
    void refreshConfusion();
    void refreshBars();
    void refreshTable();
    void applyStyles();
    void saveStyles();
    void onItemChanged(QTableWidgetItem* item);
    void onCellActivated(int row, int column);
    void onConfusionHover(QMouseEvent* event);
    int tableRowClass(int row) const;

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
    QComboBox* m_thetaCombo = nullptr;
    QCheckBox* m_crfCheck = nullptr;
    QPushButton* m_cancelButton = nullptr;
    QProgressBar* m_progress = nullptr;
    QLabel* m_progressLabel = nullptr;
    QCheckBox* m_sortCheck = nullptr;
    QCustomPlot* m_confusionPlot = nullptr;
    QCPColorMap* m_colorMap = nullptr;
    QCustomPlot* m_iouPlot = nullptr;
    QTableWidget* m_table = nullptr;
    QVector<QPushButton*> m_runButtons;
};

} // namespace primaps
