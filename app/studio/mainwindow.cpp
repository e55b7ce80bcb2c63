// SPDX-License-Identifier: MIT
#include "mainwindow.h"
#include "mainwindow_p.h"
#include "playbackpanel.h"
#include "similaritycontroller.h"

#include "support/atomicfile.h"
#include "backbones/backbone.h"
#include "backbonehint.h"
#include "backbonemanager/backbonemanagerdialog.h"
#include "explore/canvaswidget.h"
#include "support/datadir.h"
#include "evaluate/evaluationwidget.h"
#include "common/exportfolder.h"
#include "common/imagelimitsdialog.h"
#include "explore/featureviewwidget.h"
#include "fit/fitdialog.h"
#include "fit/fitmonitorwidget.h"
#include "explore/imagelistwidget.h"
#include "annotate/labeleditor.h"
#include "explore/legendwidget.h"
#include "messagelog.h"
#include "common/messagewidget.h"
#include "image/overlay.h"
#include "perspectives.h"
#include "projectcontroller.h"
#include "reviewcontroller.h"
#include "support/runtime.h"
#include "explore/stepperwidget.h"

#include <cmath>
#include <opencv2/imgproc.hpp>
#include <QAction>
#include <QApplication>
#include <QCheckBox>
#include <QCloseEvent>
#include <QComboBox>
#include <QDir>
#include <QDockWidget>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFutureWatcher>
#include <QHBoxLayout>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QProgressBar>
#include <QSettings>
#include <QSlider>
#include <QStandardPaths>
#include <QStatusBar>
#include <QtConcurrent/QtConcurrentRun>
#include <QTimer>
#include <QToolBar>
#include <QToolButton>
#include <QVBoxLayout>

