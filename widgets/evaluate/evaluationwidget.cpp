// SPDX-License-Identifier: MIT
// The evaluation view: opens a results file or evaluates a run folder in the
// background, shows the headline scores and keeps the class names and colours. The
// confusion matrix, the IoU bars and the per-class table are drawn in
// evaluationcharts.cpp, the match editing is in evaluationmatchedit.cpp.
#include "evaluate/evaluationwidget.h"
#include "common/backgroundpool.h"
#include "common/fitoverlapnote.h"

#include "evaluate/evaluationwidget_p.h"
#include "support/atomicfile.h"
#include "backbones/backbone.h"
#include "dataset/dataset.h"
#include "common/emptyplotcover.h"
#include "support/error.h"
#include "dataset/featurecache.h"
#include "common/messagewidget.h"
#include "image/overlay.h"

#include <algorithm>
#include <cmath>
#include <QCheckBox>
#include <QComboBox>
#include <qcustomplot.h>
#include <QCoreApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QSignalBlocker>
#include <QLocale>
#include <QProgressBar>
#include <QPushButton>
#include <QSplitter>
#include <QTableWidget>
#include <QtConcurrent/QtConcurrentRun>
#include <QVBoxLayout>

namespace primaps {

using evaluationview::percent;

namespace {

QColor defaultClassColor(int cls)
{
    // Id 0 of the label palette is the grey of "background"; classes start after it.
    const cv::Vec3b c = labelColor(cls + 1);
    return QColor(c[0], c[1], c[2]);
}

} // namespace

QString classStylesPath(const QString& resultsPath)
{
    const QFileInfo info(resultsPath);
    return info.dir().filePath(info.completeBaseName() + QStringLiteral(".classes.json"));
}

QString readClassStyles(const QString& path, QVector<ClassStyle>& styles)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return QObject::tr("Cannot read the class styles '%1': %2").arg(path, file.errorString());
    QJsonParseError error;
    const QJsonDocument doc = QJsonDocument::fromJson(file.readAll(), &error);
    if (!doc.isObject() ||
        doc.object().value(QStringLiteral("format")).toString() != "primaps-class-styles")
        return QObject::tr("'%1' is not a class style file%2")
            .arg(path, error.error == QJsonParseError::NoError
                           ? QString()
                           : QStringLiteral(" (%1)").arg(error.errorString()));
    for (const QJsonValue& v : doc.object().value(QStringLiteral("classes")).toArray()) {
        const QJsonObject o = v.toObject();
        const int id = o.value(QStringLiteral("id")).toInt(-1);
        if (id < 0 || id >= styles.size())
            continue; // styles of another evaluation's extra classes: nothing to apply them to
        const QString name = o.value(QStringLiteral("name")).toString();
        const QColor color(o.value(QStringLiteral("color")).toString());
        if (!name.isEmpty())
            styles[id].name = name;
        if (color.isValid())
            styles[id].color = color;
    }
    return {};
}

QString writeClassStyles(const QString& path, const QVector<ClassStyle>& styles)
{
    QJsonArray classes;
    for (int i = 0; i < styles.size(); ++i)
        classes.append(QJsonObject{{"id", i},
                                   {"name", styles[i].name},
                                   {"color", styles[i].color.name(QColor::HexRgb)}});
    const QJsonObject o{{"format", "primaps-class-styles"}, {"classes", classes}};
    try {
        writeFileAtomic(path.toStdString(), QJsonDocument(o).toJson().toStdString());
    } catch (const std::exception& e) {
        return QObject::tr("Cannot save the class names and colours: %1")
            .arg(QString::fromStdString(e.what()));
    }
    return {};
}

struct EvaluationWidget::Outcome
{
    JobState state = JobState::Idle;
    QString error;
    QString note; ///< skipped or failed images, images the fit saw: for the banner
    EvaluationReport report;
    QString resultsPath;
};

