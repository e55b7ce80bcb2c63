// SPDX-License-Identifier: MIT
#pragma once

#include <QObject>

class QTimer;

namespace primaps {

/// The stepping state of a playback: which of frameCount() frames is current,
/// whether it plays, and how fast. Knows nothing about what a frame shows.
///
/// Playing advances one frame per 1/speed() seconds and stops on the last
/// frame; play() on the last frame starts again from the first. Stepping
/// pauses. Every change of the current frame emits currentFrameChanged() once.
/// GUI thread only.
class PlaybackController : public QObject
{
    Q_OBJECT

public:
    explicit PlaybackController(QObject* parent = nullptr);

    /// Replaces the frames: pauses and goes to frame 0 (-1 when there are none).
    void setFrameCount(int count);
    int frameCount() const { return m_count; }
    /// -1 when there are no frames.
    int currentFrame() const { return m_current; }
    bool isPlaying() const { return m_playing; }
    bool atEnd() const { return m_count > 0 && m_current == m_count - 1; }

    /// Frames per second, clamped to kMinSpeed..kMaxSpeed.
    double speed() const { return m_speed; }
    static constexpr double kMinSpeed = 0.25;
    static constexpr double kMaxSpeed = 8.0;

public slots:
    void play();
    void pause();
    void togglePlaying();
    /// One frame on (stays on the last); pauses.
    void stepForward();
    /// One frame back (stays on the first); pauses.
    void stepBack();
    /// Clamped to the frames; does not pause (a slider may scrub while playing).
    void setCurrentFrame(int frame);
    void setSpeed(double framesPerSecond);

signals:
    void currentFrameChanged(int frame);
    void playingChanged(bool playing);
    void speedChanged(double framesPerSecond);
    void frameCountChanged(int count);

private:
    void advance();

    QTimer* m_timer = nullptr;
    int m_count = 0;
    int m_current = -1;
    bool m_playing = false;
    double m_speed = 1.0;
};

} // namespace primaps
