// SPDX-License-Identifier: MIT
// ReviewController's docks, tool bar, menu entries and dialogs.
#include "reviewcontroller.h"

#include "review/datasetbrowserwidget.h"
#include "evaluate/evaluationwidget.h"
#include "mainwindow.h"
#include "review/maskvotewidget.h"
#include "review/importcorrectionsdialog.h"
#include "review/pseudolabelexportdialog.h"
#include "explore/imagelistwidget.h"

#include <QActionGroup>
#include <QComboBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDockWidget>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QMenuBar>
#include <QPushButton>
#include <QToolBar>

namespace primaps {

namespace {

struct LayerInfo
{
    ReviewController::Layer layer;
    const char* name;
    const char* title;
    const char* shortcut;
    const char* tip;
};

const LayerInfo kLayers[] = {
    {ReviewController::Layer::Photo, "photo", QT_TRANSLATE_NOOP("ReviewController", "Photo"),
     "Alt+1", QT_TRANSLATE_NOOP("ReviewController", "The image as the run saw it (its evaluation crop)")},
    {ReviewController::Layer::GroundTruth, "gt",
     QT_TRANSLATE_NOOP("ReviewController", "Ground truth"), "Alt+2",
     QT_TRANSLATE_NOOP("ReviewController", "The dataset's labels (when the image has them)")},
    {ReviewController::Layer::Masks, "masks", QT_TRANSLATE_NOOP("ReviewController", "Masks"),
     "Alt+3", QT_TRANSLATE_NOOP("ReviewController", "The PriMaPs masks the fit used")},
    {ReviewController::Layer::PseudoLabel, "pseudo",
     QT_TRANSLATE_NOOP("ReviewController", "Pseudo-label"), "Alt+4",
     QT_TRANSLATE_NOOP("ReviewController",
                       "Each mask takes \u03b8_M's majority class (the E-step). Click a mask to "
                       "see its vote.")},
    {ReviewController::Layer::Prediction, "prediction",
     QT_TRANSLATE_NOOP("ReviewController", "Prediction"), "Alt+5",
     QT_TRANSLATE_NOOP("ReviewController",
                       "The prototypes' class per pixel, as 'primaps eval' predicts it")},
    {ReviewController::Layer::Errors, "errors", QT_TRANSLATE_NOOP("ReviewController", "Errors"),
     "Alt+6",
     QT_TRANSLATE_NOOP("ReviewController",
                       "The prediction against the ground truth: green right, red wrong, orange "
                       "an ignored cluster")},
};

/// The Images dock's dock, the Evaluation dock: the window owns them, their
/// contents are reachable through its accessors.
QDockWidget* dockOf(QWidget* content)
{
    return content ? qobject_cast<QDockWidget*>(content->parentWidget()) : nullptr;
}

} // namespace

QString ReviewController::layerName(Layer layer)
{
    for (const LayerInfo& info : kLayers)
        if (info.layer == layer)
            return QString::fromLatin1(info.name);
    return {};
}

bool ReviewController::layerFromName(const QString& name, Layer* layer)
{
    for (const LayerInfo& info : kLayers)
        if (name == QLatin1String(info.name)) {
            *layer = info.layer;
            return true;
        }
    return false;
}

void ReviewController::createDocks()
{
    m_browser = new DatasetBrowserWidget(m_window);
    m_browserDock = m_window->addStudioDock(tr("Dataset"), QStringLiteral("DatasetDock"),
                                            m_browser, Qt::LeftDockWidgetArea);
    if (QDockWidget* images = dockOf(m_window->imageList()))
        m_window->tabifyDockWidget(images, m_browserDock);
    m_browserDock->hide();
    connect(m_browser, &DatasetBrowserWidget::currentIndexChanged, this,
            &ReviewController::selectIndex);

    m_vote = new MaskVoteWidget(m_window);
    m_voteDock = m_window->addStudioDock(tr("Mask vote"), QStringLiteral("MaskVoteDock"), m_vote,
                                         Qt::RightDockWidgetArea);
    // A tab beside the Features dock: both explain what is on the canvas.
    if (auto* features = m_window->findChild<QDockWidget*>(QStringLiteral("FeaturesDock")))
        m_window->tabifyDockWidget(features, m_voteDock);
    m_voteDock->hide();
}

void ReviewController::createActions()
{
    QMenu* file = m_window->fileMenu();
    m_openDatasetAction = new QAction(tr("Open &Dataset\u2026"), this);
    m_openDatasetAction->setToolTip(tr("Page through a dataset split's images and ground truth"));
    connect(m_openDatasetAction, &QAction::triggered, this, &ReviewController::openDatasetDialog);
    m_openRunAction = new QAction(tr("Open &Run\u2026"), this);
    m_openRunAction->setShortcut(QKeySequence(QStringLiteral("Ctrl+Shift+O")));
    m_openRunAction->setToolTip(
        tr("Review a fitted run: its pseudo-labels, predictions and errors image by image"));
    connect(m_openRunAction, &QAction::triggered, this, &ReviewController::openRunDialog);
    m_exportAction = new QAction(tr("Export &Pseudo-Label Dataset\u2026"), this);
    m_exportAction->setToolTip(tr("Write the run's pseudo-labels for its dataset, with your "
                                  "match edits and corrections, as 'primaps export' does"));
    m_exportAction->setEnabled(false);
    connect(m_exportAction, &QAction::triggered, this, &ReviewController::openExportDialog);
    m_importAction = new QAction(tr("&Import Corrections\u2026"), this);
    m_importAction->setToolTip(tr("Store annotations corrected in CVAT, Label Studio or as COCO "
                                  "as the run's corrections, and see what the annotators changed"));
    m_importAction->setEnabled(false);
    connect(m_importAction, &QAction::triggered, this, &ReviewController::openImportDialog);
    if (file) {
        // After Open Folder…, and first among the exports.
        QAction* openEnd = m_window->fileOpenSeparator();
        file->insertAction(openEnd, m_openDatasetAction);
        file->insertAction(openEnd, m_openRunAction);
        const QList<QAction*> actions = file->actions();
        const qsizetype firstExport = actions.indexOf(openEnd) + 1;
        QAction* exports =
            firstExport > 0 && firstExport < actions.size() ? actions[firstExport] : nullptr;
        file->insertAction(exports, m_exportAction);
        file->insertAction(exports, m_importAction);
    }

    m_toolBar = new QToolBar(tr("Review"), m_window);
    m_toolBar->setObjectName(QStringLiteral("ReviewToolBar"));
    m_toolBar->setToolButtonStyle(Qt::ToolButtonTextOnly);
    m_layerGroup = new QActionGroup(this);
    for (const LayerInfo& info : kLayers) {
        QAction* a = m_toolBar->addAction(tr(info.title));
        a->setCheckable(true);
        a->setData(int(info.layer));
        a->setShortcut(QKeySequence(QString::fromLatin1(info.shortcut)));
        a->setToolTip(QStringLiteral("%1 (%2)\n%3")
                          .arg(tr(info.title), QString::fromLatin1(info.shortcut), tr(info.tip)));
        a->setChecked(info.layer == m_layer);
        m_layerGroup->addAction(a);
    }
    connect(m_layerGroup, &QActionGroup::triggered, this,
            [this](QAction* a) { setLayer(Layer(a->data().toInt())); });
    m_toolBar->addSeparator();
    m_thetaCombo = new QComboBox(m_toolBar);
    m_thetaCombo->addItem(tr("\u03b8_R (trained)"), QStringLiteral("r"));
    m_thetaCombo->addItem(tr("\u03b8_M (EMA)"), QStringLiteral("m"));
    m_thetaCombo->setToolTip(tr("Prototypes of the prediction, the error map and the metrics"));
    m_toolBar->addWidget(m_thetaCombo);
    m_crfAction = m_toolBar->addAction(tr("CRF"));
    m_crfAction->setCheckable(true);
    m_crfAction->setToolTip(tr("Refine the prediction with the dense CRF (slower)"));
    auto changed = [this] {
        setPrediction(m_thetaCombo->currentData().toString(), m_crfAction->isChecked());
    };
    connect(m_thetaCombo, &QComboBox::currentIndexChanged, this, changed);
    connect(m_crfAction, &QAction::toggled, this, changed);
    // The split's metrics and the editable match live in the Evaluation dock.
    if (QDockWidget* evaluation = dockOf(m_window->evaluationView())) {
        QAction* match = m_toolBar->addAction(tr("Match\u2026"));
        match->setToolTip(tr("The split's Acc, mIoU, confusion matrix and the cluster-to-class "
                             "match: right-click a cluster to override, merge or ignore it"));
        connect(match, &QAction::triggered, evaluation, [evaluation] {
            evaluation->show();
            evaluation->raise();
        });
    }
    m_toolBar->addSeparator();
    m_metricsLabel = new QLabel(m_toolBar);
    m_metricsLabel->setContentsMargins(6, 0, 6, 0);
    m_metricsLabel->setToolTip(tr("This image's pixel accuracy and mean IoU under the current "
                                  "cluster-to-class match (as 'primaps eval' scores a split "
                                  "holding only this image)"));
    m_toolBar->addWidget(m_metricsLabel);
    m_correctionsLabel = new QLabel(m_toolBar);
    m_correctionsLabel->setToolTip(tr("Pixels of this image you corrected, per class (Edit "
                                      "labels on the pseudo-label or prediction layer)"));
    m_toolBar->addWidget(m_correctionsLabel);
    m_window->addToolBarBreak();
    m_window->addToolBar(m_toolBar);
    m_toolBar->hide();
}

void ReviewController::openRunDialog()
{
    const QString dir = QFileDialog::getExistingDirectory(
        m_window, tr("Open Run (a folder written by Fit \u25b8 New Fit or 'primaps fit')"));
    if (!dir.isEmpty())
        openRun(dir);
}

void ReviewController::openExportDialog()
{
    if (!hasRun())
        return;
    flushCorrections(); // the export reads the corrections from disk
    auto* dialog = new PseudoLabelExportDialog(runDir(), DatasetOptions(), m_window);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->setPrediction(QString::fromStdString(m_prediction.theta), m_prediction.crf);
    dialog->show();
}

void ReviewController::openImportDialog()
{
    if (!hasRun())
        return;
    flushCorrections(); // the import merges with the stored corrections
    auto* dialog = new ImportCorrectionsDialog(runDir(), m_window);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->setModal(true); // no edits while corrections are being stored
    connect(dialog, &ImportCorrectionsDialog::importFinished, this, [this](bool, int stored) {
        if (stored > 0) {
            showLayer(); // the current image shows the stored corrections
            updateCorrectionSummary();
        }
    });
    dialog->show();
}

void ReviewController::openDatasetDialog()
{
    QDialog dialog(m_window);
    dialog.setWindowTitle(tr("Open Dataset"));
    auto* form = new QFormLayout(&dialog);
    auto* kind = new QComboBox(&dialog);
    for (DatasetKind k : {DatasetKind::Folder, DatasetKind::Cityscapes, DatasetKind::CocoStuff27,
                          DatasetKind::Potsdam3})
        kind->addItem(QString::fromLatin1(toString(k)), QString::fromLatin1(toString(k)));
    auto* root = new QLineEdit(&dialog);
    auto* browse = new QPushButton(tr("Browse\u2026"), &dialog);
    auto* rootRow = new QHBoxLayout;
    rootRow->addWidget(root, 1);
    rootRow->addWidget(browse);
    auto* split = new QLineEdit(&dialog);
    split->setPlaceholderText(tr("empty: all images (folder) or train"));
    form->addRow(tr("Layout"), kind);
    form->addRow(tr("Root folder"), rootRow);
    form->addRow(tr("Split"), split);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Open | QDialogButtonBox::Cancel, &dialog);
    form->addRow(buttons);
    connect(browse, &QPushButton::clicked, &dialog, [&] {
        const QString dir = QFileDialog::getExistingDirectory(&dialog, tr("Dataset root"));
        if (!dir.isEmpty())
            root->setText(dir);
    });
    connect(buttons, &QDialogButtonBox::accepted, &dialog, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
    if (dialog.exec() != QDialog::Accepted || root->text().isEmpty())
        return;
    DatasetOptions options;
    options.kind = datasetKindFromString(kind->currentData().toString().toStdString());
    options.root = root->text().toStdString();
    options.split = split->text().trimmed().toStdString();
    openDataset(options);
}

} // namespace primaps
