// SPDX-License-Identifier: MIT
// The fit monitor: starts, resumes and continues a fit through FitController, and
// shows its stage, progress, log and outcome. The loss and metric plot is in
// fitmonitorplot.cpp.
#include "fit/fitmonitorwidget.h"

#include "fit/fitmonitorwidget_p.h"
#include "common/messagewidget.h"
#include "common/emptyplotcover.h"

#include <cmath>
#include <qcustomplot.h>
#include <QCheckBox>
#include <QDir>
#include <QHBoxLayout>
#include <QLabel>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSplitter>
#include <QTimer>
#include <QVBoxLayout>

namespace primaps {

using namespace fitmonitor;

namespace {

// Often enough to look live, rarely enough that thousands of steps per second
// cost the GUI thread next to nothing.
constexpr int kReplotDelayMs = 100;

QString nativePath(const std::string& path)
{
    return QDir::toNativeSeparators(QString::fromStdString(path));
}

QString methodName(EmMethod method)
{
    return method == EmMethod::KMeans ? FitMonitorWidget::tr("k-means baseline")
                                      : FitMonitorWidget::tr("PriMaPs-EM");
}

} // namespace

FitMonitorWidget::FitMonitorWidget(QWidget* parent) : QWidget(parent)
{
    m_controller = new FitController(this);
    connect(m_controller, &FitController::started, this, &FitMonitorWidget::onStarted);
    connect(m_controller, &FitController::progressed, this, &FitMonitorWidget::onProgress);
    connect(m_controller, &FitController::historyLoaded, this, &FitMonitorWidget::onHistory);
    connect(m_controller, &FitController::logLine, this, &FitMonitorWidget::appendLog);
    connect(m_controller, &FitController::stateChanged, this, &FitMonitorWidget::onStateChanged);
    connect(m_controller, &FitController::finished, this, &FitMonitorWidget::onFinished);

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 6, 6, 6);
    layout->setSpacing(4);

    m_messages = new MessageWidget(this);
    layout->addWidget(m_messages);

    m_title = new QLabel(this);
    m_title->setWordWrap(true);
    m_title->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_title->setText(tr("No fit yet. Start one with Fit \u25b8 New Fit\u2026, or continue a run "
                        "folder with Fit \u25b8 Resume Fit\u2026"));
    layout->addWidget(m_title);

    auto* statusRow = new QHBoxLayout;
    m_status = new QLabel(this);
    m_status->setTextFormat(Qt::PlainText);
    QFont bold = m_status->font();
    bold.setBold(true);
    m_status->setFont(bold);
    m_status->setWordWrap(true);
    m_status->setTextInteractionFlags(Qt::TextSelectableByMouse);
    statusRow->addWidget(m_status, 1);
    m_eta = new QLabel(this);
    m_eta->setAlignment(Qt::AlignRight | Qt::AlignVCenter);
    m_eta->setToolTip(tr("Time left in the current stage, estimated from its progress so far "
                         "(pauses excluded)"));
    statusRow->addWidget(m_eta);
    layout->addLayout(statusRow);

    m_progress = new QProgressBar(this);
    m_progress->setRange(0, 1000);
    m_progress->setValue(0);
    m_progress->setFormat(QStringLiteral("%p %"));