EvaluationWidget::EvaluationWidget(QWidget* parent) : QWidget(parent)
{
    auto* openButton = new QPushButton(tr("Open results…"), this);
    openButton->setToolTip(tr("Open a JSON file written by 'primaps eval --json'"));
    auto* runButton = new QPushButton(tr("Evaluate run…"), this);
    runButton->setToolTip(tr("Evaluate a finished fit's run folder on its validation split, in "
                             "the background"));
    m_runButtons = {openButton, runButton};
    m_thetaCombo = new QComboBox(this);
    m_thetaCombo->addItem(tr("θ_M (EMA)"), QStringLiteral("m"));
    m_thetaCombo->addItem(tr("θ_R (trained)"), QStringLiteral("r"));
    m_thetaCombo->setToolTip(tr("Prototypes the next 'Evaluate run…' predicts with"));
    m_crfCheck = new QCheckBox(tr("CRF"), this);
    m_crfCheck->setToolTip(tr("The next 'Evaluate run…' refines its predictions with the "
                              "dense CRF first (slower)"));
    m_progress = new QProgressBar(this);
    m_progress->setRange(0, 1000);
    m_progress->setTextVisible(false);
    m_progress->setMaximumWidth(160);
    m_progressLabel = new QLabel(this);
    m_cancelButton = new QPushButton(tr("Cancel"), this);
    m_progress->hide();
    m_progressLabel->hide();
    m_cancelButton->hide();
    m_sortCheck = new QCheckBox(tr("Sort bars by IoU"), this);
    connect(openButton, &QPushButton::clicked, this, &EvaluationWidget::chooseResults);
    connect(runButton, &QPushButton::clicked, this, &EvaluationWidget::chooseRun);
    connect(m_cancelButton, &QPushButton::clicked, this, &EvaluationWidget::cancel);
    connect(m_sortCheck, &QCheckBox::toggled, this, &EvaluationWidget::setSortedBars);

    auto* bar = new QHBoxLayout;
    bar->addWidget(openButton);
    bar->addWidget(runButton);
    // The prototypes and the CRF are settings of the next "Evaluate run…", not a
    // description of the numbers below (which a review or a results file gives).
    auto* with = new QLabel(tr("with"), this);
    with->setBuddy(m_thetaCombo);
    bar->addWidget(with);
    bar->addWidget(m_thetaCombo);
    bar->addWidget(m_crfCheck);
    // Loading results sets the selector to theirs; changed afterwards, it is
    // the next run's setting, and this note keeps the two apart.
    m_nextRunNote = new QLabel(this);
    m_nextRunNote->setTextFormat(Qt::PlainText);
    m_nextRunNote->setForegroundRole(QPalette::PlaceholderText);
    m_nextRunNote->hide();
    bar->addWidget(m_nextRunNote);
    connect(m_thetaCombo, &QComboBox::currentIndexChanged, this,
            &EvaluationWidget::updateNextRunNote);
    connect(m_crfCheck, &QCheckBox::toggled, this, &EvaluationWidget::updateNextRunNote);
    bar->addWidget(m_progress);
    bar->addWidget(m_progressLabel, 1);
    bar->addWidget(m_cancelButton);
    bar->addStretch();
    bar->addWidget(m_sortCheck);

    m_messages = new MessageWidget(this);
    m_headline = new QLabel(tr("No evaluation loaded. Open the JSON of 'primaps eval --json' or "
                               "evaluate a run folder."),
                            this);
    m_headline->setTextFormat(Qt::RichText);
    m_headline->setWordWrap(true);
    // Which run, data, prototypes and CRF the numbers are of: without it two
    // evaluations side by side cannot be told apart.
    m_provenance = new QLabel(this);
    m_provenance->setTextFormat(Qt::PlainText);
    m_provenance->setWordWrap(true);
    m_provenance->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_provenance->hide();

    m_confusionPlot = new QCustomPlot(this);
    m_confusionPlot->setMinimumSize(280, 150);
    m_colorMap = new QCPColorMap(m_confusionPlot->xAxis, m_confusionPlot->yAxis);
    QCPColorGradient gradient;
    gradient.setColorStopAt(0.0, QColor(255, 255, 255));
    gradient.setColorStopAt(0.25, QColor(189, 215, 238));
    gradient.setColorStopAt(0.6, QColor(66, 146, 198));
    gradient.setColorStopAt(1.0, QColor(8, 48, 107));
    m_colorMap->setGradient(gradient);
    m_colorMap->setInterpolate(false);
    m_colorMap->setTightBoundary(false);
    m_colorMap->setDataRange(QCPRange(0, 1));
    auto* scale = new QCPColorScale(m_confusionPlot);
    m_confusionPlot->plotLayout()->addElement(0, 1, scale);
    scale->setGradient(gradient);
    scale->setDataRange(QCPRange(0, 1));
    scale->axis()->setLabel(tr("share of the class's pixels"));
    m_colorMap->setColorScale(scale);
    auto* margins = new QCPMarginGroup(m_confusionPlot);
    m_confusionPlot->axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
    scale->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
    m_confusionPlot->xAxis->setLabel(tr("cluster (ordered by matched class; outlined: its match)"));
    m_confusionPlot->yAxis->setLabel(tr("ground-truth class"));
    m_confusionPlot->yAxis->setRangeReversed(true);
    m_confusionPlot->xAxis->grid()->setVisible(false);
    m_confusionPlot->yAxis->grid()->setVisible(false);
    m_confusionPlot->setMouseTracking(true);
    connect(m_confusionPlot, &QCustomPlot::mouseMove, this, &EvaluationWidget::onConfusionHover);

    m_iouPlot = new QCustomPlot(this);
    m_iouPlot->setMinimumSize(280, 150);
    m_iouPlot->yAxis->setLabel(tr("IoU (%)"));
    m_iouPlot->yAxis->setRange(0, 100);
    m_iouPlot->xAxis->setTickLabelRotation(60);
    m_iouPlot->xAxis->grid()->setVisible(false);

    // Before a report: a sentence, not axes with invented ranges.
    for (QCustomPlot* plot : {m_confusionPlot, m_iouPlot})
        new EmptyPlotCover(
            plot, [this] { return !m_hasReport; },
            plot == m_confusionPlot
                ? tr("The confusion matrix of an evaluation appears here (Evaluation \u25b8 Open "
                     "Results\u2026 or Evaluate Run\u2026).")
                : tr("Each class's IoU appears here once a run is evaluated."));

    m_table = new QTableWidget(0, ColumnCount, this);
    m_table->setHorizontalHeaderLabels(
        {tr("Cluster"), tr("Class"), tr("Colour"), tr("Match"), tr("IoU (%)"), tr("Pixels (%)")});
    m_table->verticalHeader()->hide();
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_table->horizontalHeader()->setSectionResizeMode(ClassColumn, QHeaderView::Stretch);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setEditTriggers(QAbstractItemView::DoubleClicked | QAbstractItemView::EditKeyPressed |
                             QAbstractItemView::SelectedClicked);
    m_table->setToolTip(tr("Double-click a class name to rename the class, a colour to change "
                           "it; every cluster matched to that class follows."));
    connect(m_table, &QTableWidget::itemChanged, this, &EvaluationWidget::onItemChanged);
    connect(m_table, &QTableWidget::cellDoubleClicked, this, &EvaluationWidget::onCellActivated);

    auto* plots = new QSplitter(Qt::Horizontal, this);
    plots->addWidget(m_confusionPlot);
    plots->addWidget(m_iouPlot);
    auto* body = new QSplitter(Qt::Vertical, this);
    body->addWidget(plots);
    body->addWidget(m_table);
    body->setStretchFactor(0, 3);
    body->setStretchFactor(1, 2);
    body->setSizes({600, 300}); // the plots get the room; the table scrolls

    auto* layout = new QVBoxLayout(this);
    layout->addLayout(bar);
    layout->addWidget(m_messages);
    layout->addWidget(m_headline);
    layout->addWidget(m_provenance);
    layout->addWidget(body, 1);

    connect(&m_watcher, &QFutureWatcher<std::shared_ptr<Outcome>>::finished, this,
            &EvaluationWidget::onEvaluationDone);
    m_sortCheck->setEnabled(false);
    createMatchEditing(bar);
}

