// SPDX-License-Identifier: MIT
#include "featureviewwidget.h"

#include "atomicfile.h"
#include "featurepca.h"
#include "imageconvert.h"
#include "overlay.h"
#include "patchsimilarity.h"
#include "pipeline.h"

#include <algorithm>
#include <cmath>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <qcustomplot.h>
#include <QAction>
#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QElapsedTimer>
#include <QFileDialog>
#include <QFileInfo>
#include <QFutureWatcher>
#include <QGraphicsView>
#include <QHBoxLayout>
#include <QLabel>
#include <QMouseEvent>
#include <QPainter>
#include <QPainterPath>
#include <QSettings>
#include <QSlider>
#include <QStackedWidget>
#include <QStandardItemModel>
#include <QtConcurrent/QtConcurrentRun>
#include <QToolButton>
#include <QVBoxLayout>

namespace primaps {

/// What one computation produced; shared read-only between the pool thread
/// that made it and the GUI thread.
struct FeatureViewData
{
    std::shared_ptr<const ImageDecomposition> decomposition;
    std::shared_ptr<const FeaturePca> pca;
    /// The basis shared by all images the PCA was projected on, or nullptr (its own PCA).
    std::shared_ptr<const FeaturePca> basis;
    std::vector<IterationProjection> iterations;
    /// Per position: the 1-based iteration whose mask took it first, 0 for none.
    std::vector<int> takenBy;
    QString error;
    double ms = 0;
    bool pcaReused = false;
};

namespace {

constexpr int kComponents = 8; // offered for R, G and B
const QColor kTaken(140, 140, 140);

QColor toQColor(const cv::Vec3b& rgb)
{
    return QColor(rgb[0], rgb[1], rgb[2]);
}

QString signedValue(double v)
{
    // A typographic minus lines up with the plus sign.
    const QString digits = QString::number(std::abs(v), 'f', std::abs(v) < 10 ? 2 : 1);
    return (v < 0 ? QStringLiteral("\u2212") : QStringLiteral("+")) + digits;
}

QString percent(double fraction)
{
    return QStringLiteral("%1 %").arg(100.0 * fraction, 0, 'f', 1);
}

bool sameFeatures(const FeatureMap& a, const FeatureMap& b)
{
    return a.channels == b.channels && a.height == b.height && a.width == b.width &&
           a.values == b.values;
}

// Runs on a pool thread.
std::shared_ptr<const FeatureViewData>
compute(const std::shared_ptr<const ImageDecomposition>& decomposition,
        const std::shared_ptr<const FeatureViewData>& previous,
        const std::shared_ptr<const FeaturePca>& basis)
{
    auto data = std::make_shared<FeatureViewData>();
    data->decomposition = decomposition;
    const bool shared = basis && basis->channels == decomposition->features.channels;
    data->basis = shared ? basis : nullptr;
    QElapsedTimer clock;
    clock.start();
    try {
        const FeatureMap& features = decomposition->features;
        if (data->basis) {
            data->pca = std::make_shared<const FeaturePca>(projectOntoPca(*data->basis, features));
        } else if (previous && previous->pca && !previous->basis && previous->decomposition &&
                   sameFeatures(previous->decomposition->features, features)) {
            data->pca = previous->pca; // another threshold on the same features
            data->pcaReused = true;
        } else {
            FeaturePcaParams params;
            params.components = kComponents;
            data->pca = std::make_shared<const FeaturePca>(computeFeaturePca(features, params));
        }
        data->iterations = iterationProjections(features, decomposition->trace);
        data->takenBy.assign(features.positions(), 0);
        const auto& iterations = decomposition->trace.iterations;
        for (std::size_t k = 0; k < iterations.size(); ++k)
            for (std::size_t i = 0; i < data->takenBy.size(); ++i)
                if (data->takenBy[i] == 0 && iterations[k].mask[i] > 0.0f)
                    data->takenBy[i] = int(k) + 1;
    } catch (const std::bad_alloc&) {
        data->error = FeatureViewWidget::tr("Not enough memory for the feature PCA.");
    } catch (const std::exception& e) {
        data->error = QString::fromLocal8Bit(e.what());
    }
    data->ms = double(clock.nsecsElapsed()) / 1e6;
    return data;
}

} // namespace

/// The picture: the photo's aspect, the padding left out, a cross-hair on the
/// hovered patch and, in the step view, the mask's outline and the seed.
class FeatureImageView : public QWidget
{
    Q_OBJECT

public:
    explicit FeatureImageView(QWidget* parent) : QWidget(parent)
    {
        setMouseTracking(true);
        setMinimumSize(160, 120);
        setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
    }