    // One row: progress, then the controls.
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(m_progress, 1);
    m_pause = new QPushButton(tr("Pause"), this);
    m_pause->setToolTip(tr("Hold the fit after the current step; Resume goes on"));
    connect(m_pause, &QPushButton::clicked, this, [this] {
        if (m_controller->isPaused())
            m_controller->resume();
        else
            m_controller->pause();
    });
    buttons->addWidget(m_pause);
    m_cancel = new QPushButton(tr("Cancel"), this);
    m_cancel->setToolTip(tr("Stop after the current step. The caches and the checkpoint are "
                            "kept: Continue, or Fit \u25b8 Resume Fit\u2026, picks the run up"));
    connect(m_cancel, &QPushButton::clicked, m_controller, &FitController::cancel);
    buttons->addWidget(m_cancel);
    m_continue = new QPushButton(tr("Continue"), this);
    m_continue->setToolTip(tr("Resume the last fit from its checkpoint"));
    connect(m_continue, &QPushButton::clicked, this, &FitMonitorWidget::continueFit);
    buttons->addWidget(m_continue);
    buttons->addSpacing(12);
    m_logBox = new QCheckBox(tr("Log loss axis"), this);
    m_logBox->setToolTip(tr("Logarithmic scale for the EM loss"));
    connect(m_logBox, &QCheckBox::toggled, this, &FitMonitorWidget::setLogScale);
    buttons->addWidget(m_logBox);
    m_export = new QPushButton(tr("Export PNG\u2026"), this);
    m_export->setToolTip(tr("Save the plots as a PNG image"));
    connect(m_export, &QPushButton::clicked, this, &FitMonitorWidget::exportDialog);
    buttons->addWidget(m_export);
    m_openFolder = new QPushButton(tr("Open Run Folder"), this);
    m_openFolder->setToolTip(tr("Show the run folder (prototypes, history, checkpoint) in the "
                                "file manager"));
    connect(m_openFolder, &QPushButton::clicked, this, &FitMonitorWidget::openRunFolder);
    buttons->addWidget(m_openFolder);
    layout->addLayout(buttons);

    // Plots left, log right: the plots get the height, the log the side.
    auto* splitter = new QSplitter(Qt::Horizontal, this);
    splitter->setChildrenCollapsible(false);
    auto* plotColumn = new QWidget(splitter);
    auto* plotLayout = new QVBoxLayout(plotColumn);
    plotLayout->setContentsMargins(0, 0, 0, 0);
    plotLayout->setSpacing(2);
    auto* legend = m_legend = new QLabel(plotColumn);
    legend->setTextFormat(Qt::RichText);
    const auto swatch = [](const QColor& colour, const QString& name) {
        return QStringLiteral("<span style='color:%1'>&#9632;</span>&nbsp;%2")
            .arg(colour.name(), name.toHtmlEscaped());
    };
    legend->setText(QStringList{
        swatch(kEmColour, tr("EM focal loss (left axis)")),
        swatch(kKMeansColour, tr("k-means loss (right axis)")),
        swatch(kMiouColour, tr("validation mIoU")), swatch(kAccColour, tr("validation Acc")),
        swatch(kLabelledColour, tr("pixels with a pseudo-label")),
        swatch(kEmaColour, tr("EMA decay \u03b2 of \u03b8_M (ramps from 0 to its cap)"))}
                        .join(QStringLiteral("&nbsp;&nbsp;&nbsp; ")));
    legend->setWordWrap(true);
    legend->setToolTip(emaExplanation());
    plotLayout->addWidget(legend);
    m_plot = new QCustomPlot(plotColumn);
    m_plot->setMinimumHeight(260);
    m_plot->setMouseTracking(true);
    m_plot->installEventFilter(this);
    m_plot->setToolTip(tr("Hover to read the values at a step"));
    buildPlot();
    connect(m_plot, &QCustomPlot::mouseMove, this, &FitMonitorWidget::onPlotMouseMove);
    plotLayout->addWidget(m_plot, 1);
    m_emptyCover = new EmptyPlotCover(
        m_plot,
        [this] {
            for (const auto& entry : m_graphs)
                if (!entry.second->data()->isEmpty())
                    return false;
            return true;
        },
        tr("No fit yet.\nThe loss, mIoU and decay curves appear here with the first steps of a "
           "fit (Fit \u25b8 New Fit\u2026 or Resume Fit\u2026)."));

    m_readout = new QLabel(plotColumn);
    m_readout->setTextFormat(Qt::PlainText);
    m_readout->setText(tr("Hover the plots to read the values at a step."));
    m_readout->setStyleSheet(QStringLiteral("color: palette(placeholder-text);"));
    plotLayout->addWidget(m_readout);

