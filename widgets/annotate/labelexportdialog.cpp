// SPDX-License-Identifier: MIT
#include "annotate/labelexportdialog.h"

#include <QCheckBox>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QVBoxLayout>

namespace primaps {

namespace {
// The list of files is cut after this many lines; a folder export of a
// hundred images would otherwise make the dialog taller than the screen.
constexpr int kListedFiles = 8;
} // namespace

LabelExportDialog::LabelExportDialog(
    Mode mode, const QString& target, const LabelExportOptions& options,
    std::function<QStringList(const QString&, const LabelExportOptions&)> filesFor,
    QWidget* parent)
    : QDialog(parent), m_mode(mode), m_filesFor(std::move(filesFor))
{
    setWindowTitle(mode == Mode::File ? tr("Export Labels") : tr("Export All Edited Labels"));
    auto* layout = new QVBoxLayout(this);

    auto* intro = new QLabel(
        mode == Mode::File
            ? tr("Writes the label map on display, with your corrections, at the image's "
                 "resolution: an 8-bit PNG whose pixel values are the label ids of the legend "
                 "(0 = background).")
            : tr("Writes the label map of every image with corrections into one folder, as "
                 "8-bit PNGs whose pixel values are the label ids of the legend "
                 "(0 = background), named after the images."),
        this);
    intro->setWordWrap(true);
    layout->addWidget(intro);

    auto* form = new QFormLayout;
    auto* row = new QHBoxLayout;
    m_target = new QLineEdit(target, this);
    m_target->setMinimumWidth(420);
    m_target->setClearButtonEnabled(true);
    row->addWidget(m_target, 1);
    auto* browseButton = new QPushButton(tr("Browse\u2026"), this);
    row->addWidget(browseButton);
    form->addRow(mode == Mode::File ? tr("Label PNG:") : tr("Folder:"), row);

    m_color = new QCheckBox(tr("Colour PNG (the labels in their legend colours)"), this);
    m_overlay = new QCheckBox(tr("Overlay PNG (the colours over the image)"), this);
    m_sidecar = new QCheckBox(tr("Names and colours (JSON beside the PNG)"), this);
    auto* extras = new QVBoxLayout;
    extras->addWidget(m_color);
    extras->addWidget(m_overlay);
    extras->addWidget(m_sidecar);
    form->addRow(tr("Also write:"), extras);
    layout->addLayout(form);

    m_list = new QLabel(this);
    m_list->setTextFormat(Qt::RichText);
    m_list->setWordWrap(true);
    m_list->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_list->setStyleSheet(QStringLiteral("QLabel { padding: 6px; border-radius: 4px; "
                                         "background: palette(alternate-base); }"));
    layout->addWidget(m_list);

    m_buttons = new QDialogButtonBox(QDialogButtonBox::Cancel, this);
    QPushButton* exportButton = m_buttons->addButton(tr("Export"), QDialogButtonBox::AcceptRole);
    exportButton->setDefault(true);
    layout->addWidget(m_buttons);

    setOptions(options);
    connect(browseButton, &QPushButton::clicked, this, &LabelExportDialog::browse);
    connect(m_target, &QLineEdit::textChanged, this, &LabelExportDialog::refresh);
    for (QCheckBox* box : {m_color, m_overlay, m_sidecar})
        connect(box, &QCheckBox::toggled, this, &LabelExportDialog::refresh);
    connect(m_buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(m_buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    refresh();
}

QString LabelExportDialog::target() const
{
    QString text = m_target->text().trimmed();
    // A label map is a PNG: a name without the extension gets it.
    if (m_mode == Mode::File && !text.isEmpty() &&
        QFileInfo(text).suffix().compare(QStringLiteral("png"), Qt::CaseInsensitive) != 0)
        text += QStringLiteral(".png");
    return text;
}

void LabelExportDialog::setTarget(const QString& target)
{
    m_target->setText(target);
}

LabelExportOptions LabelExportDialog::options() const
{
    LabelExportOptions options;
    options.colorPng = m_color->isChecked();
    options.overlayPng = m_overlay->isChecked();
    options.sidecar = m_sidecar->isChecked();
    options.overlayOpacity = m_overlayOpacity;
    return options;
}

void LabelExportDialog::setOptions(const LabelExportOptions& options)
{
    m_color->setChecked(options.colorPng);
    m_overlay->setChecked(options.overlayPng);
    m_sidecar->setChecked(options.sidecar);
    m_overlayOpacity = options.overlayOpacity;
}

QStringList LabelExportDialog::files() const
{
    const QString t = target();
    return t.isEmpty() || !m_filesFor ? QStringList() : m_filesFor(t, options());
}

QStringList LabelExportDialog::existingFiles() const
{
    QStringList existing;
    for (const QString& file : files())
        if (QFileInfo::exists(file))
            existing << file;
    return existing;
}

void LabelExportDialog::browse()
{
    const QString current = target();
    QString chosen;
    if (m_mode == Mode::File) {
        // The replace question comes once, from whoever exports, for all files.
        chosen = QFileDialog::getSaveFileName(this, tr("Label PNG"), current,
                                              tr("PNG images (*.png)"), nullptr,
                                              QFileDialog::DontConfirmOverwrite);
    } else {
        chosen = QFileDialog::getExistingDirectory(this, tr("Folder for the labels"), current);
    }
    if (!chosen.isEmpty())
        m_target->setText(QDir::toNativeSeparators(chosen));
}

void LabelExportDialog::refresh()
{
    const QStringList all = files();
    for (QAbstractButton* button : m_buttons->buttons())
        if (m_buttons->buttonRole(button) == QDialogButtonBox::AcceptRole)
            button->setEnabled(!all.isEmpty());
    if (all.isEmpty()) {
        m_list->setText(m_mode == Mode::File ? tr("Choose a file name.")
                                             : tr("Choose a folder."));
        return;
    }
    int existing = 0;
    QStringList lines;
    for (int i = 0; i < all.size(); ++i) {
        const bool exists = QFileInfo::exists(all[i]);
        existing += exists ? 1 : 0;
        if (i < kListedFiles)
            lines << QStringLiteral("%1%2").arg(
                         QDir::toNativeSeparators(all[i]).toHtmlEscaped(),
                         exists ? QStringLiteral(" <span style=\"color:#b3261e\">(%1)</span>")
                                      .arg(tr("exists"))
                                : QString());
    }
    if (all.size() > kListedFiles)
        lines << tr("\u2026 and %1 more").arg(all.size() - kListedFiles);
    QString text = (all.size() == 1 ? tr("<b>Writes one file:</b>")
                                    : tr("<b>Writes %1 files:</b>").arg(all.size())) +
                   QStringLiteral("<br>") +
                   lines.join(QStringLiteral("<br>"));
    if (existing > 0)
        text += QStringLiteral("<br><span style=\"color:#b3261e\">%1</span>")
                    .arg(existing == 1
                             ? tr("One file exists and will be replaced after you confirm.")
                             : tr("%1 files exist and will be replaced after you confirm.")
                                   .arg(existing));
    m_list->setText(text);
}

} // namespace primaps
