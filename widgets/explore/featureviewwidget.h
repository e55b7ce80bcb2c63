// SPDX-License-Identifier: MIT
#pragma once

#include <array>
#include <memory>
#include <QImage>
#include <QPointer>
#include <QPointF>
#include <QString>
#include <QWidget>

class QAction;
class QCheckBox;
class QComboBox;
class QCustomPlot;
class QGraphicsView;
class QLabel;
class QSlider;
class QStackedWidget;
class QToolButton;

namespace primaps {

struct ImageDecomposition;
struct FeaturePca;
class FeatureImageView;
struct FeatureViewData;

/// The "Features" dock (docs/ARCHITECTURE.md, "Widgets: explore"; eigenvector / PCA-RGB view): what the backbone
/// sees and why PriMaPs splits where it does.
///
/// - PCA-RGB: three principal components of the image's feature map (chosen
///   per colour channel, PC 1-3 by default) as R, G and B, each scaled between
///   its 1st and 99th percentile, at the image's aspect with the padding left
///   out; nearest (one square per patch) or smooth, optionally over the photo.
/// - Step view: the projection of every patch onto the principal direction of
///   the selected PriMaPs iteration (blue-white-red, symmetric), with the
///   patches earlier masks took washed out, the iteration's mask outlined and
///   its seed ringed.
/// - A bar chart of each iteration's explained variance (bars in the masks'
///   colours; the dots are the share of the remaining features' variance);
///   clicking a bar selects that iteration.
/// - A read-out of the component values under the cursor, over this view or
///   over a tracked canvas (trackCanvas()).
///
/// Threading: create and use it on the GUI thread. setDecomposition() never
/// blocks: the PCA and the per-iteration projections run on a pool thread, on
/// the features the decomposition already holds (the backbone is never run
/// again); when the features are the same as last time (another threshold)
/// only the projections are recomputed. Requests coalesce: while one runs,
/// only the newest waiting one is kept. Results arrive through a queued
/// signal; the destructor waits for a running computation.
class FeatureViewWidget : public QWidget
{
    Q_OBJECT

public:
    /// The item data role of a component combo's closed text ("PC 1"); the
    /// list shows the item text with its share ("PC 1 · 41.5 %").
    static constexpr int ComponentShortTextRole = Qt::UserRole + 1;

    enum class Mode
    {
        PcaRgb,
        Iteration
    };

    explicit FeatureViewWidget(QWidget* parent = nullptr);
    ~FeatureViewWidget() override;

    /// Shows the features of `decomposition` (shared, never modified; the
    /// widget keeps it alive) over `photo`, the original image; `imagePath`
    /// names the export. The bar chart updates at once, the pictures when the
    /// computation ends (resultShown()).
    void setDecomposition(std::shared_ptr<const ImageDecomposition> decomposition,
                          const QImage& photo, const QString& imagePath = QString());
    void clear();

    /// A computation is queued or running.
    bool isBusy() const;
    /// A result for the current decomposition is on display.
    bool hasResult() const;
    /// The PCA on display, or nullptr.
    const FeaturePca* pca() const;
    /// How many times the PCA itself was computed (features reused do not count).
    int pcaComputations() const { return m_pcaComputations; }
    /// Wall time of the last computation (PCA and projections), in milliseconds.
    double lastComputeMs() const { return m_lastMs; }

    Mode mode() const { return m_mode; }
    void setMode(Mode mode);
    /// Components shown as R, G and B (0-based).
    std::array<int, 3> components() const { return m_components; }
    void setComponents(const std::array<int, 3>& components);
    bool isSmooth() const;
    void setSmooth(bool smooth);
    /// Opacity of the colours over the photo, 0..1 (1: the photo is hidden).
    double opacity() const;
    void setOpacity(double opacity);

    /// The picture on display at the feature grid's resolution: the PCA-RGB
    /// image, or the selected iteration's projection map. Null before a result.
    QImage gridImage() const;
    /// The PCA-RGB image at the grid's resolution (null before a result).
    QImage pcaImage() const { return m_pcaImage; }
    /// What export writes: the picture on display at the original image's size,
    /// blended over the photo at the current opacity. Null before a result.
    QImage renderForExport() const;

    /// The selected iteration (0-based) or -1.
    int selectedIteration() const { return m_selected; }
    /// Bars in the chart (one per PriMaPs iteration).
    int barCount() const;
    /// Centre of iteration `index`'s bar in chartWidget() coordinates.
    QPoint barPosition(int index) const;
    QWidget* chartWidget() const;
    QWidget* imageView() const;
    /// Where the picture is drawn in imageView() coordinates (the photo's aspect).
    QRectF imageRect() const;
    /// The read-out under the picture (rich text, with plain spaces).
    QString readoutText() const;
    /// The caption over the picture (with the step's summary in the step view).
    QString captionText() const;