namespace primaps {

using namespace mainwindow_detail;

namespace {

// Long enough to skip the intermediate values of a slider drag, short enough
// that the result seems to follow the hand.
constexpr int kRerunDelayMs = 150;
QString compareToolTip(bool crfOn)
{
    if (!crfOn)
        return MainWindow::tr("Before / after CRF (Ctrl+B): turn on the Dense CRF to compare "
                              "the masks before and after it.");
    return MainWindow::tr(
        "Before / after CRF (Ctrl+B): the masks before the dense CRF left of the divider, "
        "after it right.\nDrag the divider, or press [ and ], to sweep across a boundary.");
}

QString milliseconds(double ms)
{
    return ms < 10.0 ? QStringLiteral("%1 ms").arg(ms, 0, 'f', 1)
                     : QStringLiteral("%1 ms").arg(std::lround(ms));
}

} // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent)
{
    setWindowTitle(tr("PriMaPs Studio"));
    setWindowIcon(QIcon(QStringLiteral(":/primaps/icons/primaps-studio-256.png")));
    setAcceptDrops(true);
    setDockOptions(QMainWindow::AnimatedDocks | QMainWindow::AllowNestedDocks);

    m_job = new DecomposeJob(this);
    connect(m_job, &DecomposeJob::finished, this, &MainWindow::onDecomposed);
    // The masks before the CRF, on screen while the CRF runs.
    connect(m_job, &DecomposeJob::preview, this, &MainWindow::onDecomposed);
    // After onDecomposed(): a slider value that waited for this result goes next.
    connect(m_job, &DecomposeJob::finished, this, &MainWindow::onJobFinished);
    connect(m_job, &DecomposeJob::busyChanged, this, &MainWindow::onBusyChanged);

    m_rerunTimer = new QTimer(this);
    m_rerunTimer->setSingleShot(true);
    m_rerunTimer->setInterval(kRerunDelayMs);
    connect(m_rerunTimer, &QTimer::timeout, this, &MainWindow::submitCurrent);

    auto* central = new QWidget(this);
    auto* layout = new QVBoxLayout(central);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(0);
    m_messages = new MessageWidget(central);
    auto* messageMargin = new QHBoxLayout;
    messageMargin->setContentsMargins(6, 6, 6, 6);
    messageMargin->addWidget(m_messages);
    layout->addLayout(messageMargin);
    m_canvas = new CanvasWidget(central);
    // Drops on the picture go to the window, which adds them to the list.
    m_canvas->setAcceptDrops(false);
    m_canvas->viewport()->setAcceptDrops(false);
    m_canvas->setPlaceholderText(
        tr("Open images with File \u25b8 Open Images\u2026 (Ctrl+O),\nor drop images or "
           "folders anywhere in this window."));
    layout->addWidget(m_canvas, 1);
    m_legend = new LegendWidget(central);
    layout->addWidget(m_legend);
    setCentralWidget(central);
    m_editor = new LabelEditor(m_canvas, m_legend, this);

    createDocks();
    createActions();
    createToolBar();
    createStatusBar();
    installMessageLog(this);
    m_review = new ReviewController(this);
    m_project = new ProjectController(this, m_review);
    m_playback = new PlaybackPanel(this);
    m_similarity = new SimilarityController(this);

    // One banner for every problem, over the picture where the eye is.
    m_images->setMessageWidget(m_messages);
    connect(m_images, &ImageListWidget::currentPathChanged, this,
            &MainWindow::onCurrentImageChanged);
    connect(m_stepper, &StepperWidget::iterationSelected, this, &MainWindow::onIterationSelected);
    connect(m_legend, &LegendWidget::maskClicked, this,
            [this](int id) { m_stepper->setSelectedIteration(id - 1); });
    connect(m_canvas, &CanvasWidget::hoveredMaskChanged, m_legend, &LegendWidget::setHoveredMask);
    connect(m_editor, &LabelEditor::displayChanged, this, &MainWindow::updateCrfLabels);

    m_perspectives = new PerspectiveController(this);
    resize(m_perspectives->defaultWindowSize());
    m_perspectives->applyInitial();
    new BackboneHint(this); // first contact without DINO weights
    updateActions();
    m_canvas->setFocus();
}

MainWindow::~MainWindow()
{
    // Stop the worker before the widgets its results would go to disappear.
    delete m_job;
    m_job = nullptr;
}

void MainWindow::createDocks()
{
    // The object name is what QSettings' saveState() remembers the dock by.
    auto addDock = [this](const QString& title, const QString& objectName, QWidget* content,
                          Qt::DockWidgetArea area) {
        auto* dock = new QDockWidget(title, this);
        dock->setObjectName(objectName);
        dock->setWidget(content);
        dock->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetClosable |
                          QDockWidget::DockWidgetFloatable);
        addDockWidget(area, dock);
        return dock;
    };
    m_images = new ImageListWidget(this);
    QDockWidget* imagesDock =
        addDock(tr("Images"), QStringLiteral("ImagesDock"), m_images, Qt::LeftDockWidgetArea);
    m_imagesDockAction = imagesDock->toggleViewAction();

    m_stepper = new StepperWidget(this);
    QDockWidget* stepsDock = addDock(tr("PriMaPs steps"), QStringLiteral("StepsDock"), m_stepper,
                                     Qt::RightDockWidgetArea);
    m_stepsDockAction = stepsDock->toggleViewAction();

    // Under the step list: the feature space the steps split (PCA-RGB, each
    // step's direction, explained variance per step).
    m_features = new FeatureViewWidget(this);
    m_featuresDock = addDock(tr("Features"), QStringLiteral("FeaturesDock"), m_features,
                             Qt::RightDockWidgetArea);
    splitDockWidget(stepsDock, m_featuresDock, Qt::Vertical);
    m_features->trackCanvas(m_canvas);
    connect(m_stepper, &StepperWidget::iterationSelected, m_features,
            &FeatureViewWidget::setSelectedIteration);
    connect(m_features, &FeatureViewWidget::iterationClicked, m_stepper,
            &StepperWidget::setSelectedIteration);

