// SPDX-License-Identifier: MIT
// The fit monitor's plot: one graph per series (losses, labelled share, EMA decay,
// validation metrics), stage markers, throttled replots, log scale, the values under
// the mouse, and the PNG export.
#include "fit/fitmonitorwidget.h"

#include "fit/fitmonitorwidget_p.h"
#include "common/messagewidget.h"

#include <algorithm>
#include <cmath>
#include <qcustomplot.h>
#include <limits>
#include <QDesktopServices>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QSettings>
#include <QUrl>

namespace primaps {

using namespace fitmonitor;

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
    // β of θ_M ← β·θ_M + (1 − β)·θ_R: 0 copies θ_R, near 1 barely moves θ_M.
    m_emaRect = makeRect(2, tr("EMA decay β"));
    m_emaRect->axis(QCPAxis::atBottom)->setTickLabels(true);
    m_emaRect->axis(QCPAxis::atBottom)->setLabel(tr("step"));
    m_metricRect->axis(QCPAxis::atLeft)->setRange(0, 100);
    // Always 0 to 1 (with a margin, so that points at 0 and at 1 are not hidden
    // by the axis lines): the warm-up ramps β from 0 towards its cap, and a range
    // fitted to the values would hide that start or exaggerate the last steps.
    m_emaRect->axis(QCPAxis::atLeft)->setRange(-kEmaMargin, 1 + kEmaMargin);
    m_emaRect->axis(QCPAxis::atLeft)->ticker()->setTickCount(2);
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
    // The cap the warm-up ramps to (the fit's EMA decay setting).
    m_emaCapLine = new QCPItemStraightLine(m_plot);
    m_emaCapLine->setClipAxisRect(m_emaRect);
    m_emaCapLine->point1->setAxes(m_emaRect->axis(QCPAxis::atBottom),
                                  m_emaRect->axis(QCPAxis::atLeft));
    m_emaCapLine->point2->setAxes(m_emaRect->axis(QCPAxis::atBottom),
                                  m_emaRect->axis(QCPAxis::atLeft));
    m_emaCapLine->setPen(QPen(kEmaColour.lighter(150), 1, Qt::DashLine));
    m_emaCapLabel = new QCPItemText(m_plot);
    m_emaCapLabel->setClipAxisRect(m_emaRect);
    m_emaCapLabel->position->setAxisRect(m_emaRect);
    m_emaCapLabel->position->setAxes(m_emaRect->axis(QCPAxis::atBottom),
                                     m_emaRect->axis(QCPAxis::atLeft));
    m_emaCapLabel->position->setTypeX(QCPItemPosition::ptAxisRectRatio);
    m_emaCapLabel->setPositionAlignment(Qt::AlignRight | Qt::AlignTop);
    m_emaCapLabel->setPadding(QMargins(0, 1, 4, 0));
    m_emaCapLabel->setFont(small);
    m_emaCapLabel->setColor(kEmaColour.darker(120));
    setEmaCap(kDefaultEmaCap);
    // A short fit may not get past the updates that copy θ_R: say why β is 0.
    m_emaWarmupNote = new QCPItemText(m_plot);
    m_emaWarmupNote->setClipAxisRect(m_emaRect);
    m_emaWarmupNote->position->setType(QCPItemPosition::ptAxisRectRatio);
    m_emaWarmupNote->position->setAxisRect(m_emaRect);
    m_emaWarmupNote->position->setCoords(0.5, 0.45);
    m_emaWarmupNote->setFont(small);
    m_emaWarmupNote->setColor(QColor(120, 120, 120));
    // Over the dotted grid the note read as struck through: a backing, as the
    // no-validation note has.
    m_emaWarmupNote->setBrush(QBrush(QColor(255, 255, 255, 200)));
    m_emaWarmupNote->setVisible(false);

    m_noValidation = new QCPItemText(m_plot);
    m_noValidation->setClipAxisRect(m_metricRect);
    m_noValidation->position->setType(QCPItemPosition::ptAxisRectRatio);
    m_noValidation->position->setAxisRect(m_metricRect);
    m_noValidation->position->setCoords(0.5, 0.5);
    m_noValidation->setColor(QColor(120, 120, 120));
    m_noValidation->setBrush(QBrush(QColor(255, 255, 255, 200)));
    m_noValidation->setText(tr("No validation: choose a labelled split (or a hold-out) in\n"
                               "New Fit to follow Acc and mIoU while fitting"));
    m_noValidation->setVisible(false);
}

void FitMonitorWidget::setEmaCap(double cap)
{
    m_emaCap = cap;
    m_emaCapLine->point1->setCoords(0, cap);
    m_emaCapLine->point2->setCoords(1, cap);
    m_emaCapLabel->position->setCoords(1.0, cap);
    m_emaCapLabel->setText(tr("cap %1").arg(cap, 0, 'g', 3));
}

