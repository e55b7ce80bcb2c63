// SPDX-License-Identifier: MIT
#include "review/pseudolabelexportdialog.h"
#include "common/backgroundpool.h"
#include "common/dialogrows.h"

#include "backbones/backbone.h"
#include "runs/evaluationreport.h"
#include "labels/pseudolabelexport.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QtConcurrent/QtConcurrentRun>
#include <QVBoxLayout>

namespace primaps {

struct PseudoLabelExportDialog::Outcome
{
    JobState state = JobState::Idle;
    QString error;
    QString summary;
};

PseudoLabelExportDialog::PseudoLabelExportDialog(const QString& runDir,
                                                 const DatasetOptions& dataset, QWidget* parent)
    : QDialog(parent), m_runDir(runDir), m_dataset(dataset)
{
    setWindowTitle(tr("Export Pseudo-Label Dataset"));
    auto* layout = new QVBoxLayout(this);
    addRunIntro(layout,
                tr("Writes a label PNG per image of <b>%1</b> as <tt>primaps export</tt> does: the "
                   "prediction mapped to classes by the run's match (with your overrides, merges "
                   "and ignored clusters), the run's class names and colours, and your "
                   "corrections."),
                runDir, this);
    auto* form = new QFormLayout;
    m_folder = new QLineEdit(this);
    QPushButton* browse = addPathRow(form, tr("Output folder"), m_folder, this);
    m_theta = new QComboBox(this);
    m_theta->addItem(tr("\u03b8_M (EMA, as 'primaps export' by default)"), QStringLiteral("m"));
    m_theta->addItem(tr("\u03b8_R (trained)"), QStringLiteral("r"));
    form->addRow(tr("Prototypes"), m_theta);
    m_crf = new QCheckBox(tr("Refine with the dense CRF"), this);
    form->addRow(QString(), m_crf);
    m_size = new QComboBox(this);
    m_size->addItem(tr("The image's size (outside the crop: ignore)"), QStringLiteral("original"));
    m_size->addItem(tr("The evaluation crop's size"), QStringLiteral("prepared"));
    form->addRow(tr("Label size"), m_size);
    m_colour = new QCheckBox(tr("Colour pictures"), this);
    m_overlay = new QCheckBox(tr("Overlays on the photos"), this);
    m_corrections = new QCheckBox(tr("Apply my corrections (RUN_DIR/corrections)"), this);
    m_corrections->setChecked(true);
    form->addRow(QString(), m_colour);
    form->addRow(QString(), m_overlay);
    form->addRow(QString(), m_corrections);
    m_palette = new QCheckBox(tr("Label PNGs with the class colours as palette"), this);
    form->addRow(QString(), m_palette);
    // The annotation tools' formats, written beside the label PNGs.
    auto* formats = new QHBoxLayout;
    for (interchange::InterchangeFormat f :
         {interchange::InterchangeFormat::Coco, interchange::InterchangeFormat::CocoPanoptic,
          interchange::InterchangeFormat::Cvat, interchange::InterchangeFormat::LabelStudio}) {
        static const char* const names[] = {"COCO", "COCO panoptic", "CVAT", "Label Studio"};
        auto* box = new QCheckBox(tr(names[int(f)]), this);
        box->setProperty("format", int(f));
        m_formats.push_back(box);
        formats->addWidget(box);
    }
    formats->addStretch();
    form->addRow(tr("Also as"), formats);
    layout->addLayout(form);
    const JobFeedback feedback = addJobFeedback(layout, this);
    m_progress = feedback.progress;
    m_status = feedback.status;
    auto* buttons = new QDialogButtonBox(this);
    m_start = buttons->addButton(tr("Export"), QDialogButtonBox::AcceptRole);
    m_cancel = buttons->addButton(QDialogButtonBox::Cancel);
    auto* close = buttons->addButton(QDialogButtonBox::Close);
    layout->addWidget(buttons);
    connect(browse, &QPushButton::clicked, this, [this] {
        const QString dir = QFileDialog::getExistingDirectory(this, tr("Output folder"));
        if (!dir.isEmpty())
            m_folder->setText(dir);
    });
    connect(m_start, &QPushButton::clicked, this, &PseudoLabelExportDialog::start);
    connect(m_cancel, &QPushButton::clicked, this, &PseudoLabelExportDialog::cancel);
    connect(close, &QPushButton::clicked, this, &QDialog::reject);
    m_cancel->setEnabled(false);
    connect(&m_watcher, &QFutureWatcherBase::finished, this, &PseudoLabelExportDialog::onFinished);
    resize(560, sizeHint().height());
}

PseudoLabelExportDialog::~PseudoLabelExportDialog()
{
    cancel();
    m_watcher.waitForFinished();
}

void PseudoLabelExportDialog::setOutputFolder(const QString& folder)
{
    m_folder->setText(folder);
}

QString PseudoLabelExportDialog::outputFolder() const
{
    return m_folder->text().trimmed();
}

void PseudoLabelExportDialog::setPrediction(const QString& theta, bool crf)
{
    m_theta->setCurrentIndex(std::max(0, m_theta->findData(theta)));
    m_crf->setChecked(crf);
}

QString PseudoLabelExportDialog::summary() const
{
    return m_summary;
}

bool PseudoLabelExportDialog::start()
{
    const QString folder = outputFolder();
    if (isRunning())
        return false;
    if (folder.isEmpty()) {
        m_status->setText(tr("Choose an output folder first."));
        return false;
    }
    bool overwrite = false;
    const QDir dir(folder);
    if (dir.exists() && !dir.isEmpty()) {
        const ExistingChoice choice = [&] {
            if (m_question)
                return m_question(folder);
            QMessageBox box(QMessageBox::Question, tr("Replace the Export?"),
                            tr("%1 holds files already. Replace them, or keep the images an "
                               "earlier export with the same settings finished?")
                                .arg(QDir::toNativeSeparators(folder)),
                            QMessageBox::Cancel, this);
            QPushButton* replace = box.addButton(tr("Replace"), QMessageBox::DestructiveRole);
            QPushButton* resume = box.addButton(tr("Keep Finished"), QMessageBox::AcceptRole);
            box.exec();
            if (box.clickedButton() == replace)
                return ExistingChoice::Replace;
            if (box.clickedButton() == resume)
                return ExistingChoice::Resume;
            return ExistingChoice::Cancel;
        }();
        if (choice == ExistingChoice::Cancel)
            return false;
        overwrite = choice == ExistingChoice::Replace;
    }
    PseudoLabelExportRequest request;
    request.settings.outDir = folder.toStdString();
    request.settings.crf = m_crf->isChecked();
    request.settings.size = exportSizeFromString(m_size->currentData().toString().toStdString());
    request.settings.colour = m_colour->isChecked();
    request.settings.overlay = m_overlay->isChecked();
    request.settings.overwrite = overwrite;
    request.settings.palette = m_palette->isChecked();
    for (QCheckBox* box : m_formats)
        if (box->isChecked())
            request.formats.push_back(interchange::InterchangeFormat(box->property("format").toInt()));
    request.corrections = m_corrections->isChecked() ? ExportCorrectionsSource::Auto
                                                     : ExportCorrectionsSource::None;
    const std::string runDir = m_runDir.toStdString();
    const std::string theta = m_theta->currentData().toString().toStdString();
    const DatasetOptions datasetOptions = m_dataset;

    m_control = std::make_shared<JobControl>();
    std::shared_ptr<JobControl> control = m_control;
    control->setProgressCallback([this](const JobProgress& p) {
        const double fraction = p.fraction;
        const QString stage = QString::fromStdString(p.stage);
        QMetaObject::invokeMethod(
            this,
            [this, fraction, stage] {
                m_progress->setValue(int(1000 * fraction));
                m_status->setText(stage == QLatin1String("evaluation")
                                      ? tr("Evaluating the split for the match\u2026")
                                      : tr("Exporting\u2026 %1 %").arg(int(100 * fraction)));
            },
            Qt::QueuedConnection);
    });
    m_watcher.setFuture(runInBackground([runDir, theta, datasetOptions, request, control] {
        auto out = std::make_shared<Outcome>();
        try {
            FittedRun run = openFittedRun(runDir, theta);
            DatasetOptions o = datasetOptions;
            if (o.root.empty()) {
                // As `primaps export`: the dataset and split the run was fitted on.
                o = run.folder.dataset;
                if (o.split.empty() && o.kind != DatasetKind::Folder)
                    o.split = "train";
            }
            const Dataset dataset = Dataset::open(o);
            PseudoLabelExportJob job(run, dataset, request);
            out->state = runJob(job, *control);
            if (out->state == JobState::Failed) {
                out->error = QString::fromStdString(control->error());
                return out;
            }
            out->summary =
                QObject::tr("%1 image(s) exported, %2 already there, %3 failed; %4 files written. "
                            "Match: %5.")
                    .arg(job.report().computed)
                    .arg(job.report().reused)
                    .arg(job.failures().size())
                    .arg(job.filesWritten())
                    .arg(QString::fromStdString(job.matchSource()));
            if (!job.failures().empty())
                out->summary += QObject::tr(" First failure: %1: %2")
                                    .arg(QString::fromStdString(job.failures().front().path),
                                         QString::fromStdString(job.failures().front().message));
        } catch (const std::exception& e) {
            out->state = JobState::Failed;
            out->error = QString::fromStdString(e.what());
        }
        return out;
    }));
    m_progress->setValue(0);
    m_progress->show();
    m_status->setText(tr("Opening the run\u2026"));
    m_start->setEnabled(false);
    m_cancel->setEnabled(true);
    return true;
}

void PseudoLabelExportDialog::cancel()
{
    if (m_control && isRunning()) {
        m_control->cancel();
        m_status->setText(tr("Stopping after the current image\u2026"));
    }
}

void PseudoLabelExportDialog::reject()
{
    if (isRunning()) {
        cancel(); // the dialog stays until the job has stopped, so nothing is left behind
        return;
    }
    QDialog::reject();
}

void PseudoLabelExportDialog::onFinished()
{
    const std::shared_ptr<Outcome> out = m_watcher.result();
    m_state = out->state;
    m_start->setEnabled(true);
    m_cancel->setEnabled(false);
    if (out->state == JobState::Failed) {
        m_summary = out->error;
        m_status->setText(tr("<b>Export failed:</b> %1").arg(out->error.toHtmlEscaped()));
    } else if (out->state == JobState::Canceled) {
        m_summary = tr("Canceled. %1 Run the export again to finish it.").arg(out->summary);
        m_status->setText(m_summary);
    } else {
        m_summary = out->summary;
        m_status->setText(tr("<b>Done.</b> %1").arg(out->summary.toHtmlEscaped()));
        m_progress->setValue(1000);
    }
    emit exportFinished(out->state == JobState::Finished);
}

} // namespace primaps
