// SPDX-License-Identifier: MIT
#include "backbonehint.h"

#include "mainwindow.h"
#include "backbones/modelcatalog.h"
#include "perspectives.h"

#include <QAction>
#include <QBoxLayout>
#include <QLabel>
#include <QMenu>
#include <QMenuBar>
#include <QPushButton>
#include <QSettings>
#include <QStyle>
#include <QToolButton>

namespace primaps {

bool BackboneHint::anyCheckpointInstalled()
{
    for (const ModelInfo& model : modelCatalog())
        if (!findModelFile(model).empty())
            return true;
    return false;
}

BackboneHint::BackboneHint(MainWindow* window) : QFrame(window), m_window(window)
{
    setObjectName(QStringLiteral("BackboneHint"));
    setFrameShape(QFrame::StyledPanel);
    setStyleSheet(QStringLiteral("#BackboneHint { background: #e8f1fb; border: 1px solid #a9c7ea; "
                                 "border-radius: 4px; } #BackboneHint QLabel { color: #14365c; }"));
    auto* layout = new QHBoxLayout(this);
    layout->setContentsMargins(8, 4, 4, 4);
    auto* icon = new QLabel(this);
    const int size = style()->pixelMetric(QStyle::PM_SmallIconSize, nullptr, this);
    icon->setPixmap(style()->standardIcon(QStyle::SP_MessageBoxInformation).pixmap(size, size));
    layout->addWidget(icon, 0, Qt::AlignTop);
    m_label = new QLabel(
        tr("No DINO checkpoint is installed, so the masks come from the filter-bank backbone: it "
           "finds regions of one colour and texture (on the samples 7\u201312 masks, under 4 % "
           "unassigned; about 91 % pure on texture photographs), not objects: a face can share "
           "the mask of the wall behind it. The paper's masks need DINO (ViT-S/8 or ViT-B/8, "
           "87\u2013350 MB). "
           "Decompose \u25b8 Backbones\u2026 lists the models with their size, licence and "
           "folder; nothing is downloaded until you click Download there."),
        this);
    m_label->setWordWrap(true);
    layout->addWidget(m_label, 1);
    auto* open = new QPushButton(tr("Backbones\u2026"), this);
    open->setToolTip(tr("Decompose \u25b8 Backbones\u2026 (opens the list; downloads nothing)"));
    connect(open, &QPushButton::clicked, this, &BackboneHint::openBackbones);
    layout->addWidget(open, 0, Qt::AlignTop);
    auto* close = new QToolButton(this);
    close->setAutoRaise(true);
    close->setText(QStringLiteral("\u2715"));
    close->setToolTip(tr("Dismiss this hint for good"));
    connect(close, &QToolButton::clicked, this, &BackboneHint::dismiss);
    layout->addWidget(close, 0, Qt::AlignTop);

    m_needed = !QSettings().value(settingsKey(), false).toBool() && !anyCheckpointInstalled();
    if (auto* column = qobject_cast<QBoxLayout*>(window->centralWidget()->layout())) {
        // In a margin of its own, which hides with it.
        m_frame = new QWidget(window->centralWidget());
        auto* margin = new QHBoxLayout(m_frame);
        margin->setContentsMargins(6, 6, 6, 0);
        setParent(m_frame);
        margin->addWidget(this);
        column->insertWidget(0, m_frame);
    }
    connect(window->perspectives(), &PerspectiveController::perspectiveChanged, this,
            [this](PerspectiveController::Perspective p) {
                update(p == PerspectiveController::Perspective::Explore);
            });
    update(window->perspectives()->current() == PerspectiveController::Perspective::Explore);
}

QString BackboneHint::text() const
{
    return m_label->text();
}

void BackboneHint::update(bool explore)
{
    if (m_frame)
        m_frame->setVisible(m_needed && explore);
    setVisible(m_needed && explore);
}

void BackboneHint::dismiss()
{
    m_needed = false;
    QSettings().setValue(settingsKey(), true);
    update(false);
}

void BackboneHint::openBackbones()
{
    // Decompose ▸ Backbones… (ExplorePerspective), which owns the one manager.
    if (auto* action = m_window->findChild<QAction*>(QStringLiteral("BackbonesAction")))
        action->trigger();
}

} // namespace primaps
