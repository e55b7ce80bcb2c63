// SPDX-License-Identifier: MIT
#include "fitmonitorwidget.h"

#include "messagewidget.h"

#include <cmath>
#include <limits>
#include <QCheckBox>
#include "emptyplotcover.h"

#include <qcustomplot.h>
#include <QDesktopServices>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSplitter>
#include <QTimer>
#include <QUrl>
#include <QVBoxLayout>

namespace primaps {

namespace {

// Often enough to look live, rarely enough that thousands of steps per second
// cost the GUI thread next to nothing.
constexpr int kReplotDelayMs = 100;

const QColor kEmColour(31, 119, 180);
const QColor kKMeansColour(230, 120, 20);
const QColor kMiouColour(44, 160, 44);
const QColor kAccColour(148, 103, 189);
const QColor kLabelledColour(140, 140, 140);
const QColor kEmaColour(214, 39, 40);

QString number(double v, int precision = 4)
{
    return QString::number(v, 'g', precision);
}

QString percent(double v)
{
    return QStringLiteral("%1 %").arg(v, 0, 'f', 1);
}

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
    auto* legend = new QLabel(plotColumn);
    legend->setTextFormat(Qt::RichText);
    const auto swatch = [](const QColor& colour, const QString& name) {
        return QStringLiteral("<span style='color:%1'>&#9632;</span>&nbsp;%2")
            .arg(colour.name(), name.toHtmlEscaped());
    };
    legend->setText(QStringList{swatch(kEmColour, tr("EM focal loss (left axis)")),
                                swatch(kKMeansColour, tr("k-means loss (right axis)")),
                                swatch(kMiouColour, tr("validation mIoU")),
                                swatch(kAccColour, tr("validation Acc")),
                                swatch(kLabelledColour, tr("pixels with a pseudo-label")),
                                swatch(kEmaColour, tr("EMA decay of \u03b8_M"))}
                        .join(QStringLiteral("&nbsp;&nbsp;&nbsp; ")));
    legend->setWordWrap(true);
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

void FitMonitorWidget::buildPlot()
{
    m_plot->setAutoAddPlottableToLegend(false);
    m_plot->plotLayout()->clear();
    m_plot->setNoAntialiasingOnDrag(true);
    auto* margins = new QCPMarginGroup(m_plot);
    QFont small = font();
    small.setPointSizeF(small.pointSizeF() * 0.9);

    auto makeRect = [&](int row, const QString& label) {
        auto* rect = new QCPAxisRect(m_plot);
        m_plot->plotLayout()->addElement(row, 0, rect);
        rect->setMarginGroup(QCP::msLeft | QCP::msRight, margins);
        rect->axis(QCPAxis::atLeft)->setLabel(label);
        rect->axis(QCPAxis::atBottom)->setRange(0, 10);
        rect->axis(QCPAxis::atBottom)->setTickLabels(false);
        for (QCPAxis* axis : rect->axes()) {
            axis->setTickLabelFont(small);
            axis->setLabelFont(small);
            // Few value ticks: the rows are short.
            if (axis->orientation() == Qt::Vertical)
                axis->ticker()->setTickCount(3);
        }
        return rect;
    };
    m_lossRect = makeRect(0, tr("loss"));
    m_metricRect = makeRect(1, tr("%"));
    m_emaRect = makeRect(2, tr("EMA decay"));
    m_emaRect->axis(QCPAxis::atBottom)->setTickLabels(true);
    m_emaRect->axis(QCPAxis::atBottom)->setLabel(tr("step"));
    m_metricRect->axis(QCPAxis::atLeft)->setRange(0, 100);
    m_emaRect->axis(QCPAxis::atLeft)->setRange(0, 1);
    m_plot->plotLayout()->setRowStretchFactors({1.4, 1.0, 0.8});

    // The step axes move together.
    const QList<QCPAxis*> steps = {m_lossRect->axis(QCPAxis::atBottom),
                                   m_metricRect->axis(QCPAxis::atBottom),
                                   m_emaRect->axis(QCPAxis::atBottom)};
    for (QCPAxis* a : steps)
        for (QCPAxis* b : steps)
            if (a != b)
                connect(a, qOverload<const QCPRange&>(&QCPAxis::rangeChanged), b,
                        qOverload<const QCPRange&>(&QCPAxis::setRange));

    QCPAxis* kmeansAxis = m_lossRect->axis(QCPAxis::atRight);
    kmeansAxis->setVisible(true);
    kmeansAxis->setLabel(tr("k-means loss"));
    kmeansAxis->setLabelColor(kKMeansColour);
    kmeansAxis->setTickLabelColor(kKMeansColour);
    m_lossRect->axis(QCPAxis::atLeft)->setLabel(tr("EM loss"));
    m_lossRect->axis(QCPAxis::atLeft)->setLabelColor(kEmColour);
    m_lossRect->axis(QCPAxis::atLeft)->setTickLabelColor(kEmColour);

    auto addGraph = [this](Series series, QCPAxisRect* rect, QCPAxis* valueAxis,
                           const QString& name, const QColor& colour, bool dots) {
        QCPGraph* g = m_plot->addGraph(rect->axis(QCPAxis::atBottom), valueAxis);
        g->setName(name);
        g->setPen(QPen(colour, dots ? 1.6 : 1.3));
        g->setAdaptiveSampling(true);
        if (dots)
            g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, colour, colour, 5));
        m_graphs[series] = g;
    };
    addGraph(Series::KMeansLoss, m_lossRect, kmeansAxis, tr("k-means loss (right axis)"),
             kKMeansColour, false);
    addGraph(Series::EmLoss, m_lossRect, m_lossRect->axis(QCPAxis::atLeft), tr("EM focal loss"),
             kEmColour, false);
    addGraph(Series::ValMiou, m_metricRect, m_metricRect->axis(QCPAxis::atLeft),
             tr("validation mIoU"), kMiouColour, true);
    addGraph(Series::ValAcc, m_metricRect, m_metricRect->axis(QCPAxis::atLeft),
             tr("validation Acc"), kAccColour, true);
    addGraph(Series::Labelled, m_metricRect, m_metricRect->axis(QCPAxis::atLeft),
             tr("pixels with a pseudo-label"), kLabelledColour, false);
    addGraph(Series::EmaDecay, m_emaRect, m_emaRect->axis(QCPAxis::atLeft),
             tr("EMA decay of \u03b8_M"), kEmaColour, true);
    graph(Series::EmaDecay)->setLineStyle(QCPGraph::lsStepLeft);
    graph(Series::EmaDecay)
        ->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, kEmaColour, kEmaColour, 3));

    QCPAxisRect* rects[3] = {m_lossRect, m_metricRect, m_emaRect};
    for (int i = 0; i < 3; ++i) {
        auto* line = new QCPItemStraightLine(m_plot);
        line->setClipAxisRect(rects[i]);
        line->point1->setAxes(rects[i]->axis(QCPAxis::atBottom), rects[i]->axis(QCPAxis::atLeft));
        line->point2->setAxes(rects[i]->axis(QCPAxis::atBottom), rects[i]->axis(QCPAxis::atLeft));
        line->setPen(QPen(QColor(90, 90, 90), 1, Qt::DashLine));
        line->setVisible(false);
        m_cursor[i] = line;
    }
    m_noValidation = new QCPItemText(m_plot);
    m_noValidation->setClipAxisRect(m_metricRect);
    m_noValidation->position->setType(QCPItemPosition::ptAxisRectRatio);
    m_noValidation->position->setAxisRect(m_metricRect);
    m_noValidation->position->setCoords(0.5, 0.5);
    m_noValidation->setColor(QColor(120, 120, 120));
    m_noValidation->setText(tr("No validation: choose a labelled split in the fit dialog\n"
                               "to follow Acc and mIoU while fitting"));
    m_noValidation->setVisible(false);
}