    // The fit monitor is wide (plots over steps) and appears when a fit starts.
    m_fitMonitor = new FitMonitorWidget(this);
    m_fitDock = addDock(tr("Fit monitor"), QStringLiteral("FitDock"), m_fitMonitor,
                        Qt::BottomDockWidgetArea);
    m_fitDock->hide();
    connect(m_fitMonitor, &FitMonitorWidget::errorOccurred, this, [this](const QString& message) {
        showInPerspective(PerspectiveController::Perspective::Fit, m_fitDock);
        m_statusMessage->setStyleSheet(QStringLiteral("color: #b3261e;"));
        m_statusMessage->setText(message);
    });
    connect(m_fitMonitor, &FitMonitorWidget::runningChanged, this, [this](bool running) {
        // Plots over hundreds of steps need room: about half the window (once
        // the dock that was just shown has been laid out).
        if (running)
            QTimer::singleShot(0, this, [this] {
                if (m_fitDock->isVisible() && m_fitDock->height() < height() / 2)
                    resizeDocks({m_fitDock}, {height() / 2}, Qt::Vertical);
            });
    });
    connect(m_fitMonitor, &FitMonitorWidget::fitFinished, this, [this](const FitOutcome& o) {
        if (m_closeAfterFit) {
            // One close per request: if this one is refused (unsaved
            // corrections), a later fit must not close the window.
            m_closeAfterFit = false;
            QTimer::singleShot(0, this, &QWidget::close);
            return;
        }
        if (o.state == JobState::Finished) {
            m_statusMessage->setStyleSheet(QString());
            m_statusMessage->setText(m_fitMonitor->summaryText());
            // The natural next step after a fit is to score it.
            m_lastFinishedRun = o.runDir;
            m_evaluateLastFitAction->setEnabled(true);
            m_evaluateLastFitAction->setText(
                tr("Evaluate &Last Fit (%1)").arg(QFileInfo(o.runDir).fileName()));
        }
    });

    // Evaluation results share the bottom area with the fit monitor, as a tab.
    m_evaluation = new EvaluationWidget(this);
    m_evaluationDock = addDock(tr("Evaluation"), QStringLiteral("EvaluationDock"), m_evaluation,
                               Qt::BottomDockWidgetArea);
    tabifyDockWidget(m_fitDock, m_evaluationDock);
    m_evaluationDock->hide();
    connect(m_evaluation, &EvaluationWidget::evaluatingChanged, this,
            [this] { showInPerspective(PerspectiveController::Perspective::Evaluate, m_evaluationDock); });

    resizeDocks({imagesDock, stepsDock}, {240, 400}, Qt::Horizontal);
    resizeDocks({stepsDock, m_featuresDock}, {430, 470}, Qt::Vertical);
}