    QImage image;       ///< grid resolution
    QImage photo;       ///< original size
    QRectF source;      ///< the photo's extent in grid coordinates
    QSize photoSize;
    double opacity = 1.0;
    bool smooth = false;
    std::vector<unsigned char> outline; ///< grid cells of the mask to outline (may be empty)
    QPoint seed{-1, -1};
    QPointF hover{-1, -1}; ///< grid coordinates
    QString placeholder;

    QRectF imageRect() const
    {
        if (photoSize.isEmpty())
            return {};
        const QSizeF fitted =
            QSizeF(photoSize).scaled(QSizeF(rect().adjusted(4, 4, -4, -4).size()), Qt::KeepAspectRatio);
        return QRectF(QPointF((width() - fitted.width()) / 2.0, (height() - fitted.height()) / 2.0),
                      fitted);
    }

    QPointF gridToWidget(const QPointF& g) const
    {
        const QRectF t = imageRect();
        return QPointF(t.left() + (g.x() - source.left()) * t.width() / source.width(),
                       t.top() + (g.y() - source.top()) * t.height() / source.height());
    }

    QPointF widgetToGrid(const QPointF& p) const
    {
        const QRectF t = imageRect();
        return QPointF(source.left() + (p.x() - t.left()) * source.width() / t.width(),
                       source.top() + (p.y() - t.top()) * source.height() / t.height());
    }

signals:
    void hovered(const QPointF& gridPoint);

protected:
    void paintEvent(QPaintEvent*) override
    {
        QPainter painter(this);
        const QRectF target = imageRect();
        if (image.isNull() || target.isEmpty() || source.isEmpty()) {
            painter.setPen(palette().color(QPalette::PlaceholderText));
            painter.drawText(rect().adjusted(8, 8, -8, -8), Qt::AlignCenter | Qt::TextWordWrap,
                             placeholder);
            return;
        }
        painter.save();
        painter.setClipRect(target);
        if (opacity < 1.0 && !photo.isNull()) {
            painter.setRenderHint(QPainter::SmoothPixmapTransform, true);
            painter.drawImage(target, photo);
        } else if (opacity < 1.0) {
            painter.fillRect(target, Qt::black);
        }
        painter.setOpacity(opacity);
        painter.setRenderHint(QPainter::SmoothPixmapTransform, smooth);
        painter.drawImage(target, image, source);
        painter.setOpacity(1.0);

        const double cellW = target.width() / source.width();
        const double cellH = target.height() / source.height();
        if (!outline.empty()) {
            // Edges between a mask cell and a non-mask cell, with a dark halo so
            // the white line reads on any colour.
            QPainterPath path;
            const int w = image.width(), h = image.height();
            auto in = [&](int x, int y) {
                return x >= 0 && y >= 0 && x < w && y < h && outline[std::size_t(y) * w + x];
            };
            for (int y = 0; y < h; ++y)
                for (int x = 0; x < w; ++x) {
                    if (!in(x, y))
                        continue;
                    const QPointF a = gridToWidget(QPointF(x, y));
                    const QPointF b = gridToWidget(QPointF(x + 1, y + 1));
                    if (!in(x, y - 1)) {
                        path.moveTo(a.x(), a.y());
                        path.lineTo(b.x(), a.y());
                    }
                    if (!in(x, y + 1)) {
                        path.moveTo(a.x(), b.y());
                        path.lineTo(b.x(), b.y());
                    }
                    if (!in(x - 1, y)) {
                        path.moveTo(a.x(), a.y());
                        path.lineTo(a.x(), b.y());
                    }
                    if (!in(x + 1, y)) {
                        path.moveTo(b.x(), a.y());
                        path.lineTo(b.x(), b.y());
                    }
                }
            painter.setRenderHint(QPainter::Antialiasing, true);
            painter.strokePath(path, QPen(QColor(0, 0, 0, 150), 3.0));
            painter.strokePath(path, QPen(Qt::white, 1.3));
        }
        if (seed.x() >= 0) {
            const QPointF centre = gridToWidget(QPointF(seed.x() + 0.5, seed.y() + 0.5));
            const double r = std::max(4.0, 0.45 * std::min(cellW, cellH));
            painter.setRenderHint(QPainter::Antialiasing, true);
            painter.setBrush(Qt::NoBrush);
            painter.setPen(QPen(Qt::white, 3.0));
            painter.drawEllipse(centre, r, r);
            painter.setPen(QPen(Qt::black, 1.4));
            painter.drawEllipse(centre, r, r);
        }
        if (hover.x() >= 0) {
            const QPointF cell(std::floor(hover.x()), std::floor(hover.y()));
            const QRectF box(gridToWidget(cell), gridToWidget(cell + QPointF(1, 1)));
            painter.setRenderHint(QPainter::Antialiasing, false);
            painter.setBrush(Qt::NoBrush);
            painter.setPen(QPen(QColor(0, 0, 0, 170), 3.0));
            painter.drawRect(box.adjusted(-1, -1, 1, 1));
            painter.setPen(QPen(Qt::white, 1.0));
            painter.drawRect(box.adjusted(-1, -1, 1, 1));
        }
        painter.restore();
        painter.setPen(QPen(QColor(0, 0, 0, 70), 1.0));
        painter.setBrush(Qt::NoBrush);
        painter.drawRect(target.adjusted(-0.5, -0.5, 0.5, 0.5));
    }

