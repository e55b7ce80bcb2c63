// SPDX-License-Identifier: MIT
#include "explore/featureviewwidget.h"

#include "common/backgroundpool.h"
#include "explore/featureimageview.h"
#include "explore/featureviewdata.h"
#include "common/imageconvert.h"
#include "image/overlay.h"
#include "decompose/patchsimilarity.h"
#include "pipeline/pipeline.h"

#include <algorithm>
#include <cmath>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <qcustomplot.h>
#include <QAction>
#include <QCheckBox>
#include <QComboBox>
#include <QElapsedTimer>
#include <QFutureWatcher>
#include <QHBoxLayout>
#include <QLabel>
#include <QPainter>
#include <QSlider>
#include <QStackedWidget>
#include <QStyleOptionComboBox>
#include <QStylePainter>
#include <QStandardItemModel>
#include <QtConcurrent/QtConcurrentRun>
#include <QToolButton>
#include <QVBoxLayout>

namespace primaps {

namespace {

constexpr int kComponents = kFeatureViewComponents; // offered for R, G and B
const QColor kTaken(140, 140, 140);

QString percent(double fraction)
{
    return QStringLiteral("%1 %").arg(100.0 * fraction, 0, 'f', 1);
}

/// A principal-component choice that shows "PC 1" when closed and "PC 1 ·
/// 41.5 %" in its list: three combos with the shares do not fit the dock's
/// width on a laptop, and a cut "PC 1 · 4" would misread as a number. The
/// shares of the chosen three are in the caption and the tool tip.
class ComponentCombo : public QComboBox
{
public:
    using QComboBox::QComboBox;

    QString shownText() const
    {
        const QString shortText = currentData(FeatureViewWidget::ComponentShortTextRole).toString();
        return shortText.isEmpty() ? currentText() : shortText;
    }

    QSize sizeHint() const override
    {
        const QFontMetrics fm = fontMetrics();
        int widest = fm.horizontalAdvance(QStringLiteral("PC 00"));
        for (int i = 0; i < count(); ++i) {
            const QString shortText = itemData(i, FeatureViewWidget::ComponentShortTextRole).toString();
            widest = std::max(widest, fm.horizontalAdvance(shortText.isEmpty() ? itemText(i)
                                                                               : shortText));
        }
        QStyleOptionComboBox option;
        initStyleOption(&option);
        return style()->sizeFromContents(QStyle::CT_ComboBox, &option,
                                         QSize(widest + 4, fm.height()), this);
    }
    QSize minimumSizeHint() const override { return sizeHint(); }

protected:
    void paintEvent(QPaintEvent*) override
    {
        QStylePainter painter(this);
        painter.setPen(palette().color(QPalette::Text));
        QStyleOptionComboBox option;
        initStyleOption(&option);
        option.currentText = shownText();
        painter.drawComplexControl(QStyle::CC_ComboBox, option);
        painter.drawControl(QStyle::CE_ComboBoxLabel, option);
    }
};

} // namespace

struct FeatureViewWidget::Computation
{
    QFutureWatcher<std::shared_ptr<const FeatureViewData>> watcher;
    std::shared_ptr<const ImageDecomposition> decomposition;
};

FeatureViewWidget::FeatureViewWidget(QWidget* parent) : QWidget(parent)
{
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 4, 6, 6);
    layout->setSpacing(4);