EvaluationWidget::~EvaluationWidget()
{
    if (m_control)
        m_control->cancel();
    m_watcher.waitForFinished();
}

void EvaluationWidget::chooseResults()
{
    const QString path = QFileDialog::getOpenFileName(
        this, tr("Open evaluation results"), QFileInfo(m_resultsPath).path(),
        tr("Evaluation JSON (*.json);;All files (*)"));
    if (!path.isEmpty())
        openResults(path);
}

bool EvaluationWidget::refuseWhileEvaluating()
{
    if (!m_watcher.isRunning())
        return false;
    m_messages->showMessage(tr("An evaluation is running; cancel it or wait for it before "
                               "starting another."),
                            MessageWidget::Kind::Information);
    return true;
}

void EvaluationWidget::chooseRun()
{
    if (refuseWhileEvaluating()) // before the folder dialog, not after it
        return;
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Evaluate a run folder"),
                                                          QFileInfo(m_resultsPath).path());
    if (!dir.isEmpty())
        evaluateRun(dir, m_thetaCombo->currentData().toString(), m_crfCheck->isChecked());
}

bool EvaluationWidget::openResults(const QString& path)
{
    try {
        const EvaluationReport report = readEvaluationFile(path.toStdString());
        setReport(report, path);
        if (!report.shard.empty())
            m_messages->showMessage(tr("'%1' is the partial of shard %2 only; merge the partials "
                                       "with 'primaps eval --merge' for the whole split.")
                                        .arg(QFileInfo(path).fileName(),
                                             QString::fromStdString(report.shard)),
                                    MessageWidget::Kind::Information);
        return true;
    } catch (const std::exception& e) {
        m_messages->showMessage(tr("Cannot open the evaluation: %1").arg(e.what()));
        return false;
    }
}

