// SPDX-License-Identifier: MIT
#include "explore/stepperwidget.h"

#include "explore/explorepictures.h"
#include "explore/labelnumbering.h"
#include "image/overlay.h"
#include "decompose/primaps.h"

#include <algorithm>
#include <cmath>
#include <QLabel>
#include <QListWidget>
#include <QPainter>
#include <QStyledItemDelegate>
#include <QVBoxLayout>

namespace primaps {

namespace {

enum Role
{
    PrincipalRole = Qt::UserRole,
    RefinedRole,
    MaskRole,
    TitleRole,
    DetailRole,
    SeedRole,
    IdRole,
    AreaRole,
    CoverageRole, ///< the coverage part of DetailRole
    LabelRole,    ///< the label number in the label map (0: not in it)
};

constexpr int kMargin = 8;
constexpr int kGap = 6;
constexpr int kMaxColumnWidth = 112;
const QColor kTaken = QColor::fromRgb(kTakenPatchRgb); // positions earlier masks took

QColor toQColor(const cv::Vec3b& rgb)
{
    return QColor(rgb[0], rgb[1], rgb[2]);
}

/// Geometry shared by the rows and the column captions: three equal columns.
struct Columns
{
    int width = 0;
    int height = 0;
    int left[3] = {0, 0, 0};
};

Columns columnsFor(int viewWidth, double aspect)
{
    Columns c;
    // Wider maps would only make taller cards: at this size they read well and
    // three cards fit in a steps dock on a 1080-pixel screen.
    c.width = std::clamp((viewWidth - 2 * kMargin - 2 * kGap) / 3, 24, kMaxColumnWidth);
    // Tall images would make very long rows; they are letterboxed at 1.25 instead.
    c.height = int(std::lround(c.width * std::min(aspect, 1.25)));
    for (int i = 0; i < 3; ++i)
        c.left[i] = kMargin + i * (c.width + kGap);
    return c;
}

QString percent(double fraction)
{
    // A single patch of a large grid is still something; "0.0 %" would say it is nothing.
    if (fraction > 0.0 && fraction < 0.0005)
        return QStringLiteral("<0.1 %");
    return QStringLiteral("%1 %").arg(100.0 * fraction, 0, 'f', 1);
}

QString stopDescription(const PrimapsTrace& trace)
{
    // Short enough for one line of the dock at 1080p, and a figure never
    // split from its "%" when it does wrap.
    const auto figure = [](double fraction) {
        return percent(fraction).replace(QLatin1Char(' '), QChar(0x00a0));
    };
    const int n = int(trace.iterations.size());
    const QString count = n == 1 ? StepperWidget::tr("1 step") : StepperWidget::tr("%1 steps").arg(n);
    switch (trace.stopReason) {
    case StopReason::Coverage:
        return StepperWidget::tr("Stopped after %1: %2 of the patches assigned (target %3).")
            .arg(count, figure(trace.finalCoverage), figure(trace.params.coverage));
    case StopReason::NothingPositive:
        return StepperWidget::tr("Stopped after %1: no patch left is similar to the next seed; "
                                 "%2 assigned.")
            .arg(count, figure(trace.finalCoverage));
    case StopReason::Stalled:
        return StepperWidget::tr("Stopped after %1: the rest did not shrink for %2 steps; "
                                 "%3 assigned.")
            .arg(count)
            .arg(trace.params.stallWindow)
            .arg(figure(trace.finalCoverage));
    case StopReason::IterationCap:
        return StepperWidget::tr("Stopped at the cap of %1; %2 assigned.")
            .arg(count, figure(trace.finalCoverage));
    case StopReason::Running:
        break;
    }
    return StepperWidget::tr("Not finished: %1 so far, %2 assigned.")
        .arg(count, figure(trace.finalCoverage));
}

/// Paints one iteration: title line, the three maps, and a detail line.
class StepDelegate : public QStyledItemDelegate
{
public:
    StepDelegate(QListWidget* view) : QStyledItemDelegate(view), m_view(view) {}

    void setAspect(double aspect) { m_aspect = aspect; }
    double aspect() const { return m_aspect; }

    QSize sizeHint(const QStyleOptionViewItem& option, const QModelIndex&) const override
    {
        const QFontMetrics fm(option.font);
        const Columns c = columnsFor(m_view->viewport()->width(), m_aspect);
        return QSize(m_view->viewport()->width(),
                     kMargin + fm.height() + 4 + c.height + 4 + fm.height() + kMargin);
    }