    // View switch: PCA-RGB or the selected step's direction.
    auto* modeRow = new QHBoxLayout;
    modeRow->setSpacing(0);
    auto makeModeButton = [this](const QString& text, const QString& tip) {
        auto* button = new QToolButton(this);
        button->setText(text);
        button->setToolTip(tip);
        button->setCheckable(true);
        button->setAutoExclusive(true);
        button->setToolButtonStyle(Qt::ToolButtonTextOnly);
        button->setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
        return button;
    };
    m_pcaButton = makeModeButton(tr("PCA-RGB"),
                                 tr("Three principal components of the image's features as "
                                    "red, green and blue:\npatches the backbone sees alike "
                                    "get similar colours."));
    m_stepButton = makeModeButton(tr("Step direction"),
                                  tr("The selected PriMaPs step: how far each patch lies along "
                                     "its principal direction.\nSelect a step in the list or "
                                     "click a bar below."));
    m_pcaButton->setChecked(true);
    m_stepButton->setEnabled(false);
    modeRow->addWidget(m_pcaButton);
    modeRow->addWidget(m_stepButton);
    modeRow->addSpacing(8);
    layout->addLayout(modeRow);
    connect(m_pcaButton, &QToolButton::toggled, this, [this](bool on) {
        if (on)
            setMode(Mode::PcaRgb);
    });
    connect(m_stepButton, &QToolButton::toggled, this, [this](bool on) {
        if (on)
            setMode(Mode::Iteration);
    });

    // What the picture shows: the colour channels' components (PCA-RGB) or the
    // step's share of the variance (step view), in one row of constant height.
    m_choice = new QStackedWidget(this);
    m_choice->setSizePolicy(QSizePolicy::Preferred, QSizePolicy::Fixed);
    auto* channelsPage = new QWidget(m_choice);
    auto* controls = new QHBoxLayout(channelsPage);
    controls->setContentsMargins(0, 0, 0, 0);
    controls->setSpacing(3);
    const char* channelNames[3] = {"R", "G", "B"};
    const QColor channelColours[3] = {QColor(200, 40, 40), QColor(30, 150, 50), QColor(40, 80, 210)};
    for (int c = 0; c < 3; ++c) {
        auto* label = new QLabel(QString::fromLatin1(channelNames[c]), channelsPage);
        label->setStyleSheet(QStringLiteral("font-weight: bold; color: %1;").arg(channelColours[c].name()));
        auto* combo = new ComponentCombo(channelsPage);
        combo->setToolTip(tr("Principal component shown in the %1 channel (its share of the "
                             "feature variance in brackets)")
                              .arg(c == 0 ? tr("red") : c == 1 ? tr("green") : tr("blue")));
        label->setBuddy(combo);
        for (int k = 0; k < kComponents; ++k) {
            combo->addItem(tr("PC %1").arg(k + 1));
            combo->setItemData(k, tr("PC %1").arg(k + 1), ComponentShortTextRole);
        }
        combo->setCurrentIndex(c);
        connect(combo, qOverload<int>(&QComboBox::activated), this, [this, c](int index) {
            std::array<int, 3> chosen = m_components;
            chosen[std::size_t(c)] = index;
            setComponents(chosen);
        });
        m_combos[std::size_t(c)] = combo;
        controls->addWidget(label);
        controls->addWidget(combo);
        controls->addSpacing(3);
    }
    controls->addStretch(1);
    m_choice->addWidget(channelsPage);
    m_stepInfo = new QLabel(m_choice);
    m_stepInfo->setTextFormat(Qt::RichText);
    m_choice->addWidget(m_stepInfo);
    layout->addWidget(m_choice);

