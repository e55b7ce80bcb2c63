// SPDX-License-Identifier: MIT
// The Explore perspective's decomposition tool bar (backbone, threshold, CRF,
// compare, edit, overlay, zoom) and its part of the status bar.
#include "exploreperspective.h"
#include "exploreperspective_p.h"
#include "mainwindow.h"

#include "annotate/labeleditor.h"
#include "backbones/backbone.h"
#include "explore/canvaswidget.h"

#include <QHBoxLayout>
#include <QWidgetAction>
#include <QAction>
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFrame>
#include <QLabel>
#include <QSlider>
#include <QStatusBar>
#include <QTimer>
#include <QToolBar>
#include <QToolButton>

namespace primaps {

using namespace explore_detail;

void ExplorePerspective::createToolBar()
{
    CanvasWidget* canvas = m_window->canvas();
    LabelEditor* editor = m_window->labelEditor();
    QToolBar* bar = m_window->addToolBar(tr("Decomposition"));
    bar->setObjectName(QStringLiteral("DecompositionToolBar"));
    bar->setMovable(false);
    bar->setToolButtonStyle(Qt::ToolButtonTextOnly);

    auto spacer = [bar](int width) {
        auto* gap = new QWidget(bar);
        gap->setFixedWidth(width);
        bar->addWidget(gap);
    };
    spacer(6);

    auto* backboneLabel = new QLabel(tr("Backbone"), bar);
    bar->addWidget(backboneLabel);
    spacer(6);
    m_backboneCombo = new QComboBox(bar);
    for (const std::string& name : availableBackbones())
        m_backboneCombo->addItem(QString::fromStdString(name));
    m_backboneCombo->setToolTip(tr("The feature extractor. 'filterbank' needs no weights and "
                                   "finds colour and texture segments, not semantics."));
    backboneLabel->setBuddy(m_backboneCombo);
    bar->addWidget(m_backboneCombo);
    connect(m_backboneCombo, &QComboBox::currentTextChanged, this, [this] {
        m_useRecommendedThreshold = true; // each backbone has its own scale
        submitCurrent();
    });
    spacer(18);

    const QString thresholdTip =
        tr("PriMaPs threshold \u03c4: patches whose similarity to the seed is below "
           "\u03c4 \u00b7 max are left for later masks.\nHigher \u03c4 gives smaller, purer "
           "masks and more iterations. The default is the backbone's recommendation.");
    auto* thresholdLabel = new QLabel(tr("Threshold \u03c4"), bar);
    thresholdLabel->setToolTip(thresholdTip);
    bar->addWidget(thresholdLabel);
    spacer(6);
    m_thresholdSlider = new QSlider(Qt::Horizontal, bar);
    m_thresholdSlider->setRange(toSlider(kThresholdMin), toSlider(kThresholdMax));
    m_thresholdSlider->setFixedWidth(170);
    m_thresholdSlider->setToolTip(thresholdTip);
    bar->addWidget(m_thresholdSlider);
    spacer(4);
    m_thresholdSpin = new QDoubleSpinBox(bar);
    m_thresholdSpin->setRange(kThresholdMin, kThresholdMax);
    m_thresholdSpin->setSingleStep(0.01);
    m_thresholdSpin->setDecimals(2);
    m_thresholdSpin->setToolTip(thresholdTip);
    m_thresholdSpin->setAccessibleName(tr("Threshold"));
    thresholdLabel->setBuddy(m_thresholdSpin);
    bar->addWidget(m_thresholdSpin);
    m_thresholdReset = new QToolButton(bar);
    m_thresholdReset->setText(tr("Recommended"));
    m_thresholdReset->setToolTip(tr("Back to the backbone's recommended threshold"));
    bar->addWidget(m_thresholdReset);
    // A drag previews without the CRF; keys, wheel and clicks on the groove
    // move the slider without it being down and count as edits.
    connect(m_thresholdSlider, &QSlider::sliderPressed, this, [this] { m_dragChanged = false; });
    connect(m_thresholdSlider, &QSlider::valueChanged, this, [this](int value) {
        if (m_thresholdSlider->isSliderDown())
            onThresholdDragged(value / 100.0);
        else
            onThresholdEdited(value / 100.0);
    });
    connect(m_thresholdSlider, &QSlider::sliderReleased, this, &ExplorePerspective::onThresholdReleased);
    connect(m_thresholdSpin, qOverload<double>(&QDoubleSpinBox::valueChanged), this,
            &ExplorePerspective::onThresholdEdited);
    connect(m_thresholdReset, &QToolButton::clicked, this, [this] {
        m_useRecommendedThreshold = true;
        if (m_recommendedThreshold > 0.0)
            updateThresholdControls(m_recommendedThreshold);
        m_rerunTimer->start();
    });
    updateThresholdControls(0.5);
    spacer(18);

    // A check box reads as on/off at a glance; the menu action carries the shortcut.
    auto* crfBox = new QCheckBox(tr("Dense CRF"), bar);
    crfBox->setChecked(m_crfAction->isChecked());
    crfBox->setToolTip(m_crfAction->toolTip());
    connect(crfBox, &QCheckBox::toggled, m_crfAction, &QAction::setChecked);
    connect(m_crfAction, &QAction::toggled, crfBox, &QCheckBox::setChecked);
    bar->addWidget(crfBox);
    spacer(4);
    m_compareAction->setIconText(tr("Before | After"));
    bar->addAction(m_compareAction);
    spacer(4);
    // Correcting labels is a mode: its tool row shows only while the mode is on,
    // so the window stays calm for people who only explore proposals.
    bar->addAction(editor->editModeAction());
    spacer(18);
    // Up to here the controls decompose Explore's image; the overlay and zoom
    // controls after them act on any canvas (Review's too).
    // Only the tool bar's own widgets: the actions it shares with the menus
    // keep their shortcuts everywhere (Edit labels; Before | After only where
    // Explore's image is shown, setDecomposeControlsVisible()).
    for (QAction* action : bar->actions())
        if (qobject_cast<QWidgetAction*>(action))
            m_decomposeOnlyActions << action;

    auto* opacityLabel = new QLabel(tr("Overlay"), bar);
    bar->addWidget(opacityLabel);
    spacer(6);
    m_opacitySlider = new QSlider(Qt::Horizontal, bar);
    m_opacitySlider->setRange(0, 100);
    m_opacitySlider->setFixedWidth(130);
    m_opacitySlider->setToolTip(tr("Opacity of the mask colours over the image"));
    m_opacitySlider->setAccessibleName(tr("Overlay opacity"));
    bar->addWidget(m_opacitySlider);
    m_opacityValue = new QLabel(bar);
    m_opacityValue->setMinimumWidth(
        m_opacityValue->fontMetrics().horizontalAdvance(QStringLiteral("100 %")) + 8);
    m_opacityValue->setAlignment(Qt::AlignRight | Qt::AlignVCenter);
    bar->addWidget(m_opacityValue);
    connect(m_opacitySlider, &QSlider::valueChanged, this, [this, canvas](int value) {
        canvas->setOverlayOpacity(value / 100.0);
        m_opacityValue->setText(QStringLiteral("%1 %").arg(value));
    });
    m_opacitySlider->setValue(kDefaultOpacity);
    canvas->setOverlayOpacity(kDefaultOpacity / 100.0);
    m_opacityValue->setText(QStringLiteral("%1 %").arg(kDefaultOpacity));

    auto* stretch = new QWidget(bar);
    stretch->setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Preferred);
    bar->addWidget(stretch);
    m_fitAction->setToolTip(tr("Fit the image to the window (Ctrl+0)"));
    // "1:1", not "100 %": a percentage here read as the current zoom, which
    // only the canvas's corner read-out states; "Fit" stays pressed while the
    // canvas follows the window (the read-out's "Fit · …").
    m_actualSizeAction->setIconText(tr("1:1"));
    m_fitAction->setCheckable(true);
    m_fitAction->setChecked(canvas->isFitToWindow());
    connect(canvas, &CanvasWidget::zoomChanged, m_fitAction,
            [this, canvas] { m_fitAction->setChecked(canvas->isFitToWindow()); });
    m_actualSizeAction->setToolTip(tr("One image pixel per screen pixel (Ctrl+1)"));
    m_zoomOutAction->setIconText(QStringLiteral("\u2212"));
    m_zoomInAction->setIconText(QStringLiteral("+"));
    m_fitAction->setIconText(tr("Fit"));
    bar->addAction(m_zoomOutAction);
    bar->addAction(m_zoomInAction);
    bar->addAction(m_fitAction);
    bar->addAction(m_actualSizeAction);
    spacer(6);
}