    void mouseMoveEvent(QMouseEvent* event) override
    {
        const QPointF g = widgetToGrid(event->position());
        if (image.isNull() || !imageRect().contains(event->position()) || g.x() < 0 || g.y() < 0 ||
            g.x() >= image.width() || g.y() >= image.height())
            emit hovered(QPointF(-1, -1));
        else
            emit hovered(g);
    }

    void leaveEvent(QEvent*) override { emit hovered(QPointF(-1, -1)); }
};

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
        auto* combo = new QComboBox(channelsPage);
        combo->setSizeAdjustPolicy(QComboBox::AdjustToContents);
        combo->setToolTip(tr("Principal component shown in the %1 channel (its share of the "
                             "feature variance in brackets)")
                              .arg(c == 0 ? tr("red") : c == 1 ? tr("green") : tr("blue")));
        label->setBuddy(combo);
        for (int k = 0; k < kComponents; ++k)
            combo->addItem(tr("PC %1").arg(k + 1));
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


    m_chart = new QCustomPlot(this);
    m_chart->setMinimumHeight(110);
    m_chart->setMaximumHeight(160);
    m_chart->setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Preferred);
    m_chart->setBackground(palette().brush(QPalette::Base));
    m_chart->setCursor(Qt::PointingHandCursor);
    m_chart->setToolTip(tr("Bars: the variance each PriMaPs step's principal direction explains, "
                           "in its mask's colour.\nDots: that as a share of the variance of the "
                           "patches still free (right axis).\nClick a bar to select its step."));
    QFont small = font();
    small.setPointSizeF(small.pointSizeF() * 0.85);
    for (QCPAxis* axis : {m_chart->xAxis, m_chart->yAxis, m_chart->yAxis2}) {
        axis->setTickLabelFont(small);
        axis->setLabelFont(small);
        axis->grid()->setPen(QPen(QColor(0, 0, 0, 25), 1, Qt::DotLine));
    }
    m_chart->xAxis->setLabel(tr("PriMaPs step"));
    m_chart->yAxis->setLabel(tr("variance"));
    m_chart->yAxis2->setLabel(tr("% of free"));
    m_chart->yAxis2->setVisible(true);
    m_chart->yAxis2->grid()->setVisible(false);
    m_chart->yAxis2->setRange(0, 100);
    m_chart->yAxis2->setLabelColor(QColor(90, 90, 90));
    m_chart->yAxis2->setTickLabelColor(QColor(90, 90, 90));
    auto ticker = QSharedPointer<QCPAxisTickerFixed>::create();
    ticker->setTickStep(1.0);
    ticker->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
    m_chart->xAxis->setTicker(ticker);
    m_chart->xAxis->grid()->setVisible(false);
    m_chart->axisRect()->setAutoMargins(QCP::msLeft | QCP::msBottom | QCP::msRight);
    m_chart->axisRect()->setMargins(QMargins(0, 6, 0, 0));
    layout->addWidget(m_chart);
    connect(m_chart, &QCustomPlot::mousePress, this, [this](QMouseEvent* event) {
        const int bars = barCount();
        if (bars == 0 || !m_chart->axisRect()->rect().contains(event->pos()))
            return;
        const double x = m_chart->xAxis->pixelToCoord(event->position().x());
        const int index = int(std::lround(x)) - 1;
        if (index < 0 || index >= bars || std::abs(x - (index + 1)) > 0.5)
            return;
        setSelectedIteration(index);
        setMode(Mode::Iteration);
        emit iterationClicked(index);
    });

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
    m_running->watcher.setFuture(QtConcurrent::run(
        [decomposition, previous, basis] { return compute(decomposition, previous, basis); }));
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
        showGridPoint(m_hoverGrid); // the hint, or the values under a resting cursor
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

