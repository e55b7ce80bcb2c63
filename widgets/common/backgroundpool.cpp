// SPDX-License-Identifier: MIT
#include "common/backgroundpool.h"

#include <algorithm>
#include <QCoreApplication>
#include <QThread>
#include <QThreadPool>

namespace primaps {

namespace {

QThreadPool* g_pool = nullptr;

// Runs in QCoreApplication's destructor: waits for the work still running,
// as the global pool does, before the application's objects go away.
void deletePool()
{
    delete g_pool;
    g_pool = nullptr;
}

} // namespace

QThreadPool* backgroundPool()
{
    // Thread-safe on first use from any thread (a function-local static); no
    // QObject parent, which a pool made on a worker thread could not have.
    static QThreadPool* const pool = [] {
        auto* p = new QThreadPool;
        p->setObjectName(QStringLiteral("primaps-background"));
        p->setMaxThreadCount(std::max(2, QThread::idealThreadCount()));
        g_pool = p;
        qAddPostRoutine(deletePool);
        return p;
    }();
    return pool;
}

} // namespace primaps