QCPGraph* FitMonitorWidget::graph(Series series) const
{
    return m_graphs.at(series);
}

void FitMonitorWidget::clearPlot()
{
    for (auto& [series, g] : m_graphs)
        g->data()->clear();
    for (QCPAbstractItem* item : m_markers)
        m_plot->removeItem(item);
    m_markers.clear();
    m_steps.clear();
    m_totalSteps = 0;
    m_lastStage.clear();
    showValuesAt(-1);
    replotNow();
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
    } else {
        if (p.epochs > 0 && stage != QLatin1String("pca"))
            text += tr(" \u00b7 epoch %1 of %2").arg(p.epoch + 1).arg(p.epochs);
        text += tr(" \u00b7 step %1 of %2").arg(p.step).arg(p.totalSteps);
    }
    m_statusText = text;
    if (m_controller->isPaused())
        text = tr("Paused \u00b7 %1").arg(text);
    m_status->setText(text);
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

void FitMonitorWidget::addValues(qint64 step, const QString& stage,
                                 const std::vector<std::pair<std::string, double>>& values)
{
    const double key = double(step);
    for (const auto& [name, value] : values) {
        if (name == "loss") {
            if (stage == QLatin1String("k-means"))
                graph(Series::KMeansLoss)->addData(key, value);
            else if (stage == QLatin1String("em"))
                graph(Series::EmLoss)->addData(key, value);
        } else if (name == "labelled") {
            graph(Series::Labelled)->addData(key, 100.0 * value);
        } else if (name == "ema_decay") {
            graph(Series::EmaDecay)->addData(key, value);
        } else if (name == "val_acc") {
            graph(Series::ValAcc)->addData(key, value);
        } else if (name == "val_miou") {
            graph(Series::ValMiou)->addData(key, value);
        }
    }
}