    /// PCA-RGB fitted across all loaded images (the "All images" box): whoever
    /// owns the images computes the basis (computeJointFeaturePca()) when
    /// pcaAcrossImagesToggled() asks and hands it over with setPcaBasis().
    bool isPcaAcrossImages() const;
    void setPcaAcrossImages(bool on);
    /// Projects every image's features onto `basis` instead of fitting its own
    /// PCA (nullptr: each image its own again); `images` is how many images it
    /// was fitted to, for the caption. Recomputes the picture in the background.
    void setPcaBasis(std::shared_ptr<const FeaturePca> basis, int images = 0);
    std::shared_ptr<const FeaturePca> pcaBasis() const { return m_basis; }

    /// Writes renderForExport() to `path` as a PNG, atomically, on a pool
    /// thread; exportFinished() reports the outcome. Replaces an existing file:
    /// exportAction() asks first. Returns false when there is nothing to write.
    bool exportImage(const QString& path);
    /// "Export Feature View…": asks for a file (and before replacing one), then exportImage().
    QAction* exportAction() const { return m_exportAction; }

    /// Follows the mouse over `view` (whose scene is in photo pixels, like
    /// CanvasWidget's): the read-out and a cross-hair show the patch under it.
    void trackCanvas(QGraphicsView* view);

public slots:
    /// Selects iteration `index` (-1: none); a selection switches to the step
    /// view, and clearing it returns to PCA-RGB. Does not emit iterationClicked().
    void setSelectedIteration(int index);
    /// Shows the read-out and cross-hair for a point of the photo (in its
    /// pixels); a point outside it clears them.
    void showImagePoint(const QPointF& photoPoint);

signals:
    /// The user clicked iteration `index`'s bar.
    void iterationClicked(int index);
    /// A computation's result is on display (or its error in the caption).
    void resultShown();
    void exportFinished(const QString& path, const QString& error);
    /// The "All images" box was toggled by the user.
    void pcaAcrossImagesToggled(bool on);

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    struct Computation;
    void submit();
    void startNext();
    void onComputed();
    void createChart(); ///< featureviewchart.cpp, with the chart's other members
    void rebuildChart();
    void updateChartSelection();
    void updatePicture();
    void updateCaption();
    void updateComboLabels();
    void showGridPoint(const QPointF& gridPoint);
    /// The read-out for where the cursor is now (the hint when it is elsewhere).
    void refreshHover();
    void exportWithDialog();

    std::shared_ptr<const ImageDecomposition> m_decomposition;
    QImage m_photo;
    QString m_imagePath;
    std::shared_ptr<const FeatureViewData> m_data; ///< result on display
    std::unique_ptr<Computation> m_running;
    std::shared_ptr<const ImageDecomposition> m_pending;
    bool m_hasPending = false;
    quint64 m_generation = 0;
    int m_pcaComputations = 0;
    double m_lastMs = 0;

    Mode m_mode = Mode::PcaRgb;
    std::array<int, 3> m_components{{0, 1, 2}};
    int m_selected = -1;
    QImage m_pcaImage;
    QImage m_iterationImage;
    QPointF m_hoverGrid{-1, -1};

    QLabel* m_caption = nullptr;
    QToolButton* m_pcaButton = nullptr;
    QToolButton* m_stepButton = nullptr;
    QStackedWidget* m_choice = nullptr; ///< the channels' combos, or the step's summary
    QLabel* m_stepInfo = nullptr;
    std::array<QComboBox*, 3> m_combos{};
    QCheckBox* m_smooth = nullptr;
    QCheckBox* m_acrossImages = nullptr;
    std::shared_ptr<const FeaturePca> m_basis;
    int m_basisImages = 0;
    QSlider* m_opacity = nullptr;
    QToolButton* m_exportButton = nullptr;
    FeatureImageView* m_view = nullptr;
    QLabel* m_readout = nullptr;
    QCustomPlot* m_chart = nullptr;
    bool m_chartStale = false; ///< changed while hidden: replot when it shows
    QAction* m_exportAction = nullptr;
    QPointer<QGraphicsView> m_tracked; ///< may be destroyed before this widget
    /// m_tracked's viewport: events are matched against it without touching the view,
    /// which may be half destroyed when its viewport's last events arrive.
    QPointer<QObject> m_trackedViewport;
};

} // namespace primaps
