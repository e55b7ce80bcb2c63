// SPDX-License-Identifier: MIT
// The Explore perspective: its docks, menus and the decompositions it shows.
// Its tool and status bar are in exploretoolbar.cpp, its exports in exploreexport.cpp.
#include "exploreperspective.h"
#include "exploreperspective_p.h"
#include "mainwindow.h"
#include "reviewcontroller.h"

#include "annotate/labeleditor.h"
#include "backbonemanager/backbonemanagerdialog.h"
#include "common/imagelimitsdialog.h"
#include "common/messagewidget.h"
#include "explore/canvaswidget.h"
#include "explore/explorepictures.h"
#include "explore/featureviewwidget.h"
#include "explore/imagelistwidget.h"
#include "explore/legendwidget.h"
#include "explore/stepperwidget.h"

#include <cmath>
#include <QAction>
#include <QComboBox>
#include <QDockWidget>
#include <QDoubleSpinBox>
#include <QFileInfo>
#include <QFrame>
#include <QLabel>
#include <QMenu>
#include <QMenuBar>
#include <QSettings>
#include <QSlider>
#include <QTimer>
#include <QToolButton>

namespace primaps {

using namespace explore_detail;

namespace {

// Long enough to skip the intermediate values of a slider drag, short enough
// that the result seems to follow the hand.
constexpr int kRerunDelayMs = 150;

QString compareToolTip(bool crfOn)
{
    if (!crfOn)
        return ExplorePerspective::tr("Before / after CRF (Ctrl+B): turn on the Dense CRF to "
                                      "compare the masks before and after it.");
    return ExplorePerspective::tr(
        "Before / after CRF (Ctrl+B): the masks before the dense CRF left of the divider, "
        "after it right.\nDrag the divider, or press [ and ], to sweep across a boundary.");
}

QString milliseconds(double ms)
{
    return ms < 10.0 ? QStringLiteral("%1 ms").arg(ms, 0, 'f', 1)
                     : QStringLiteral("%1 ms").arg(std::lround(ms));
}

} // namespace

ExplorePerspective::ExplorePerspective(MainWindow* window) : QObject(window), m_window(window)
{
    m_job = new DecomposeJob(this);
    connect(m_job, &DecomposeJob::finished, this, &ExplorePerspective::onDecomposed);
    // The masks before the CRF, on screen while the CRF runs.
    connect(m_job, &DecomposeJob::preview, this, &ExplorePerspective::onDecomposed);
    // After onDecomposed(): a slider value that waited for this result goes next.
    connect(m_job, &DecomposeJob::finished, this, &ExplorePerspective::onJobFinished);
    connect(m_job, &DecomposeJob::busyChanged, this, &ExplorePerspective::onBusyChanged);

    m_rerunTimer = new QTimer(this);
    m_rerunTimer->setSingleShot(true);
    m_rerunTimer->setInterval(kRerunDelayMs);
    connect(m_rerunTimer, &QTimer::timeout, this, &ExplorePerspective::submitCurrent);

    createDocks();
    createStatusWidgets();

    // One banner for every problem, over the picture where the eye is.
    CanvasWidget* canvas = m_window->canvas();
    LegendWidget* legend = m_window->legend();
    m_images->setMessageWidget(m_window->messageWidget());
    connect(m_images, &ImageListWidget::currentPathChanged, this,
            &ExplorePerspective::onCurrentImageChanged);
    connect(m_stepper, &StepperWidget::iterationSelected, this,
            &ExplorePerspective::onIterationSelected);
    connect(legend, &LegendWidget::maskClicked, this,
            [this](int id) { m_stepper->setSelectedIteration(id - 1); });
    connect(canvas, &CanvasWidget::hoveredMaskChanged, legend, &LegendWidget::setHoveredMask);
    connect(m_window->labelEditor(), &LabelEditor::displayChanged, this,
            &ExplorePerspective::updateCrfLabels);
}

ExplorePerspective::~ExplorePerspective()
{
    stopJob();
}

void ExplorePerspective::stopJob()
{
    delete m_job;
    m_job = nullptr;
}

void ExplorePerspective::createDocks()
{
    m_images = new ImageListWidget(m_window);
    m_imagesDock = m_window->addStudioDock(tr("Images"), QStringLiteral("ImagesDock"), m_images,
                                           Qt::LeftDockWidgetArea);

    m_stepper = new StepperWidget(m_window);
    m_stepsDock = m_window->addStudioDock(tr("PriMaPs steps"), QStringLiteral("StepsDock"),
                                          m_stepper, Qt::RightDockWidgetArea);
    // The columns' usable widths: a thumbnail beside its name and size; three
    // maps per step card with readable captions. A dock opened under the
    // canvas (the Message Log) or an arrangement saved from a narrower window
    // cannot squeeze them below this.
    m_images->setMinimumWidth(200);
    m_stepper->setMinimumWidth(290);

    // Under the step list: the feature space the steps split (PCA-RGB, each
    // step's direction, explained variance per step).
    m_features = new FeatureViewWidget(m_window);
    m_featuresDock = m_window->addStudioDock(tr("Features"), QStringLiteral("FeaturesDock"),
                                             m_features, Qt::RightDockWidgetArea);
    m_window->splitDockWidget(m_stepsDock, m_featuresDock, Qt::Vertical);
    m_features->trackCanvas(m_window->canvas());
    connect(m_stepper, &StepperWidget::iterationSelected, m_features,
            &FeatureViewWidget::setSelectedIteration);
    connect(m_features, &FeatureViewWidget::iterationClicked, m_stepper,
            &StepperWidget::setSelectedIteration);
}

void ExplorePerspective::addFileActions(QMenu* file)
{
    m_exportMasksAction = file->addAction(tr("Export &Masks\u2026"), this,
                                          [this] { askAndExport(ExportKind::Masks); });
    m_exportMasksAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_E));
    m_exportMasksAction->setStatusTip(
        tr("Save the mask ids of the current image as an 8-bit PNG (0 = background)"));
    m_exportOverlayAction = file->addAction(tr("Export &Overlay\u2026"), this,
                                            [this] { askAndExport(ExportKind::Overlay); });
    m_exportOverlayAction->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_E));
    m_exportOverlayAction->setStatusTip(
        tr("Save the current image with its masks drawn over it as a PNG"));
    file->addAction(m_features->exportAction());
}