void MainWindow::createActions()
{
    QMenu* file = menuBar()->addMenu(tr("&File"));
    QAction* open = file->addAction(tr("&Open Images\u2026"), this, &MainWindow::openImagesDialog);
    open->setShortcut(QKeySequence::Open);
    open->setStatusTip(tr("Add image files to the list"));
    QAction* openFolder =
        file->addAction(tr("Open &Folder\u2026"), this, &MainWindow::openFolderDialog);
    openFolder->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_O));
    openFolder->setStatusTip(tr("Add every image in a folder to the list"));
    file->addSeparator();
    m_exportMasksAction =
        file->addAction(tr("Export &Masks\u2026"), this, &MainWindow::exportMasks);
    m_exportMasksAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_E));
    m_exportMasksAction->setStatusTip(
        tr("Save the mask ids of the current image as an 8-bit PNG (0 = background)"));
    m_exportOverlayAction =
        file->addAction(tr("Export &Overlay\u2026"), this, &MainWindow::exportOverlay);
    m_exportOverlayAction->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_E));
    m_exportOverlayAction->setStatusTip(
        tr("Save the current image with its masks drawn over it as a PNG"));
    file->addAction(m_features->exportAction());
    file->addAction(m_editor->exportAction());
    file->addAction(m_editor->exportAllAction());
    file->addSeparator();
    QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence::Quit);
    quit->setMenuRole(QAction::QuitRole);

    menuBar()->addMenu(m_editor->editMenu());
    QMenu* view = menuBar()->addMenu(tr("&View"));
    m_zoomInAction = view->addAction(tr("Zoom &In"), m_canvas, &CanvasWidget::zoomIn);
    m_zoomInAction->setShortcuts({QKeySequence::ZoomIn, QKeySequence(Qt::CTRL | Qt::Key_Equal)});
    m_zoomOutAction = view->addAction(tr("Zoom &Out"), m_canvas, &CanvasWidget::zoomOut);
    m_zoomOutAction->setShortcut(QKeySequence::ZoomOut);
    m_fitAction = view->addAction(tr("&Fit to Window"), m_canvas, &CanvasWidget::fitToWindow);
    m_fitAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_0));
    m_actualSizeAction =
        view->addAction(tr("&Actual Size (100 %)"), m_canvas, &CanvasWidget::showActualSize);
    m_actualSizeAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_1));
    view->addSeparator();
    m_overlayAction = view->addAction(tr("Show &Overlay"));
    m_overlayAction->setCheckable(true);
    m_overlayAction->setChecked(true);
    m_overlayAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_T));
    connect(m_overlayAction, &QAction::toggled, this, [this](bool on) {
        m_canvas->setOverlayVisible(on);
        m_opacitySlider->setEnabled(on);
    });
    m_compareAction = view->addAction(tr("&Before / After CRF"));
    m_compareAction->setCheckable(true);
    m_compareAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_B));
    m_compareAction->setStatusTip(
        tr("Split the picture: masks before the CRF left of the divider, after it right"));
    m_compareAction->setToolTip(compareToolTip(true));
    connect(m_compareAction, &QAction::toggled, this, &MainWindow::onCompareToggled);
    view->addSeparator();
    m_nextAction = view->addAction(tr("&Next Image"), m_images, &ImageListWidget::selectNext);
    m_nextAction->setShortcut(QKeySequence(Qt::ALT | Qt::Key_Down));
    m_previousAction =
        view->addAction(tr("&Previous Image"), m_images, &ImageListWidget::selectPrevious);
    m_previousAction->setShortcut(QKeySequence(Qt::ALT | Qt::Key_Up));
    view->addSeparator();
    view->addAction(m_imagesDockAction);
    view->addAction(m_stepsDockAction);
    view->addAction(m_featuresDock->toggleViewAction());
    view->addAction(m_fitDock->toggleViewAction());
    view->addAction(m_evaluationDock->toggleViewAction());

    QMenu* decompose = menuBar()->addMenu(tr("&Decompose"));
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
    connect(m_crfAction, &QAction::toggled, this, &MainWindow::onCrfToggled);
    decompose->addSeparator();
    QAction* backbones = decompose->addAction(tr("&Backbones\u2026"), this, [this] {
        // One manager per window, created on first use.
        auto* manager = findChild<BackboneManagerDialog*>();
        if (!manager)
            manager = new BackboneManagerDialog(this);
        manager->show();
        manager->raise();
        manager->activateWindow();
    });
    backbones->setStatusTip(tr("List, download and import the backbones' weights"));
    decompose->addAction(createImageLimitsAction(this));

    QMenu* fit = menuBar()->addMenu(tr("F&it"));
    QAction* newFit = fit->addAction(tr("&New Fit\u2026"), this, &MainWindow::newFitDialog);
    newFit->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_F));
    newFit->setStatusTip(tr("Fit class prototypes over a dataset with PriMaPs-EM or the k-means "
                            "baseline, in the background"));
    QAction* resumeFit =
        fit->addAction(tr("&Resume Fit\u2026"), this, &MainWindow::resumeFitDialog);
    resumeFit->setStatusTip(tr("Continue a run folder from its checkpoint (also one the "
                               "command line started)"));
    fit->addSeparator();
    fit->addAction(m_fitDock->toggleViewAction());

    QMenu* evaluation = menuBar()->addMenu(tr("E&valuation"));
    auto showEvaluation = [this] {
        showInPerspective(PerspectiveController::Perspective::Evaluate, m_evaluationDock);
    };
    QAction* openResults = evaluation->addAction(tr("&Open Results\u2026"), this, [=] {
        showEvaluation();
        m_evaluation->chooseResults();
    });
    openResults->setStatusTip(tr("Show a JSON file written by 'primaps eval --json'"));
    QAction* evaluateRun = evaluation->addAction(tr("&Evaluate Run\u2026"), this, [=] {
        showEvaluation();
        m_evaluation->chooseRun();
    });
    evaluateRun->setStatusTip(tr("Evaluate a finished fit's run folder on its validation split, "
                                 "in the background"));
    m_evaluateLastFitAction = evaluation->addAction(tr("Evaluate &Last Fit"), this, [=] {
        showEvaluation();
        m_evaluation->evaluateRun(m_lastFinishedRun);
    });
    m_evaluateLastFitAction->setEnabled(false);
    m_evaluateLastFitAction->setStatusTip(
        tr("Evaluate the run folder of the fit that finished last (theta_M, no CRF)"));
    evaluation->addSeparator();
    evaluation->addAction(m_evaluationDock->toggleViewAction());

    QMenu* help = menuBar()->addMenu(tr("&Help"));
    QAction* about = help->addAction(tr("&About PriMaPs Studio"), this, &MainWindow::showAbout);
    about->setMenuRole(QAction::AboutRole);
    QAction* aboutQt = help->addAction(tr("About &Qt"), qApp, &QApplication::aboutQt);
    aboutQt->setMenuRole(QAction::AboutQtRole);
}

