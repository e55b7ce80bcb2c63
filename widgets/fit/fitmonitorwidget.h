// SPDX-License-Identifier: MIT
#pragma once

#include "fit/fitcontroller.h"

#include <map>
#include <QList>
#include <QWidget>

class QCheckBox;
class QCPAbstractItem;
class QCPAxisRect;
class QCPGraph;
class QCPItemStraightLine;
class QCPItemText;
class QCustomPlot;
class QLabel;
class QMouseEvent;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QTimer;

namespace primaps {

class EmptyPlotCover;

class MessageWidget;

/// The EM fit monitor (docs/ARCHITECTURE.md, "Widgets: fit"): runs a dataset fit through a FitController
/// and shows it while it runs: stage, epoch, step, progress and ETA; the loss
/// of each step (k-means and EM on their own axes), the validation metrics and
/// the share of pixels with a pseudo-label, and the EMA decay, over the steps,
/// in three plots that share the step axis. Pause/Resume and Cancel; a canceled
/// or failed fit keeps its checkpoint and Continue picks it up. A resumed run
/// shows its earlier steps too, with a marker where it resumed.
///
/// Hovering the plots reads out every value at that step; the loss axis can be
/// logarithmic; the plots export as PNG. Errors go to the banner on top (and
/// errorOccurred()), never to a dialog. Replots are coalesced, so a fast fit
/// does not slow the window down.
class FitMonitorWidget : public QWidget
{
    Q_OBJECT

public:
    /// The plotted series.
    enum class Series
    {
        KMeansLoss,
        EmLoss,
        Labelled, ///< pixels with a pseudo-label, percent
        ValAcc,
        ValMiou,
        EmaDecay,
    };

    explicit FitMonitorWidget(QWidget* parent = nullptr);
    ~FitMonitorWidget() override;

    FitController* controller() const { return m_controller; }
    MessageWidget* messageWidget() const { return m_messages; }
    QCustomPlot* plot() const { return m_plot; }

    /// Clears the plots and starts a fit. Returns false while another runs.
    bool startFit(const DatasetOptions& dataset, const FitRunSettings& settings);
    /// Continues the run in `runDir` with the settings of its run.json. Shows
    /// the problem in the banner and returns false when it is not a run folder.
    bool resumeRun(const QString& runDir);
    /// Continues the last fit from its checkpoint (after a cancel or a failure).
    bool continueFit();
    /// Shows the fit of the run folder `runDir` without running anything: its
    /// title, and its steps and validations as far as its checkpoint goes (read
    /// in the background; the plot fills when they are read, and runShown() is
    /// emitted). Returns false, with the problem in the banner, while a fit runs
    /// or when `runDir` has no readable run.json.
    bool showRun(const QString& runDir);

    int pointCount(Series series) const;
    /// The value of `series` at `step` (NaN when it has no point there).
    double valueAt(Series series, double step) const;

    /// The cap the EMA decay's warm-up ramps to, drawn as a dashed line (the
    /// shown fit's EmParams::emaDecay).
    double emaCap() const { return m_emaCap; }
    /// What the EMA decay plot shows, for its tooltip and legend entry.
    QString emaExplanation() const;

    bool isLogScale() const { return m_logScale; }
    void setLogScale(bool on);
    /// Saves the plots as PNG at their current size (at least 800 x 600).
    /// Returns false and sets `error` when the file cannot be written.
    bool exportPng(const QString& path, QString* error = nullptr);

    /// Moves the read-out (and the cursor line) to `step`; < 0 hides it.
    void showValuesAt(double step);
    QString hoverText() const;
    /// The current stage line ("PriMaPs-EM · epoch 3 of 50 · step 120 of 1000").
    QString statusText() const;
    /// The one-line outcome of the last fit (empty while none ended).
    QString summaryText() const;