void ExplorePerspective::addViewActions(QMenu* view)
{
    CanvasWidget* canvas = m_window->canvas();
    m_zoomInAction = view->addAction(tr("Zoom &In"), canvas, &CanvasWidget::zoomIn);
    m_zoomInAction->setShortcuts({QKeySequence::ZoomIn, QKeySequence(Qt::CTRL | Qt::Key_Equal)});
    m_zoomOutAction = view->addAction(tr("Zoom &Out"), canvas, &CanvasWidget::zoomOut);
    m_zoomOutAction->setShortcut(QKeySequence::ZoomOut);
    m_fitAction = view->addAction(tr("&Fit to Window"), canvas, &CanvasWidget::fitToWindow);
    m_fitAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_0));
    m_actualSizeAction =
        view->addAction(tr("&Actual Size (100 %)"), canvas, &CanvasWidget::showActualSize);
    m_actualSizeAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_1));
    view->addSeparator();
    m_overlayAction = view->addAction(tr("Show &Overlay"));
    m_overlayAction->setCheckable(true);
    m_overlayAction->setChecked(true);
    m_overlayAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_T));
    connect(m_overlayAction, &QAction::toggled, this, [this, canvas](bool on) {
        canvas->setOverlayVisible(on);
        m_opacitySlider->setEnabled(on);
    });
    m_compareAction = view->addAction(tr("&Before / After CRF"));
    m_compareAction->setCheckable(true);
    m_compareAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_B));
    m_compareAction->setStatusTip(
        tr("Split the picture: masks before the CRF left of the divider, after it right"));
    m_compareAction->setToolTip(compareToolTip(true));
    connect(m_compareAction, &QAction::toggled, this, &ExplorePerspective::onCompareToggled);
    view->addSeparator();
    QAction* next = view->addAction(tr("&Next Image"), m_images, &ImageListWidget::selectNext);
    next->setShortcut(QKeySequence(Qt::ALT | Qt::Key_Down));
    QAction* previous =
        view->addAction(tr("&Previous Image"), m_images, &ImageListWidget::selectPrevious);
    previous->setShortcut(QKeySequence(Qt::ALT | Qt::Key_Up));
    view->addSeparator();
    view->addAction(m_imagesDock->toggleViewAction());
    view->addAction(m_stepsDock->toggleViewAction());
    view->addAction(m_featuresDock->toggleViewAction());
}

