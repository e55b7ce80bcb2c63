// SPDX-License-Identifier: MIT
#include "common/threadpriority.h"

#include <algorithm>
#include <cerrno>
#include <QDir>
#include <QtGlobal>
#include <QFile>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace primaps {

namespace {

pid_t threadId()
{
    return pid_t(::syscall(SYS_gettid));
}

/// The nice value of the process's first (GUI) thread, read once.
int guiNice()
{
    static const int nice = [] {
        errno = 0;
        const int value = ::getpriority(PRIO_PROCESS, ::getpid());
        return errno == 0 ? value : 0;
    }();
    return nice;
}

/// kWorkerNiceIncrement, or PRIMAPS_WORKER_NICE (0 to 19) when set: on a
/// machine busy with other programs the lowered workers get a smaller share
/// of it, and 0 gives them the GUI thread's priority again.
int niceIncrement()
{
    static const int increment = [] {
        bool ok = false;
        const int value = qEnvironmentVariableIntValue("PRIMAPS_WORKER_NICE", &ok);
        return ok && value >= 0 && value <= 19 ? value : kWorkerNiceIncrement;
    }();
    return increment;
}

void lowerThread(pid_t tid)
{
    if (niceIncrement() == 0)
        return;
    // Raising the nice value needs no privilege; failure (a sandbox) only
    // means the thread keeps competing with the GUI thread as before.
    ::setpriority(PRIO_PROCESS, id_t(tid), std::min(19, guiNice() + niceIncrement()));
}

QByteArray threadName(const QString& taskDir)
{
    QFile comm(taskDir + QStringLiteral("/comm"));
    return comm.open(QIODevice::ReadOnly) ? comm.readAll().trimmed() : QByteArray();
}

} // namespace

void lowerThisThreadPriority()
{
    thread_local bool lowered = false;
    if (lowered)
        return;
    lowered = true;
    lowerThread(threadId());
}

void lowerLibraryThreadPriority()
{
    const pid_t self = threadId();
    const QString tasks = QStringLiteral("/proc/self/task");
    const QByteArray processName = threadName(QStringLiteral("/proc/self"));
    if (processName.isEmpty())
        return;
    for (const QString& entry : QDir(tasks).entryList(QDir::Dirs | QDir::NoDotAndDotDot)) {
        bool ok = false;
        const pid_t tid = pid_t(entry.toInt(&ok));
        if (ok && tid != self && tid != ::getpid() &&
            threadName(tasks + QLatin1Char('/') + entry) == processName)
            lowerThread(tid);
    }
}

} // namespace primaps