void EvaluationWidget::setReport(const EvaluationReport& report, const QString& resultsPath)
{
    m_report = report;
    m_hasReport = true;
    m_resultsPath = resultsPath;
    const int classes = report.result.classes;
    m_styles.clear();
    for (int j = 0; j < classes; ++j)
        m_styles.append(
            {std::size_t(j) < report.classNames.size()
                 ? QString::fromStdString(report.classNames[std::size_t(j)])
                 : QStringLiteral("class %1").arg(j),
             defaultClassColor(j)});
    const QString stylesFile = resultsPath.isEmpty() ? QString() : classStylesPath(resultsPath);
    if (!stylesFile.isEmpty() && QFileInfo::exists(stylesFile)) {
        const QString error = readClassStyles(stylesFile, m_styles);
        if (!error.isEmpty())
            m_messages->showMessage(error);
    }
    m_sortCheck->setEnabled(true);
    m_computed = report.result;
    m_edits = MatchEdits();
    m_edited = primaps::applyMatchEdits(m_computed, m_edits);
    m_matchUndo->clear();
    // The selector shows the prototypes and CRF of the numbers below.
    const EvaluationProvenance& from = report.provenance;
    if (from.theta == "m" || from.theta == "r") {
        const QSignalBlocker blockTheta(m_thetaCombo);
        m_thetaCombo->setCurrentIndex(m_thetaCombo->findData(QString::fromStdString(from.theta)));
    }
    if (from.crfKnown) {
        const QSignalBlocker blockCrf(m_crfCheck);
        m_crfCheck->setChecked(from.crf);
    }
    updateNextRunNote();
    rebuild();
    emit reportChanged();
}

QString EvaluationWidget::nextRunTheta() const
{
    return m_thetaCombo->currentData().toString();
}

bool EvaluationWidget::nextRunCrf() const
{
    return m_crfCheck->isChecked();
}

void EvaluationWidget::setNextRunSettings(const QString& theta, bool crf)
{
    const int index = m_thetaCombo->findData(theta);
    if (index >= 0)
        m_thetaCombo->setCurrentIndex(index);
    m_crfCheck->setChecked(crf);
}