void ExplorePerspective::createDecomposeMenu()
{
    QMenu* decompose = m_window->menuBar()->addMenu(tr("&Decompose"));
    m_crfAction = decompose->addAction(tr("Dense &CRF"));
    m_crfAction->setCheckable(true);
    m_crfAction->setChecked(true);
    m_crfAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_R));
    m_crfAction->setStatusTip(tr("Refine the masks with the dense CRF so that they follow the "
                                 "image's edges"));
    m_crfAction->setToolTip(
        tr("Dense CRF (Ctrl+R): refines the upsampled masks so that they follow the image's "
           "edges\n(PriMaPs step 5). Off shows the plain upsampled masks. While the threshold "
           "slider is\ndragged the CRF is skipped, and it runs when the slider is released."));
    connect(m_crfAction, &QAction::toggled, this, &ExplorePerspective::onCrfToggled);
    decompose->addSeparator();
    QAction* backbones = decompose->addAction(tr("&Backbones\u2026"), this, [this] {
        // One manager per window, created on first use.
        auto* manager = m_window->findChild<BackboneManagerDialog*>();
        if (!manager)
            manager = new BackboneManagerDialog(m_window);
        manager->show();
        manager->raise();
        manager->activateWindow();
    });
    backbones->setObjectName(QStringLiteral("BackbonesAction"));
    backbones->setStatusTip(tr("List, download and import the backbones' weights"));
    decompose->addAction(createImageLimitsAction(m_window));
}

double ExplorePerspective::threshold() const
{
    return m_thresholdSpin->value();
}

void ExplorePerspective::setThreshold(double tau)
{
    m_thresholdSpin->setValue(tau);
}

void ExplorePerspective::onThresholdEdited(double tau)
{
    m_useRecommendedThreshold = false;
    updateThresholdControls(tau);
    m_rerunTimer->start();
}

void ExplorePerspective::onThresholdDragged(double tau)
{
    m_useRecommendedThreshold = false;
    m_dragChanged = true;
    m_rerunTimer->stop();
    updateThresholdControls(tau);
    // One preview at a time: a request superseded while it runs is never shown,
    // so submitting every value of a fast drag would show nothing until the
    // hand stops. The newest value waits for the preview in flight instead.
    if (m_job->isBusy() && m_dragRequestInFlight) {
        m_previewPending = true;
    } else {
        submit(false);
        m_dragRequestInFlight = true;
    }
}

void ExplorePerspective::onThresholdReleased()
{
    m_previewPending = false;
    if (!m_dragChanged)
        return;
    m_dragChanged = false;
    submitCurrent();
}

void ExplorePerspective::onJobFinished()
{
    if (!m_previewPending)
        return;
    m_previewPending = false;
    if (m_thresholdSlider->isSliderDown()) {
        submit(false);
        m_dragRequestInFlight = true;
    }
}

bool ExplorePerspective::isCrfEnabled() const
{
    return m_crfAction->isChecked();
}

bool ExplorePerspective::isShowingPreview() const
{
    return m_current.ok() && !m_current.decomposition->crfApplied && isCrfEnabled();
}

void ExplorePerspective::onCrfToggled(bool on)
{
    m_compareAction->setEnabled(on);
    m_compareAction->setToolTip(compareToolTip(on));
    // Right away: with the features cached this is only PriMaPs and the CRF.
    submitCurrent();
}

void ExplorePerspective::onCompareToggled(bool on)
{
    m_window->canvas()->setCompareMode(on);
    updateCrfLabels();
}

void ExplorePerspective::updateThresholdControls(double tau)
{
    const QSignalBlocker sliderBlocker(m_thresholdSlider);
    const QSignalBlocker spinBlocker(m_thresholdSpin);
    m_thresholdSlider->setValue(toSlider(tau));
    m_thresholdSpin->setValue(tau);
    m_thresholdReset->setEnabled(m_recommendedThreshold > 0.0 &&
                                 std::abs(tau - m_recommendedThreshold) > 0.004);
    // Showing the value tells what "recommended" is even while it is in use.
    if (m_recommendedThreshold > 0.0)
        m_thresholdReset->setText(tr("Recommended: %1").arg(m_recommendedThreshold, 0, 'f', 2));
}

void ExplorePerspective::clearResult()
{
    m_window->canvas()->clear();
    m_window->legend()->clear();
    updateCrfLabels();
    m_stepper->clear();
    m_features->clear();
    m_statusTimings->clear();
    m_statusMasks->clear();
    m_statusSeparator->hide();
}

