// SPDX-License-Identifier: MIT
#include "fit/fitdialog.h"

#include "backbones/backbone.h"
#include "common/messagewidget.h"
#include "dataset/defaultsplit.h"
#include "image/preprocess.h"
#include "runs/runfolderguard.h"

#include <climits>
#include <QCheckBox>
#include <QComboBox>
#include <QDateTime>
#include <QDialogButtonBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSettings>
#include <QSignalBlocker>
#include <QSpinBox>
#include <QStyle>
#include <QToolButton>
#include <QVBoxLayout>

namespace primaps {

namespace {

struct KindInfo
{
    DatasetKind kind;
    const char* label;
    QStringList splits;
    QString validation;
};

const QList<KindInfo>& kinds()
{
    static const QList<KindInfo> list = {
        {DatasetKind::Folder,
         QT_TRANSLATE_NOOP("primaps::FitDialog", "Folder of images"),
         {QString(), QStringLiteral("all")},
         QStringLiteral("all")},
        {DatasetKind::Cityscapes,
         QT_TRANSLATE_NOOP("primaps::FitDialog", "Cityscapes (27 classes)"),
         {QStringLiteral("train"), QStringLiteral("val"), QStringLiteral("test"),
          QStringLiteral("train_extra")},
         QStringLiteral("val")},
        {DatasetKind::CocoStuff27,
         QT_TRANSLATE_NOOP("primaps::FitDialog", "COCO-Stuff-27"),
         {QStringLiteral("train"), QStringLiteral("val"), QStringLiteral("train+val")},
         QStringLiteral("val")},
        {DatasetKind::Potsdam3,
         QT_TRANSLATE_NOOP("primaps::FitDialog", "Potsdam-3"),
         {QStringLiteral("train"), QStringLiteral("val"), QStringLiteral("unlabelled_train"),
          QStringLiteral("train+val"), QStringLiteral("all")},
         QStringLiteral("val")},
    };
    return list;
}

QSpinBox* spin(QWidget* parent, int minimum, int maximum, int value, const QString& tip,
               const QString& special = QString())
{
    auto* s = new QSpinBox(parent);
    s->setRange(minimum, maximum);
    s->setValue(value);
    s->setToolTip(tip);
    if (!special.isEmpty())
        s->setSpecialValueText(special);
    return s;
}

QDoubleSpinBox* doubleSpin(QWidget* parent, double minimum, double maximum, int decimals,
                           double step, double value, const QString& tip)
{
    auto* s = new QDoubleSpinBox(parent);
    s->setRange(minimum, maximum);
    s->setDecimals(decimals);
    s->setSingleStep(step);
    s->setValue(value);
    s->setToolTip(tip);
    return s;
}

QWidget* withBrowse(QWidget* parent, QLineEdit* edit, const QString& tip,
                    const std::function<void()>& browse)
{
    auto* row = new QWidget(parent);
    auto* layout = new QHBoxLayout(row);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(edit, 1);
    auto* button = new QToolButton(row);
    button->setText(FitDialog::tr("Browse\u2026"));
    button->setToolTip(tip);
    QObject::connect(button, &QToolButton::clicked, row, browse);
    layout->addWidget(button);
    return row;
}

QString native(const QString& path)
{
    return QDir::toNativeSeparators(path);
}

} // namespace

FitDialog::FitDialog(QWidget* parent) : QDialog(parent)
{
    setWindowTitle(tr("New Fit"));
    const EmParams defaults;
    const FitRunSettings runDefaults;

    auto* layout = new QVBoxLayout(this);
    m_messages = new MessageWidget(this);
    layout->addWidget(m_messages);

    auto* columns = new QHBoxLayout;
    auto* left = new QVBoxLayout;
    auto* right = new QVBoxLayout;
    columns->addLayout(left, 1);
    columns->addLayout(right, 1);
    layout->addLayout(columns);

    // Dataset
    auto* data = new QGroupBox(tr("Dataset"), this);
    auto* dataForm = new QFormLayout(data);
    m_kind = new QComboBox(data);
    for (const KindInfo& k : kinds())
        m_kind->addItem(tr(k.label), QString::fromLatin1(toString(k.kind)));
    m_kind->setToolTip(tr("Layout of the dataset, as 'primaps fit --dataset' reads it:\n"
                          "Folder: ROOT/images/*.png|jpg, optional ROOT/labels/<stem>.png and "
                          "ROOT/classes.txt\nCityscapes: leftImg8bit/ and gtFine/\n"
                          "COCO-Stuff-27: curated/, images/, annotations/\n"
                          "Potsdam-3: imgs/, gt/, labelled_*.txt"));
    dataForm->addRow(tr("&Layout"), m_kind);
    m_root = new QLineEdit(data);
    m_root->setPlaceholderText(tr("dataset root folder"));
    dataForm->addRow(tr("&Root"), withBrowse(data, m_root, tr("Choose the dataset's root folder"),
                                             [this] { browseRoot(); }));
    m_split = new QComboBox(data);
    m_split->setEditable(true);
    m_split->setToolTip(tr("Training split. Folder datasets: empty for ROOT/train.txt when "
                           "it exists, else every image; 'all' for every image; NAME for the "
                           "stems listed in ROOT/NAME.txt"));
    dataForm->addRow(tr("&Split"), m_split);
    // `primaps fit --holdout F`: a fraction of a folder's images kept apart as
    // split "val", chosen by a fixed hash of their names; the rest is "train".
    m_holdoutBox = doubleSpin(data, 0.0, 0.95, 2, 0.05, 0.0, QString());
    m_holdoutBox->setSpecialValueText(tr("none"));
    dataForm->addRow(tr("&Hold out"), m_holdoutBox);
    connect(m_holdoutBox, &QDoubleSpinBox::valueChanged, this, &FitDialog::onHoldoutChanged);
    left->addWidget(data);

    // Run folder
    auto* runBox = new QGroupBox(tr("Run folder"), this);
    auto* runLayout = new QVBoxLayout(runBox);
    m_run = new QLineEdit(runBox);
    m_run->setPlaceholderText(tr("a new folder, or a run to resume"));
    m_run->setToolTip(tr("Where the prototypes, the history and the checkpoint go: a new "
                         "folder, or one with a fit to resume"));
    runLayout->addWidget(withBrowse(runBox, m_run,
                                    tr("Choose a new folder, or one with a fit to resume"),
                                    [this] { browseRun(); }));
    m_runNote = new QLabel(runBox);
    m_runNote->setWordWrap(true);
    m_runNote->setText(tr("The same layout as 'primaps fit --out': the CLI can evaluate this "
                          "run, and a run started by the CLI resumes here."));
    runLayout->addWidget(m_runNote);
    m_startOver = new QCheckBox(tr("Start over (discard the checkpoint in this folder)"), runBox);
    m_startOver->setVisible(false);
    runLayout->addWidget(m_startOver);
    connect(m_run, &QLineEdit::editingFinished, this, &FitDialog::inspectRunFolder);
    // OK's text says what it does (setAcceptPending() names it).
    connect(m_startOver, &QCheckBox::toggled, this,
            [this] { setAcceptPending(m_acceptPending); });
    left->addWidget(runBox);

    // Features and masks
    auto* features = new QGroupBox(tr("Features and masks"), this);
    auto* featureForm = new QFormLayout(features);
    m_backbone = new QComboBox(features);
    for (const std::string& name : availableBackbones())
        m_backbone->addItem(QString::fromStdString(name));
    m_backbone->setToolTip(tr("Feature extractor. 'filterbank' needs no weights and finds colour "
                              "and texture segments; the DINO ViTs find semantics"));
    featureForm->addRow(tr("&Backbone"), m_backbone);
    m_weights = new QLineEdit(features);
    // Short, like the "backbone's default" of the rows below: the long form
    // did not fit the field at the size the dialog opens with.
    m_weights->setPlaceholderText(tr("backbone's default"));
    m_weights->setToolTip(tr("Optional: a checkpoint or TorchScript file with the backbone's "
                             "weights. Empty: the backbone's default location"));
    featureForm->addRow(tr("&Weights"), withBrowse(features, m_weights,
                                                   tr("Choose a checkpoint or TorchScript file"),
                                                   [this] { browseWeights(); }));
    m_resolution = spin(features, 0, kMaxResizeSide, 0,
                        tr("Shorter image side before the centre crop; the backbone's default "
                           "is 320 (322 for /14 backbones). At least two of the backbone's "
                           "patches (16 pixels for /8 backbones), so that each image gives "
                           "PriMaPs a feature map of 2x2 positions or more"),
                        tr("backbone's default"));
    featureForm->addRow(tr("Re&solution"), m_resolution);
    // The fit refuses a resolution below two patches only after the backbone
    // has loaded; the dialog names it where it is typed (hidden while fine).
    m_resolutionNote = new QLabel(features);
    m_resolutionNote->setWordWrap(true);
    m_resolutionNote->setStyleSheet(QStringLiteral("color: #a01010;")); // as the run folder's
    m_resolutionNote->setVisible(false);
    featureForm->addRow(QString(), m_resolutionNote);
    // Judged once typing stops (or an arrow is used): "160" must not flash
    // "too small" at its first digit.
    m_resolution->setKeyboardTracking(false);
    connect(m_resolution, &QSpinBox::valueChanged, this, &FitDialog::updateResolutionNote);
    connect(m_backbone, &QComboBox::currentIndexChanged, this, &FitDialog::updateResolutionNote);
    m_threshold = doubleSpin(features, 0.0, 1.0, 2, 0.05, 0.0,
                             tr("PriMaPs threshold \u03c4 of the cached masks"));
    m_threshold->setSpecialValueText(tr("backbone's default"));
    featureForm->addRow(tr("&Threshold \u03c4"), m_threshold);
    m_maskCrf = new QCheckBox(tr("Refine the masks with the dense CRF"), features);
    m_maskCrf->setChecked(runDefaults.maskCrf);
    featureForm->addRow(QString(), m_maskCrf);
    left->addWidget(features);
    left->addStretch(1);

    // Fit
    auto* fit = new QGroupBox(tr("Fit"), this);
    auto* fitForm = new QFormLayout(fit);
    m_method = new QComboBox(fit);
    m_method->addItem(tr("PriMaPs-EM"), QStringLiteral("primaps-em"));
    m_method->addItem(tr("k-means baseline"), QStringLiteral("kmeans"));
    m_method->setToolTip(tr("PriMaPs-EM: PCA, a k-means warm start, then EM on the PriMaPs "
                            "pseudo-labels (the paper's +PriMaPs).\nk-means baseline: PCA, then "
                            "cosine k-means for all epochs (the paper's Baseline)."));
    connect(m_method, &QComboBox::currentIndexChanged, this, &FitDialog::updateMethodControls);
    fitForm->addRow(tr("&Method"), m_method);
    // `primaps fit --protocol`: the robust protocol unless the paper's numbers
    // are to be reproduced (README, docs/em-quality.md).
    m_protocol = new QComboBox(fit);
    m_protocol->addItem(tr("robust (default)"), QString::fromLatin1(toString(EmProtocol::Robust)));
    m_protocol->addItem(tr("paper"), QString::fromLatin1(toString(EmProtocol::Paper)));
    m_protocol->setToolTip(
        tr("robust: keeps every cluster alive (k-means++ initialisation with restarts; "
           "PriMaPs-EM picks the restart that keeps each image's masks apart when the "
           "images agree on it, tries it and the masks grouped by texture for a few epochs "
           "and starts from the better; starved prototypes re-seeded, only masks that agree vote, "
           "learning rate 0.001, whitened filter-bank features).\npaper: the reference's "
           "procedure step for step (learning rate 0.005, raw features); clusters may starve. "
           "See docs/em-quality.md."));
    fitForm->addRow(tr("Pro&tocol"), m_protocol);
    m_protocolNote = new QLabel(fit);
    m_protocolNote->setWordWrap(true);
    m_protocolNote->setEnabled(false); // greyed: a note, not a control
    fitForm->addRow(QString(), m_protocolNote);
    connect(m_protocol, &QComboBox::currentIndexChanged, this, &FitDialog::onProtocolChanged);
    m_classes = spin(fit, 0, 254, 0,
                     tr("Number of prototypes; the dataset's class count by default "
                        "(27, 27, 3, or the lines of classes.txt)"),
                     tr("from the dataset"));
    fitForm->addRow(tr("&Classes"), m_classes);
    m_epochs =
        spin(fit, 0, 100000, defaults.epochs, tr("Epochs of EM (of k-means for the baseline)"));
    fitForm->addRow(tr("&Epochs"), m_epochs);
    m_initEpochs = spin(fit, 0, 1000, defaults.initEpochs, tr("k-means epochs before EM"));
    fitForm->addRow(tr("&Warm-start epochs"), m_initEpochs);
    m_batch = spin(fit, 1, 4096, defaults.batchSize, tr("Images per step"));
    fitForm->addRow(tr("Batch si&ze"), m_batch);
    m_seed = spin(fit, 0, INT_MAX, int(defaults.seed), tr("Random seed: same seed, same fit"));
    fitForm->addRow(tr("Se&ed"), m_seed);
    m_learningRate = doubleSpin(fit, 0.00001, 1.0, 5, 0.001, defaults.learningRate,
                                tr("Adam learning rate of both phases"));
    fitForm->addRow(tr("&Learning rate"), m_learningRate);
    // Below 0 is "automatic": the value depends on the backbone chosen at start.
    m_whitenRidge = doubleSpin(
        fit, -0.05, 1000.0, 2, 0.05, -0.05,
        tr("Fit on whitened features: the ridge added to the features' covariance, relative "
           "to its mean eigenvalue; 0 fits the raw features.\nAutomatic: 0.3 for the "
           "'filterbank' backbone (measured: +1.5 to +4.6 mIoU on real photographs), 0 for "
           "learned backbones (docs/em-quality.md)."));
    m_whitenRidge->setSpecialValueText(tr("automatic"));
    m_whitenRidgeTip = m_whitenRidge->toolTip();
    fitForm->addRow(tr("&Whitening ridge"), m_whitenRidge);
    m_emaDecay = doubleSpin(fit, 0.0, 1.0, 3, 0.01, defaults.emaDecay,
                            tr("EMA decay of \u03b8_M after the warm-up"));
    fitForm->addRow(tr("EMA &decay"), m_emaDecay);
    m_emaEvery = spin(fit, 0, 100000, defaults.emaEvery, tr("EM steps between EMA updates"));
    fitForm->addRow(tr("EMA e&very (steps)"), m_emaEvery);
    m_pcaImages = spin(fit, 1, 1000000, defaults.pcaImages,
                       tr("Images whose features are pooled for the PCA initialisation"));
    fitForm->addRow(tr("&PCA images"), m_pcaImages);
    m_pcaImagesWanted = defaults.pcaImages;
    connect(m_pcaImages, &QSpinBox::valueChanged, this,
            [this](int value) { m_pcaImagesWanted = value; });
    m_student = new QCheckBox(tr("Student augmentation"), fit);
    m_student->setToolTip(tr("\u03b8_R learns from photometrically augmented views (blur, "
                             "colour jitter, grey) whose features are cached too"));
    m_studentViews = spin(fit, 1, 64, runDefaults.studentViews, tr("Augmented views per image"));
    auto* studentRow = new QWidget(fit);
    auto* studentLayout = new QHBoxLayout(studentRow);
    studentLayout->setContentsMargins(0, 0, 0, 0);
    studentLayout->addWidget(m_student);
    studentLayout->addWidget(m_studentViews);
    auto* viewsLabel = new QLabel(tr("view(s) per image"), studentRow);
    viewsLabel->setBuddy(m_studentViews);
    studentLayout->addWidget(viewsLabel, 1);
    fitForm->addRow(QString(), studentRow);
    m_checkpointEvery = spin(fit, 1, 1000000, runDefaults.checkpointEvery,
                             tr("Steps between checkpoints (a cancel always saves one)"));
    fitForm->addRow(tr("Check&point every"), m_checkpointEvery);
    right->addWidget(fit);

    // Validation
    m_validation = new QGroupBox(tr("Validate while fitting"), this);
    m_validation->setCheckable(true);
    m_validation->setChecked(false);
    m_validation->setToolTip(tr("Evaluate \u03b8_M on a labelled split (Acc and mIoU after "
                                "Hungarian matching) and plot them"));
    auto* valForm = new QFormLayout(m_validation);
    m_valSplit = new QComboBox(m_validation);
    m_valSplit->setEditable(true);
    valForm->addRow(tr("Split"), m_valSplit);
    m_valEvery =
        spin(m_validation, 0, 1000000, 0, tr("Steps between validations"), tr("once per epoch"));
    valForm->addRow(tr("Every"), m_valEvery);
    right->addWidget(m_validation);
    right->addStretch(1);

    m_buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    m_buttons->button(QDialogButtonBox::Ok)->setText(tr("Start Fit"));
    connect(m_buttons, &QDialogButtonBox::accepted, this, &FitDialog::accept);
    connect(m_buttons, &QDialogButtonBox::rejected, this, &FitDialog::reject);
    layout->addWidget(m_buttons);

    connect(m_kind, &QComboBox::currentIndexChanged, this, &FitDialog::onKindChanged);
    connect(m_root, &QLineEdit::editingFinished, this, [this] {
        // A folder dataset with labels is worth validating on, on its val.txt
        // when it lists one (core's rule, as Evaluate's): the lookup says.
        if (m_kind->currentIndex() == 0 && !m_existingRun) {
            m_validationFollowsData = true;
            scheduleLookup();
        }
    });
    // Typed, pasted, browsed or loaded: the hint and the count follow the
    // fields once they rest (only an existing images/ folder is listed).
    m_lookupTimer.setSingleShot(true);
    m_lookupTimer.setInterval(kLookupDelayMs);
    connect(&m_lookupTimer, &QTimer::timeout, this, &FitDialog::startLookup);
    connect(m_root, &QLineEdit::textChanged, this, &FitDialog::scheduleLookup);
    connect(m_split, &QComboBox::currentTextChanged, this, &FitDialog::scheduleLookup);
    connect(this, &FitDialog::datasetLookedUp, this, &FitDialog::onLookedUp);
    // Cancelled while OK waited for the lookup: its answer accepts nothing.
    connect(this, &QDialog::finished, this, [this] {
        if (m_acceptPending)
            setAcceptPending(false);
    });
    onKindChanged();
    onHoldoutChanged();
    onProtocolChanged();
    updateMethodControls();
    // No folder yet: the first hint needs no listing.
    m_lookupTimer.stop();
    startLookup();
    // A hint in an empty field is read whole: each field is at least as wide as
    // its placeholder (the dialog grows to fit; it stays far below 1366 pixels).
    for (QLineEdit* edit : findChildren<QLineEdit*>()) {
        const QString hint = edit->placeholderText();
        if (hint.isEmpty())
            continue;
        const QMargins margins = edit->textMargins();
        edit->setMinimumWidth(edit->fontMetrics().horizontalAdvance(hint) + margins.left() +
                              margins.right() +
                              2 * edit->style()->pixelMetric(QStyle::PM_DefaultFrameWidth) + 8);
    }
}

void FitDialog::onKindChanged()
{
    const KindInfo& info = kinds().at(std::max(0, m_kind->currentIndex()));
    m_split->clear();
    m_split->addItems(info.splits);
    m_split->setCurrentIndex(0);
    m_valSplit->clear();
    m_valSplit->addItems(info.splits.mid(info.kind == DatasetKind::Folder ? 1 : 0));
    m_valSplit->setCurrentText(info.validation);
    // The benchmark layouts have a labelled val split; a folder has labels when
    // it has a labels/ subfolder (checked when its root is entered).
    if (info.kind != DatasetKind::Folder)
        m_validation->setChecked(true);
    // The benchmark layouts have their own splits (the CLI refuses --holdout there).
    const bool folder = info.kind == DatasetKind::Folder;
    m_holdoutBox->setEnabled(folder);
    m_holdoutBox->setToolTip(
        folder ? tr("A fraction of the folder's images kept apart as split 'val' (chosen by a "
                    "fixed hash of their file names, the same on every machine); the fit reads "
                    "the rest, split 'train', and validates on 'val'. As 'primaps fit --holdout "
                    "F'; split lists are not read then.")
               : tr("Folder datasets only: %1 has its own splits.").arg(tr(info.label)));
    if (!folder)
        m_holdoutBox->setValue(0.0);
    else
        onHoldoutChanged();
    scheduleLookup();
}

void FitDialog::updateMethodControls()
{
    const bool em = m_method->currentIndex() == 0;
    m_initEpochs->setEnabled(em);
    m_emaDecay->setEnabled(em);
    m_emaEvery->setEnabled(em);
    m_student->setEnabled(em);
    m_studentViews->setEnabled(em);
}

FitRunSettings FitDialog::settings() const
{
    FitRunSettings s;
    s.backbone = m_backbone->currentText().toStdString();
    s.weights = m_weights->text().trimmed().toStdString();
    s.runDir = m_run->text().trimmed().toStdString();
    s.resolution = m_resolution->value();
    s.threshold = float(m_threshold->value());
    s.maskCrf = m_maskCrf->isChecked();
    s.em.method = m_method->currentIndex() == 0 ? EmMethod::PrimapsEm : EmMethod::KMeans;
    s.em.classes = m_classes->value();
    s.em.epochs = m_epochs->value();
    s.em.initEpochs = m_initEpochs->value();
    s.em.batchSize = m_batch->value();
    s.em.seed = std::uint64_t(m_seed->value());
    s.em.learningRate = float(m_learningRate->value());
    s.em.protocol = emProtocolFromString(m_protocol->currentData().toString().toStdString());
    // The paper's protocol never whitens (the field is disabled then).
    s.em.whitenRidge = m_whitenRidge->value() < 0 || s.em.protocol == EmProtocol::Paper
                           ? defaultWhitenRidge(s.em.protocol, s.backbone)
                           : float(m_whitenRidge->value());
    s.em.emaDecay = float(m_emaDecay->value());
    s.em.emaEvery = m_emaEvery->value();
    s.em.pcaImages = m_pcaImages->value();
    s.em.studentAugmentation = s.em.method == EmMethod::PrimapsEm && m_student->isChecked();
    s.studentViews = m_studentViews->value();
    s.checkpointEvery = m_checkpointEvery->value();
    if (m_validation->isChecked()) {
        s.validationSplit = m_valSplit->currentText().trimmed().toStdString();
        s.validationEvery = m_valEvery->value();
    }
    s.restart = isStartOver();
    return s;
}

void FitDialog::setRequest(const DatasetOptions& dataset, const FitRunSettings& s)
{
    for (int i = 0; i < m_kind->count(); ++i)
        if (m_kind->itemData(i).toString() == QString::fromLatin1(toString(dataset.kind)))
            m_kind->setCurrentIndex(i);
    m_pcaImagesWanted = s.em.pcaImages;
    m_root->setText(QString::fromStdString(dataset.root));
    m_exactHoldout = dataset.holdout; // the box rounds to its decimals
    m_holdoutBox->setValue(dataset.holdout);
    m_split->setCurrentText(QString::fromStdString(dataset.split));
    const int backbone = m_backbone->findText(QString::fromStdString(s.backbone));
    if (backbone >= 0)
        m_backbone->setCurrentIndex(backbone);
    m_weights->setText(QString::fromStdString(s.weights));
    m_run->setText(QString::fromStdString(s.runDir));
    m_resolution->setValue(s.resolution);
    m_threshold->setValue(double(s.threshold));
    m_maskCrf->setChecked(s.maskCrf);
    m_method->setCurrentIndex(s.em.method == EmMethod::PrimapsEm ? 0 : 1);
    m_protocol->setCurrentIndex(
        std::max(0, m_protocol->findData(QString::fromLatin1(toString(s.em.protocol)))));
    m_classes->setValue(std::max(0, s.em.classes));
    m_epochs->setValue(s.em.epochs);
    m_initEpochs->setValue(s.em.initEpochs);
    m_batch->setValue(s.em.batchSize);
    m_seed->setValue(int(std::min<std::uint64_t>(s.em.seed, INT_MAX)));
    m_learningRate->setValue(double(s.em.learningRate));
    m_whitenRidge->setValue(double(s.em.whitenRidge));
    m_emaDecay->setValue(double(s.em.emaDecay));
    m_emaEvery->setValue(s.em.emaEvery);
    m_pcaImages->setValue(s.em.pcaImages);
    m_pcaImagesWanted = s.em.pcaImages;
    scheduleLookup(); // the root and split are known now; caps s.em.pcaImages
    m_student->setChecked(s.em.studentAugmentation);
    m_studentViews->setValue(s.studentViews);
    m_checkpointEvery->setValue(s.checkpointEvery);
    m_validation->setChecked(!s.validationSplit.empty());
    if (!s.validationSplit.empty())
        m_valSplit->setCurrentText(QString::fromStdString(s.validationSplit));
    m_valEvery->setValue(s.validationEvery);
    m_validationFollowsData = false; // the request's validation, not the folder's default
}

bool FitDialog::isStartOver() const
{
    return m_startOver->isChecked();
}

QString FitDialog::runFolderNote() const
{
    return m_runNoteText;
}

void FitDialog::inspectRunFolder()
{
    const QString dir = m_run->text().trimmed();
    m_existingRun = false;
    m_runNoteText.clear();
    m_startOver->setChecked(false);
    m_startOver->setVisible(false);
    if (!dir.isEmpty() && QFileInfo::exists(QDir(dir).filePath(QStringLiteral("run.json")))) {
        try {
            const FitRunFolder run = readFitRunFolder(dir.toStdString());
            FitRunSettings settings = run.settings;
            // A cache next to the run stays implicit, so that moving the run
            // folder keeps working.
            setRequest(run.dataset, settings);
            const std::int64_t step = readFitCheckpointStep(dir.toStdString());
            m_existingRun = true;
            const QString what =
                tr("%1 on %2 '%3'")
                    .arg(run.settings.em.method == EmMethod::KMeans ? tr("a k-means baseline")
                                                                    : tr("a PriMaPs-EM fit"),
                         QString::fromLatin1(toString(run.dataset.kind)),
                         native(QString::fromStdString(run.dataset.root)));
            if (run.complete)
                m_runNoteText = tr("This folder holds %1 that finished after %2 steps. Its "
                                   "settings are loaded.")
                                    .arg(what)
                                    .arg(run.steps);
            else if (step > 0)
                m_runNoteText = tr("This folder holds %1 with a checkpoint at step %2. Its "
                                   "settings are loaded; Resume Fit continues it.")
                                    .arg(what)
                                    .arg(step);
            else
                m_runNoteText = tr("This folder holds %1 that has not reached its first "
                                   "checkpoint. Its settings are loaded.")
                                    .arg(what);
            m_startOver->setVisible(true);
        } catch (const std::exception& e) {
            m_runNoteText = tr("This folder's run.json cannot be used: %1")
                                .arg(QString::fromLocal8Bit(e.what()));
        }
    } else if (!dir.isEmpty() && QFileInfo(dir).isDir() && !QDir(dir).isEmpty()) {
        m_runNoteText = tr("The folder exists and holds no fit; the run's files are added to it.");
    }
    // The fit's own guard, before any work: a folder with someone else's files
    // (or a foreign run.json) is refused here, not by the fit after Start.
    m_runProblem.clear();
    if (!dir.isEmpty() && !m_existingRun) {
        try {
            requireFitRunFolder(dir.toStdString());
        } catch (const std::exception& e) {
            m_runProblem = QString::fromStdString(e.what());
            m_runNoteText = m_runProblem;
        }
    }
    m_runNote->setText(m_runNoteText.isEmpty()
                           ? tr("The same layout as 'primaps fit --out': the CLI can evaluate "
                                "this run, and a run started by the CLI resumes here.")
                           : m_runNoteText);
    // The guard's refusal reads as an error where the folder is chosen.
    m_runNote->setStyleSheet(m_runProblem.isEmpty()
                                 ? QString()
                                 : QStringLiteral("color: #a01010;")); // the monitor's failure red
    setAcceptPending(m_acceptPending); // Start Fit or Resume Fit
}

QString FitDialog::validate() const
{
    const QString root = m_root->text().trimmed();
    const DatasetKind kind = datasetKindFromString(m_kind->currentData().toString().toStdString());
    if (root.isEmpty())
        return tr("Choose the dataset's root folder.");
    if (!QFileInfo(root).isDir())
        return tr("The dataset folder '%1' does not exist.").arg(native(root));
    if (kind == DatasetKind::Folder) {
        const QDir dir(root);
        if (!dir.exists(QStringLiteral("images")))
            return tr("'%1' is not a folder dataset: it has no images/ subfolder (images go in "
                      "ROOT/images, optional label PNGs in ROOT/labels, class names in "
                      "ROOT/classes.txt).")
                .arg(native(root));
        if (m_classes->value() == 0 && !dir.exists(QStringLiteral("classes.txt")))
            return tr("'%1' has no classes.txt: set the number of classes.").arg(native(root));
        const QString split = m_split->currentText().trimmed();
        const bool heldOut = holdoutFraction() > 0.0;
        const auto holdoutSplit = [](const QString& name) {
            return name == QLatin1String("train") || name == QLatin1String("val");
        };
        if (heldOut && !split.isEmpty() && !holdoutSplit(split))
            return tr("With a hold-out the folder has the splits 'train' (the images not held "
                      "out) and 'val' (the held-out ones), not '%1'.")
                .arg(split);
        if (heldOut && m_validation->isChecked() &&
            !holdoutSplit(m_valSplit->currentText().trimmed()))
            return tr("With a hold-out, validate on 'val' (the held-out images) or 'train'.");
        // With a hold-out the splits are train and val, without lists.
        if (!split.isEmpty() && split != QLatin1String("all") && !heldOut &&
            !dir.exists(split + QStringLiteral(".txt")))
            return tr("The split '%1' needs the list '%2'.")
                .arg(split, native(dir.filePath(split + QStringLiteral(".txt"))));
    }
    const QString run = m_run->text().trimmed();
    if (run.isEmpty())
        return tr("Choose a run folder: the prototypes, the history and the checkpoint go there.");
    if (QFileInfo::exists(run) && !QFileInfo(run).isDir())
        return tr("The run folder '%1' is a file.").arg(native(run));
    const QString weights = m_weights->text().trimmed();
    if (!weights.isEmpty() && !QFileInfo(weights).isFile())
        return tr("The weights file '%1' does not exist.").arg(native(weights));
    if (m_validation->isChecked() && m_valSplit->currentText().trimmed().isEmpty())
        return tr("Name the labelled split to validate on, or turn validation off.");
    return QString();
}

void FitDialog::accept()
{
    if (m_acceptPending)
        return; // onLookedUp() comes back here
    // The run folder may have been typed without leaving the field.
    if (m_run->text().trimmed() != QString() && !m_existingRun)
        inspectRunFolder();
    // What the dataset in the fields implies (the PCA cap, the validation
    // split) is set by its lookup: OK within the typing pause, or while the
    // folder is listed, waits for that answer instead of accepting stale values.
    if (m_lookupTimer.isActive() || m_answeredGeneration != m_lookupGeneration) {
        setAcceptPending(true);
        if (m_lookupTimer.isActive()) {
            m_lookupTimer.stop(); // no reason to wait for more typing
            startLookup();
        }
        return;
    }
    const QString problem = validate();
    if (problem.isEmpty() && !m_runProblem.isEmpty()) {
        // Named under the folder field (inspectRunFolder()); the dialog stays.
        m_messages->dismiss();
        m_run->setFocus();
        m_run->selectAll();
        return;
    }
    if (problem.isEmpty() && !resolutionProblem().isEmpty()) {
        // Named under the field (updateResolutionNote()).
        m_messages->dismiss();
        m_resolution->setFocus();
        m_resolution->selectAll();
        return;
    }
    if (!problem.isEmpty()) {
        m_messages->dismiss();
        m_messages->showMessage(problem);
        return;
    }
    QDialog::accept();
}

QString FitDialog::resolutionProblem() const
{
    const int resolution = m_resolution->value();
    const std::string backbone = m_backbone->currentText().toStdString();
    const int patch = backbonePatchSize(backbone);
    if (resolution <= 0 || patch <= 0 || resolution >= minimumResolution(patch))
        return QString();
    // Short: it stands under the field (the tooltip says why two patches).
    return tr("Too small for '%1': at least %2 pixels (two %3-pixel patches), or 0 for the "
              "backbone's default.")
        .arg(QString::fromStdString(backbone))
        .arg(minimumResolution(patch))
        .arg(patch);
}

void FitDialog::updateResolutionNote()
{
    const QString problem = resolutionProblem();
    m_resolutionNote->setText(problem);
    m_resolutionNote->setVisible(!problem.isEmpty());
}

void FitDialog::endAcceptWait()
{
    // A Browse… dialog opened while OK waits: the user is not done, OK is
    // theirs again.
    if (m_acceptPending)
        setAcceptPending(false);
}

void FitDialog::browseRoot()
{
    endAcceptWait();
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Dataset Root"), m_root->text());
    if (!dir.isEmpty())
        m_root->setText(dir);
    emit m_root->editingFinished();
}

void FitDialog::browseRun()
{
    endAcceptWait();
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Run Folder"), m_run->text());
    if (dir.isEmpty())
        return;
    m_run->setText(dir);
    inspectRunFolder();
}

void FitDialog::browseWeights()
{
    endAcceptWait();
    const QString file = QFileDialog::getOpenFileName(
        this, tr("Backbone Weights"), m_weights->text(),
        tr("Checkpoints and TorchScript (*.pth *.pt *.ts);;All files (*)"));
    if (!file.isEmpty())
        m_weights->setText(file);
}

void FitDialog::saveRecent() const
{
    QSettings settings;
    settings.beginGroup(QStringLiteral("fit"));
    settings.setValue(QStringLiteral("kind"), m_kind->currentData());
    settings.setValue(QStringLiteral("root"), m_root->text());
    settings.setValue(QStringLiteral("split"), m_split->currentText());
    settings.setValue(QStringLiteral("backbone"), m_backbone->currentText());
    settings.setValue(QStringLiteral("weights"), m_weights->text());
    settings.setValue(QStringLiteral("run"), m_run->text());
}

void FitDialog::restoreRecent()
{
    QSettings settings;
    settings.beginGroup(QStringLiteral("fit"));
    const int kind = m_kind->findData(settings.value(QStringLiteral("kind")));
    if (kind >= 0)
        m_kind->setCurrentIndex(kind);
    m_root->setText(settings.value(QStringLiteral("root")).toString());
    if (settings.contains(QStringLiteral("split")))
        m_split->setCurrentText(settings.value(QStringLiteral("split")).toString());
    const int backbone =
        m_backbone->findText(settings.value(QStringLiteral("backbone")).toString());
    if (backbone >= 0)
        m_backbone->setCurrentIndex(backbone);
    m_weights->setText(settings.value(QStringLiteral("weights")).toString());
    // A new fit goes to a new folder beside the last one.
    const QString last = settings.value(QStringLiteral("run")).toString();
    if (!last.isEmpty()) {
        const QDir parent = QFileInfo(last).absoluteDir();
        m_run->setText(parent.filePath(QStringLiteral("fit-%1").arg(
            QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-HHmmss")))));
    }
    inspectRunFolder();
}

} // namespace primaps