    auto* display = new QHBoxLayout;
    display->setSpacing(6);
    m_smooth = new QCheckBox(tr("Smooth"), this);
    m_smooth->setToolTip(tr("Interpolate between patch centres instead of one square per patch"));
    connect(m_smooth, &QCheckBox::toggled, this, [this] {
        m_view->smooth = m_smooth->isChecked();
        m_view->update();
    });
    display->addWidget(m_smooth);
    m_acrossImages = new QCheckBox(tr("All images"), this);
    m_acrossImages->setToolTip(
        tr("Fit the principal components to the features of every loaded image, so that a "
           "colour means the same in each (computed in the background)"));
    connect(m_acrossImages, &QCheckBox::toggled, this, &FeatureViewWidget::pcaAcrossImagesToggled);
    display->addWidget(m_acrossImages);
    display->addSpacing(6);
    auto* opacityLabel = new QLabel(tr("Opacity"), this);
    m_opacity = new QSlider(Qt::Horizontal, this);
    m_opacity->setRange(0, 100);
    m_opacity->setValue(100);
    m_opacity->setToolTip(tr("Opacity of the colours: lower it to see the photo through them"));
    m_opacity->setAccessibleName(tr("Feature colour opacity"));
    opacityLabel->setBuddy(m_opacity);
    connect(m_opacity, &QSlider::valueChanged, this, [this](int value) {
        m_view->opacity = value / 100.0;
        m_view->update();
    });
    display->addWidget(opacityLabel);
    display->addWidget(m_opacity, 1);
    m_exportAction = new QAction(tr("Export Feature &View\u2026"), this);
    m_exportAction->setStatusTip(
        tr("Save the feature view (PCA-RGB or the step's direction) at the image's size as a PNG"));
    m_exportAction->setIconText(tr("Export PNG\u2026"));
    m_exportAction->setEnabled(false);
    connect(m_exportAction, &QAction::triggered, this, &FeatureViewWidget::exportWithDialog);
    m_exportButton = new QToolButton(this);
    m_exportButton->setDefaultAction(m_exportAction);
    m_exportButton->setToolButtonStyle(Qt::ToolButtonTextOnly);
    modeRow->addWidget(m_exportButton);
    layout->addLayout(display);

    m_caption = new QLabel(this);
    m_caption->setWordWrap(true);
    m_caption->setTextFormat(Qt::RichText);
    m_caption->setToolTip(
        tr("PCA-RGB: the features of all patches, mean-centred; the principal components are\n"
           "oriented like PriMaPs' directions, so PC 1 is the direction of step 1. Each\n"
           "component is scaled from its 1st to its 99th percentile, so a few outliers do\n"
           "not wash out the rest."));
    layout->addWidget(m_caption);

    m_view = new FeatureImageView(this);
    m_view->placeholder = tr("The principal components of the features appear here once an "
                             "image is decomposed.");
    layout->addWidget(m_view, 1);
    connect(m_view, &FeatureImageView::hovered, this, &FeatureViewWidget::showGridPoint);

    m_readout = new QLabel(this);
    m_readout->setWordWrap(true);
    m_readout->setTextFormat(Qt::RichText);
    m_readout->setMinimumHeight(2 * m_readout->fontMetrics().height() + 2);
    m_readout->setAlignment(Qt::AlignLeft | Qt::AlignTop);
    layout->addWidget(m_readout);


    createChart();
    layout->addWidget(m_chart);

    clear();
}

FeatureViewWidget::~FeatureViewWidget()
{
    m_hasPending = false;
    if (m_running)
        m_running->watcher.waitForFinished();
    if (m_tracked)
        m_tracked->viewport()->removeEventFilter(this);
}

void FeatureViewWidget::clear()
{
    m_decomposition.reset();
    m_photo = QImage();
    m_imagePath.clear();
    m_hasPending = false;
    m_pending.reset();
    m_data.reset();
    m_pcaImage = QImage();
    m_iterationImage = QImage();
    m_selected = -1;
    m_hoverGrid = QPointF(-1, -1);
    m_stepButton->setEnabled(false);
    m_pcaButton->setChecked(true);
    m_mode = Mode::PcaRgb;
    m_view->image = QImage();
    m_view->photo = QImage();
    m_view->photoSize = QSize();
    m_view->outline.clear();
    m_view->seed = QPoint(-1, -1);
    m_view->hover = QPointF(-1, -1);
    m_view->update();
    m_readout->clear();
    m_exportAction->setEnabled(false);
    updateComboLabels();
    rebuildChart();
    updateCaption();
}

void FeatureViewWidget::setDecomposition(std::shared_ptr<const ImageDecomposition> decomposition,
                                         const QImage& photo, const QString& imagePath)
{
    if (!decomposition) {
        clear();
        return;
    }
    if (decomposition == m_decomposition)
        return;
    m_decomposition = decomposition;
    m_photo = photo;
    m_imagePath = imagePath;
    const int iterations = int(decomposition->trace.iterations.size());
    if (m_selected >= iterations)
        m_selected = -1;
    rebuildChart();
    m_pending = decomposition;
    m_hasPending = true;
    if (!m_running)
        startNext();
    updateCaption();
}