    m_log = new QPlainTextEdit(splitter);
    m_log->setReadOnly(true);
    m_log->setMaximumBlockCount(1000);
    m_log->setLineWrapMode(QPlainTextEdit::WidgetWidth);
    m_log->setPlaceholderText(tr("Log: the dataset, what the caches held, resume notes and "
                                 "problems with single images"));
    m_log->setMinimumWidth(180);
    splitter->addWidget(plotColumn);
    splitter->addWidget(m_log);
    splitter->setStretchFactor(0, 4);
    splitter->setStretchFactor(1, 1);
    layout->addWidget(splitter, 1);

    m_replotTimer = new QTimer(this);
    m_replotTimer->setSingleShot(true);
    m_replotTimer->setInterval(kReplotDelayMs);
    connect(m_replotTimer, &QTimer::timeout, this, &FitMonitorWidget::replotNow);

    updateButtons();
}

FitMonitorWidget::~FitMonitorWidget()
{
    // The controller joins its thread; its last signals must not reach the
    // plot, which goes first among the children.
    m_controller->disconnect(this);
    delete m_controller;
    m_controller = nullptr;
}
bool FitMonitorWidget::startFit(const DatasetOptions& dataset, const FitRunSettings& settings)
{
    if (m_controller->isRunning())
        return false;
    clearPlot();
    m_log->clear();
    m_status->setStyleSheet(QString());
    m_status->setToolTip(QString());
    m_summaryText.clear();
    m_shownRun.clear();
    setFitTitle(dataset, settings);
    m_logBox->setEnabled(settings.em.method == EmMethod::PrimapsEm);
    return m_controller->start(dataset, settings);
}

bool FitMonitorWidget::resumeRun(const QString& runDir)
{
    try {
        const FitRunFolder run = readFitRunFolder(runDir.toStdString());
        FitRunSettings settings = run.settings;
        settings.restart = false;
        if (m_controller->isRunning()) {
            m_messages->showMessage(tr("A fit is running; cancel it before resuming another."));
            return false;
        }
        return startFit(run.dataset, settings);
    } catch (const std::exception& e) {
        const QString message = tr("Cannot resume: %1").arg(QString::fromLocal8Bit(e.what()));
        m_messages->showMessage(message);
        emit errorOccurred(message);
        return false;
    }
}

bool FitMonitorWidget::continueFit()
{
    FitRunSettings settings = m_controller->settings();
    settings.restart = false;
    return startFit(m_controller->datasetOptions(), settings);
}

void FitMonitorWidget::onStarted()
{
    m_statusText = tr("Preparing: listing the dataset and loading the backbone\u2026");
    m_status->setText(m_statusText);
    m_eta->clear();
    m_progress->setRange(0, 0); // busy until the first report
    updateButtons();
    emit runningChanged(true);
}

QString FitMonitorWidget::stageTitle(const QString& stage) const
{
    if (stage == QLatin1String("features"))
        return tr("Caching features");
    if (stage == QLatin1String("student features"))
        return tr("Caching student features");
    if (stage == QLatin1String("masks"))
        return tr("Computing PriMaPs masks");
    if (stage == QLatin1String("pca"))
        return tr("PCA initialisation");
    if (stage == QLatin1String("k-means"))
        return m_controller->settings().em.method == EmMethod::KMeans ? tr("k-means baseline")
                                                                      : tr("k-means warm start");
    if (stage == QLatin1String("em"))
        return tr("PriMaPs-EM");
    if (stage == QLatin1String("validation"))
        return tr("Validating");
    return stage;
}