QString FitMonitorWidget::emaExplanation() const
{
    return tr("EMA decay β of the prototypes θ_M: every EMA update sets θ_M ← β·θ_M + (1 − β)·θ_R. "
              "β = 0 copies the trained prototypes θ_R (the first two updates); after that the "
              "warm-up raises it as 1 − 1/(s + 1) for the s-th update until it reaches the cap "
              "of this fit (%1, the fit's EMA decay setting), where it stays.")
        .arg(m_emaCap, 0, 'g', 3);
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

    // Each value axis covers every point of every graph drawn against it, with
    // room above and below so that no line runs along (or past) the frame.
    auto fitAxis = [this](QCPAxis* axis, bool log) {
        bool any = false;
        QCPRange r;
        for (const auto& [series, g] : m_graphs) {
            if (g->valueAxis() != axis)
                continue;
            bool found = false;
            const QCPRange gr =
                g->getValueRange(found, log ? QCP::sdPositive : QCP::sdBoth, QCPRange());
            if (!found)
                continue;
            r = any ? QCPRange(std::min(r.lower, gr.lower), std::max(r.upper, gr.upper)) : gr;
            any = true;
        }
        if (!any)
            return;
        if (log) {
            axis->setRange(r.lower / 1.25, r.upper * 1.25);
            return;
        }
        // A flat curve (a k-means loss changing in its sixth digit) still gets a
        // band around it, relative to its magnitude.
        const double scale = std::max(std::abs(r.lower), std::abs(r.upper));
        const double pad = std::max({(r.upper - r.lower) * 0.12, scale * 1e-6, 1e-9});
        axis->setRange(r.lower - pad, r.upper + pad);
    };
    fitAxis(m_lossRect->axis(QCPAxis::atLeft), m_logScale);
    fitAxis(m_lossRect->axis(QCPAxis::atRight), false);
    placeLabels();
    bool foundDecay = false;
    const QCPRange decay = graph(Series::EmaDecay)->getValueRange(foundDecay);
    m_emaWarmupNote->setVisible(foundDecay && decay.upper <= 0.0);
    // "so far" only while the fit runs: a finished (or stopped) fit's β stays 0.
    m_emaWarmupNote->setText(
        m_controller->isRunning()
            ? tr("β = 0 so far: the first two EMA updates copy θ_R into θ_M; the ramp to the "
                 "cap starts with the third")
            : tr("β stayed 0: the fit ended within the first two EMA updates, which copy "
                 "θ_R into θ_M"));
    // Both loss axes only where they have data: a k-means baseline has no EM loss.
    m_lossRect->axis(QCPAxis::atLeft)
        ->setVisible(!graph(Series::EmLoss)->data()->isEmpty() ||
                     graph(Series::KMeansLoss)->data()->isEmpty());
    m_lossRect->axis(QCPAxis::atRight)->setVisible(!graph(Series::KMeansLoss)->data()->isEmpty());
}

void FitMonitorWidget::placeLabels()
{
    // Phase markers ("EM", "resumed") a few steps apart would print over each
    // other: a label that would touch the one before it goes one line lower.
    QCPAxis* steps = m_lossRect->axis(QCPAxis::atBottom);
    const QFontMetrics fm(m_plot->font());
    const double line = double(fm.height() + 2) / std::max(1, m_lossRect->height());
    double previousRight = -1e9;
    int level = 0;
    for (QCPAbstractItem* item : m_markers) {
        auto* label = qobject_cast<QCPItemText*>(item);
        if (!label)
            continue;
        const double step = label->position->key();
        const double left = steps->coordToPixel(step);
        level = left < previousRight + 4 ? level + 1 : 0;
        label->position->setCoords(step, 0.02 + level * line);
        previousRight = std::max(previousRight, left + fm.horizontalAdvance(label->text()) + 3);
    }
    // The note on a fit without validation sits where the pseudo-label line is not.
    bool foundLabelled = false;
    const QCPRange labelled = graph(Series::Labelled)->getValueRange(foundLabelled);
    const bool lineHigh = foundLabelled && (labelled.lower + labelled.upper) / 2 > 50.0;
    m_noValidation->position->setCoords(0.5, lineHigh ? 0.72 : 0.28);
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
    const QString dir = currentRunDir();
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
    // Over the decay row the tooltip says what β is and why it ramps.
    m_plot->setToolTip(m_emaRect->rect().contains(pos.toPoint())
                           ? emaExplanation()
                           : tr("Hover to read the values at a step"));
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
            parts << tr("EMA decay \u03b2 %1 (cap %2)").arg(number(ema, 3), number(m_emaCap, 3));
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

} // namespace primaps
