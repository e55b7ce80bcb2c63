// SPDX-License-Identifier: MIT
#include "common/dialogrows.h"

#include <QBoxLayout>
#include <QDir>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>

namespace primaps {

QLabel* addRunIntro(QBoxLayout* layout, const QString& text, const QString& runDir,
                    QWidget* parent)
{
    auto* intro = new QLabel(text.arg(QDir::toNativeSeparators(runDir).toHtmlEscaped()), parent);
    intro->setWordWrap(true);
    layout->addWidget(intro);
    return intro;
}

QPushButton* addPathRow(QFormLayout* form, const QString& label, QLineEdit* edit, QWidget* parent)
{
    auto* browse = new QPushButton(QObject::tr("Browse\u2026"), parent);
    auto* row = new QHBoxLayout;
    row->addWidget(edit, 1);
    row->addWidget(browse);
    form->addRow(label, row);
    return browse;
}

JobFeedback addJobFeedback(QBoxLayout* layout, QWidget* parent)
{
    JobFeedback feedback;
    feedback.progress = new QProgressBar(parent);
    feedback.progress->setRange(0, 1000);
    feedback.progress->hide();
    layout->addWidget(feedback.progress);
    feedback.status = new QLabel(parent);
    feedback.status->setWordWrap(true);
    feedback.status->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(feedback.status);
    return feedback;
}

} // namespace primaps
