// SPDX-License-Identifier: MIT
#include "playbackpanel.h"

#include "explore/canvasimagelayer.h"
#include "explore/canvaswidget.h"
#include "explore/imagelistwidget.h"
#include "mainwindow.h"
#include "explore/playbackwidget.h"
#include "reviewcontroller.h"

#include <QDockWidget>
#include <QMenu>
#include <QMenuBar>
#include <QStatusBar>

namespace primaps {

namespace {

// Above the canvas's photo and labels (z 0..1) and the similarity heat map.
constexpr double kPlaybackLayerZ = 5.0;

} // namespace

PlaybackPanel::PlaybackPanel(MainWindow* window) : QObject(window), m_window(window)
{
    m_widget = new PlaybackWidget(window);
    m_dock = window->addStudioDock(tr("Playback"), QStringLiteral("PlaybackDock"), m_widget,
                                   Qt::BottomDockWidgetArea);
    m_dock->toggleViewAction()->setText(tr("&Playback"));
    window->viewMenu()->addAction(m_dock->toggleViewAction());
    m_layer = new CanvasImageLayer(window->canvas(), kPlaybackLayerZ, this);

    connect(window, &MainWindow::decompositionShown, this, &PlaybackPanel::onDecompositionShown);
    connect(window->imageList(), &ImageListWidget::currentPathChanged, this,
            [this] { m_widget->setActive(false); });
    connect(window->reviewController(), &ReviewController::layerShown, this, [this] {
        m_shown.reset();
        m_widget->clear();
    });
    connect(m_widget, &PlaybackWidget::activeChanged, this, &PlaybackPanel::onActiveChanged);
    connect(m_widget, &PlaybackWidget::frameReady, this, [this](const QImage& image) {
        if (m_widget->isActive())
            m_layer->show(image, 1.0, !m_widget->showsDirection());
    });
    connect(m_widget, &PlaybackWidget::exportFinished, this,
            [this](const QString& path, const QString& error, const QString& message) {
                m_window->statusBar()->showMessage(
                    error.isEmpty() ? tr("Exported the playback to %1 (%2)").arg(path, message) : error,
                    error.isEmpty() ? 8000 : 0);
            });
}

PlaybackPanel::~PlaybackPanel() = default;

void PlaybackPanel::onDecompositionShown(bool ok)
{
    const DecomposeResult& result = m_window->currentResult();
    // A preview (no CRF yet) is replaced within a second: prepare only final results.
    const std::shared_ptr<const ImageDecomposition> d =
        ok && !result.preview ? result.decomposition : nullptr;
    if (d == m_shown)
        return;
    m_shown = d;
    m_widget->setDecomposition(d, result.request.path);
}

void PlaybackPanel::onActiveChanged(bool active)
{
    if (!active)
        m_layer->hide();
    else if (!m_dock->isVisible())
        m_dock->show();
    emit canvasTaken(active);
}

} // namespace primaps