bool FeatureViewWidget::isPcaAcrossImages() const
{
    return m_acrossImages->isChecked();
}

void FeatureViewWidget::setPcaAcrossImages(bool on)
{
    m_acrossImages->setChecked(on);
}

void FeatureViewWidget::setPcaBasis(std::shared_ptr<const FeaturePca> basis, int images)
{
    if (basis == m_basis)
        return;
    m_basis = std::move(basis);
    m_basisImages = images;
    if (!m_decomposition)
        return;
    m_pending = m_decomposition; // the same features, projected anew
    m_hasPending = true;
    if (!m_running)
        startNext();
}

void FeatureViewWidget::startNext()
{
    if (!m_hasPending)
        return;
    m_hasPending = false;
    m_running = std::make_unique<Computation>();
    m_running->decomposition = std::move(m_pending);
    m_pending.reset();
    connect(&m_running->watcher, &QFutureWatcher<std::shared_ptr<const FeatureViewData>>::finished,
            this, &FeatureViewWidget::onComputed);
    // The newest finished result, whoever's it was, may hold the same features.
    const std::shared_ptr<const FeatureViewData> previous = m_data;
    const std::shared_ptr<const ImageDecomposition> decomposition = m_running->decomposition;
    const std::shared_ptr<const FeaturePca> basis = m_basis;
    m_running->watcher.setFuture(runInBackground([decomposition, previous, basis] {
        return computeFeatureViewData(decomposition, previous, basis);
    }));
}

void FeatureViewWidget::onComputed()
{
    const std::shared_ptr<const FeatureViewData> data = m_running->watcher.result();
    m_running.reset();
    if (data && data->pca && !data->pcaReused)
        ++m_pcaComputations;
    if (data && data->decomposition == m_decomposition) {
        m_data = data;
        m_lastMs = data->ms;
        const int iterations = int(data->iterations.size());
        if (m_selected >= iterations)
            m_selected = -1;
        m_view->photo = m_photo;
        if (data->pca) {
            const PreparedImage& prepared = data->decomposition->prepared;
            const FeaturePca& pca = *data->pca;
            if (!prepared.rgb.empty() && prepared.originalSize.width > 0) {
                const cv::Point2d a = imageToGrid({0.0, 0.0}, prepared, pca.height, pca.width);
                const cv::Point2d b =
                    imageToGrid({double(prepared.originalSize.width),
                                 double(prepared.originalSize.height)},
                                prepared, pca.height, pca.width);
                m_view->source = QRectF(QPointF(a.x, a.y), QPointF(b.x, b.y));
                m_view->photoSize = QSize(prepared.originalSize.width, prepared.originalSize.height);
            } else {
                // Features without an image (a .npy file): the grid is the picture.
                m_view->source = QRectF(0, 0, pca.width, pca.height);
                m_view->photoSize = QSize(pca.width, pca.height);
            }
            for (std::size_t c = 0; c < 3; ++c)
                m_components[c] = std::min(m_components[c], pca.components - 1);
        }
        m_exportAction->setEnabled(data->pca != nullptr);
        updateComboLabels();
        rebuildChart();
        updatePicture();
        updateCaption();
        refreshHover();
        emit resultShown();
    }
    if (m_hasPending)
        startNext();
}

bool FeatureViewWidget::isBusy() const
{
    return m_running != nullptr || m_hasPending;
}

bool FeatureViewWidget::hasResult() const
{
    return m_data && m_data->pca && m_data->decomposition == m_decomposition;
}

const FeaturePca* FeatureViewWidget::pca() const
{
    return hasResult() ? m_data->pca.get() : nullptr;
}

void FeatureViewWidget::setMode(Mode mode)
{
    if (mode == Mode::Iteration && m_selected < 0)
        mode = Mode::PcaRgb;
    m_mode = mode;
    {
        const QSignalBlocker a(m_pcaButton), b(m_stepButton);
        m_pcaButton->setChecked(mode == Mode::PcaRgb);
        m_stepButton->setChecked(mode == Mode::Iteration);
    }
    m_choice->setCurrentIndex(mode == Mode::PcaRgb ? 0 : 1);
    updatePicture();
    updateCaption();
    if (hasResult())
        showGridPoint(m_hoverGrid); // the read-out names what this view shows
}