void FitMonitorWidget::onHistory(const FitHistory& history)
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
    if (!history.steps.empty()) {
        addMarker(double(history.steps.back().step) + 0.5, tr("resumed"));
        appendLog(tr("plotted the %1 step(s) of the checkpoint").arg(history.steps.size()));
    }
    scheduleReplot();
}

void FitMonitorWidget::addMarker(double step, const QString& text)
{
    QCPAxisRect* rects[3] = {m_lossRect, m_metricRect, m_emaRect};
    for (QCPAxisRect* rect : rects) {
        auto* line = new QCPItemStraightLine(m_plot);
        line->setClipAxisRect(rect);
        line->point1->setAxes(rect->axis(QCPAxis::atBottom), rect->axis(QCPAxis::atLeft));
        line->point2->setAxes(rect->axis(QCPAxis::atBottom), rect->axis(QCPAxis::atLeft));
        line->point1->setCoords(step, 0);
        line->point2->setCoords(step, 1);
        line->setPen(QPen(QColor(160, 160, 160), 1, Qt::DotLine));
        m_markers.push_back(line);
    }
    auto* label = new QCPItemText(m_plot);
    label->setClipAxisRect(m_lossRect);
    label->position->setAxes(m_lossRect->axis(QCPAxis::atBottom),
                             m_lossRect->axis(QCPAxis::atLeft));
    label->position->setTypeY(QCPItemPosition::ptAxisRectRatio);
    label->position->setAxisRect(m_lossRect);
    label->position->setCoords(step, 0.02);
    label->setPositionAlignment(Qt::AlignLeft | Qt::AlignTop);
    label->setPadding(QMargins(3, 0, 0, 0));
    label->setColor(QColor(110, 110, 110));
    label->setText(text);
    m_markers.push_back(label);
}

void FitMonitorWidget::scheduleReplot()
{
    if (!m_replotTimer->isActive())
        m_replotTimer->start();
}