void FeatureViewWidget::rebuildChart()
{
    m_chart->clearPlottables();
    const int count = m_decomposition ? int(m_decomposition->trace.iterations.size()) : 0;
    double top = 0;
    for (int k = 0; k < count; ++k) {
        const double value = m_decomposition->trace.iterations[std::size_t(k)].explainedVariance;
        auto* bars = new QCPBars(m_chart->xAxis, m_chart->yAxis);
        bars->setWidth(0.72);
        bars->addData(k + 1, value);
        bars->setName(tr("step %1").arg(k + 1));
        bars->setSelectable(QCP::stNone);
        top = std::max(top, value);
    }
    // The share of the remaining variance, once the projections are known.
    if (hasResult() && count > 0) {
        auto* share = new QCPGraph(m_chart->xAxis, m_chart->yAxis2);
        for (int k = 0; k < count && k < int(m_data->iterations.size()); ++k)
            share->addData(k + 1, 100.0 * m_data->iterations[std::size_t(k)].explainedRatio());
        share->setPen(QPen(QColor(70, 70, 70), 1.0, Qt::DotLine));
        share->setScatterStyle(
            QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(QColor(50, 50, 50), 1.0), Qt::white, 5));
        share->setSelectable(QCP::stNone);
    }
    m_chart->xAxis->setRange(0.4, std::max(1, count) + 0.6);
    m_chart->yAxis->setRange(0, top > 0 ? top * 1.08 : 1.0);
    updateChartSelection();
}

void FeatureViewWidget::updateChartSelection()
{
    const int count = barCount();
    for (int k = 0; k < count; ++k) {
        auto* bars = qobject_cast<QCPBars*>(m_chart->plottable(k));
        if (!bars)
            continue;
        QColor colour = toQColor(labelColor(k + 1));
        const bool selected = k == m_selected;
        if (m_selected >= 0 && !selected)
            colour.setAlpha(80);
        bars->setBrush(colour);
        bars->setPen(selected ? QPen(palette().color(QPalette::WindowText), 2.0)
                              : QPen(colour.darker(130), 1.0));
    }
    m_chart->replot(QCustomPlot::rpQueuedReplot);
}

int FeatureViewWidget::barCount() const
{
    int bars = 0;
    for (int i = 0; i < m_chart->plottableCount(); ++i)
        if (qobject_cast<QCPBars*>(m_chart->plottable(i)))
            ++bars;
    return bars;
}

QPoint FeatureViewWidget::barPosition(int index) const
{
    auto* bars = index >= 0 && index < barCount() ? qobject_cast<QCPBars*>(m_chart->plottable(index))
                                                  : nullptr;
    if (!bars || bars->data()->isEmpty())
        return {-1, -1};
    // The layout is only current after a replot.
    m_chart->replot(QCustomPlot::rpImmediateRefresh);
    const double value = bars->data()->begin()->value;
    return QPoint(int(std::lround(m_chart->xAxis->coordToPixel(index + 1))),
                  int(std::lround(m_chart->yAxis->coordToPixel(value / 2.0))));
}

QWidget* FeatureViewWidget::chartWidget() const
{
    return m_chart;
}

QWidget* FeatureViewWidget::imageView() const
{
    return m_view;
}

QRectF FeatureViewWidget::imageRect() const
{
    return m_view->imageRect();
}

QString FeatureViewWidget::readoutText() const
{
    QString text = m_readout->text();
    return text.replace(QChar(0x00a0), QLatin1Char(' '));
}

