// SPDX-License-Identifier: MIT
#include "support/stderrmute.h"

#include <cstdio>
#include <fcntl.h>
#include <mutex>
#include <unistd.h>

// See StderrMute::mutes().
#if defined(__SANITIZE_ADDRESS__)
#define PRIMAPS_DECODER_OUTPUT_KEPT 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PRIMAPS_DECODER_OUTPUT_KEPT 1
#endif
#endif

namespace primaps {

namespace {

std::mutex g_mutex;
int g_mutes = 0;       ///< live StderrMute objects
int g_saved = -1;      ///< descriptor 2 as it was before the first live mute
int g_unmuted = -1;    ///< unmutedStderr()'s duplicate
long g_engaged = 0;    ///< StderrMute objects made that muted (engagements())

} // namespace

bool StderrMute::mutes()
{
#ifdef PRIMAPS_DECODER_OUTPUT_KEPT
    return false;
#else
    return true;
#endif
}

StderrMute::StderrMute()
{
    if (!mutes())
        return;
    std::lock_guard<std::mutex> lock(g_mutex);
    ++g_engaged;
    if (g_mutes++ > 0)
        return;
    // No fflush(stderr) here or below: stderr is unbuffered, and the FILE lock it
    // takes could wait, under g_mutex, behind another thread blocked on a full pipe.
    g_saved = ::fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
    const int devNull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (g_saved >= 0 && devNull >= 0)
        ::dup2(devNull, STDERR_FILENO);
    if (devNull >= 0)
        ::close(devNull);
}

StderrMute::~StderrMute()
{
    if (!mutes())
        return;
    std::lock_guard<std::mutex> lock(g_mutex);
    if (--g_mutes > 0)
        return;
    if (g_saved >= 0) {
        ::dup2(g_saved, STDERR_FILENO);
        ::close(g_saved);
        g_saved = -1;
    }
}

long StderrMute::engagements()
{
    std::lock_guard<std::mutex> lock(g_mutex);
    return g_engaged;
}

int unmutedStderr()
{
    std::lock_guard<std::mutex> lock(g_mutex);
    if (g_unmuted < 0)
        g_unmuted = ::fcntl(g_mutes > 0 && g_saved >= 0 ? g_saved : STDERR_FILENO,
                            F_DUPFD_CLOEXEC, 3);
    return g_unmuted;
}

} // namespace primaps