void FitMonitorWidget::rescale()
{
    qint64 lastStep = m_steps.empty() ? 0 : m_steps.rbegin()->first;
    const double right = double(std::max<qint64>({m_totalSteps, lastStep, 10})) + 0.5;
    m_lossRect->axis(QCPAxis::atBottom)->setRange(0, right);

    auto fitAxis = [](QCPGraph* g, QCPAxis* axis, bool log) {
        bool found = false;
        const QCPRange r = g->getValueRange(found, log ? QCP::sdPositive : QCP::sdBoth, QCPRange());
        if (!found)
            return;
        if (log) {
            axis->setRange(r.lower / 1.25, r.upper * 1.25);
            return;
        }
        const double pad = std::max(1e-6, (r.upper - r.lower) * 0.08);
        axis->setRange(r.lower - pad, r.upper + pad);
    };
    fitAxis(graph(Series::EmLoss), m_lossRect->axis(QCPAxis::atLeft), m_logScale);
    fitAxis(graph(Series::KMeansLoss), m_lossRect->axis(QCPAxis::atRight), false);
    bool found = false;
    const QCPRange ema = graph(Series::EmaDecay)->getValueRange(found);
    m_emaRect->axis(QCPAxis::atLeft)->setRange(found ? std::min(0.9, ema.lower - 0.02) : 0.0, 1.0);
    // Both loss axes only where they have data: a k-means baseline has no EM loss.
    m_lossRect->axis(QCPAxis::atLeft)
        ->setVisible(!graph(Series::EmLoss)->data()->isEmpty() ||
                     graph(Series::KMeansLoss)->data()->isEmpty());
    m_lossRect->axis(QCPAxis::atRight)->setVisible(!graph(Series::KMeansLoss)->data()->isEmpty());
}