void ExplorePerspective::onCurrentImageChanged(const QString& path)
{
    m_rerunTimer->stop();
    m_window->labelEditor()->setCurrentImage(path);
    if (path.isEmpty()) {
        m_current = DecomposeResult();
        clearResult();
        m_window->setWindowTitle(MainWindow::tr("PriMaPs Studio"));
        updateActions();
        return;
    }
    m_window->setWindowTitle(
        MainWindow::tr("%1 \u2014 PriMaPs Studio").arg(QFileInfo(path).fileName()));
    submitCurrent();
}

void ExplorePerspective::submitCurrent()
{
    submit(isCrfEnabled());
}

void ExplorePerspective::submit(bool crf)
{
    m_rerunTimer->stop();
    const QString path = m_images->currentPath();
    if (path.isEmpty())
        return;
    DecomposeRequest request;
    request.path = path;
    request.backbone = m_backboneCombo->currentText();
    request.threshold = m_useRecommendedThreshold ? 0.0f : float(m_thresholdSpin->value());
    request.crf = crf;
    // Saved corrections of the image are read and applied by the job's worker.
    request.restoreLabels = m_window->labelEditor()->restorerFor(path);
    m_job->submit(request);
    m_dragRequestInFlight = false;
    m_window->showStatus(tr("Decomposing %1\u2026").arg(QFileInfo(path).fileName()),
                        MainWindow::StatusKind::Normal, MainWindow::StatusOwner::Explore);
}

void ExplorePerspective::onBusyChanged(bool busy)
{
    m_busyLabel->setVisible(busy);
    m_stepper->setBusy(busy);
}

void ExplorePerspective::onDecomposed(const DecomposeResult& result)
{
    // The list may have moved on (or emptied) while this was computed, or a
    // dataset image under review may own the canvas.
    if (result.request.path != m_images->currentPath() || m_window->reviewController()->isActive())
        return;
    m_current = result;
    LabelEditor* editor = m_window->labelEditor();
    if (!result.ok()) {
        editor->showResult(result);
        clearResult();
        m_window->showError(result.error);
        updateActions();
        emit decompositionShown(false);
        return;
    }

    CanvasWidget* canvas = m_window->canvas();
    LegendWidget* legend = m_window->legend();
    const ImageDecomposition& d = *result.decomposition;
    // The pictures were drawn by the job's worker: here they are only handed over.
    const ExplorePictures* drawn = result.pictures.get();
    canvas->setDecomposition(result.photo, d, drawn);
    legend->setAreas(canvas->areaFractions());
    // Before the step list, which re-selects the user's step of the new trace.
    m_features->setDecomposition(result.decomposition, result.photo, result.request.path);
    m_stepper->setTrace(d.trace, drawn && drawn->steps ? drawn->steps.get() : nullptr);
    // One numbering and both areas in the legend and the step list.
    m_stepper->setLabelShares(canvas->areaFractions());
    legend->setProposalAreas(m_stepper->proposalAreas());
    m_features->setSelectedIteration(m_stepper->selectedIteration());

    m_recommendedThreshold = result.recommendedThreshold;
    // A value the user set stays in the controls even when this result is for
    // an earlier one: during a drag the slider is already further on.
    updateThresholdControls(m_useRecommendedThreshold ? result.threshold : threshold());

    const int proposals = int(d.trace.iterations.size());
    const int shown = legend->maskCount();
    QString masks = proposals == 1 ? tr("1 proposal") : tr("%1 proposals").arg(proposals);
    if (shown != proposals)
        masks += tr(", %1 in the label map").arg(shown);
    m_statusMasks->setText(masks + tr("  \u00b7  stop: %1").arg(toString(d.trace.stopReason)));
    m_statusSeparator->show();
    if (!result.warning.isEmpty() && !result.preview) // a truncated file: the picture is partly filler
        m_window->messageWidget()->showMessage(result.warning);
    // The studio picks the CRF's resolution (DecomposeRequest::crfMaxPixels);
    // the status bar says which.
    const cv::Size crfSize =
        d.crfApplied ? d.crfSize : crfResolution(d.prepared, result.request.crfMaxPixels);
    const QString crfAt = tr("at %1\u00d7%2").arg(crfSize.width).arg(crfSize.height);
    m_statusTimings->setText(
        tr("features %1  \u00b7  decompose %2  \u00b7  labels %3  \u00b7  CRF %4")
            .arg(result.featuresReused ? tr("cached") : milliseconds(d.timings.features),
                 milliseconds(d.timings.decompose), milliseconds(d.timings.labels),
                 d.crfApplied         ? milliseconds(d.timings.crf) + QLatin1Char(' ') + crfAt
                 : result.preview     ? tr("running %1\u2026").arg(crfAt)
                 : isShowingPreview() ? tr("on release")
                                      : tr("off")));
    editor->showResult(result); // corrected labels replace the masks on the canvas
    updateCrfLabels();
    updateActions();
    if (!result.preview) // the refined masks follow
        emit decompositionShown(true);
}