QString FeatureViewWidget::captionText() const
{
    if (m_mode == Mode::Iteration)
        return m_stepInfo->text() + QLatin1Char('\n') + m_caption->text();
    return m_caption->text();
}

void FeatureViewWidget::showImagePoint(const QPointF& photoPoint)
{
    if (!hasResult() || photoPoint.x() < 0 || photoPoint.y() < 0) {
        showGridPoint(QPointF(-1, -1));
        return;
    }
    const PreparedImage& prepared = m_data->decomposition->prepared;
    const FeaturePca& p = *m_data->pca;
    if (prepared.rgb.empty()) {
        showGridPoint(photoPoint); // features without an image: photo pixels are patches
        return;
    }
    if (photoPoint.x() >= prepared.originalSize.width ||
        photoPoint.y() >= prepared.originalSize.height) {
        showGridPoint(QPointF(-1, -1));
        return;
    }
    const cv::Point2d g = imageToGrid({photoPoint.x(), photoPoint.y()}, prepared, p.height, p.width);
    showGridPoint(QPointF(g.x, g.y));
}

void FeatureViewWidget::showGridPoint(const QPointF& gridPoint)
{
    const FeaturePca* p = pca();
    const bool inside = p && gridPoint.x() >= 0 && gridPoint.y() >= 0 &&
                        gridPoint.x() < p->width && gridPoint.y() < p->height;
    m_hoverGrid = inside ? gridPoint : QPointF(-1, -1);
    m_view->hover = m_hoverGrid;
    m_view->update();
    if (!inside) {
        m_readout->setText(p ? tr("Hover over the picture or the canvas to read the component "
                                  "values of a patch.")
                             : QString());
        return;
    }
    const int x = int(gridPoint.x()), y = int(gridPoint.y());
    const std::size_t i = std::size_t(y) * p->width + x;
    const char* channelColours[3] = {"#c62828", "#2e7d32", "#1565c0"};
    QStringList parts;
    // Non-breaking spaces inside an item: a line breaks only between items.
    const auto keep = [](QString text) { return text.replace(QLatin1Char(' '), QChar(0x00a0)); };
    parts << keep(tr("patch x %1, y %2").arg(x).arg(y));
    if (m_mode == Mode::Iteration && m_selected >= 0) {
        const IterationProjection& it = m_data->iterations[std::size_t(m_selected)];
        const int taker = m_data->takenBy[i];
        QString state;
        if (!it.remaining[i])
            state = tr("taken by mask %1").arg(taker);
        else if (taker == m_selected + 1)
            state = tr("in this mask");
        else
            state = taker > 0 ? tr("left for mask %1").arg(taker) : tr("background");
        parts << QStringLiteral("<b>%1</b>\u00a0%2 (%3)")
                     .arg(keep(tr("step %1").arg(m_selected + 1)), signedValue(it.values[i]), state);
        for (int k = 0; k < 3; ++k)
            parts << keep(tr("PC %1 %2").arg(k + 1).arg(signedValue(p->projection(k)[i])));
    } else {
        for (std::size_t c = 0; c < 3; ++c) {
            const int k = m_components[c];
            parts << QStringLiteral("<span style=\"color:%1\"><b>%2</b></span>\u00a0PC\u00a0%3\u00a0%4")
                         .arg(QLatin1String(channelColours[c]))
                         .arg(QLatin1Char("RGB"[c]))
                         .arg(k + 1)
                         .arg(signedValue(p->projection(k)[i]));
        }
    }
    m_readout->setText(parts.join(QStringLiteral(" &nbsp;\u00b7&nbsp; ")));
}

void FeatureViewWidget::trackCanvas(QGraphicsView* view)
{
    if (m_tracked)
        m_tracked->viewport()->removeEventFilter(this);
    m_tracked = view;
    m_trackedViewport = view ? view->viewport() : nullptr;
    if (view) {
        view->viewport()->setMouseTracking(true);
        view->viewport()->installEventFilter(this);
    }
}

bool FeatureViewWidget::eventFilter(QObject* watched, QEvent* event)
{
    if (m_trackedViewport && watched == m_trackedViewport.get()) {
        if (event->type() == QEvent::MouseMove && m_tracked) {
            const auto* move = static_cast<QMouseEvent*>(event);
            showImagePoint(m_tracked->mapToScene(move->position().toPoint()));
        } else if (event->type() == QEvent::Leave) {
            showImagePoint(QPointF(-1, -1));
        }
    }
    return QWidget::eventFilter(watched, event); // observe only
}

