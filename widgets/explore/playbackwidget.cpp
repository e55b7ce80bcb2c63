// SPDX-License-Identifier: MIT
#include "explore/playbackwidget.h"
#include "common/backgroundpool.h"

#include "pipeline/animationwriter.h"
#include "common/imageconvert.h"
#include "pipeline/pipeline.h"
#include "pipeline/playback.h"
#include "explore/playbackcontroller.h"

#include <algorithm>
#include <QComboBox>
#include <QElapsedTimer>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QKeyEvent>
#include <QLabel>
#include <QLocale>
#include <QSlider>
#include <QStyle>
#include <QtConcurrent>
#include <QToolButton>
#include <QVBoxLayout>

namespace primaps {

namespace {

// The canvas shows a frame at up to this height: sharp at 1080p, cheap to
// render (a few milliseconds) while playing.
constexpr int kCanvasPanelHeight = 720;
// Exported files: a size that fits slides and chat windows.
constexpr int kExportPanelHeight = 480;

const double kSpeeds[] = {0.5, 1.0, 2.0, 4.0};

QString formatFor(const QString& path)
{
    try {
        return QString::fromLatin1(toString(animationFormatFor(path.toStdString())));
    } catch (const std::exception&) {
        return QString();
    }
}

} // namespace

PlaybackWidget::PlaybackWidget(QWidget* parent)
    : QWidget(parent), m_controller(new PlaybackController(this))
{
    auto makeButton = [this](QStyle::StandardPixmap icon, const QString& tip) {
        auto* button = new QToolButton(this);
        button->setIcon(style()->standardIcon(icon));
        button->setToolTip(tip);
        button->setAutoRaise(true);
        return button;
    };
    m_backButton = makeButton(QStyle::SP_MediaSkipBackward, tr("Step back (Left)"));
    m_playButton = makeButton(QStyle::SP_MediaPlay, tr("Play the iterations on the canvas (Space)"));
    m_stepButton = makeButton(QStyle::SP_MediaSkipForward, tr("Step forward (Right)"));
    m_slider = new QSlider(Qt::Horizontal, this);
    m_slider->setToolTip(tr("One position per PriMaPs iteration, then the final label map"));
    m_slider->setMinimumWidth(80);
    m_speed = new QComboBox(this);
    for (double s : kSpeeds)
        m_speed->addItem(tr("%1 steps/s").arg(QLocale().toString(s)), s);
    m_speed->setCurrentIndex(1);
    m_speed->setToolTip(tr("Playback speed; also the speed of the exported animation"));
    m_directionButton = new QToolButton(this);
    m_directionButton->setText(tr("Direction"));
    m_directionButton->setCheckable(true);
    m_directionButton->setToolTip(
        tr("Show each step's similarity to its principal direction (blue-white-red, the seed "
           "ringed) instead of the proposals on the photo"));
    m_doneButton = new QToolButton(this);
    m_doneButton->setText(tr("Done"));
    m_doneButton->setToolTip(tr("Back to the masks (Escape)"));
    m_exportButton = new QToolButton(this);
    m_exportButton->setText(tr("Export…"));
    m_exportButton->setToolTip(
        tr("Write the playback as an animated GIF or WebP, an MP4 video or a slide-ready PNG strip"));
    m_caption = new QLabel(this);
    m_caption->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_caption->setMinimumWidth(40);

    auto* controls = new QHBoxLayout;
    controls->setContentsMargins(0, 0, 0, 0);
    controls->setSpacing(4);
    for (QWidget* w : {static_cast<QWidget*>(m_backButton), static_cast<QWidget*>(m_playButton),
                       static_cast<QWidget*>(m_stepButton)})
        controls->addWidget(w);
    controls->addWidget(m_slider, 1);
    controls->addWidget(m_speed);
    controls->addWidget(m_directionButton);
    controls->addWidget(m_doneButton);
    controls->addWidget(m_exportButton);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 4, 6, 4);
    layout->setSpacing(2);
    layout->addLayout(controls);
    layout->addWidget(m_caption);

    connect(m_backButton, &QToolButton::clicked, this, [this] {
        setActive(true);
        m_controller->stepBack();
    });
    connect(m_stepButton, &QToolButton::clicked, this, [this] {
        setActive(true);
        m_controller->stepForward();
    });
    connect(m_playButton, &QToolButton::clicked, this, [this] {
        setActive(true);
        m_controller->togglePlaying();
    });
    connect(m_slider, &QSlider::valueChanged, this, [this](int value) {
        if (value == m_controller->currentFrame())
            return;
        setActive(true);
        m_controller->setCurrentFrame(value);
    });
    connect(m_speed, qOverload<int>(&QComboBox::currentIndexChanged), this,
            [this] { m_controller->setSpeed(m_speed->currentData().toDouble()); });
    connect(m_directionButton, &QToolButton::toggled, this, [this] {
        if (m_active)
            requestFrame();
    });
    connect(m_doneButton, &QToolButton::clicked, this, [this] { setActive(false); });
    connect(m_exportButton, &QToolButton::clicked, this, &PlaybackWidget::exportWithDialog);
    connect(m_controller, &PlaybackController::currentFrameChanged, this, &PlaybackWidget::onFrameChanged);
    connect(m_controller, &PlaybackController::playingChanged, this, &PlaybackWidget::updateControls);
    connect(&m_buildWatcher, &QFutureWatcherBase::finished, this, &PlaybackWidget::onRendererBuilt);
    connect(&m_renderWatcher, &QFutureWatcherBase::finished, this, &PlaybackWidget::onRendered);
    connect(&m_exportWatcher, &QFutureWatcherBase::finished, this, &PlaybackWidget::onExported);
    updateControls();
}