void ExplorePerspective::updateCrfLabels()
{
    CanvasWidget* canvas = m_window->canvas();
    LegendWidget* legend = m_window->legend();
    if (!m_current.ok()) {
        legend->setCaption(QString());
        canvas->setBadgeText(QString());
        return;
    }
    const ImageDecomposition& d = *m_current.decomposition;
    const bool preview = isShowingPreview();
    QString which;
    if (d.crfApplied)
        which = canvas->isComparing() ? tr("before | after CRF") : tr("after CRF");
    else if (m_current.preview)
        which = tr("without CRF until the CRF is done");
    else
        which = preview ? tr("preview without CRF") : tr("without CRF");
    // Both halves of the before | after view are described: each chip gives
    // its share left (before the CRF) | right (after it).
    LabelEditor* editor = m_window->labelEditor();
    const bool comparing = canvas->isComparing() && editor->shownPath().isEmpty();
    legend->setBeforeAreas(comparing ? canvas->beforeAreaFractions() : std::vector<double>());
    legend->setCaption(comparing       ? tr("Before | after CRF")
                       : d.crfApplied ? tr("Labels after CRF")
                                      : tr("Labels without CRF"));
    // The canvas says it where the eye is: a preview is not the final result,
    // and the split view has nothing to compare until the CRF has run.
    QString badge;
    if (preview)
        badge = tr("Preview without CRF \u00b7 the CRF runs when the slider is released");
    else if (m_compareAction->isChecked() && isCrfEnabled() && !d.crfApplied)
        badge = tr("Before / after appears once the CRF has run");
    canvas->setBadgeText(badge);
    m_window->showStatus(tr("%1: %2 \u00d7 %3 px, %4 backbone, \u03c4 = %5, %6")
                             .arg(QFileInfo(m_current.request.path).fileName())
                             .arg(m_current.image.cols)
                             .arg(m_current.image.rows)
                             .arg(m_current.backboneName)
                             .arg(double(m_current.threshold), 0, 'f', 2)
                             .arg(which),
                         MainWindow::StatusKind::Normal, MainWindow::StatusOwner::Explore);
    editor->decorate();
}

void ExplorePerspective::onIterationSelected(int index)
{
    const int id = index >= 0 ? index + 1 : 0;
    m_window->canvas()->setHighlightedMask(id);
    m_window->legend()->setHighlightedMask(m_window->canvas()->highlightedMask());
}

void ExplorePerspective::updateActions()
{
    const bool ok = m_current.ok();
    m_exportMasksAction->setEnabled(ok);
    m_exportOverlayAction->setEnabled(ok);
}

void ExplorePerspective::restoreSettings()
{
    QSettings settings;
    const int opacity = settings.value(QStringLiteral("view/opacity"), kDefaultOpacity).toInt();
    m_opacitySlider->setValue(std::clamp(opacity, 0, 100));
    m_overlayAction->setChecked(settings.value(QStringLiteral("view/overlay"), true).toBool());
    const int backbone =
        m_backboneCombo->findText(settings.value(QStringLiteral("decompose/backbone")).toString());
    if (backbone >= 0) {
        const QSignalBlocker blocker(m_backboneCombo);
        m_backboneCombo->setCurrentIndex(backbone);
    }
    m_crfAction->setChecked(settings.value(QStringLiteral("decompose/crf"), true).toBool());
    m_compareAction->setChecked(settings.value(QStringLiteral("view/compare"), false).toBool());
}

void ExplorePerspective::writeSettings() const
{
    QSettings settings;
    settings.setValue(QStringLiteral("view/opacity"), m_opacitySlider->value());
    settings.setValue(QStringLiteral("view/overlay"), m_overlayAction->isChecked());
    settings.setValue(QStringLiteral("decompose/backbone"), m_backboneCombo->currentText());
    settings.setValue(QStringLiteral("decompose/crf"), m_crfAction->isChecked());
    settings.setValue(QStringLiteral("view/compare"), m_compareAction->isChecked());
}

} // namespace primaps
