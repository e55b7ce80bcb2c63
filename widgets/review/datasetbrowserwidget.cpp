// SPDX-License-Identifier: MIT
#include "review/datasetbrowserwidget.h"

#include "dataset/dataset.h"

#include <QComboBox>
#include <QGridLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QToolButton>
#include <QVBoxLayout>

namespace primaps {

namespace {

const QSize kIconSize(88, 66);

} // namespace

DatasetBrowserWidget::DatasetBrowserWidget(QWidget* parent) : QWidget(parent)
{
    m_model = new DatasetImageModel(this);
    m_proxy = new DatasetImageFilterModel(this);
    m_proxy->setSourceModel(m_model);

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(4);
    m_title = new QLabel(this);
    m_title->setWordWrap(true);
    m_title->setContentsMargins(4, 2, 4, 0);
    layout->addWidget(m_title);

    auto* controls = new QGridLayout;
    controls->setContentsMargins(4, 0, 4, 0);
    m_filter = new QLineEdit(this);
    m_filter->setPlaceholderText(tr("Filter by name"));
    m_filter->setClearButtonEnabled(true);
    controls->addWidget(m_filter, 0, 0, 1, 3);
    m_sort = new QComboBox(this);
    m_sort->addItem(tr("Name"), int(DatasetImageFilterModel::SortKey::Name));
    m_sort->addItem(tr("Accuracy"), int(DatasetImageFilterModel::SortKey::Accuracy));
    m_sort->addItem(tr("mIoU"), int(DatasetImageFilterModel::SortKey::MeanIoU));
    m_sort->addItem(tr("Share of class"), int(DatasetImageFilterModel::SortKey::ClassShare));
    m_sort->setToolTip(tr("Sort the images. Acc and mIoU are per image (the prediction against "
                          "the ground truth) and come from the run's metrics job."));
    auto* sortLabel = new QLabel(tr("Sort"), this);
    controls->addWidget(sortLabel, 1, 0);
    controls->addWidget(m_sort, 1, 1);
    m_order = new QToolButton(this);
    m_order->setCheckable(true);
    m_order->setText(QStringLiteral("\u2191"));
    m_order->setToolTip(tr("Ascending (worst first) or descending"));
    controls->addWidget(m_order, 1, 2);
    m_class = new QComboBox(this);
    m_class->setToolTip(tr("Sort by the share of this class's ground-truth pixels"));
    m_class->hide();
    controls->addWidget(m_class, 2, 0, 1, 3);
    controls->setColumnStretch(1, 1);
    layout->addLayout(controls);

    m_view = new QListView(this);
    m_view->setModel(m_proxy);
    m_view->setViewMode(QListView::ListMode);
    m_view->setIconSize(kIconSize);
    // Uniform sizes make the view virtual: it lays out only what it paints,
    // which is what lets 5,000 rows open at once.
    m_view->setUniformItemSizes(true);
    m_view->setSelectionMode(QAbstractItemView::SingleSelection);
    m_view->setTextElideMode(Qt::ElideMiddle);
    m_view->setWordWrap(false);
    m_view->setSpacing(1);
    layout->addWidget(m_view, 1);

    m_status = new QLabel(this);
    m_status->setWordWrap(true);
    m_status->setContentsMargins(4, 0, 4, 2);
    m_status->hide();
    layout->addWidget(m_status);

    connect(m_filter, &QLineEdit::textChanged, this, &DatasetBrowserWidget::setNameFilter);
    connect(m_sort, &QComboBox::currentIndexChanged, this, &DatasetBrowserWidget::applySort);
    connect(m_class, &QComboBox::currentIndexChanged, this, &DatasetBrowserWidget::applySort);
    connect(m_order, &QToolButton::toggled, this, [this](bool descending) {
        m_order->setText(descending ? QStringLiteral("\u2193") : QStringLiteral("\u2191"));
        applySort();
    });
    connect(m_view->selectionModel(), &QItemSelectionModel::currentChanged, this,
            &DatasetBrowserWidget::onCurrentChanged);
}

void DatasetBrowserWidget::setDataset(std::shared_ptr<const Dataset> dataset, const QString& title)
{
    m_restoring = true;
    m_current = -1;
    m_model->setDataset(std::move(dataset));
    m_restoring = false;
    m_class->blockSignals(true);
    m_class->clear();
    m_class->addItems(m_model->classNames());
    m_class->blockSignals(false);
    const int count = m_model->rowCount();
    m_title->setText(title.isEmpty() ? tr("%n image(s)", nullptr, count)
                                     : tr("%1 \u00b7 %n image(s)", nullptr, count).arg(title));
    applySort();
}

void DatasetBrowserWidget::setMetrics(std::vector<ImageListMetrics> metrics)
{
    m_model->setMetrics(std::move(metrics));
    if (m_proxy->sortKey() != DatasetImageFilterModel::SortKey::Name)
        applySort();
}

void DatasetBrowserWidget::setStatusText(const QString& text)
{
    m_status->setText(text);
    m_status->setVisible(!text.isEmpty());
}

int DatasetBrowserWidget::currentIndex() const
{
    return m_current;
}

void DatasetBrowserWidget::setCurrentIndex(int datasetIndex)
{
    if (datasetIndex < 0 || datasetIndex >= m_model->rowCount())
        return;
    QModelIndex proxyIndex = m_proxy->mapFromSource(m_model->index(datasetIndex));
    if (!proxyIndex.isValid()) {
        // Hidden by the filter: showing it beats refusing to.
        m_filter->clear();
        proxyIndex = m_proxy->mapFromSource(m_model->index(datasetIndex));
    }
    m_view->setCurrentIndex(proxyIndex);
    m_view->scrollTo(proxyIndex);
}

int DatasetBrowserWidget::visibleCount() const
{
    return m_proxy->rowCount();
}

int DatasetBrowserWidget::datasetIndexAt(int row) const
{
    const QModelIndex source = m_proxy->mapToSource(m_proxy->index(row, 0));
    return source.isValid() ? source.row() : -1;
}

void DatasetBrowserWidget::setNameFilter(const QString& text)
{
    if (m_filter->text() != text) {
        m_filter->setText(text); // comes back here through textChanged
        return;
    }
    const int keep = m_current;
    m_restoring = true;
    m_proxy->setNameFilter(text);
    m_restoring = false;
    keepCurrentInView(keep);
}

void DatasetBrowserWidget::setSortKey(DatasetImageFilterModel::SortKey key, int cls,
                                      Qt::SortOrder order)
{
    const int row = m_sort->findData(int(key));
    m_sort->blockSignals(true);
    m_class->blockSignals(true);
    m_order->blockSignals(true);
    m_sort->setCurrentIndex(row);
    if (cls >= 0)
        m_class->setCurrentIndex(cls);
    m_order->setChecked(order == Qt::DescendingOrder);
    m_order->setText(order == Qt::DescendingOrder ? QStringLiteral("\u2193")
                                                  : QStringLiteral("\u2191"));
    m_sort->blockSignals(false);
    m_class->blockSignals(false);
    m_order->blockSignals(false);
    applySort();
}

void DatasetBrowserWidget::applySort()
{
    const auto key = DatasetImageFilterModel::SortKey(m_sort->currentData().toInt());
    m_class->setVisible(key == DatasetImageFilterModel::SortKey::ClassShare);
    const int keep = m_current;
    m_restoring = true;
    m_proxy->setSortKey(key, m_class->currentIndex(),
                        m_order->isChecked() ? Qt::DescendingOrder : Qt::AscendingOrder);
    m_restoring = false;
    keepCurrentInView(keep);
}

void DatasetBrowserWidget::keepCurrentInView(int datasetIndex)
{
    if (datasetIndex < 0)
        return;
    const QModelIndex proxyIndex = m_proxy->mapFromSource(m_model->index(datasetIndex));
    if (!proxyIndex.isValid())
        return; // filtered out: stays the canvas's image until another is chosen
    m_restoring = true;
    m_view->selectionModel()->setCurrentIndex(proxyIndex, QItemSelectionModel::ClearAndSelect);
    m_restoring = false;
    m_view->scrollTo(proxyIndex, QAbstractItemView::PositionAtCenter);
}

void DatasetBrowserWidget::onCurrentChanged()
{
    if (m_restoring)
        return;
    const QModelIndex source = m_proxy->mapToSource(m_view->currentIndex());
    const int index = source.isValid() ? source.row() : -1;
    if (index == m_current || (index < 0 && m_proxy->rowCount() > 0))
        return;
    m_current = index;
    emit currentIndexChanged(index);
}

void DatasetBrowserWidget::selectNext()
{
    const int row = m_view->currentIndex().row();
    if (row + 1 < m_proxy->rowCount())
        m_view->setCurrentIndex(m_proxy->index(row + 1, 0));
}

void DatasetBrowserWidget::selectPrevious()
{
    const int row = m_view->currentIndex().row();
    if (row > 0)
        m_view->setCurrentIndex(m_proxy->index(row - 1, 0));
}

} // namespace primaps