void FeatureViewWidget::setComponents(const std::array<int, 3>& components)
{
    const int available = pca() ? pca()->components : kComponents;
    for (std::size_t c = 0; c < 3; ++c)
        m_components[c] = std::clamp(components[c], 0, available - 1);
    for (std::size_t c = 0; c < 3; ++c)
        m_combos[c]->setCurrentIndex(m_components[c]);
    updatePicture();
    updateCaption();
    if (m_hoverGrid.x() >= 0)
        showGridPoint(m_hoverGrid);
}

bool FeatureViewWidget::isSmooth() const
{
    return m_smooth->isChecked();
}

void FeatureViewWidget::setSmooth(bool smooth)
{
    m_smooth->setChecked(smooth);
}

double FeatureViewWidget::opacity() const
{
    return m_opacity->value() / 100.0;
}

void FeatureViewWidget::setOpacity(double opacity)
{
    m_opacity->setValue(int(std::lround(std::clamp(opacity, 0.0, 1.0) * 100.0)));
}

void FeatureViewWidget::setSelectedIteration(int index)
{
    const int count = m_decomposition ? int(m_decomposition->trace.iterations.size()) : 0;
    if (index < 0 || index >= count)
        index = -1;
    const bool changed = index != m_selected;
    m_selected = index;
    m_stepButton->setEnabled(index >= 0);
    m_stepButton->setText(index >= 0 ? tr("Step %1 direction").arg(index + 1)
                                     : tr("Step direction"));
    updateChartSelection();
    // A new selection shows its step; the same one again (a re-run with another
    // threshold) keeps the view the user chose.
    if (index < 0)
        setMode(Mode::PcaRgb);
    else if (changed)
        setMode(Mode::Iteration);
    else {
        updatePicture();
        updateCaption();
    }
    if (m_hoverGrid.x() >= 0)
        showGridPoint(m_hoverGrid);
}

void FeatureViewWidget::updatePicture()
{
    m_view->outline.clear();
    m_view->seed = QPoint(-1, -1);
    if (!hasResult()) {
        m_view->image = QImage();
        m_pcaImage = QImage();
        m_iterationImage = QImage();
        m_view->update();
        return;
    }
    const FeaturePca& pca = *m_data->pca;
    m_pcaImage = toQImage(pcaRgb(pca, m_components));
    m_iterationImage = QImage();
    if (m_selected >= 0 && m_selected < int(m_data->iterations.size())) {
        const IterationProjection& p = m_data->iterations[std::size_t(m_selected)];
        const float span = p.scale > 0.0f ? p.scale : 1.0f;
        cv::Mat colours = heatmap(p.values, pca.height, pca.width, -span, span);
        // Patches earlier masks took: washed towards the stepper's grey, so the
        // part this step chose from stands out and the values still show.
        for (int y = 0; y < pca.height; ++y)
            for (int x = 0; x < pca.width; ++x)
                if (!p.remaining[std::size_t(y) * pca.width + x]) {
                    cv::Vec3b& c = colours.at<cv::Vec3b>(y, x);
                    for (int ch = 0; ch < 3; ++ch)
                        c[ch] = static_cast<unsigned char>(
                            std::lround(0.3 * c[ch] + 0.7 * kTaken.red()));
                }
        m_iterationImage = toQImage(colours);
        if (m_mode == Mode::Iteration) {
            const PrimapsIteration& it = m_data->decomposition->trace.iterations[std::size_t(m_selected)];
            m_view->outline.resize(it.mask.size());
            for (std::size_t i = 0; i < it.mask.size(); ++i)
                m_view->outline[i] = it.mask[i] > 0.0f && p.remaining[i];
            m_view->seed = QPoint(it.seedIndex % pca.width, it.seedIndex / pca.width);
        }
    }
    m_view->image = gridImage();
    m_view->update();
}