void MainWindow::restoreSettings()
{
    QSettings settings;
    if (settings.contains(QStringLiteral("window/geometry")))
        restoreGeometry(settings.value(QStringLiteral("window/geometry")).toByteArray());
    m_perspectives->restoreSettings(); // each perspective's dock arrangement
    m_editor->toolBar()->setVisible(m_editor->isEditMode()); // follows the mode, not the state
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

void MainWindow::setPersistSettings(bool persist)
{
    m_persistSettings = persist;
    m_perspectives->setPersist(persist);
}

void MainWindow::showInPerspective(PerspectiveController::Perspective perspective, QDockWidget* dock)
{
    // A dock that opens by itself (a fit starts, an evaluation runs) brings
    // its perspective, unless the user looks at the dataset next to it.
    if (m_perspectives->current() != PerspectiveController::Perspective::Review)
        m_perspectives->setCurrent(perspective);
    dock->show();
    dock->raise();
}

void MainWindow::writeSettings()
{
    QSettings settings;
    settings.setValue(QStringLiteral("window/geometry"), saveGeometry());
    m_perspectives->saveCurrent();
    settings.setValue(QStringLiteral("view/opacity"), m_opacitySlider->value());
    settings.setValue(QStringLiteral("view/overlay"), m_overlayAction->isChecked());
    settings.setValue(QStringLiteral("decompose/backbone"), m_backboneCombo->currentText());
    settings.setValue(QStringLiteral("decompose/crf"), m_crfAction->isChecked());
    settings.setValue(QStringLiteral("view/compare"), m_compareAction->isChecked());
}

void MainWindow::closeEvent(QCloseEvent* event)
{
    if (!m_editor->maybeClose()) {
        event->ignore();
        return;
    }
    if (m_fitMonitor->controller()->isRunning()) {
        // The fit stops after its current step and saves its checkpoint; the
        // window closes when it has (see createDocks()) and never waits frozen.
        m_closeAfterFit = true;
        m_fitMonitor->controller()->cancel();
        m_statusMessage->setStyleSheet(QString());
        m_statusMessage->setText(tr("Stopping the fit; its checkpoint is kept\u2026"));
        event->ignore();
        return;
    }
    if (m_persistSettings)
        writeSettings();
    event->accept();
}

void MainWindow::newFitDialog()
{
    if (m_fitMonitor->controller()->isRunning()) {
        showInPerspective(PerspectiveController::Perspective::Fit, m_fitDock);
        showError(tr("A fit is running: cancel it in the fit monitor before starting another."));
        return;
    }
    FitDialog dialog(this);
    if (m_persistSettings)
        dialog.restoreRecent();
    if (dialog.exec() != QDialog::Accepted)
        return;
    if (m_persistSettings)
        dialog.saveRecent();
    showInPerspective(PerspectiveController::Perspective::Fit, m_fitDock);
    m_fitMonitor->startFit(dialog.datasetOptions(), dialog.settings());
}

void MainWindow::resumeFitDialog()
{
    QSettings settings;
    const QString dir =
        QFileDialog::getExistingDirectory(this, tr("Resume Fit: Choose the Run Folder"),
                                          settings.value(QStringLiteral("fit/run")).toString());
    if (dir.isEmpty())
        return;
    settings.setValue(QStringLiteral("fit/run"), dir);
    showInPerspective(PerspectiveController::Perspective::Fit, m_fitDock);
    m_fitMonitor->resumeRun(dir);
}

void MainWindow::showAbout()
{
    QMessageBox::about(
        this, tr("About PriMaPs Studio"),
        tr("<h3>PriMaPs Studio %1</h3>"
           "<p>Unsupervised segmentation with Principal Mask Proposals (PriMaPs): "
           "O. Hahn, N. Araslanov, S. Schaub-Meyer, S. Roth, <i>Boosting Unsupervised "
           "Semantic Segmentation with Principal Mask Proposals</i>, TMLR 2024.</p>"
           "<p>Built with %2 and Qt %3 (running on Qt %4).</p>"
           "<p>The bundled sample photos are in the public domain or CC0; their sources are "
           "listed in resources/samples/NOTICE.</p>")
            .arg(QString::fromStdString(versionString()),
                 QString::fromStdString(buildDescription()).toHtmlEscaped(),
                 QStringLiteral(QT_VERSION_STR), QString::fromLatin1(qVersion())));
}

double MainWindow::threshold() const
{
    return m_thresholdSpin->value();
}

void MainWindow::setThreshold(double tau)
{
    m_thresholdSpin->setValue(tau);
}

void MainWindow::onThresholdEdited(double tau)
{
    m_useRecommendedThreshold = false;
    updateThresholdControls(tau);
    m_rerunTimer->start();
}

void MainWindow::onThresholdDragged(double tau)
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

void MainWindow::onThresholdReleased()
{
    m_previewPending = false;
    if (!m_dragChanged)
        return;
    m_dragChanged = false;
    submitCurrent();
}

void MainWindow::onJobFinished()
{
    if (!m_previewPending)
        return;
    m_previewPending = false;
    if (m_thresholdSlider->isSliderDown()) {
        submit(false);
        m_dragRequestInFlight = true;
    }
}

bool MainWindow::isCrfEnabled() const
{
    return m_crfAction->isChecked();
}

bool MainWindow::isShowingPreview() const
{
    return m_current.ok() && !m_current.decomposition->crfApplied && isCrfEnabled();
}

void MainWindow::onCrfToggled(bool on)
{
    m_compareAction->setEnabled(on);
    m_compareAction->setToolTip(compareToolTip(on));
    // Right away: with the features cached this is only PriMaPs and the CRF.
    submitCurrent();
}

void MainWindow::onCompareToggled(bool on)
{
    m_canvas->setCompareMode(on);
    updateCrfLabels();
}

void MainWindow::updateThresholdControls(double tau)
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

void MainWindow::onCurrentImageChanged(const QString& path)
{
    m_rerunTimer->stop();
    m_editor->setCurrentImage(path);
    if (path.isEmpty()) {
        m_current = DecomposeResult();
        m_canvas->clear();
        m_legend->clear();
        updateCrfLabels();
        m_stepper->clear();
        m_features->clear();
        m_statusTimings->clear();
        m_statusMasks->clear();
        m_statusSeparator->hide();
        setWindowTitle(tr("PriMaPs Studio"));
        updateActions();
        return;
    }
    setWindowTitle(tr("%1 \u2014 PriMaPs Studio").arg(QFileInfo(path).fileName()));
    submitCurrent();
}

void MainWindow::submitCurrent()
{
    submit(isCrfEnabled());
}

void MainWindow::submit(bool crf)
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
    m_job->submit(request);
    m_dragRequestInFlight = false;
    m_statusMessage->setStyleSheet(QString());
    m_statusMessage->setText(tr("Decomposing %1\u2026").arg(QFileInfo(path).fileName()));
}

