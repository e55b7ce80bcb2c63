// SPDX-License-Identifier: MIT
#include "review/importcorrectionsdialog.h"
#include "common/backgroundpool.h"
#include "common/dialogrows.h"

#include <cmath>
#include <QComboBox>
#include <QCheckBox>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QTableWidget>
#include <QtConcurrent/QtConcurrentRun>
#include <QVBoxLayout>

namespace primaps {

struct ImportCorrectionsDialog::Outcome
{
    JobState state = JobState::Idle;
    QString error;
    interchange::CorrectionImportReport report;
};

namespace {

QString iouText(double iou)
{
    return std::isnan(iou) ? QStringLiteral("\u2013") : QString::number(100.0 * iou, 'f', 2) + " %";
}

QTableWidgetItem* number(std::int64_t v)
{
    auto* item = new QTableWidgetItem;
    item->setData(Qt::DisplayRole, qlonglong(v));
    item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    return item;
}

QTableWidget* table(const QStringList& headers, QWidget* parent)
{
    auto* t = new QTableWidget(0, int(headers.size()), parent);
    t->setHorizontalHeaderLabels(headers);
    t->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
    t->verticalHeader()->hide();
    t->setEditTriggers(QAbstractItemView::NoEditTriggers);
    t->setSelectionBehavior(QAbstractItemView::SelectRows);
    return t;
}

} // namespace

ImportCorrectionsDialog::ImportCorrectionsDialog(const QString& runDir, QWidget* parent)
    : QDialog(parent), m_runDir(runDir)
{
    setWindowTitle(tr("Import Corrections"));
    auto* layout = new QVBoxLayout(this);
    addRunIntro(layout,
                tr("Reads annotations corrected in an annotation tool from an export of <b>%1</b>, "
                   "stores the changed pixels as the run's corrections (as <tt>primaps import</tt> "
                   "does) and shows what the annotators changed. Label names are matched to the "
                   "run's classes exactly; other names are listed and left alone."),
                runDir, this);
    auto* form = new QFormLayout;
    m_file = new QLineEdit(this);
    QPushButton* browse = addPathRow(form, tr("Annotations"), m_file, this);
    m_format = new QComboBox(this);
    m_format->addItem(tr("COCO JSON"), int(interchange::AnnotationFormat::Coco));
    m_format->addItem(tr("CVAT Segmentation mask 1.1 (zip)"),
                      int(interchange::AnnotationFormat::Cvat));
    m_format->addItem(tr("Label Studio JSON export"),
                      int(interchange::AnnotationFormat::LabelStudio));
    m_format->addItem(tr("Folder of label PNGs"), int(interchange::AnnotationFormat::Png));
    form->addRow(tr("Format"), m_format);
    m_overwrite = new QCheckBox(tr("Replace corrections an image already has"), this);
    form->addRow(QString(), m_overwrite);
    layout->addLayout(form);
    const JobFeedback feedback = addJobFeedback(layout, this);
    m_progress = feedback.progress;
    m_status = feedback.status;
    m_classes = table({tr("Class"), tr("Changed"), tr("Pseudo-label"), tr("Corrected"), tr("IoU")},
                      this);
    m_images = table({tr("Image"), tr("Changed"), tr("Pixels"), tr("Classes changed"), tr("Status")},
                     this);
    m_images->horizontalHeader()->setSectionResizeMode(0, QHeaderView::ResizeToContents);
    m_images->horizontalHeader()->setSectionResizeMode(3, QHeaderView::Stretch);
    layout->addWidget(new QLabel(tr("Per class"), this));
    layout->addWidget(m_classes, 1);
    layout->addWidget(new QLabel(tr("Per image"), this));
    layout->addWidget(m_images, 1);
    auto* buttons = new QDialogButtonBox(this);
    m_start = buttons->addButton(tr("Import"), QDialogButtonBox::AcceptRole);
    auto* close = buttons->addButton(QDialogButtonBox::Close);
    layout->addWidget(buttons);
    connect(browse, &QPushButton::clicked, this, [this] {
        const bool folder =
            m_format->currentData().toInt() == int(interchange::AnnotationFormat::Png);
        const QString path =
            folder ? QFileDialog::getExistingDirectory(this, tr("Folder of label PNGs"))
                   : QFileDialog::getOpenFileName(this, tr("Corrected annotations"), QString(),
                                                  tr("Annotations (*.json *.zip);;All files (*)"));
        if (!path.isEmpty())
            setFile(path);
    });
    connect(m_start, &QPushButton::clicked, this, &ImportCorrectionsDialog::start);
    connect(close, &QPushButton::clicked, this, &QDialog::reject);
    connect(&m_watcher, &QFutureWatcherBase::finished, this, &ImportCorrectionsDialog::onFinished);
    resize(640, 560);
}

ImportCorrectionsDialog::~ImportCorrectionsDialog()
{
    if (m_control)
        m_control->cancel();
    m_watcher.waitForFinished();
}

void ImportCorrectionsDialog::setFile(const QString& path)
{
    m_file->setText(path);
    // The format a file's name implies; a JSON could be COCO or Label Studio:
    // Label Studio's exports are lists, which the name cannot tell, so its
    // exports written by `primaps export` are recognised by their name.
    const QFileInfo info(path);
    interchange::AnnotationFormat f = interchange::AnnotationFormat::Coco;
    if (info.isDir())
        f = interchange::AnnotationFormat::Png;
    else if (info.suffix().compare(QLatin1String("zip"), Qt::CaseInsensitive) == 0)
        f = interchange::AnnotationFormat::Cvat;
    else if (info.fileName().contains(QLatin1String("labelstudio"), Qt::CaseInsensitive) ||
             info.fileName().startsWith(QLatin1String("project-")))
        f = interchange::AnnotationFormat::LabelStudio;
    setFormat(f);
}

void ImportCorrectionsDialog::setFormat(interchange::AnnotationFormat format)
{
    m_format->setCurrentIndex(std::max(0, m_format->findData(int(format))));
}

void ImportCorrectionsDialog::setOverwrite(bool overwrite)
{
    m_overwrite->setChecked(overwrite);
}

QString ImportCorrectionsDialog::summary() const
{
    return m_summary;
}

bool ImportCorrectionsDialog::start()
{
    if (isRunning())
        return false;
    const QString file = m_file->text().trimmed();
    if (file.isEmpty()) {
        m_status->setText(tr("Choose the corrected annotations first."));
        return false;
    }
    interchange::CorrectionImportRequest request;
    request.format = interchange::AnnotationFormat(m_format->currentData().toInt());
    request.file = file.toStdString();
    request.runDir = m_runDir.toStdString();
    request.overwrite = m_overwrite->isChecked();
    m_control = std::make_shared<JobControl>();
    std::shared_ptr<JobControl> control = m_control;
    control->setProgressCallback([this](const JobProgress& p) {
        const double fraction = p.fraction;
        QMetaObject::invokeMethod(
            this, [this, fraction] { m_progress->setValue(int(1000 * fraction)); },
            Qt::QueuedConnection);
    });
    m_watcher.setFuture(runInBackground([request, control] {
        auto out = std::make_shared<Outcome>();
        interchange::CorrectionImportJob job(request);
        out->state = runJob(job, *control);
        if (out->state == JobState::Failed)
            out->error = QString::fromStdString(control->error());
        out->report = job.report();
        return out;
    }));
    m_progress->setValue(0);
    m_progress->show();
    m_status->setText(tr("Importing\u2026"));
    m_start->setEnabled(false);
    return true;
}

void ImportCorrectionsDialog::onFinished()
{
    const std::shared_ptr<Outcome> out = m_watcher.result();
    m_progress->hide();
    m_start->setEnabled(true);
    m_state = out->state;
    m_report = out->report;
    if (out->state == JobState::Failed) {
        m_summary = out->error;
        m_status->setText(tr("Import failed: %1").arg(out->error));
        emit importFinished(false, 0);
        return;
    }
    showReport();
    emit importFinished(out->state == JobState::Finished, m_report.stored);
}

void ImportCorrectionsDialog::showReport()
{
    const interchange::CorrectionImportReport& r = m_report;
    m_summary = tr("%1 of %2 pixel(s) changed in %3 image(s); %4 correction(s) stored, %5 "
                   "unchanged, %6 kept.")
                    .arg(r.changed)
                    .arg(r.pixels)
                    .arg(r.images.size())
                    .arg(r.stored)
                    .arg(r.unchanged)
                    .arg(r.kept);
    QStringList lines{m_summary};
    for (const interchange::UnknownLabel& u : r.unknownLabels)
        lines << tr("Unknown label \u201c%1\u201d: %2 pixel(s) in %3 image(s) left as they were.")
                     .arg(QString::fromStdString(u.name))
                     .arg(u.pixels)
                     .arg(u.images);
    if (r.outsideCrop > 0)
        lines << tr("%1 changed pixel(s) lie outside the run's crop: not stored.").arg(r.outsideCrop);
    for (const std::string& note : r.notes)
        lines << QString::fromStdString(note);
    for (const DatasetProblem& p : r.problems)
        lines << QString::fromStdString(p.path) + ": " + QString::fromStdString(p.message);
    m_status->setText(lines.join('\n'));

    m_classes->setSortingEnabled(false);
    m_classes->setRowCount(0);
    for (const interchange::ClassChange& c : r.classes) {
        const int row = m_classes->rowCount();
        m_classes->insertRow(row);
        m_classes->setItem(row, 0, new QTableWidgetItem(QString::fromStdString(c.name)));
        m_classes->setItem(row, 1, number(c.changed));
        m_classes->setItem(row, 2, number(c.pseudoLabel));
        m_classes->setItem(row, 3, number(c.corrected));
        m_classes->setItem(row, 4, new QTableWidgetItem(iouText(c.iou())));
    }
    m_classes->setSortingEnabled(true);
    m_classes->sortByColumn(1, Qt::DescendingOrder); // the most changed class first
    m_images->setSortingEnabled(false);
    m_images->setRowCount(0);
    for (const interchange::ImageChange& im : r.images) {
        const int row = m_images->rowCount();
        m_images->insertRow(row);
        QStringList classes;
        for (const interchange::ClassChange& c : im.classes)
            classes << QString::fromStdString(c.name) + " " + QString::number(c.changed) +
                           " (IoU " + iouText(c.iou()) + ")";
        m_images->setItem(row, 0, new QTableWidgetItem(QString::fromStdString(im.id)));
        m_images->setItem(row, 1, number(im.changed));
        m_images->setItem(row, 2, number(im.pixels));
        m_images->setItem(row, 3, new QTableWidgetItem(classes.join(QStringLiteral(", "))));
        m_images->setItem(row, 4, new QTableWidgetItem(QString::fromStdString(im.status)));
    }
    m_images->setSortingEnabled(true);
    m_images->sortByColumn(1, Qt::DescendingOrder);
}

void ImportCorrectionsDialog::reject()
{
    if (isRunning())
        m_control->cancel();
    QDialog::reject();
}

} // namespace primaps