void FitMonitorWidget::onProgress(const JobProgress& p)
{
    const QString stage = QString::fromStdString(p.stage);
    const bool perImage = stage == QLatin1String("features") ||
                          stage == QLatin1String("student features") ||
                          stage == QLatin1String("masks");
    if (m_progress->maximum() == 0)
        m_progress->setRange(0, 1000);
    m_progress->setValue(int(std::lround(std::clamp(p.fraction, 0.0, 1.0) * 1000)));
    QString text = stageTitle(stage);
    if (perImage) {
        text += tr(" \u00b7 image %1 of %2").arg(p.step).arg(p.totalSteps);
    } else if (stage == QLatin1String("validation")) {
        text += tr(" \u00b7 %1 \u00b7 at step %2 of %3")
                    .arg(QString::fromStdString(p.message))
                    .arg(p.step)
                    .arg(p.totalSteps);
    } else if (stage == QLatin1String("pca")) {
        // The core reports the initialisation's own progress ("PCA initialisation:
        // 3 of 11 images (whitening)", "... k-means restart 4 of 16"); the fit's
        // step counter stays at 0 until it is done and would say nothing.
        if (!p.message.empty())
            text = QString::fromStdString(p.message);
    } else {
        if (p.epochs > 0)
            text += tr(" \u00b7 epoch %1 of %2").arg(p.epoch + 1).arg(p.epochs);
        text += tr(" \u00b7 step %1 of %2").arg(p.step).arg(p.totalSteps);
    }
    m_statusText = text;
    if (m_controller->isPaused())
        text = tr("Paused \u00b7 %1").arg(text);
    m_status->setText(text);
    // The PCA initialisation is one step of the fit's counter but far slower
    // than the steps after it: an ETA from its rate would be hours off.
    if (stage == QLatin1String("pca"))
        m_eta->setText(tr("ETA after the PCA initialisation \u00b7 stage time %1")
                           .arg(formatDuration(p.elapsedSeconds)));
    else
        m_eta->setText(tr("ETA %1 \u00b7 stage time %2")
                           .arg(formatDuration(p.etaSeconds), formatDuration(p.elapsedSeconds)));

    if (perImage || stage == QLatin1String("validation"))
        return;
    m_totalSteps = std::max<qint64>(m_totalSteps, p.totalSteps);
    if (stage == QLatin1String("em") && m_lastStage == QLatin1String("k-means"))
        addMarker(double(p.step) - 0.5, tr("EM"));
    m_lastStage = stage;
    m_steps[p.step] = StepRecord{stage, p.epoch, p.epochs};
    addValues(p.step, stage, p.values);
    scheduleReplot();
}
void FitMonitorWidget::setFitTitle(const DatasetOptions& dataset, const FitRunSettings& settings)
{
    m_hasValidation = !settings.validationSplit.empty();
    m_noValidation->setVisible(!m_hasValidation);
    const QString classes = settings.em.classes > 0 ? tr("%1 classes").arg(settings.em.classes)
                                                    : tr("the dataset's classes");
    m_title->setText(tr("%1 on %2 '%3' (%4, %5 epochs) \u2192 run folder %6")
                         .arg(methodName(settings.em.method),
                              QString::fromLatin1(toString(dataset.kind)), nativePath(dataset.root),
                              classes)
                         .arg(settings.em.epochs)
                         .arg(nativePath(settings.runDir)));
    m_title->setToolTip(m_title->text());
    setEmaCap(settings.em.emaDecay);
    m_legend->setToolTip(emaExplanation());
}

void FitMonitorWidget::onHistory(const FitHistory& history)
{
    plotHistory(history);
    if (!history.steps.empty()) {
        addMarker(double(history.steps.back().step) + 0.5, tr("resumed"));
        appendLog(tr("plotted the %1 step(s) of the checkpoint").arg(history.steps.size()));
    }
}

void FitMonitorWidget::plotHistory(const FitHistory& history)
{
    QString previous;
    for (const EmStepInfo& s : history.steps) {
        const QString stage = QString::fromLatin1(toString(s.phase));
        if (stage == QLatin1String("em") && previous == QLatin1String("k-means"))
            addMarker(double(s.step) - 0.5, tr("EM"));
        previous = stage;
        m_steps[s.step] = StepRecord{stage, s.epoch, 0};
        std::vector<std::pair<std::string, double>> values{{"loss", s.loss}};
        if (s.phase == EmPhase::Em)
            values.emplace_back("labelled", s.labelledFraction);
        if (s.emaDecay >= 0)
            values.emplace_back("ema_decay", s.emaDecay);
        addValues(s.step, stage, values);
    }
    m_lastStage = previous;
    for (const auto& [step, metrics] : history.validations)
        addValues(step, QStringLiteral("em"), metrics);
    scheduleReplot();
}
QString FitMonitorWidget::statusText() const
{
    return m_status->text();
}

