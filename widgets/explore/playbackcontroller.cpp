// SPDX-License-Identifier: MIT
#include "explore/playbackcontroller.h"

#include <algorithm>
#include <cmath>
#include <QTimer>

namespace primaps {

PlaybackController::PlaybackController(QObject* parent) : QObject(parent), m_timer(new QTimer(this))
{
    m_timer->setTimerType(Qt::PreciseTimer);
    m_timer->setInterval(int(std::lround(1000.0 / m_speed)));
    connect(m_timer, &QTimer::timeout, this, &PlaybackController::advance);
}

void PlaybackController::setFrameCount(int count)
{
    pause();
    m_count = std::max(0, count);
    emit frameCountChanged(m_count);
    const int first = m_count > 0 ? 0 : -1;
    if (m_current != first) {
        m_current = first;
        emit currentFrameChanged(m_current);
    }
}

void PlaybackController::play()
{
    if (m_count <= 1 || m_playing)
        return;
    if (atEnd())
        setCurrentFrame(0);
    m_playing = true;
    m_timer->start();
    emit playingChanged(true);
}

void PlaybackController::pause()
{
    if (!m_playing)
        return;
    m_playing = false;
    m_timer->stop();
    emit playingChanged(false);
}

void PlaybackController::togglePlaying()
{
    if (m_playing)
        pause();
    else
        play();
}

void PlaybackController::stepForward()
{
    pause();
    setCurrentFrame(m_current + 1);
}

void PlaybackController::stepBack()
{
    pause();
    setCurrentFrame(m_current - 1);
}

void PlaybackController::setCurrentFrame(int frame)
{
    if (m_count == 0)
        return;
    frame = std::clamp(frame, 0, m_count - 1);
    if (frame == m_current)
        return;
    m_current = frame;
    emit currentFrameChanged(m_current);
}

void PlaybackController::setSpeed(double framesPerSecond)
{
    const double speed = std::clamp(framesPerSecond, kMinSpeed, kMaxSpeed);
    if (speed == m_speed)
        return;
    m_speed = speed;
    m_timer->setInterval(int(std::lround(1000.0 / m_speed)));
    emit speedChanged(m_speed);
}

void PlaybackController::advance()
{
    setCurrentFrame(m_current + 1);
    if (atEnd())
        pause();
}

} // namespace primaps