void ExplorePerspective::setDecomposeControlsVisible(bool visible)
{
    for (QAction* action : m_decomposeOnlyActions)
        action->setVisible(visible);
    // Before | After compares Explore's masks before and after its CRF: with
    // another image on the canvas (Review) the button only toggled an empty
    // mode and read as a before/after of the review's layers.
    m_compareAction->setVisible(visible);
}

void ExplorePerspective::createStatusWidgets()
{
    QStatusBar* status = m_window->statusBar();
    // One box: the window hides it in perspectives that show another image.
    m_statusBox = new QWidget(m_window);
    auto* box = new QHBoxLayout(m_statusBox);
    box->setContentsMargins(0, 0, 0, 0);
    box->setSpacing(0);
    status->addPermanentWidget(m_statusBox);
    m_busyLabel = new QLabel(tr("\u23f3 computing\u2026"), m_window);
    m_busyLabel->setContentsMargins(6, 0, 6, 0);
    m_busyLabel->setToolTip(tr("The image is being decomposed; the canvas shows the newest "
                               "result until then"));
    m_busyLabel->hide();
    box->addWidget(m_busyLabel);
    m_statusMasks = new QLabel(m_window);
    m_statusMasks->setContentsMargins(6, 0, 6, 0);
    box->addWidget(m_statusMasks);
    m_statusSeparator = new QFrame(m_window);
    m_statusSeparator->setFrameShape(QFrame::VLine);
    m_statusSeparator->setFrameShadow(QFrame::Sunken);
    m_statusSeparator->hide();
    box->addWidget(m_statusSeparator);
    m_statusTimings = new QLabel(m_window);
    m_statusTimings->setContentsMargins(6, 0, 6, 0);
    m_statusTimings->setToolTip(
        tr("Time spent computing features, in the PriMaPs loop (with the mask stack), on the "
           "upsampled label map and in the dense CRF, for the result on display.\n"
           "\"cached\": the features of an earlier run on this image were reused."));
    box->addWidget(m_statusTimings);
}

} // namespace primaps
