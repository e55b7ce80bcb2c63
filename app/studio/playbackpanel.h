// SPDX-License-Identifier: MIT
#pragma once

#include <memory>
#include <QObject>

class QDockWidget;

namespace primaps {

class CanvasImageLayer;
class MainWindow;
class PlaybackWidget;
struct ImageDecomposition;

/// The studio's step-through playback (Explore): a "Playback" dock with the
/// PlaybackWidget, fed with each finished decomposition of the selected image,
/// whose frames it lays over the canvas while the playback is active.
///
/// It only listens to the window (decompositionShown, image changes, the
/// review taking the canvas) and owns its dock, its View menu entry and its
/// canvas layer. GUI thread only.
class PlaybackPanel : public QObject
{
    Q_OBJECT

public:
    explicit PlaybackPanel(MainWindow* window);
    ~PlaybackPanel() override;

    PlaybackWidget* widget() const { return m_widget; }
    QDockWidget* dock() const { return m_dock; }
    /// The frame on the canvas (hidden while the playback is not active).
    const CanvasImageLayer* layer() const { return m_layer; }

signals:
    /// The playback took the canvas (true) or gave it back (false).
    void canvasTaken(bool taken);

private:
    void onDecompositionShown(bool ok);
    void onActiveChanged(bool active);

    MainWindow* m_window;
    PlaybackWidget* m_widget = nullptr;
    QDockWidget* m_dock = nullptr;
    CanvasImageLayer* m_layer = nullptr;
    std::shared_ptr<const ImageDecomposition> m_shown;
};

} // namespace primaps