PlaybackWidget::~PlaybackWidget()
{
    m_buildWatcher.waitForFinished();
    m_renderWatcher.waitForFinished();
    m_exportWatcher.waitForFinished();
}

void PlaybackWidget::setDecomposition(std::shared_ptr<const ImageDecomposition> decomposition,
                                      const QString& imagePath)
{
    setActive(false);
    m_decomposition = std::move(decomposition);
    m_imagePath = imagePath;
    m_renderer.reset();
    m_controller->setFrameCount(0);
    emit readyChanged(false);
    updateControls();
    if (!m_decomposition || m_buildWatcher.isRunning())
        return; // onRendererBuilt() starts the newest one
    m_building = m_decomposition;
    const std::shared_ptr<const ImageDecomposition> d = m_building;
    m_buildWatcher.setFuture(runInBackground([d]() -> std::shared_ptr<const PlaybackRenderer> {
        try {
            PlaybackStyle style;
            const int photoHeight = d->original.empty() ? d->trace.height * 8 : d->original.rows;
            style.panelHeight = std::clamp(photoHeight, 240, kCanvasPanelHeight);
            return std::make_shared<const PlaybackRenderer>(*d, style);
        } catch (const std::exception&) {
            return nullptr; // a trace without iterations' maps: nothing to play
        }
    }));
}

void PlaybackWidget::clear()
{
    setDecomposition(nullptr);
}

void PlaybackWidget::onRendererBuilt()
{
    const std::shared_ptr<const PlaybackRenderer> built = m_buildWatcher.result();
    if (m_building != m_decomposition) {
        // A newer decomposition arrived meanwhile: build that one instead.
        m_building.reset();
        setDecomposition(m_decomposition, m_imagePath);
        return;
    }
    m_building.reset();
    m_renderer = built;
    m_controller->setFrameCount(m_renderer ? m_renderer->frameCount() : 0);
    updateControls();
    emit readyChanged(m_renderer != nullptr);
}

void PlaybackWidget::setActive(bool active)
{
    if (active && !m_renderer)
        return;
    if (!active)
        m_controller->pause();
    if (active == m_active)
        return;
    m_active = active;
    if (m_active) {
        setFocus();
        requestFrame();
    } else {
        m_image = QImage();
    }
    updateControls();
    emit activeChanged(m_active);
}

bool PlaybackWidget::showsDirection() const
{
    return m_directionButton->isChecked();
}

void PlaybackWidget::setShowsDirection(bool direction)
{
    m_directionButton->setChecked(direction);
}

QString PlaybackWidget::caption() const
{
    return m_caption->text();
}

void PlaybackWidget::onFrameChanged(int frame)
{
    {
        const QSignalBlocker block(m_slider);
        m_slider->setValue(std::max(0, frame));
    }
    updateControls();
    if (m_active)
        requestFrame();
}

void PlaybackWidget::requestFrame()
{
    if (!m_renderer || m_controller->currentFrame() < 0)
        return;
    if (m_renderWatcher.isRunning()) {
        m_renderWanted = true; // onRendered() asks again for whatever is current then
        return;
    }
    m_renderWanted = false;
    const std::shared_ptr<const PlaybackRenderer> renderer = m_renderer;
    const int frame = m_controller->currentFrame();
    const bool direction = showsDirection();
    m_renderWatcher.setFuture(runInBackground([renderer, frame, direction] {
        Rendered r;
        r.frame = frame;
        r.direction = direction;
        r.renderer = renderer;
        try {
            r.image = toQImage(renderer->renderPanel(
                frame, direction ? PlaybackRenderer::Panel::Direction : PlaybackRenderer::Panel::Image));
        } catch (const std::exception& e) {
            r.error = QString::fromLocal8Bit(e.what());
        }
        return r;
    }));
}

void PlaybackWidget::onRendered()
{
    const Rendered r = m_renderWatcher.result();
    const bool current = r.renderer == m_renderer && r.frame == m_controller->currentFrame() &&
                         r.direction == showsDirection();
    if (m_active && r.renderer == m_renderer && r.error.isEmpty()) {
        m_image = r.image;
        emit frameReady(m_image, r.frame);
    }
    if (m_active && (m_renderWanted || !current))
        requestFrame();
}