QImage FeatureViewWidget::gridImage() const
{
    if (m_mode == Mode::Iteration && !m_iterationImage.isNull())
        return m_iterationImage;
    return m_pcaImage;
}

void FeatureViewWidget::updateComboLabels()
{
    const FeaturePca* p = pca();
    for (std::size_t c = 0; c < 3; ++c) {
        QComboBox* combo = m_combos[c];
        const QSignalBlocker blocker(combo);
        for (int k = 0; k < combo->count(); ++k) {
            const bool exists = !p || k < p->components;
            combo->setItemText(k, p && exists ? tr("PC %1 \u00b7 %2").arg(k + 1).arg(percent(p->explainedRatio(k)))
                                              : tr("PC %1").arg(k + 1));
            // Components a small map does not have cannot be chosen.
            if (auto* model = qobject_cast<QStandardItemModel*>(combo->model()))
                if (QStandardItem* item = model->item(k))
                    item->setEnabled(exists);
        }
        combo->setCurrentIndex(m_components[c]);
        combo->updateGeometry();
    }
}

void FeatureViewWidget::updateCaption()
{
    const QColor ink = palette().color(QPalette::WindowText);
    const QColor paper = palette().color(QPalette::Window);
    const QColor soft((ink.red() * 3 + paper.red() * 2) / 5, (ink.green() * 3 + paper.green() * 2) / 5,
                      (ink.blue() * 3 + paper.blue() * 2) / 5);
    const QString softSpan = QStringLiteral("<span style=\"color:%1\">").arg(soft.name());
    if (!m_decomposition) {
        m_caption->clear();
        return;
    }
    if (m_data && !m_data->error.isEmpty() && m_data->decomposition == m_decomposition) {
        m_caption->setText(QStringLiteral("<span style=\"color:#b3261e\">%1</span>")
                               .arg(m_data->error.toHtmlEscaped()));
        return;
    }
    const FeaturePca* p = pca();
    if (!p) {
        m_caption->setText(softSpan + tr("Computing the principal components\u2026") +
                           QStringLiteral("</span>"));
        return;
    }
    const QString grid = tr("%1 \u00d7 %2 patches \u00d7 %3 channels").arg(p->width).arg(p->height).arg(p->channels);
    if (m_mode == Mode::Iteration && m_selected >= 0) {
        const IterationProjection& it = m_data->iterations[std::size_t(m_selected)];
        m_stepInfo->setText(tr("<b>Step %1</b>: its direction explains %2 of the variance still free")
                                .arg(m_selected + 1)
                                .arg(percent(it.explainedRatio())));
        m_caption->setText(softSpan +
                           tr("Position along the step's direction: red +, blue \u2212 "
                              "\u00b7 grey: taken earlier \u00b7 outline: its mask \u00b7 "
                              "ring: its seed") +
                           QStringLiteral("</span>"));
    } else {
        double shown = 0;
        for (int k : m_components)
            shown += p->explainedRatio(k);
        const bool distinct = m_components[0] != m_components[1] &&
                              m_components[1] != m_components[2] &&
                              m_components[0] != m_components[2];
        QString text = tr("PC %1, %2, %3 as R, G, B")
                           .arg(m_components[0] + 1)
                           .arg(m_components[1] + 1)
                           .arg(m_components[2] + 1);
        if (distinct)
            text += tr(" (%1 of the variance)").arg(percent(shown));
        text += QStringLiteral(" \u00b7 ") + grid;
        if (m_data && m_data->basis)
            text += QStringLiteral(" \u00b7 ") + tr("fitted across %n image(s)", nullptr, m_basisImages);
        m_caption->setText(softSpan + text + QStringLiteral("</span>"));
    }
}

QString FeatureViewWidget::captionText() const
{
    if (m_mode == Mode::Iteration)
        return m_stepInfo->text() + QLatin1Char('\n') + m_caption->text();
    return m_caption->text();
}

} // namespace primaps

