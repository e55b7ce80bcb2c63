// SPDX-License-Identifier: MIT
#include "reviewcontroller.h"

#include "explore/canvaswidget.h"
#include "review/datasetbrowserwidget.h"
#include "support/error.h"
#include "evaluate/evaluationwidget.h"
#include "common/imageconvert.h"
#include "explore/imagelistwidget.h"
#include "annotate/labeleditor.h"
#include "explore/legendwidget.h"
#include "mainwindow.h"
#include "review/maskvotewidget.h"
#include "common/messagewidget.h"
#include "review/reviewjob.h"
#include "review/pseudolabelexportdialog.h"
#include "review/reviewlayers.h"
#include "labels/corrections.h"

#include <cmath>
#include <opencv2/imgproc.hpp>
#include <QActionGroup>
#include <QComboBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDir>
#include <QDockWidget>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGraphicsPathItem>
#include <QGraphicsScene>
#include <QHBoxLayout>
#include <QPainterPath>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QMenuBar>
#include <QMouseEvent>
#include <QPushButton>
#include <QStatusBar>
#include <QToolBar>

namespace primaps {

namespace {

QString percentText(double v)
{
    return std::isnan(v) ? QStringLiteral("n/a") : QString::number(v, 'f', 1) + QStringLiteral(" %");
}

} // namespace

ReviewController::ReviewController(MainWindow* window) : QObject(window), m_window(window)
{
    m_job = new ReviewJob(this);
    connect(m_job, &ReviewJob::opened, this, &ReviewController::onOpened);
    connect(m_job, &ReviewJob::reviewed, this, &ReviewController::onReviewed);
    connect(m_job, &ReviewJob::countsFinished, this, &ReviewController::onCountsFinished);
    connect(m_job, &ReviewJob::countsProgress, this, [this](double fraction, const QString&) {
        m_browser->setStatusText(
            tr("Per-image metrics: %1 % of the split counted\u2026").arg(int(100 * fraction)));
    });
    createDocks();
    createActions();

    EvaluationWidget* evaluation = m_window->evaluationView();
    connect(evaluation, &EvaluationWidget::matchEditsChanged, this, &ReviewController::onMatchEdited);
    connect(evaluation, &EvaluationWidget::classStylesChanged, this,
            &ReviewController::onClassesEdited);
    // A loose image chosen in the Images dock takes the canvas back.
    connect(m_window->imageList(), &ImageListWidget::currentPathChanged, this,
            [this](const QString& path) {
                if (!path.isEmpty())
                    setActive(false);
            });
    m_canvasViewport = m_window->canvas()->viewport();
    m_canvasViewport->installEventFilter(this);
    connect(m_window->labelEditor(), &LabelEditor::labelsChanged, this,
            &ReviewController::onEditorChanged);
    // The vote dock's "class of this mask" menu: the classes of the table.
    connect(m_vote->classMenu(), &QMenu::aboutToShow, this, [this] {
        QMenu* menu = m_vote->classMenu();
        menu->clear();
        const int mask = m_inspectedMask;
        for (int j = 0; j < m_classes.size(); ++j)
            menu->addAction(QString::fromStdString(m_classes.classes[std::size_t(j)].name), this,
                            [this, mask, j] { setMaskClass(mask, j); });
        menu->addSeparator();
        menu->addAction(tr("ignore"), this, [this, mask] { setMaskClass(mask, -1); });
        for (QAction* a : menu->actions())
            a->setEnabled(isEditableLayer() && mask > 0);
    });
}

ReviewController::~ReviewController() = default;

bool ReviewController::hasRun() const
{
    return m_job->hasRun();
}

QString ReviewController::runDir() const
{
    return m_job->runDir();
}

QAction* ReviewController::layerAction(Layer layer) const
{
    for (QAction* a : m_layerGroup->actions())
        if (Layer(a->data().toInt()) == layer)
            return a;
    return nullptr;
}

void ReviewController::openRun(const QString& runDir, const DatasetOptions& dataset)
{
    m_window->statusBar()->showMessage(
        tr("Opening run %1\u2026").arg(QDir::toNativeSeparators(runDir)));
    m_job->open(runDir, dataset);
}

void ReviewController::openDataset(const DatasetOptions& dataset)
{
    m_window->statusBar()->showMessage(
        tr("Opening dataset %1\u2026").arg(QString::fromStdString(dataset.root)));
    m_job->openDataset(dataset);
}

void ReviewController::onOpened(const ReviewOpenResult& result)
{
    if (!result.error.isEmpty()) {
        m_window->showError(tr("Cannot open: %1").arg(result.error));
        emit opened(false, result.error);
        return;
    }
    flushCorrections();
    m_window->perspectives()->setCurrent(PerspectiveController::Perspective::Review);
    m_counts.reset();
    m_clusterToClass.clear();
    m_review.reset();
    m_index = -1;
    m_fitNote = result.fitNote;
    m_store = result.runDir.isEmpty()
                  ? CorrectionStore()
                  : CorrectionStore(CorrectionStore::runFolder(result.runDir.toStdString()));
    const Dataset& dataset = *result.dataset;
    m_classes = defaultClassTable(dataset);
    if (!result.runDir.isEmpty()) {
        const std::string run = result.runDir.toStdString();
        // The Evaluation dock kept names and colours beside its results files;
        // the run's one table takes them over once.
        std::string legacy;
        for (const char* name : {"eval_theta_m.json", "eval_theta_r.json", "eval_theta_m_crf.json",
                                 "eval_theta_r_crf.json"}) {
            const QString sidecar = classStylesPath(QString::fromStdString(runFilePath(run, name)));
            if (QFileInfo::exists(sidecar)) {
                legacy = sidecar.toStdString();
                break;
            }
        }
        try {
            bool folded = false;
            m_classes = loadRunClassTable(run, m_classes, legacy, &folded);
            if (folded)
                writeClassTable(runClassTablePath(run), m_classes);
        } catch (const std::exception& e) {
            m_window->showError(QString::fromStdString(e.what()));
        }
    }
    const QString title =
        result.runDir.isEmpty()
            ? QStringLiteral("%1 \u00b7 %2")
                  .arg(QFileInfo(QString::fromStdString(dataset.root())).fileName(),
                       QString::fromStdString(dataset.split().empty() ? "all" : dataset.split()))
            : QStringLiteral("%1 \u00b7 %2")
                  .arg(QFileInfo(result.runDir).fileName(),
                       QString::fromStdString(dataset.split().empty() ? "all" : dataset.split()));
    m_browser->setDataset(result.dataset, title);
    // The side columns run the full height, so that a dock opened below the
    // canvas (Evaluation) takes its height from the canvas, not from them: on
    // a 768-pixel screen their minimum heights would not fit on top of each other.
    m_window->setCorner(Qt::BottomLeftCorner, Qt::LeftDockWidgetArea);
    m_window->setCorner(Qt::BottomRightCorner, Qt::RightDockWidgetArea);
    m_browserDock->show();
    m_browserDock->raise();
    // Room for the names and their Acc / mIoU.
    m_window->resizeDocks({m_browserDock}, {280}, Qt::Horizontal);
    m_toolBar->show();
    for (QAction* a : m_layerGroup->actions()) {
        const Layer l = Layer(a->data().toInt());
        a->setEnabled(hasRun() || l == Layer::Photo || l == Layer::GroundTruth);
    }
    if (!hasRun() && m_layer != Layer::Photo)
        setLayer(Layer::GroundTruth);
    m_thetaCombo->setEnabled(hasRun());
    m_exportAction->setEnabled(hasRun());
    m_importAction->setEnabled(hasRun());
    m_crfAction->setEnabled(hasRun());
    // Says what is missing: a missing label only costs that image its ground truth.
    if (!result.problems.isEmpty())
        m_window->showError(result.problemSummary());
    m_window->statusBar()->showMessage(
        tr("%1: %n image(s)", nullptr, int(dataset.size())).arg(title), 5000);
    if (hasRun()) {
        m_voteDock->show();
        m_voteDock->raise();
        m_job->startCounts(m_prediction);
    }
    // The first image, unless whoever hears opened() chooses another.
    m_browser->setCurrentIndex(0);
    emit opened(true, QString());
}

bool ReviewController::selectImage(const QString& nameOrPath)
{
    const int row = m_browser->model()->findRow(nameOrPath);
    if (row < 0)
        return false;
    m_browser->setCurrentIndex(row);
    if (m_index != row)
        selectIndex(row);
    return true;
}

void ReviewController::selectIndex(int datasetIndex)
{
    if (datasetIndex < 0)
        return;
    if (datasetIndex != m_index && hasPendingCorrections()) {
        flushCorrections(); // every image switch saves
        emit imageSwitched();
    }
    m_index = datasetIndex;
    setActive(true);
    requestCurrent();
}

void ReviewController::setActive(bool active)
{
    if (m_active == active)
        return;
    m_active = active;
    if (active) {
        // The decomposition's editor document (if any) lets go of the canvas.
        m_window->labelEditor()->setCurrentImage(QString());
    } else {
        clearOutline();
        m_window->canvas()->setBadgeText(QString());
        m_window->legend()->setShowIds(true);
    }
}

void ReviewController::setLayer(Layer layer)
{
    m_layer = layer;
    if (QAction* a = layerAction(layer))
        a->setChecked(true);
    clearOutline();
    if (m_review)
        showLayer();
}

void ReviewController::setPrediction(const QString& theta, bool crf)
{
    ReviewPrediction p;
    p.theta = theta.toStdString();
    p.crf = crf;
    {
        const QSignalBlocker a(m_thetaCombo), b(m_crfAction);
        m_thetaCombo->setCurrentIndex(m_thetaCombo->findData(theta));
        m_crfAction->setChecked(crf);
    }
    if (p == m_prediction)
        return;
    m_prediction = p;
    if (hasRun()) {
        m_counts.reset();
        m_job->startCounts(m_prediction);
    }
    requestCurrent();
}

void ReviewController::requestCurrent()
{
    if (m_index < 0 || !m_job->dataset())
        return;
    m_window->statusBar()->showMessage(
        tr("Reviewing %1\u2026").arg(m_browser->model()->idAt(m_index)));
    m_job->requestReview(m_index, m_prediction);
}

void ReviewController::onReviewed(int index, std::shared_ptr<const ImageReview> review,
                                  const QString& error)
{
    if (index != m_index || !m_active)
        return;
    if (!review) {
        m_review.reset();
        m_window->canvas()->clear();
        m_window->legend()->clear();
        m_window->showError(error);
        emit layerShown(false, error);
        return;
    }
    m_review = std::move(review);
    m_window->setWindowTitle(tr("%1 \u2014 PriMaPs Studio").arg(QString::fromStdString(m_review->id)));
    m_inspectedMask = 0;
    m_vote->clear();
    clearOutline();
    showLayer();
    m_window->statusBar()->showMessage(
        tr("%1: %2 \u00d7 %3 px as the run sees it%4")
            .arg(QString::fromStdString(m_review->id))
            .arg(m_review->photo.cols)
            .arg(m_review->photo.rows)
            .arg(m_review->masksFromCache ? tr(", masks from the run's cache") : QString()));
    emit layerShown(true, QString());
}

cv::Mat ReviewController::layerMap(Layer layer, bool corrected) const
{
    if (!m_review)
        return {};
    const ImageReview& r = *m_review;
    const cv::Mat correction = corrected && !m_clusterToClass.empty() ? correctionOf(r.id) : cv::Mat();
    switch (layer) {
    case Layer::Photo:
        return {};
    case Layer::GroundTruth:
        return classDisplay(r.groundTruth);
    case Layer::Masks:
        return r.masks;
    case Layer::PseudoLabel:
        return clusterDisplay(r.pseudoLabel, m_clusterToClass, correction, m_classes.size());
    case Layer::Prediction:
        return clusterDisplay(r.prediction, m_clusterToClass, correction, m_classes.size());
    case Layer::Errors:
        if (m_clusterToClass.empty() || r.prediction.empty())
            return {};
        return errorDisplay(
            errorMap(mapClusters(r.prediction, m_clusterToClass), r.groundTruth, m_classes.size()));
    }
    return {};
}

LabelTable ReviewController::layerTable(Layer layer) const
{
    switch (layer) {
    case Layer::Photo:
    case Layer::Masks:
        return {}; // masks keep their default names and colours
    case Layer::Errors:
        return errorLayerTable();
    case Layer::GroundTruth:
        return classLayerTable(m_classes, tr("ignore").toStdString());
    case Layer::PseudoLabel:
    case Layer::Prediction:
        if (m_clusterToClass.empty()) {
            LabelTable clusters; // cluster ids in the default colours until a match is known
            clusters.setName(0, tr("no class").toStdString());
            return clusters;
        }
        // 0: pixels outside every mask (the E-step leaves them unlabelled), or
        // an ignored cluster.
        return classLayerTable(m_classes, layer == Layer::PseudoLabel
                                              ? tr("no mask").toStdString()
                                              : tr("ignored cluster").toStdString());
    }
    return {};
}

void ReviewController::showLayer()
{
    if (!m_review || !m_active)
        return;
    CanvasWidget* canvas = m_window->canvas();
    LegendWidget* legend = m_window->legend();
    const QImage photo = toQImage(m_review->photo);
    if (canvas->photo().size() != photo.size() || canvas->photo() != photo)
        canvas->setPhoto(photo);
    const cv::Mat map = layerMap(m_layer);
    const LabelTable table = layerTable(m_layer);
    LabelEditor* editor = m_window->labelEditor();
    if (isEditableLayer()) {
        // Class layers are editable: the label editor shows them, with the
        // user's corrections, and reports each edit (onEditorChanged()).
        editor->showExternal(editorKey(), photo, m_review->photo, layerMap(m_layer, false), map,
                             table);
    } else {
        editor->setCurrentImage(QString());
        canvas->setLabelTable(table);
        canvas->setLabels(map, QRectF(0, 0, m_review->photo.cols, m_review->photo.rows));
    }
    legend->setLabelTable(table);
    legend->setShowIds(m_layer == Layer::Masks);
    if (map.empty())
        legend->clear();
    else
        legend->setAreas(canvas->areaFractions());
    QString caption, badge;
    switch (m_layer) {
    case Layer::Photo:
        caption = tr("Photo");
        break;
    case Layer::GroundTruth:
        caption = tr("Ground truth");
        if (map.empty())
            badge = tr("This image has no ground truth");
        break;
    case Layer::Masks:
        caption = tr("PriMaPs masks");
        break;
    case Layer::PseudoLabel:
        caption = tr("Pseudo-label (\u03b8_M's vote per mask)");
        break;
    case Layer::Prediction:
        caption = tr("Prediction \u03b8_%1%2")
                      .arg(QString::fromStdString(m_review->predictionKind.theta).toUpper(),
                           m_review->predictionKind.crf ? tr(" + CRF") : QString());
        break;
    case Layer::Errors:
        caption = tr("Errors of \u03b8_%1%2")
                      .arg(QString::fromStdString(m_review->predictionKind.theta).toUpper(),
                           m_review->predictionKind.crf ? tr(" + CRF") : QString());
        if (m_review->groundTruth.empty())
            badge = tr("No ground truth: nothing to compare with");
        else if (m_clusterToClass.empty())
            badge = tr("The error map appears once the split is counted (cluster-to-class match)");
        break;
    }
    if (badge.isEmpty() && m_clusterToClass.empty() &&
        (m_layer == Layer::PseudoLabel || m_layer == Layer::Prediction) && hasRun())
        badge = tr("Showing cluster ids: the class match appears once the split is counted");
    legend->setCaption(caption);
    canvas->setBadgeText(badge);
    updateMetrics();
    updateCorrectionSummary();
}

void ReviewController::updateMetrics()
{
    m_metrics = ImageMetrics();
    if (!m_review || !hasRun() || m_clusterToClass.empty() || !m_review->counts.labelled) {
        m_metricsLabel->setText(m_review && hasRun() && !m_review->counts.labelled
                                    ? tr("no ground truth")
                                    : QString());
        return;
    }
    try {
        m_metrics = scoreImage(m_review->counts, m_clusterToClass);
        m_metricsLabel->setText(tr("<b>This image:</b> Acc %1 \u00b7 mIoU %2")
                                    .arg(percentText(m_metrics.accuracy),
                                         percentText(m_metrics.meanIoU)));
    } catch (const std::exception& e) {
        m_metricsLabel->setText(QString::fromStdString(e.what()));
    }
}

void ReviewController::onCountsFinished(std::shared_ptr<const SplitCounts> counts,
                                        const QString& error)
{
    if (!counts) {
        m_browser->setStatusText(error.isEmpty() ? QString() : tr("No per-image metrics: %1").arg(error));
        emit metricsReady(false);
        return;
    }
    m_counts = std::move(counts);
    const ConfusionMatrix total = m_counts->total();
    QString note;
    if (!m_counts->failures.empty())
        note = tr("%n image(s) could not be counted; the first: %1", nullptr,
                  int(m_counts->failures.size()))
                   .arg(QString::fromStdString(m_counts->failures.front().path + ": " +
                                               m_counts->failures.front().message));
    // Scores of images the fit saw are no validation: said where they are listed.
    if (!m_fitNote.isEmpty())
        note = note.isEmpty() ? m_fitNote : note + "\n" + m_fitNote;
    m_browser->setStatusText(note);
    if (total.total() == 0) {
        emit metricsReady(false);
        return;
    }
    EvaluationReport report;
    report.confusion = total;
    report.result = evaluate(total);
    report.classNames = m_classes.names();
    EvaluationWidget* evaluation = m_window->evaluationView();
    const QString run = runDir();
    // The view names what these numbers are of: this run's review of its split.
    report.provenance.run = run.toStdString();
    if (const std::shared_ptr<const Dataset> dataset = m_job->dataset())
        report.provenance.dataset = dataset->root();
    report.provenance.split = m_counts->split.empty() ? std::string("all") : m_counts->split;
    report.provenance.theta = m_counts->prediction.theta;
    report.provenance.crfKnown = true;
    report.provenance.crf = m_counts->prediction.crf;
    evaluation->setReport(report, QString());
    if (!m_fitNote.isEmpty())
        evaluation->messageWidget()->showMessage(m_fitNote, MessageWidget::Kind::Information);
    evaluation->setClassTable(m_classes,
                              QString::fromStdString(runClassTablePath(run.toStdString())));
    m_clusterToClass = report.result.clusterToClass;
    // The user's edits of this run's match, when they were made for the same counts.
    const std::string matchPath = runMatchPath(run.toStdString());
    if (QFileInfo::exists(QString::fromStdString(matchPath))) {
        try {
            const RunMatch stored = readRunMatch(matchPath);
            if (!stored.edits.empty() && stored.confusion.clusters() == total.clusters() &&
                stored.confusion.classes() == total.classes())
                evaluation->setMatchEdits(stored.edits);
        } catch (const std::exception& e) {
            m_window->showError(QString::fromStdString(e.what()));
        }
    }
    m_clusterToClass = evaluation->editedMatch().clusterToClass;
    updateListMetrics();
    showLayer();
    emit metricsReady(true);
}

void ReviewController::updateListMetrics()
{
    if (!m_counts || m_clusterToClass.empty())
        return;
    const Dataset& dataset = *m_job->dataset();
    std::vector<ImageListMetrics> list(dataset.size());
    std::size_t next = 0;
    for (const ImageCounts& image : m_counts->images) {
        // Counts are in dataset order: a forward scan finds each item.
        while (next < dataset.size() && dataset.items()[next].id != image.id)
            ++next;
        if (next >= dataset.size())
            break;
        ImageListMetrics& m = list[next];
        if (!image.labelled)
            continue;
        const ImageMetrics s = scoreImage(image, m_clusterToClass);
        m.accuracy = s.accuracy;
        m.meanIoU = s.meanIoU;
        m.classShares.assign(s.classShare.begin(), s.classShare.end());
        m.known = true;
    }
    m_browser->setMetrics(std::move(list));
}

void ReviewController::onMatchEdited(const MatchEdits&)
{
    if (!hasRun() || !m_counts)
        return;
    m_clusterToClass = m_window->evaluationView()->editedMatch().clusterToClass;
    saveMatch();
    emit edited();
    updateListMetrics();
    showLayer();
    if (m_inspectedMask > 0 && m_review)
        if (const MaskVote* vote = m_review->voteOf(m_inspectedMask))
            m_vote->setVote(*vote, m_clusterToClass, m_classes);
}

void ReviewController::saveMatch()
{
    RunMatch match;
    match.confusion = m_counts->total();
    match.edits = m_window->evaluationView()->matchEdits();
    match.classNames = m_classes.names();
    match.theta = m_prediction.theta;
    match.crf = m_prediction.crf;
    match.split = m_job->dataset()->split();
    try {
        writeRunMatch(runMatchPath(runDir().toStdString()), match);
    } catch (const std::exception& e) {
        m_window->showError(QString::fromStdString(e.what()));
    }
}

void ReviewController::onClassesEdited()
{
    if (!hasRun() || !m_counts)
        return;
    const ClassTable table = m_window->evaluationView()->classTable();
    if (table.size() != m_classes.size())
        return;
    m_classes = table; // the dock saved it to RUN_DIR/classes.json
    showLayer();
    emit edited();
}

} // namespace primaps