void EvaluationWidget::updateNextRunNote()
{
    const EvaluationProvenance& from = m_report.provenance;
    const bool thetaKnown = from.theta == "m" || from.theta == "r";
    const bool differs =
        m_hasReport && ((thetaKnown && nextRunTheta() != QString::fromStdString(from.theta)) ||
                        (from.crfKnown && nextRunCrf() != from.crf));
    if (!differs) {
        m_nextRunNote->hide();
        return;
    }
    auto describe = [](const QString& theta, bool crf) {
        return tr("%1, %2").arg(theta == QLatin1String("m") ? tr("θ_M") : tr("θ_R"),
                                crf ? tr("with CRF") : tr("without CRF"));
    };
    const QString shownTheta = thetaKnown ? QString::fromStdString(from.theta) : nextRunTheta();
    const bool shownCrf = from.crfKnown ? from.crf : nextRunCrf();
    m_nextRunNote->setText(tr("for the next run; the results shown: %1")
                               .arg(describe(shownTheta, shownCrf)));
    m_nextRunNote->setToolTip(
        tr("These settings apply to the next 'Evaluate run…'. The numbers below were computed "
           "with %1.")
            .arg(describe(shownTheta, shownCrf)));
    m_nextRunNote->show();
}

QString EvaluationWidget::className(int cls) const
{
    return cls >= 0 && cls < m_styles.size() ? m_styles[cls].name : QString();
}

QColor EvaluationWidget::classColor(int cls) const
{
    return cls >= 0 && cls < m_styles.size() ? m_styles[cls].color : QColor();
}

void EvaluationWidget::setClassName(int cls, const QString& name)
{
    if (cls < 0 || cls >= m_styles.size())
        return;
    QString trimmed = name.trimmed();
    if (trimmed.isEmpty())
        trimmed = std::size_t(cls) < m_report.classNames.size()
                      ? QString::fromStdString(m_report.classNames[std::size_t(cls)])
                      : QStringLiteral("class %1").arg(cls);
    if (trimmed == m_styles[cls].name) {
        refreshTable(); // an edit that changed nothing still shows the name again
        return;
    }
    m_styles[cls].name = trimmed;
    applyStyles();
}

void EvaluationWidget::setClassColor(int cls, const QColor& color)
{
    if (cls < 0 || cls >= m_styles.size() || !color.isValid() || color == m_styles[cls].color)
        return;
    m_styles[cls].color = color;
    applyStyles();
}

void EvaluationWidget::applyStyles()
{
    refreshConfusion();
    refreshBars();
    refreshTable();
    saveStyles();
    emit classStylesChanged();
}

void EvaluationWidget::saveStyles()
{
    if (!m_classTablePath.isEmpty()) {
        try {
            writeClassTable(m_classTablePath.toStdString(), classTable());
        } catch (const std::exception& e) {
            m_messages->showMessage(QString::fromStdString(e.what()));
        }
        return;
    }
    if (m_resultsPath.isEmpty())
        return;
    const QString error = writeClassStyles(classStylesPath(m_resultsPath), m_styles);
    if (!error.isEmpty())
        m_messages->showMessage(error);
}

void EvaluationWidget::setSortedBars(bool sorted)
{
    if (m_sortCheck->isChecked() != sorted)
        m_sortCheck->setChecked(sorted); // comes back here through toggled()
    if (m_sortedBars == sorted)
        return;
    m_sortedBars = sorted;
    refreshBars();
}

void EvaluationWidget::rebuild()
{
    refreshHeadline();
    refreshConfusion();
    refreshBars();
    refreshTable();
}