void FitMonitorWidget::replotNow()
{
    m_replotTimer->stop();
    rescale();
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

void FitMonitorWidget::setLogScale(bool on)
{
    if (m_logScale == on)
        return;
    m_logScale = on;
    QCPAxis* axis = m_lossRect->axis(QCPAxis::atLeft);
    if (on) {
        axis->setScaleType(QCPAxis::stLogarithmic);
        axis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    } else {
        axis->setScaleType(QCPAxis::stLinear);
        axis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
    }
    if (m_logBox->isChecked() != on) {
        const QSignalBlocker blocker(m_logBox);
        m_logBox->setChecked(on);
    }
    replotNow();
}

int FitMonitorWidget::pointCount(Series series) const
{
    return graph(series)->dataCount();
}

double FitMonitorWidget::valueAt(Series series, double step) const
{
    const auto data = graph(series)->data();
    auto it = data->findBegin(step, false);
    if (it == data->constEnd() || it->key != step)
        return std::numeric_limits<double>::quiet_NaN();
    return it->value;
}

bool FitMonitorWidget::exportPng(const QString& path, QString* error)
{
    replotNow();
    const int width = std::max(800, m_plot->width());
    const int height = std::max(600, m_plot->height());
    if (m_plot->savePng(path, width, height))
        return true;
    if (error)
        *error = tr("Cannot write '%1'.").arg(QDir::toNativeSeparators(path));
    return false;
}

void FitMonitorWidget::exportDialog()
{
    QSettings settings;
    const QString dir = settings
                            .value(QStringLiteral("paths/fitplot"),
                                   QString::fromStdString(m_controller->settings().runDir))
                            .toString();
    const QString path = QFileDialog::getSaveFileName(this, tr("Export Fit Plots"),
                                                      QDir(dir).filePath(QStringLiteral("fit.png")),
                                                      tr("PNG images (*.png)"));
    if (path.isEmpty())
        return;
    settings.setValue(QStringLiteral("paths/fitplot"), QFileInfo(path).absolutePath());
    QString error;
    if (!exportPng(path, &error)) {
        m_messages->showMessage(error);
        emit errorOccurred(error);
    } else {
        appendLog(tr("plots saved to %1").arg(QDir::toNativeSeparators(path)));
    }
}

void FitMonitorWidget::openRunFolder()
{
    const QString dir = QString::fromStdString(m_controller->settings().runDir);
    if (!QFileInfo(dir).isDir()) {
        m_messages->showMessage(
            tr("The run folder '%1' does not exist yet.").arg(QDir::toNativeSeparators(dir)),
            MessageWidget::Kind::Information);
        return;
    }
    QDesktopServices::openUrl(QUrl::fromLocalFile(dir));
}

bool FitMonitorWidget::eventFilter(QObject* watched, QEvent* event)
{
    if (watched == m_plot && event->type() == QEvent::Leave)
        showValuesAt(-1);
    return QWidget::eventFilter(watched, event);
}

void FitMonitorWidget::onPlotMouseMove(QMouseEvent* event)
{
    const QPointF pos = event->position();
    for (QCPAxisRect* rect : {m_lossRect, m_metricRect, m_emaRect}) {
        if (rect->rect().contains(pos.toPoint())) {
            const double key = rect->axis(QCPAxis::atBottom)->pixelToCoord(pos.x());
            showValuesAt(std::round(key));
            return;
        }
    }
    showValuesAt(-1);
}

void FitMonitorWidget::showValuesAt(double step)
{
    const bool show = step >= 0 && !m_steps.empty();
    if (show) {
        // The nearest step that has a point.
        auto it = m_steps.lower_bound(qint64(step));
        if (it == m_steps.end())
            it = std::prev(it);
        else if (it != m_steps.begin() && it->first != qint64(step) &&
                 step - double(std::prev(it)->first) < double(it->first) - step)
            it = std::prev(it);
        step = double(it->first);
        const StepRecord& record = it->second;
        QStringList parts;
        parts << tr("step %1").arg(it->first);
        parts << tr("%1, epoch %2").arg(stageTitle(record.stage)).arg(record.epoch + 1);
        auto at = [this](Series s, double key) { return valueAt(s, key); };
        // The last point at or before `key` (validations and EMA updates are sparse).
        auto latest = [this](Series s, double key, double* where) {
            const auto data = graph(s)->data();
            auto p = data->findEnd(key, false);
            if (p == data->constBegin())
                return std::numeric_limits<double>::quiet_NaN();
            --p;
            *where = p->key;
            return p->value;
        };
        const double km = at(Series::KMeansLoss, step);
        if (!std::isnan(km))
            parts << tr("k-means loss %1").arg(number(km));
        const double em = at(Series::EmLoss, step);
        if (!std::isnan(em))
            parts << tr("EM loss %1").arg(number(em));
        const double labelled = at(Series::Labelled, step);
        if (!std::isnan(labelled))
            parts << tr("pseudo-labelled %1").arg(percent(labelled));
        double where = 0;
        const double miou = latest(Series::ValMiou, step, &where);
        if (!std::isnan(miou)) {
            const double acc = valueAt(Series::ValAcc, where);
            parts << tr("mIoU %1, Acc %2 (step %3)")
                         .arg(percent(miou), percent(acc))
                         .arg(qint64(where));
        }
        const double ema = latest(Series::EmaDecay, step, &where);
        if (!std::isnan(ema))
            parts << tr("EMA decay %1").arg(number(ema, 3));
        m_hoverText = parts.join(QStringLiteral(" \u00b7 "));
        m_readout->setText(m_hoverText);
        m_readout->setStyleSheet(QString());
    } else {
        m_hoverText.clear();
        m_readout->setText(tr("Hover the plots to read the values at a step."));
        m_readout->setStyleSheet(QStringLiteral("color: palette(placeholder-text);"));
    }
    for (QCPItemStraightLine* line : m_cursor) {
        line->setVisible(show);
        if (show) {
            line->point1->setCoords(step, 0);
            line->point2->setCoords(step, 1);
        }
    }
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

QString FitMonitorWidget::hoverText() const
{
    return m_hoverText;
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
    m_openFolder->setEnabled(!m_controller->settings().runDir.empty());
}

void FitMonitorWidget::appendLog(const QString& line)
{
    m_log->appendPlainText(line);
}

} // namespace primaps