QImage FeatureViewWidget::renderForExport() const
{
    if (!hasResult())
        return {};
    const PreparedImage& prepared = m_data->decomposition->prepared;
    const cv::Mat grid = toRgbMat(gridImage());
    if (prepared.rgb.empty())
        return toQImage(grid);
    const cv::Size size = prepared.originalSize;
    cv::Mat out = gridToImage(grid, prepared, size, isSmooth());
    const double alpha = opacity();
    if (alpha < 1.0) {
        cv::Mat photo = toRgbMat(m_photo);
        if (photo.size() != size)
            photo = cv::Mat(size, CV_8UC3, cv::Scalar::all(0));
        cv::addWeighted(out, alpha, photo, 1.0 - alpha, 0.0, out);
    }
    return toQImage(out);
}

bool FeatureViewWidget::exportImage(const QString& path)
{
    if (!hasResult())
        return false;
    // Everything the pool thread needs, copied: the view may change meanwhile.
    const std::shared_ptr<const FeatureViewData> data = m_data;
    const cv::Mat grid = toRgbMat(gridImage());
    const cv::Mat photo = toRgbMat(m_photo);
    const bool smooth = isSmooth();
    const double alpha = opacity();
    auto* watcher = new QFutureWatcher<QString>(this);
    connect(watcher, &QFutureWatcher<QString>::finished, this, [this, watcher, path] {
        const QString error = watcher->result();
        watcher->deleteLater();
        emit exportFinished(path, error);
    });
    watcher->setFuture(QtConcurrent::run([data, grid, photo, smooth, alpha, path] {
        try {
            const PreparedImage& prepared = data->decomposition->prepared;
            cv::Mat out = grid;
            if (!prepared.rgb.empty()) {
                out = gridToImage(grid, prepared, prepared.originalSize, smooth);
                if (alpha < 1.0 && photo.size() == out.size())
                    cv::addWeighted(out, alpha, photo, 1.0 - alpha, 0.0, out);
            }
            cv::Mat bgr;
            cv::cvtColor(out, bgr, cv::COLOR_RGB2BGR);
            writeImageAtomic(path.toStdString(), bgr);
            return QString();
        } catch (const std::exception& e) {
            const QString message = QString::fromLocal8Bit(e.what());
            return message.contains(path) ? message : QStringLiteral("'%1': %2").arg(path, message);
        }
    }));
    return true;
}

void FeatureViewWidget::exportWithDialog()
{
    if (!hasResult())
        return;
    QSettings settings;
    const QFileInfo image(m_imagePath);
    const QString stem = m_imagePath.isEmpty() ? QStringLiteral("features") : image.completeBaseName();
    const QString suffix = m_mode == Mode::Iteration && m_selected >= 0
                               ? QStringLiteral("_step%1_direction.png").arg(m_selected + 1)
                               : QStringLiteral("_pca_%1%2%3.png")
                                     .arg(m_components[0] + 1)
                                     .arg(m_components[1] + 1)
                                     .arg(m_components[2] + 1);
    const QString dir = settings
                            .value(QStringLiteral("paths/export"),
                                   m_imagePath.isEmpty() ? QDir::homePath() : image.absolutePath())
                            .toString();
    const QString suggestion = QDir(dir).filePath(stem + suffix);
    // The dialog object (not the static helper) appends ".png" itself and asks
    // before replacing the final name.
    QFileDialog dialog(this, tr("Export Feature View"), suggestion, tr("PNG images (*.png)"));
    dialog.setAcceptMode(QFileDialog::AcceptSave);
    dialog.setDefaultSuffix(QStringLiteral("png"));
    dialog.setOption(QFileDialog::DontConfirmOverwrite, false);
    dialog.selectFile(suggestion);
    if (dialog.exec() != QDialog::Accepted || dialog.selectedFiles().isEmpty())
        return;
    const QString path = dialog.selectedFiles().first();
    settings.setValue(QStringLiteral("paths/export"), QFileInfo(path).absolutePath());
    exportImage(path);
}

} // namespace primaps

#include "featureviewwidget.moc"