QString EvaluationWidget::provenanceText(const EvaluationProvenance& from)
{
    QStringList known, unknown;
    auto add = [&](const QString& value, const QString& label, const QString& what) {
        if (value.isEmpty())
            unknown << what;
        else
            known << label.arg(value);
    };
    // The folder names say which run and dataset; the full paths are in the tooltip.
    auto folderName = [](const std::string& path) {
        return path.empty() ? QString() : QFileInfo(QString::fromStdString(path)).fileName();
    };
    add(folderName(from.run), tr("run %1"), tr("run"));
    add(folderName(from.dataset), tr("dataset %1"), tr("dataset"));
    add(QString::fromStdString(from.split), tr("split %1"), tr("split"));
    if (from.theta == "m")
        known << tr("θ_M (EMA)");
    else if (from.theta == "r")
        known << tr("θ_R (trained)");
    else
        add(QString::fromStdString(from.theta), tr("θ %1"), tr("θ"));
    if (from.crfKnown)
        known << (from.crf ? tr("with CRF") : tr("without CRF"));
    else
        unknown << tr("CRF");
    QString text = known.join(QStringLiteral(" · "));
    if (!unknown.isEmpty())
        text += (text.isEmpty() ? QString() : QStringLiteral(" · ")) +
                tr("not recorded in the file: %1").arg(unknown.join(QStringLiteral(", ")));
    return text;
}

void EvaluationWidget::refreshHeadline()
{
    EvaluationProvenance from = m_report.provenance;
    // The studio keeps a run's evaluations in its folder; a file there written
    // before the run was recorded in it is still that run's.
    if (from.run.empty() && !m_resultsPath.isEmpty()) {
        const QDir folder = QFileInfo(m_resultsPath).dir();
        if (folder.exists(QStringLiteral("run.json")))
            from.run = folder.absolutePath().toStdString();
    }
    m_provenance->setText(provenanceText(from));
    QStringList paths;
    if (!from.run.empty())
        paths << tr("Run: %1").arg(QDir::toNativeSeparators(QString::fromStdString(from.run)));
    if (!from.dataset.empty())
        paths << tr("Dataset: %1")
                     .arg(QDir::toNativeSeparators(QString::fromStdString(from.dataset)));
    if (!m_resultsPath.isEmpty())
        paths << tr("Results: %1").arg(QDir::toNativeSeparators(m_resultsPath));
    m_provenance->setToolTip(paths.join(QLatin1Char('\n')));
    m_provenance->show();

    const EvaluationResult& r = m_report.result;
    const QLocale locale;
    QString file = m_resultsPath.isEmpty() ? QString()
                                           : QStringLiteral(" · %1").arg(
                                                 QFileInfo(m_resultsPath).fileName().toHtmlEscaped());
    m_headline->setText(
        tr("<span style='font-size:16pt'><b>Acc %1 %</b> &nbsp; <b>mIoU %2 %</b></span><br>"
           "%3 clusters → %4 classes · %5 labelled pixels%6")
            .arg(percent(r.accuracy), percent(r.meanIoU))
            .arg(r.clusters)
            .arg(r.classes)
            .arg(locale.toString(qlonglong(r.pixels)))
            .arg(file));
}
bool EvaluationWidget::evaluateRun(const QString& runDir, const QString& theta, bool crf)
{
    if (refuseWhileEvaluating())
        return false;
    const quint64 generation = ++m_generation;
    m_control = std::make_shared<JobControl>();
    m_control->setProgressCallback([this, generation](const JobProgress& p) {
        const double fraction = p.fraction;
        const QString message = QString::fromStdString(p.message);
        QMetaObject::invokeMethod(
            this, [this, generation, fraction, message] { onProgress(generation, fraction, message); },
            Qt::QueuedConnection);
    });
    std::shared_ptr<JobControl> control = m_control;
    const std::string dir = runDir.toStdString();
    const std::string thetaName = theta.toStdString();
    m_watcher.setFuture(runInBackground([control, dir, thetaName, crf] {
        auto out = std::make_shared<Outcome>();
        try {
            FittedRun run = openFittedRun(dir, thetaName);
            DatasetOptions options = run.folder.dataset;
            options.split = runEvaluationSplit(run.folder);
            const Dataset dataset = Dataset::open(options);
            if (dataset.classCount() < 1)
                throw Error("the run's dataset has no class list, so there is nothing to "
                            "evaluate against");
            const FeatureCache cache(
                run.cacheDir,
                featureCacheKey(dataset, run.backbone->name(), run.weights, run.settings));
            EvaluationJob job(dataset, *run.backbone, cache, run.settings, run.prototypes, crf);
            out->state = runJob(job, *control);
            const StageReport& report = job.report();
            if (!report.failures.empty())
                out->note = QObject::tr("%1 image(s) could not be evaluated and were left out; "
                                        "the first: %2 (%3)")
                                .arg(report.failures.size())
                                .arg(QString::fromStdString(report.failures.front().path),
                                     QString::fromStdString(report.failures.front().message));
            const QString overlap = fitOverlapNote(run.folder.dataset, dataset);
            if (!overlap.isEmpty())
                out->note = out->note.isEmpty() ? overlap : out->note + "\n" + overlap;
            if (out->state == JobState::Failed)
                out->error = QString::fromStdString(control->error());
            if (out->state != JobState::Finished)
                return out;
            if (job.confusion().clusters() < 1 || job.confusion().total() == 0)
                throw Error("split '" + options.split + "' of '" + options.root +
                            "' has no labelled images");
            out->report.confusion = job.confusion();
            out->report.result = evaluate(job.confusion());
            out->report.classNames = dataset.classNames();
            EvaluationProvenance& from = out->report.provenance;
            from.run = dir;
            from.dataset = options.root;
            from.split = options.split.empty() ? std::string("all") : options.split;
            from.theta = thetaName;
            from.crfKnown = true;
            from.crf = crf;
            const std::string file = "eval_theta_" + thetaName + (crf ? "_crf" : "") + ".json";
            const std::string path = runFilePath(dir, file.c_str());
            writeFileAtomic(path, evaluationToJson(out->report.result, out->report.classNames,
                                                   out->report.confusion, from));
            out->resultsPath = QString::fromStdString(path);
        } catch (const std::exception& e) {
            out->state = JobState::Failed;
            out->error = QString::fromStdString(e.what());
        }
        return out;
    }));
    m_progress->setValue(0);
    m_progress->show();
    m_progressLabel->setText(tr("Opening %1…").arg(QDir::toNativeSeparators(runDir)));
    m_progressLabel->show();
    m_cancelButton->show();
    m_cancelButton->setEnabled(true);
    for (QPushButton* b : m_runButtons)
        b->setEnabled(false);
    emit evaluatingChanged(true);
    return true;
}

