// SPDX-License-Identifier: MIT
#pragma once

#include <memory>
#include <QFutureWatcher>
#include <QImage>
#include <QString>
#include <QWidget>

class QComboBox;
class QLabel;
class QSlider;
class QToolButton;

namespace primaps {

struct ImageDecomposition;
class PlaybackController;
class PlaybackRenderer;

/// The step-through playback of a decomposition for demos: back, play/pause
/// and step buttons, a slider over the frames (one per PriMaPs iteration, then
/// the final label map), the speed, the frame's caption (proposal area and the
/// area that remains), a choice between the masks on the photo and the
/// principal-direction heat map, and Export… (GIF, WebP, MP4 or a PNG strip).
///
/// The widget draws no picture itself: frameReady() hands the current frame's
/// picture (the photo's aspect) to whoever lays it over the canvas, while
/// isActive(). Any stepping or playing makes it active; Done (or Escape, or a
/// new decomposition) ends it.
///
/// Threading: GUI thread only. Building the frames' renderer and rendering a
/// frame run on pool threads, one at a time; a frame asked for while another
/// renders replaces any waiting request, so fast playback skips rather than
/// queues. The export renders and encodes on a pool thread too. The
/// destructor waits for both.
class PlaybackWidget : public QWidget
{
    Q_OBJECT

public:
    explicit PlaybackWidget(QWidget* parent = nullptr);
    ~PlaybackWidget() override;

    /// Prepares the playback of `decomposition` (shared, kept alive, never
    /// modified); ends an active playback. `imagePath` names the export.
    void setDecomposition(std::shared_ptr<const ImageDecomposition> decomposition,
                          const QString& imagePath = QString());
    void clear();

    PlaybackController* controller() const { return m_controller; }
    /// The frames are ready to be stepped through.
    bool isReady() const { return m_renderer != nullptr; }
    bool isActive() const { return m_active; }
    void setActive(bool active);
    /// The canvas shows the principal-direction heat map instead of the masks.
    bool showsDirection() const;
    void setShowsDirection(bool direction);
    /// The caption of the current frame.
    QString caption() const;
    /// The picture frameReady() delivered last (null before the first).
    QImage currentImage() const { return m_image; }

    /// Writes the whole playback to `path` (format by extension: .gif, .webp,
    /// .mp4, .png strip) at the current speed, on a pool thread;
    /// exportFinished() reports the outcome. Replaces an existing file:
    /// exportWithDialog() asks first. Returns false when there is nothing to
    /// export or an export is running.
    bool exportAnimation(const QString& path);
    bool isExporting() const { return m_exportWatcher.isRunning(); }
    /// Asks for a file (the dialog asks before replacing one), then exportAnimation().
    void exportWithDialog();

signals:
    /// The picture of frame `frame` is ready (the photo's aspect, to be laid over it).
    void frameReady(const QImage& image, int frame);
    void activeChanged(bool active);
    /// The frames of the newest decomposition can be stepped through.
    void readyChanged(bool ready);
    /// An export ended; `error` is empty on success. `message` says what was
    /// written (format, frames, codec, time).
    void exportFinished(const QString& path, const QString& error, const QString& message);

protected:
    void keyPressEvent(QKeyEvent* event) override;

private:
    struct Rendered
    {
        int frame = -1;
        bool direction = false;
        QImage image;
        QString error;
        std::shared_ptr<const PlaybackRenderer> renderer;
    };
    struct Exported
    {
        QString path;
        QString error;
        QString message;
    };
    void onFrameChanged(int frame);
    void requestFrame();
    void onRendered();
    void onRendererBuilt();
    void onExported();
    void updateControls();

    PlaybackController* m_controller = nullptr;
    std::shared_ptr<const ImageDecomposition> m_decomposition;
    QString m_imagePath;
    std::shared_ptr<const PlaybackRenderer> m_renderer;
    QFutureWatcher<std::shared_ptr<const PlaybackRenderer>> m_buildWatcher;
    std::shared_ptr<const ImageDecomposition> m_building; ///< what m_buildWatcher builds for
    QFutureWatcher<Rendered> m_renderWatcher;
    bool m_renderWanted = false;
    QFutureWatcher<Exported> m_exportWatcher;
    bool m_active = false;
    QImage m_image;

    QToolButton* m_backButton = nullptr;
    QToolButton* m_playButton = nullptr;
    QToolButton* m_stepButton = nullptr;
    QSlider* m_slider = nullptr;
    QComboBox* m_speed = nullptr;
    QToolButton* m_directionButton = nullptr;
    QToolButton* m_doneButton = nullptr;
    QToolButton* m_exportButton = nullptr;
    QLabel* m_caption = nullptr;
};

} // namespace primaps