QString FitMonitorWidget::summaryText() const
{
    return m_summaryText;
}

void FitMonitorWidget::onStateChanged(JobState state)
{
    if (state == JobState::Paused) {
        m_status->setText(tr("Paused \u00b7 %1").arg(m_statusText));
        m_pause->setText(tr("Resume"));
    } else {
        m_status->setText(m_statusText);
        m_pause->setText(tr("Pause"));
    }
    updateButtons();
}

void FitMonitorWidget::onFinished(const FitOutcome& outcome)
{
    replotNow();
    const QString run = QDir::toNativeSeparators(outcome.runDir);
    if (m_progress->maximum() == 0)
        m_progress->setRange(0, 1000);
    m_eta->setText(tr("took %1").arg(formatDuration(outcome.seconds)));
    switch (outcome.state) {
    case JobState::Finished: {
        m_progress->setValue(1000);
        QString metrics;
        const auto miou = graph(Series::ValMiou)->data();
        if (!miou->isEmpty()) {
            const double last = (miou->constEnd() - 1)->key;
            metrics = tr(", validation mIoU %1, Acc %2")
                          .arg(percent((miou->constEnd() - 1)->value),
                               percent(valueAt(Series::ValAcc, last)));
        }
        m_summaryText =
            tr("\u2714 Finished: %1 steps on %2 images in %3; final loss %4%5. Run: %6")
                .arg(outcome.stepsDone)
                .arg(outcome.images)
                .arg(formatDuration(outcome.seconds), number(outcome.finalLoss), metrics, run);
        if (outcome.someItemsFailed)
            m_messages->showMessage(tr("Some images could not be used and were left out; the "
                                       "log lists them."),
                                    MessageWidget::Kind::Information);
        break;
    }
    case JobState::Canceled:
        m_summaryText = outcome.stepsDone > 0
                            ? tr("Canceled at step %1 of %2. The checkpoint is kept in %3: "
                                 "Continue picks the fit up there.")
                                  .arg(outcome.stepsDone)
                                  .arg(outcome.totalSteps)
                                  .arg(run)
                            : tr("Canceled before the fit began. The cached features and "
                                 "masks are kept: Continue picks up where it stopped.");
        break;
    case JobState::Failed: {
        QString message = tr("The fit failed: %1").arg(outcome.error);
        if (outcome.checkpointRejected)
            message += tr(" Start a new fit with \u201cStart over\u201d ticked, or choose "
                          "another run folder.");
        m_summaryText = message;
        m_messages->showMessage(message);
        emit errorOccurred(message);
        break;
    }
    default:
        break;
    }
    // The outcome replaces the stage line: one line says how it ended and where the run is.
    m_statusText = m_summaryText;
    m_status->setText(m_statusText);
    m_status->setToolTip(
        outcome.state == JobState::Finished
            ? tr("Evaluate it with: primaps eval --run \"%1\" --dataset %2 "
                 "--root \"%3\"")
                  .arg(run, QString::fromLatin1(toString(m_controller->datasetOptions().kind)),
                       nativePath(m_controller->datasetOptions().root))
            : QString());
    m_status->setStyleSheet(outcome.state == JobState::Failed ? QStringLiteral("color: #a01010;")
                                                              : QString());
    updateButtons();
    emit runningChanged(false);
    emit fitFinished(outcome);
}

void FitMonitorWidget::updateButtons()
{
    const bool running = m_controller->isRunning();
    m_pause->setEnabled(running);
    m_cancel->setEnabled(running);
    const JobState last = m_controller->outcome().state;
    m_continue->setVisible(!running && (last == JobState::Canceled || last == JobState::Failed));
    m_continue->setEnabled(!running);
    m_openFolder->setEnabled(!currentRunDir().isEmpty());
}

void FitMonitorWidget::appendLog(const QString& line)
{
    m_log->appendPlainText(line);
}

} // namespace primaps
