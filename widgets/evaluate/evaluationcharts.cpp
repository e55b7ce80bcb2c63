// SPDX-License-Identifier: MIT
// The evaluation view's charts: the confusion matrix as a heat map with its
// tooltips, the per-class IoU bars, and the per-class table with editable names
// and colours.
#include "evaluate/evaluationwidget.h"

#include "evaluate/evaluationwidget_p.h"

#include <algorithm>
#include <cmath>
#include <QColorDialog>
#include <qcustomplot.h>
#include <QLocale>
#include <QTableWidget>
#include <QPainter>
#include <QToolTip>

namespace primaps {

using evaluationview::percent;

namespace {

QIcon swatch(const QColor& color)
{
    QPixmap pixmap(14, 14);
    pixmap.fill(color);
    QPainter painter(&pixmap);
    painter.setPen(color.darker(160));
    painter.drawRect(0, 0, 13, 13);
    return QIcon(pixmap);
}

} // namespace
void EvaluationWidget::refreshConfusion()
{
    const EvaluationResult& r = m_report.result;
    const int classes = r.classes;
    const int clusters = r.clusters;
    // Columns: clusters ordered by their matched class (unmatched last), so a good
    // match puts its mass on the diagonal.
    m_columnClusters.clear();
    for (int c = 0; c < clusters; ++c)
        m_columnClusters.append(c);
    std::stable_sort(m_columnClusters.begin(), m_columnClusters.end(), [&](int a, int b) {
        const int ca = r.clusterToClass[std::size_t(a)], cb = r.clusterToClass[std::size_t(b)];
        return (ca < 0 ? classes : ca) < (cb < 0 ? classes : cb);
    });
    QCPColorMapData* data = m_colorMap->data();
    data->setSize(std::max(clusters, 1), std::max(classes, 1));
    data->setRange(QCPRange(0, std::max(clusters - 1, 0)), QCPRange(0, std::max(classes - 1, 0)));
    data->fill(0);
    auto xTicks = QSharedPointer<QCPAxisTickerText>::create();
    auto yTicks = QSharedPointer<QCPAxisTickerText>::create();
    for (int j = 0; j < classes; ++j) {
        std::int64_t rowTotal = 0;
        for (int c = 0; c < clusters; ++c)
            rowTotal += m_report.confusion.at(c, j);
        for (int col = 0; col < clusters; ++col) {
            const std::int64_t n = m_report.confusion.at(m_columnClusters[col], j);
            data->setCell(col, j, rowTotal > 0 ? double(n) / double(rowTotal) : 0.0);
        }
        yTicks->addTick(j, m_styles.value(j).name);
    }
    // Outline each column's matched class, so the matching reads off the map.
    m_confusionPlot->clearItems();
    for (int col = 0; col < clusters; ++col) {
        xTicks->addTick(col, QString::number(m_columnClusters[col]));
        const int matched = r.clusterToClass[std::size_t(m_columnClusters[col])];
        if (matched < 0)
            continue;
        auto* box = new QCPItemRect(m_confusionPlot);
        box->topLeft->setCoords(col - 0.5, matched - 0.5);
        box->bottomRight->setCoords(col + 0.5, matched + 0.5);
        box->setPen(QPen(QColor(230, 120, 0), 2));
        box->setBrush(Qt::NoBrush);
        box->setSelectable(false);
    }
    m_confusionPlot->xAxis->setTicker(xTicks);
    m_confusionPlot->yAxis->setTicker(yTicks);
    // Label every row and column while they fit; past that QCustomPlot would
    // overprint, so thin them out.
    m_confusionPlot->xAxis->setTickLabelRotation(clusters > 12 ? 90 : 0);
    m_confusionPlot->xAxis->setRange(-0.5, clusters - 0.5);
    m_confusionPlot->yAxis->setRange(-0.5, classes - 0.5);
    m_confusionPlot->replot();
}

QString EvaluationWidget::cellToolTip(int row, int column) const
{
    const EvaluationResult& r = m_report.result;
    if (!m_hasReport || row < 0 || row >= r.classes || column < 0 || column >= r.clusters)
        return {};
    const int cluster = m_columnClusters[column];
    std::int64_t rowTotal = 0;
    for (int c = 0; c < r.clusters; ++c)
        rowTotal += m_report.confusion.at(c, row);
    const std::int64_t n = m_report.confusion.at(cluster, row);
    const int matched = r.clusterToClass[std::size_t(cluster)];
    const QLocale locale;
    return tr("class %1 · cluster %2 (→ %3)\n%4 of %5 pixels (%6 % of the class)")
        .arg(className(row))
        .arg(cluster)
        .arg(matched >= 0 ? className(matched) : tr("no class"))
        .arg(locale.toString(qlonglong(n)), locale.toString(qlonglong(rowTotal)))
        .arg(rowTotal > 0 ? QString::number(100.0 * double(n) / double(rowTotal), 'f', 1)
                          : QStringLiteral("0"));
}

void EvaluationWidget::onConfusionHover(QMouseEvent* event)
{
    if (!m_hasReport)
        return;
    const QPointF pos = event->position();
    if (!m_confusionPlot->axisRect()->rect().contains(pos.toPoint())) {
        QToolTip::hideText();
        return;
    }
    const int column = int(std::lround(m_confusionPlot->xAxis->pixelToCoord(pos.x())));
    const int row = int(std::lround(m_confusionPlot->yAxis->pixelToCoord(pos.y())));
    const QString text = cellToolTip(row, column);
    if (text.isEmpty())
        QToolTip::hideText();
    else
        QToolTip::showText(event->globalPosition().toPoint(), text, m_confusionPlot);
}

void EvaluationWidget::refreshBars()
{
    const EvaluationResult& r = m_report.result;
    m_iouPlot->clearPlottables();
    m_iouPlot->clearItems();
    m_bars.clear();
    m_barOrder.clear();
    for (int j = 0; j < r.classes; ++j)
        m_barOrder.append(j);
    if (m_sortedBars)
        std::stable_sort(m_barOrder.begin(), m_barOrder.end(), [&](int a, int b) {
            const double ia = r.classIoU[std::size_t(a)], ib = r.classIoU[std::size_t(b)];
            if (std::isnan(ia) != std::isnan(ib))
                return std::isnan(ib); // classes without pixels go last
            return ia > ib;
        });
    auto ticks = QSharedPointer<QCPAxisTickerText>::create();
    m_bars.resize(r.classes);
    for (int pos = 0; pos < m_barOrder.size(); ++pos) {
        const int cls = m_barOrder[pos];
        const double iou = r.classIoU[std::size_t(cls)];
        auto* bars = new QCPBars(m_iouPlot->xAxis, m_iouPlot->yAxis);
        bars->setName(className(cls));
        bars->setWidth(0.75);
        bars->setBrush(classColor(cls));
        bars->setPen(QPen(classColor(cls).darker(150)));
        if (!std::isnan(iou))
            bars->addData(pos, iou);
        m_bars[cls] = bars;
        ticks->addTick(pos, std::isnan(iou) ? tr("%1 (no pixels)").arg(className(cls))
                                            : className(cls));
    }
    m_iouPlot->xAxis->setTicker(ticks);
    m_iouPlot->xAxis->setRange(-0.6, std::max(1, r.classes) - 0.4);
    if (!std::isnan(r.meanIoU) && r.classes > 0) {
        auto* mean = new QCPItemStraightLine(m_iouPlot);
        mean->point1->setCoords(0, r.meanIoU);
        mean->point2->setCoords(1, r.meanIoU);
        mean->setPen(QPen(QColor(60, 60, 60), 1, Qt::DashLine));
        auto* label = new QCPItemText(m_iouPlot);
        label->setPositionAlignment(Qt::AlignRight | Qt::AlignBottom);
        label->position->setType(QCPItemPosition::ptAxisRectRatio);
        label->position->setTypeY(QCPItemPosition::ptPlotCoords);
        label->position->setCoords(0.99, r.meanIoU);
        label->setText(tr("mIoU %1").arg(percent(r.meanIoU)));
        label->setColor(QColor(60, 60, 60));
    }
    m_iouPlot->replot();
}

QCPBars* EvaluationWidget::iouBars(int cls) const
{
    return cls >= 0 && cls < m_bars.size() ? m_bars[cls] : nullptr;
}

double EvaluationWidget::barKey(int cls) const
{
    const int pos = m_barOrder.indexOf(cls);
    return pos < 0 ? std::nan("") : double(pos);
}

void EvaluationWidget::refreshTable()
{
    const EvaluationResult& r = m_report.result;
    m_updatingTable = true;
    std::vector<std::int64_t> clusterPixels(std::size_t(r.clusters), 0);
    std::int64_t total = 0;
    for (int c = 0; c < r.clusters; ++c)
        for (int j = 0; j < r.classes; ++j) {
            clusterPixels[std::size_t(c)] += m_report.confusion.at(c, j);
            total += m_report.confusion.at(c, j);
        }
    // One row per cluster, then one per class no cluster was matched to, so that
    // every class can be renamed and recoloured.
    QVector<int> unmatched;
    for (int j = 0; j < r.classes; ++j)
        if (std::find(r.clusterToClass.begin(), r.clusterToClass.end(), j) ==
            r.clusterToClass.end())
            unmatched.append(j);
    m_table->setRowCount(r.clusters + unmatched.size());
    auto readOnly = [](const QString& text, Qt::Alignment align = Qt::AlignRight | Qt::AlignVCenter) {
        auto* item = new QTableWidgetItem(text);
        item->setFlags(Qt::ItemIsEnabled | Qt::ItemIsSelectable);
        item->setTextAlignment(align);
        return item;
    };
    auto fillClass = [&](int row, int cls) {
        if (cls < 0) {
            m_table->setItem(row, ClassColumn, readOnly(tr("(none)"), Qt::AlignLeft | Qt::AlignVCenter));
            m_table->setItem(row, ColorColumn, readOnly(QString()));
            m_table->setItem(row, IoUColumn, readOnly(QStringLiteral("–")));
            return;
        }
        auto* name = new QTableWidgetItem(className(cls));
        name->setFlags(Qt::ItemIsEnabled | Qt::ItemIsSelectable | Qt::ItemIsEditable);
        name->setData(Qt::DecorationRole, swatch(classColor(cls)));
        name->setData(Qt::UserRole, cls);
        m_table->setItem(row, ClassColumn, name);
        auto* color = readOnly(classColor(cls).name(), Qt::AlignLeft | Qt::AlignVCenter);
        color->setData(Qt::DecorationRole, swatch(classColor(cls)));
        color->setToolTip(tr("Double-click to choose the colour of %1").arg(className(cls)));
        m_table->setItem(row, ColorColumn, color);
        m_table->setItem(row, IoUColumn, readOnly(percent(r.classIoU[std::size_t(cls)])));
    };
    for (int c = 0; c < r.clusters; ++c) {
        m_table->setItem(c, ClusterColumn, readOnly(QString::number(c)));
        fillClass(c, r.clusterToClass[std::size_t(c)]);
        m_table->setItem(c, KindColumn, readOnly(matchKindText(c), Qt::AlignLeft | Qt::AlignVCenter));
        const double share =
            total > 0 ? 100.0 * double(clusterPixels[std::size_t(c)]) / double(total) : 0.0;
        m_table->setItem(c, ShareColumn, readOnly(QString::number(share, 'f', 1)));
    }
    for (int i = 0; i < unmatched.size(); ++i) {
        const int row = r.clusters + i;
        m_table->setItem(row, ClusterColumn, readOnly(QStringLiteral("–")));
        fillClass(row, unmatched[i]);
        m_table->setItem(row, KindColumn, readOnly(tr("no cluster"), Qt::AlignLeft | Qt::AlignVCenter));
        m_table->setItem(row, ShareColumn, readOnly(QStringLiteral("0.0")));
    }
    m_updatingTable = false;
}

int EvaluationWidget::tableRowClass(int row) const
{
    const QTableWidgetItem* item = m_table->item(row, ClassColumn);
    return item && item->data(Qt::UserRole).isValid() ? item->data(Qt::UserRole).toInt() : -1;
}

void EvaluationWidget::onItemChanged(QTableWidgetItem* item)
{
    if (m_updatingTable || item->column() != ClassColumn)
        return;
    const int cls = tableRowClass(item->row());
    if (cls >= 0)
        setClassName(cls, item->text());
}

void EvaluationWidget::onCellActivated(int row, int column)
{
    if (column != ColorColumn)
        return;
    const int cls = tableRowClass(row);
    if (cls < 0)
        return;
    const QColor color = QColorDialog::getColor(classColor(cls), this,
                                                tr("Colour of %1").arg(className(cls)));
    if (color.isValid())
        setClassColor(cls, color);
}

} // namespace primaps