void MainWindow::onBusyChanged(bool busy)
{
    m_busyBar->setVisible(busy);
    m_stepper->setBusy(busy);
}

void MainWindow::onDecomposed(const DecomposeResult& result)
{
    // The list may have moved on (or emptied) while this was computed, or a
    // dataset image under review may own the canvas.
    if (result.request.path != m_images->currentPath() || m_review->isActive())
        return;
    m_current = result;
    if (!result.ok()) {
        m_editor->showResult(result);
        m_canvas->clear();
        m_legend->clear();
        updateCrfLabels();
        m_stepper->clear();
        m_features->clear();
        m_statusTimings->clear();
        m_statusMasks->clear();
        m_statusSeparator->hide();
        showError(result.error);
        updateActions();
        emit decompositionShown(false);
        return;
    }

    const ImageDecomposition& d = *result.decomposition;
    m_canvas->setDecomposition(result.photo, d);
    m_legend->setAreas(m_canvas->areaFractions());
    // Before the step list, which re-selects the user's step of the new trace.
    m_features->setDecomposition(result.decomposition, result.photo, result.request.path);
    m_stepper->setTrace(d.trace);
    // One numbering and both areas in the legend and the step list.
    m_stepper->setLabelShares(m_canvas->areaFractions());
    m_legend->setProposalAreas(m_stepper->proposalAreas());
    m_features->setSelectedIteration(m_stepper->selectedIteration());

    m_recommendedThreshold = result.recommendedThreshold;
    // A value the user set stays in the controls even when this result is for
    // an earlier one: during a drag the slider is already further on.
    updateThresholdControls(m_useRecommendedThreshold ? result.threshold : threshold());

    const int proposals = int(d.trace.iterations.size());
    const int shown = m_legend->maskCount();
    QString masks = proposals == 1 ? tr("1 proposal") : tr("%1 proposals").arg(proposals);
    if (shown != proposals)
        masks += tr(", %1 in the label map").arg(shown);
    m_statusMasks->setText(masks + tr("  \u00b7  stop: %1").arg(toString(d.trace.stopReason)));
    m_statusSeparator->show();
    if (!result.warning.isEmpty() && !result.preview) // a truncated file: the picture is partly filler
        m_messages->showMessage(result.warning);
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
    m_editor->showResult(result); // corrected labels replace the masks on the canvas
    updateCrfLabels();
    updateActions();
    if (!result.preview) // the refined masks follow
        emit decompositionShown(true);
}