    QProgressBar* progressBar() const { return m_progress; }
    QPushButton* pauseButton() const { return m_pause; }
    QPushButton* cancelButton() const { return m_cancel; }
    QPushButton* continueButton() const { return m_continue; }

signals:
    void errorOccurred(const QString& message);
    /// A fit ended (see FitOutcome::state).
    void fitFinished(const primaps::FitOutcome& outcome);
    void runningChanged(bool running);
    /// showRun() has plotted the run's history.
    void runShown();

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    struct StepRecord
    {
        QString stage;
        int epoch = 0;
        int epochs = 0;
    };

    void buildPlot();
    void clearPlot();
    void onStarted();
    void onProgress(const JobProgress& progress);
    void onHistory(const FitHistory& history);
    /// Adds the steps and validations of a checkpoint to the plot.
    void plotHistory(const FitHistory& history);
    /// The title line of a fit: method, dataset, classes, epochs, run folder.
    void setFitTitle(const DatasetOptions& dataset, const FitRunSettings& settings);
    void setEmaCap(double cap);
    /// The run folder of the current or the shown fit ("" when none).
    QString currentRunDir() const;
    void onFinished(const FitOutcome& outcome);
    void onStateChanged(JobState state);
    void addValues(qint64 step, const QString& stage,
                   const std::vector<std::pair<std::string, double>>& values);
    void addMarker(double step, const QString& text);
    void scheduleReplot();
    void replotNow();
    void rescale();
    /// Phase labels stacked where they would overlap; the no-validation note
    /// away from the pseudo-label line.
    void placeLabels();
    void onPlotMouseMove(QMouseEvent* event);
    void updateButtons();
    void appendLog(const QString& line);
    void exportDialog();
    void openRunFolder();
    QCPGraph* graph(Series series) const;
    QString stageTitle(const QString& stage) const;

    FitController* m_controller = nullptr;
    MessageWidget* m_messages = nullptr;
    QLabel* m_title = nullptr;
    QLabel* m_status = nullptr;
    QLabel* m_eta = nullptr;
    QProgressBar* m_progress = nullptr;
    QPushButton* m_pause = nullptr;
    QPushButton* m_cancel = nullptr;
    QPushButton* m_continue = nullptr;
    QPushButton* m_openFolder = nullptr;
    QPushButton* m_export = nullptr;
    QCheckBox* m_logBox = nullptr;
    QLabel* m_readout = nullptr;
    QPlainTextEdit* m_log = nullptr;

    QCustomPlot* m_plot = nullptr;
    QCPAxisRect* m_lossRect = nullptr;
    QCPAxisRect* m_metricRect = nullptr;
    QCPAxisRect* m_emaRect = nullptr;
    std::map<Series, QCPGraph*> m_graphs;
    QCPItemStraightLine* m_cursor[3] = {nullptr, nullptr, nullptr};
    QCPItemText* m_noValidation = nullptr;
    QCPItemStraightLine* m_emaCapLine = nullptr;
    QLabel* m_legend = nullptr;
    QCPItemText* m_emaWarmupNote = nullptr;
    static constexpr double kEmaMargin = 0.08; ///< below 0 and above 1 on the decay axis
    QCPItemText* m_emaCapLabel = nullptr;
    static constexpr double kDefaultEmaCap = 0.98; ///< EmParams::emaDecay's default
    double m_emaCap = kDefaultEmaCap;
    QList<QCPAbstractItem*> m_markers; ///< phase and resume markers of the current fit
    QTimer* m_replotTimer = nullptr;

    std::map<qint64, StepRecord> m_steps;
    qint64 m_totalSteps = 0;
    QString m_lastStage;
    QString m_statusText;
    QString m_hoverText;
    QString m_summaryText;
    bool m_logScale = false;
    bool m_hasValidation = false;
    QString m_shownRun; ///< showRun()'s folder, until a fit starts
    EmptyPlotCover* m_emptyCover = nullptr; ///< the plot's state before the first step
};

} // namespace primaps