    void paint(QPainter* painter, const QStyleOptionViewItem& option,
               const QModelIndex& index) const override
    {
        painter->save();
        const QRect r = option.rect;
        const QPalette& pal = option.palette;
        const bool selected = option.state & QStyle::State_Selected;
        const bool hovered = option.state & QStyle::State_MouseOver;

        painter->setRenderHint(QPainter::Antialiasing);
        QColor card = pal.color(QPalette::Base);
        if (selected) {
            card = pal.color(QPalette::Highlight);
            card.setAlpha(45);
        } else if (hovered) {
            card = pal.color(QPalette::AlternateBase);
        }
        painter->setPen(
            QPen(selected ? pal.color(QPalette::Highlight) : pal.color(QPalette::Midlight),
                 selected ? 1.5 : 1.0));
        painter->setBrush(card);
        painter->drawRoundedRect(QRectF(r).adjusted(2.5, 1.5, -2.5, -1.5), 5, 5);

        const QFontMetrics fm(option.font);
        const int id = index.data(IdRole).toInt();
        const cv::Vec3b rgb = labelColor(id);
        const QColor color = toQColor(rgb);

        // Title: colour chip, iteration number and seed; area on the right.
        int y = r.top() + kMargin;
        const QRect chip(r.left() + kMargin, y + (fm.height() - 12) / 2, 12, 12);
        painter->setPen(QPen(QColor(0, 0, 0, 90), 1.0));
        painter->setBrush(color);
        painter->drawRoundedRect(QRectF(chip).adjusted(0.5, 0.5, -0.5, -0.5), 2, 2);
        QFont bold = option.font;
        bold.setBold(true);
        painter->setFont(bold);
        painter->setPen(pal.color(QPalette::Text));
        const QRect titleRect(chip.right() + 6, y, r.width() - 2 * kMargin - 18, fm.height());
        // The area on the right keeps its figure; the title gives up the room
        // it needs (elided, never drawn over it).
        const QString area = index.data(AreaRole).toString();
        const int areaWidth = std::min(fm.horizontalAdvance(area), titleRect.width());
        const int titleWidth = std::max(0, titleRect.width() - areaWidth - 8);
        painter->drawText(QRect(titleRect.topLeft(), QSize(titleWidth, titleRect.height())),
                          Qt::AlignLeft | Qt::AlignVCenter,
                          QFontMetrics(bold).elidedText(index.data(TitleRole).toString(),
                                                        Qt::ElideRight, titleWidth));
        painter->setFont(option.font);
        painter->drawText(titleRect, Qt::AlignRight | Qt::AlignVCenter,
                          fm.elidedText(area, Qt::ElideLeft, titleRect.width()));
        y += fm.height() + 4;

        // The three maps, nearest neighbour so that each patch stays a square.
        painter->setRenderHint(QPainter::SmoothPixmapTransform, false);
        painter->setRenderHint(QPainter::Antialiasing, false);
        const Columns c = columnsFor(r.width(), m_aspect);
        const int roles[3] = {PrincipalRole, RefinedRole, MaskRole};
        const QPoint seed = index.data(SeedRole).toPoint();
        for (int i = 0; i < 3; ++i) {
            const QImage image = index.data(roles[i]).value<QImage>();
            if (image.isNull())
                continue;
            const QSize fitted = image.size().scaled(c.width, c.height, Qt::KeepAspectRatio);
            const QRect target(r.left() + c.left[i] + (c.width - fitted.width()) / 2,
                               y + (c.height - fitted.height()) / 2, fitted.width(),
                               fitted.height());
            painter->drawImage(target, image);
            painter->setPen(QPen(QColor(0, 0, 0, 60), 1.0));
            painter->setBrush(Qt::NoBrush);
            painter->drawRect(target.adjusted(0, 0, -1, -1));
            if (i < 2) {
                // The seed: where the principal component points most, and the
                // centre of the refined similarity.
                const double sx = double(target.width()) / image.width();
                const double sy = double(target.height()) / image.height();
                const QPointF centre(target.left() + (seed.x() + 0.5) * sx,
                                     target.top() + (seed.y() + 0.5) * sy);
                painter->setRenderHint(QPainter::Antialiasing, true);
                painter->setPen(QPen(Qt::white, 2.5));
                painter->drawEllipse(centre, 4.0, 4.0);
                painter->setPen(QPen(Qt::black, 1.2));
                painter->drawEllipse(centre, 4.0, 4.0);
                painter->setRenderHint(QPainter::Antialiasing, false);
            }
        }
        y += c.height + 4;

        painter->setPen(pal.color(QPalette::PlaceholderText));
        const int detailWidth = r.width() - 2 * kMargin;
        painter->drawText(QRect(r.left() + kMargin, y, detailWidth, fm.height()),
                          Qt::AlignLeft | Qt::AlignVCenter,
                          fm.elidedText(index.data(DetailRole).toString(), Qt::ElideRight,
                                        detailWidth));
        painter->restore();
    }

private:
    QListWidget* m_view;
    double m_aspect = 1.0;
};

} // namespace

/// Captions over the three columns, laid out like the rows below them.
class StepHeader : public QWidget
{
public:
    StepHeader(QListWidget* list, QWidget* parent) : QWidget(parent), m_list(list)
    {
        setSizePolicy(QSizePolicy::Preferred, QSizePolicy::Fixed);
    }
    QSize sizeHint() const override { return QSize(200, fontMetrics().height() + 4); }

protected:
    void paintEvent(QPaintEvent*) override
    {
        QPainter painter(this);
        QFont font = this->font();
        font.setPointSizeF(font.pointSizeF() * 0.9);
        painter.setFont(font);
        painter.setPen(palette().color(QPalette::PlaceholderText));
        const Columns c = columnsFor(m_list->viewport()->width(), 1.0);
        // The header is the list's sibling, not its ancestor: compare global positions.
        const int offset =
            m_list->viewport()->mapToGlobal(QPoint(0, 0)).x() - mapToGlobal(QPoint(0, 0)).x();
        const QString captions[3] = {StepperWidget::tr("principal comp."),
                                     StepperWidget::tr("seed similarity"),
                                     StepperWidget::tr("mask")};
        for (int i = 0; i < 3; ++i)
            painter.drawText(QRect(offset + c.left[i], 0, c.width, height()), Qt::AlignCenter,
                             painter.fontMetrics().elidedText(captions[i], Qt::ElideRight,
                                                              c.width));
    }

private:
    QListWidget* m_list;
};

StepperWidget::StepperWidget(QWidget* parent) : QWidget(parent)
{
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(4);

    m_header = new QLabel(this);
    m_header->setWordWrap(true);
    m_header->setTextFormat(Qt::RichText);
    m_header->setContentsMargins(kMargin, 4, kMargin, 0);
    layout->addWidget(m_header);
    m_busyMark = new QLabel(tr("updating\u2026"), m_header);
    QFont italic = m_busyMark->font();
    italic.setItalic(true);
    m_busyMark->setFont(italic);
    m_busyMark->setAutoFillBackground(true); // over the end of a long first line
    m_busyMark->setContentsMargins(6, 0, 0, 0);
    m_busyMark->hide();

    m_list = new QListWidget(this);
    m_columns = new StepHeader(m_list, this);
    m_columns->setToolTip(
        tr("Principal comp.: cosine similarity of each remaining patch to the first principal\n"
           "component of the remaining features (red positive, blue negative).\n"
           "Seed similarity: cosine similarity to the seed patch (ring), the patch that\n"
           "matches the principal component best.\n"
           "Mask: the proposal, seed similarity cut at \u03c4 \u00b7 max and rescaled.\n"
           "Grey: patches taken by earlier masks."));
    layout->addWidget(m_columns);

    auto* delegate = new StepDelegate(m_list);
    m_list->setItemDelegate(delegate);
    m_list->setSelectionMode(QAbstractItemView::SingleSelection);
    m_list->setVerticalScrollMode(QAbstractItemView::ScrollPerPixel);
    m_list->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    m_list->setResizeMode(QListView::Adjust);
    m_list->setMouseTracking(true);
    m_list->setFrameShape(QFrame::NoFrame);
    m_list->setToolTip(m_columns->toolTip());
    layout->addWidget(m_list, 1);

    m_summary = new QLabel(this);
    m_summary->setWordWrap(true);
    m_summary->setContentsMargins(kMargin, 2, kMargin, 6);
    m_summary->setToolTip(
        tr("Why PriMaPs stopped proposing masks. It stops when the masks cover the target share "
           "of the patches,\nwhen no patch left is similar to the next seed, when the rest "
           "stops shrinking, or at the step cap.\nPatches no mask took stay unassigned."));
    layout->addWidget(m_summary);

    connect(m_list, &QListWidget::itemSelectionChanged, this,
            [this] { emit iterationSelected(selectedIteration()); });
    clear();
}

void StepperWidget::clear()
{
    const bool hadSelection = selectedIteration() >= 0;
    {
        const QSignalBlocker blocker(m_list);
        m_list->clear();
    }
    m_headerBase = tr("PriMaPs iterations appear here once an image is decomposed.");
    setBusy(m_busy);
    m_summary->clear();
    m_summary->hide();
    m_columns->hide();
    if (hadSelection)
        emit iterationSelected(-1);
}

void StepperWidget::setBusy(bool busy)
{
    // The rows stay as they are (blanking them on every threshold change would
    // flicker); the caption says that newer ones are on their way.
    m_busy = busy;
    // Rich text collapses runs of spaces; keep the separators' breathing room.
    QString text =
        m_headerBase.toHtmlEscaped().replace(QStringLiteral("  "), QStringLiteral("&nbsp; "));
    if (m_list->count() > 0) {
        // A key to the colours, so the maps read without the tooltip; in a
        // colour between text and background, which suits light and dark themes.
        const QColor ink = palette().color(QPalette::WindowText);
        const QColor paper = palette().color(QPalette::Window);
        const QColor keyColor((ink.red() * 3 + paper.red() * 2) / 5,
                              (ink.green() * 3 + paper.green() * 2) / 5,
                              (ink.blue() * 3 + paper.blue() * 2) / 5);
        const QString swatch = QStringLiteral("<span style=\"color:%1\">\u25a0</span>");
        text += QStringLiteral("<br><span style=\"color:%1\">").arg(keyColor.name()) +
                tr("%1 similar &nbsp;%2 opposite &nbsp;%3 taken earlier &nbsp;\u25ef seed")
                    .arg(swatch.arg(QStringLiteral("#b2182b")),
                         swatch.arg(QStringLiteral("#2166ac")), swatch.arg(kTaken.name())) +
                QStringLiteral("</span>");
    }
    m_header->setText(text);
    // The marker lies over the header instead of changing its text: a new text
    // re-lays out the word-wrapped label and the dock around it, twice for
    // every result.
    m_busyMark->setVisible(busy && m_list->count() > 0);
    placeBusyMark();
}

void StepperWidget::placeBusyMark()
{
    if (m_busyMark->isHidden())
        return;
    m_busyMark->adjustSize();
    m_busyMark->move(m_header->width() - kMargin - m_busyMark->width(), 4);
    m_busyMark->raise();
}

void StepperWidget::resizeEvent(QResizeEvent* event)
{
    QWidget::resizeEvent(event);
    placeBusyMark();
}

void StepperWidget::setTrace(const PrimapsTrace& trace, const std::vector<StepPictures>* pictures)
{
    const int previous = selectedIteration();
    const int h = trace.height;
    const int w = trace.width;
    auto* delegate = static_cast<StepDelegate*>(m_list->itemDelegate());
    delegate->setAspect(w > 0 ? double(h) / w : 1.0);

    const int count = int(trace.iterations.size());
    std::vector<StepPictures> drawnHere;
    if (!pictures || int(pictures->size()) != count) {
        drawnHere = stepPicturesOf(trace);
        pictures = &drawnHere;
    }
    // The cards are updated in place, the list repaints and lays out once:
    // a re-run (the threshold slider) mostly changes the pictures, not the count.
    m_list->setUpdatesEnabled(false);
    {
        const QSignalBlocker blocker(m_list);
        while (m_list->count() > count)
            delete m_list->takeItem(m_list->count() - 1);
        while (m_list->count() < count)
            m_list->addItem(new QListWidgetItem);
    }
    const double total = double(std::max(1, h * w));
    m_proposalAreas.assign(trace.iterations.size() + 1, 0.0);
    for (std::size_t k = 0; k < trace.iterations.size(); ++k)
        m_proposalAreas[k + 1] = trace.iterations[k].assigned / total;
    for (int k = 0; k < count; ++k) {
        const PrimapsIteration& it = trace.iterations[std::size_t(k)];
        const StepPictures& picture = (*pictures)[std::size_t(k)];
        const int id = k + 1;
        QListWidgetItem* item = m_list->item(k);
        item->setData(IdRole, id);
        item->setData(TitleRole, tr("Step %1  \u00b7  seed (y %2, x %3)")
                                     .arg(id)
                                     .arg(it.seedIndex / std::max(1, w))
                                     .arg(it.seedIndex % std::max(1, w)));
        item->setData(AreaRole, tr("proposal area %1").arg(percent(it.assigned / total)));
        const QString coverage =
            tr("covered %1").arg(percent(1.0 - it.remainingAfter / total));
        item->setData(CoverageRole, coverage);
        item->setData(DetailRole, coverage);
        item->setData(LabelRole, 0);
        item->setData(SeedRole,
                      QPoint(it.seedIndex % std::max(1, w), it.seedIndex / std::max(1, w)));
        item->setData(PrincipalRole, picture.principal);
        item->setData(RefinedRole, picture.refined);
        item->setData(MaskRole, picture.mask);
        item->setToolTip(
            tr("Step %1: %2 of %3 patches were still free; the proposal took %4 of them (its "
               "proposal area).\nPrincipal component explains variance %5; seed similarity max "
               "%6.\nIn the label map the proposal's share differs: the median filter, later "
               "steps and the CRF reshape it.")
                .arg(id)
                .arg(it.remainingBefore)
                .arg(h * w)
                .arg(it.assigned)
                .arg(double(it.explainedVariance), 0, 'g', 3)
                .arg(double(it.refinedMax), 0, 'f', 3));
    }
    m_list->setUpdatesEnabled(true);

    m_headerBase = tr("\u03c4 = %1  \u00b7  %2 \u00d7 %3 patches  \u00b7  %4 channels")
                       .arg(double(trace.params.threshold), 0, 'f', 2)
                       .arg(w)
                       .arg(h)
                       .arg(trace.channels);
    setBusy(m_busy);
    m_columns->setVisible(!trace.iterations.empty());
    m_summary->setText(stopDescription(trace));
    m_summary->show();

    // Keep the user's place when the same image is re-run with another threshold;
    // the card stayed selected, and the views that follow it hear about it again.
    if (previous >= 0 && previous < m_list->count()) {
        if (selectedIteration() != previous)
            m_list->setCurrentRow(previous);
        else
            emit iterationSelected(previous);
    } else if (previous >= 0)
        emit iterationSelected(-1);
}

void StepperWidget::setLabelShares(const std::vector<double>& shares)
{
    const std::vector<int> numbers = consecutiveLabelNumbers(shares);
    for (int row = 0; row < m_list->count(); ++row) {
        QListWidgetItem* item = m_list->item(row);
        const std::size_t id = std::size_t(item->data(IdRole).toInt());
        const int number = id < numbers.size() ? numbers[id] : 0;
        item->setData(LabelRole, number);
        const QString label = number > 0 ? tr("label %1: %2 of the map")
                                               .arg(number)
                                               .arg(percent(shares[id]))
                                         : tr("not in the label map");
        item->setData(DetailRole, QStringLiteral("%1  \u00b7  %2")
                                      .arg(item->data(CoverageRole).toString(), label));
    }
}

int StepperWidget::labelNumber(int index) const
{
    const QListWidgetItem* item = m_list->item(index);
    return item ? item->data(LabelRole).toInt() : 0;
}

QString StepperWidget::areaText(int index) const
{
    const QListWidgetItem* item = m_list->item(index);
    return item ? item->data(AreaRole).toString() : QString();
}

QString StepperWidget::detailText(int index) const
{
    const QListWidgetItem* item = m_list->item(index);
    return item ? item->data(DetailRole).toString() : QString();
}

int StepperWidget::fullyVisibleRows() const
{
    const QRect viewport = m_list->viewport()->rect();
    int rows = 0;
    for (int i = 0; i < m_list->count(); ++i) {
        const QRect r = m_list->visualItemRect(m_list->item(i));
        if (!r.isEmpty() && viewport.contains(r))
            ++rows;
    }
    return rows;
}

int StepperWidget::iterationCount() const
{
    return m_list->count();
}

int StepperWidget::selectedIteration() const
{
    const QList<QListWidgetItem*> items = m_list->selectedItems();
    return items.isEmpty() ? -1 : m_list->row(items.first());
}

void StepperWidget::setSelectedIteration(int index)
{
    if (index == selectedIteration())
        return;
    if (index < 0 || index >= m_list->count())
        m_list->clearSelection();
    else
        m_list->setCurrentRow(index);
}

QString StepperWidget::summaryText() const
{
    QString text = m_summary->text();
    return text.replace(QChar(0x00a0), QLatin1Char(' '));
}

QString StepperWidget::headerText() const
{
    return m_headerBase;
}

} // namespace primaps