void EvaluationWidget::onProgress(quint64 generation, double fraction, const QString& message)
{
    if (generation != m_generation || !m_watcher.isRunning())
        return;
    m_progress->setValue(int(std::lround(std::clamp(fraction, 0.0, 1.0) * 1000)));
    m_progressLabel->setText(message.isEmpty() ? tr("Evaluating…") : message);
}

void EvaluationWidget::cancel()
{
    if (m_control && m_watcher.isRunning()) {
        m_control->cancel();
        m_cancelButton->setEnabled(false);
        m_progressLabel->setText(tr("Canceling…"));
    }
}

bool EvaluationWidget::waitForEvaluation(int timeoutMs)
{
    QElapsedTimer clock;
    clock.start();
    // The result is delivered by the watcher's queued signal, so keep the event
    // loop turning until it has been.
    while (m_watcher.isRunning() || m_progress->isVisible()) {
        if (timeoutMs >= 0 && clock.elapsed() > timeoutMs)
            return false;
        QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
    }
    return true;
}

void EvaluationWidget::onEvaluationDone()
{
    const std::shared_ptr<Outcome> out = m_watcher.result();
    m_progress->hide();
    m_progressLabel->hide();
    m_cancelButton->hide();
    for (QPushButton* b : m_runButtons)
        b->setEnabled(true);
    if (!out->note.isEmpty())
        m_messages->showMessage(out->note, MessageWidget::Kind::Information);
    switch (out->state) {
    case JobState::Finished:
        setReport(out->report, out->resultsPath);
        break;
    case JobState::Canceled:
        m_messages->showMessage(tr("Evaluation canceled."), MessageWidget::Kind::Information);
        break;
    default:
        m_messages->showMessage(tr("Evaluation failed: %1").arg(out->error));
        break;
    }
    emit evaluatingChanged(false);
}

} // namespace primaps
