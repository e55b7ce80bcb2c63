// SPDX-License-Identifier: MIT
#pragma once

#include "review/datasetimagemodel.h"

#include <memory>
#include <QWidget>

class QComboBox;
class QLabel;
class QLineEdit;
class QListView;
class QToolButton;

namespace primaps {

/// The images of an opened dataset split: a virtualised list (only visible
/// rows are laid out and painted; thumbnails load lazily), a name filter and a
/// sort order (name, per-image Acc or mIoU, or the share of a class). Changing
/// the filter or the order keeps the current image selected and in view.
///
/// Threading: GUI thread only.
class DatasetBrowserWidget : public QWidget
{
    Q_OBJECT

public:
    explicit DatasetBrowserWidget(QWidget* parent = nullptr);

    /// Shows `dataset`'s items; `title` says what is open ("run-a · val").
    /// Selects nothing; call setCurrentIndex().
    void setDataset(std::shared_ptr<const Dataset> dataset, const QString& title = {});
    /// Per-image metrics as DatasetImageModel::setMetrics(); re-sorts when
    /// sorted by a metric, keeping the current image.
    void setMetrics(std::vector<ImageListMetrics> metrics);
    /// A line under the list, e.g. the progress of the metrics job.
    void setStatusText(const QString& text);

    /// The current item's index in the dataset; -1 when none.
    int currentIndex() const;
    void setCurrentIndex(int datasetIndex);
    /// Number of rows the filter lets through.
    int visibleCount() const;
    /// The dataset index of the visible row `row` (after filter and sort).
    int datasetIndexAt(int row) const;

    void setNameFilter(const QString& text);
    void setSortKey(DatasetImageFilterModel::SortKey key, int cls = -1,
                    Qt::SortOrder order = Qt::AscendingOrder);

    DatasetImageModel* model() const { return m_model; }
    DatasetImageFilterModel* proxy() const { return m_proxy; }
    QListView* view() const { return m_view; }
    QLineEdit* filterEdit() const { return m_filter; }
    QComboBox* sortCombo() const { return m_sort; }
    QComboBox* classCombo() const { return m_class; }

public slots:
    void selectNext();
    void selectPrevious();

signals:
    /// The current image changed (dataset index; -1 when none is left).
    void currentIndexChanged(int datasetIndex);

private:
    void applySort();
    void keepCurrentInView(int datasetIndex);
    void onCurrentChanged();

    DatasetImageModel* m_model = nullptr;
    DatasetImageFilterModel* m_proxy = nullptr;
    QListView* m_view = nullptr;
    QLabel* m_title = nullptr;
    QLineEdit* m_filter = nullptr;
    QComboBox* m_sort = nullptr;
    QComboBox* m_class = nullptr;
    QToolButton* m_order = nullptr;
    QLabel* m_status = nullptr;
    int m_current = -1;
    bool m_restoring = false;
};

} // namespace primaps