void PlaybackWidget::updateControls()
{
    const int count = m_controller->frameCount();
    const int frame = m_controller->currentFrame();
    const bool ready = m_renderer != nullptr && count > 0;
    m_slider->setRange(0, std::max(0, count - 1));
    for (QWidget* w : {static_cast<QWidget*>(m_backButton), static_cast<QWidget*>(m_playButton),
                       static_cast<QWidget*>(m_stepButton), static_cast<QWidget*>(m_slider),
                       static_cast<QWidget*>(m_directionButton)})
        w->setEnabled(ready);
    m_backButton->setEnabled(ready && frame > 0);
    m_stepButton->setEnabled(ready && frame < count - 1);
    m_doneButton->setEnabled(m_active);
    m_exportButton->setEnabled(ready && !m_exportWatcher.isRunning());
    const bool playing = m_controller->isPlaying();
    m_playButton->setIcon(style()->standardIcon(playing ? QStyle::SP_MediaPause : QStyle::SP_MediaPlay));
    m_playButton->setToolTip(playing ? tr("Pause (Space)") : tr("Play the iterations on the canvas (Space)"));
    if (m_exportWatcher.isRunning())
        return; // the caption says "Exporting…" until it ends
    if (!ready) {
        m_caption->setText(m_decomposition ? tr("Preparing the playback…")
                                           : tr("Decompose an image to step through its iterations."));
        return;
    }
    const QString text = QString::fromStdString(m_renderer->info(frame).caption);
    m_caption->setText(m_active ? text : tr("%1 frames: press play or step to show them on the canvas.")
                                             .arg(count));
}

void PlaybackWidget::keyPressEvent(QKeyEvent* event)
{
    switch (event->key()) {
    case Qt::Key_Space:
        setActive(true);
        m_controller->togglePlaying();
        return;
    case Qt::Key_Right:
        setActive(true);
        m_controller->stepForward();
        return;
    case Qt::Key_Left:
        setActive(true);
        m_controller->stepBack();
        return;
    case Qt::Key_Escape:
        setActive(false);
        return;
    default:
        QWidget::keyPressEvent(event);
    }
}

bool PlaybackWidget::exportAnimation(const QString& path)
{
    if (!m_decomposition || !m_renderer || m_exportWatcher.isRunning())
        return false;
    const std::shared_ptr<const ImageDecomposition> d = m_decomposition;
    AnimationOptions options;
    options.framesPerSecond = m_controller->speed();
    m_caption->setText(tr("Exporting %1…").arg(QFileInfo(path).fileName()));
    m_exportWatcher.setFuture(runInBackground([d, path, options] {
        Exported out;
        out.path = path;
        QElapsedTimer clock;
        clock.start();
        try {
            PlaybackStyle style;
            style.panelHeight = kExportPanelHeight;
            const PlaybackRenderer renderer(*d, style);
            const AnimationReport report =
                writeAnimation(path.toStdString(), renderPlaybackFrames(renderer), options);
            const qint64 ms = clock.elapsed();
            out.message = PlaybackWidget::tr("%1: %2 frames%3, %4, %5 ms (%6 ms per frame)")
                              .arg(QString::fromLatin1(toString(report.format)))
                              .arg(renderer.frameCount())
                              .arg(report.codec.empty() ? QString()
                                                        : " (" + QString::fromStdString(report.codec) + ")")
                              .arg(QLocale().formattedDataSize(qint64(report.bytes)))
                              .arg(ms)
                              .arg(ms / std::max(1, renderer.frameCount()));
        } catch (const std::exception& e) {
            out.error = QString::fromLocal8Bit(e.what());
        }
        return out;
    }));
    updateControls();
    return true;
}

void PlaybackWidget::onExported()
{
    const Exported out = m_exportWatcher.result();
    updateControls();
    if (out.error.isEmpty())
        m_caption->setText(tr("Wrote %1 — %2").arg(QFileInfo(out.path).fileName(), out.message));
    else
        m_caption->setText(out.error);
    emit exportFinished(out.path, out.error, out.message);
}

void PlaybackWidget::exportWithDialog()
{
    if (!m_renderer)
        return;
    const QString stem = m_imagePath.isEmpty() ? QStringLiteral("playback")
                                               : QFileInfo(m_imagePath).completeBaseName() + "_playback";
    const QString folder = m_imagePath.isEmpty() ? QString() : QFileInfo(m_imagePath).absolutePath();
    const QStringList filters{tr("Animated GIF (*.gif)"), tr("Animated WebP (*.webp)"),
                              tr("MP4 video (*.mp4)"), tr("PNG strip of all frames (*.png)")};
    const QStringList suffixes{"gif", "webp", "mp4", "png"};
    QString selected = filters.front();
    QString path = QFileDialog::getSaveFileName(this, tr("Export Playback"),
                                                QDir(folder).filePath(stem + ".gif"),
                                                filters.join(";;"), &selected);
    if (path.isEmpty())
        return;
    if (formatFor(path).isEmpty()) {
        // No known extension: take the chosen filter's (the dialog asked about the name as typed).
        path += "." + suffixes.value(std::max(0, int(filters.indexOf(selected))));
        if (QFileInfo::exists(path)) {
            // The dialog asked about the name as typed, not about this one.
            m_caption->setText(tr("%1 exists; export again and choose another name.")
                                   .arg(QFileInfo(path).fileName()));
            return;
        }
    }
    exportAnimation(path);
}

} // namespace primaps