void MainWindow::updateCrfLabels()
{
    if (!m_current.ok()) {
        m_legend->setCaption(QString());
        m_canvas->setBadgeText(QString());
        return;
    }
    const ImageDecomposition& d = *m_current.decomposition;
    const bool preview = isShowingPreview();
    QString which;
    if (d.crfApplied)
        which = m_canvas->isComparing() ? tr("before | after CRF") : tr("after CRF");
    else if (m_current.preview)
        which = tr("without CRF until the CRF is done");
    else
        which = preview ? tr("preview without CRF") : tr("without CRF");
    // Both halves of the before | after view are described: each chip gives
    // its share left (before the CRF) | right (after it).
    const bool comparing = m_canvas->isComparing() && m_editor->shownPath().isEmpty();
    m_legend->setBeforeAreas(comparing ? m_canvas->beforeAreaFractions() : std::vector<double>());
    m_legend->setCaption(comparing       ? tr("Before | after CRF")
                         : d.crfApplied ? tr("Labels after CRF")
                                        : tr("Labels without CRF"));
    // The canvas says it where the eye is: a preview is not the final result,
    // and the split view has nothing to compare until the CRF has run.
    QString badge;
    if (preview)
        badge = tr("Preview without CRF \u00b7 the CRF runs when the slider is released");
    else if (m_compareAction->isChecked() && isCrfEnabled() && !d.crfApplied)
        badge = tr("Before / after appears once the CRF has run");
    m_canvas->setBadgeText(badge);
    m_statusMessage->setStyleSheet(QString());
    m_statusMessage->setText(tr("%1: %2 \u00d7 %3 px, %4 backbone, \u03c4 = %5, %6")
                                 .arg(QFileInfo(m_current.request.path).fileName())
                                 .arg(m_current.image.cols)
                                 .arg(m_current.image.rows)
                                 .arg(m_current.backboneName)
                                 .arg(double(m_current.threshold), 0, 'f', 2)
                                 .arg(which));
    m_editor->decorate();
}

void MainWindow::onIterationSelected(int index)
{
    const int id = index >= 0 ? index + 1 : 0;
    m_canvas->setHighlightedMask(id);
    m_legend->setHighlightedMask(m_canvas->highlightedMask());
}

void MainWindow::showError(const QString& message)
{
    m_messages->showMessage(message);
    m_statusMessage->setStyleSheet(QStringLiteral("color: #b3261e;"));
    m_statusMessage->setText(message);
}

void MainWindow::updateActions()
{
    const bool ok = m_current.ok();
    m_exportMasksAction->setEnabled(ok);
    m_exportOverlayAction->setEnabled(ok);
}

} // namespace primaps
