// SPDX-License-Identifier: MIT
#include "decomposejob.h"

#include "backbone.h"
#include "error.h"
#include "imageconvert.h"
#include "imageio.h"

#include <map>
#include <optional>
#include <QDateTime>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QMutex>
#include <QMutexLocker>
#include <QThread>

namespace primaps {

/// Lives on the job's thread. Only the pending-request slot is shared with the
/// GUI thread; everything else is touched by this thread alone.
class DecomposeWorker : public QObject
{
    Q_OBJECT

public:
    void post(quint64 generation, const DecomposeRequest& request)
    {
        {
            QMutexLocker lock(&m_mutex);
            m_pending = Pending{generation, request};
        }
        QMetaObject::invokeMethod(this, &DecomposeWorker::drain, Qt::QueuedConnection);
    }

    void dropPending()
    {
        QMutexLocker lock(&m_mutex);
        m_pending.reset();
    }

signals:
    void resultReady(const primaps::DecomposeResult& result);

private:
    struct Pending
    {
        quint64 generation;
        DecomposeRequest request;
    };

    // One drain event is posted per submit(); the first takes the newest request
    // and the others find nothing left, which is how superseded requests vanish.
    void drain()
    {
        std::optional<Pending> job;
        {
            QMutexLocker lock(&m_mutex);
            job.swap(m_pending);
        }
        if (job)
            emit resultReady(run(job->generation, job->request));
    }

    DecomposeResult run(quint64 generation, const DecomposeRequest& request)
    {
        DecomposeResult result;
        result.generation = generation;
        result.request = request;
        try {
            Backbone& backbone = backboneFor(request.backbone);
            result.backboneName = QString::fromStdString(backbone.name());
            result.recommendedThreshold = backbone.recommendedThreshold();

            QElapsedTimer clock;
            clock.start();
            result.image = imageFor(request.path);
            result.loadMs = m_loadedNow ? double(clock.nsecsElapsed()) / 1e6 : 0.0;

            PipelineParams params;
            params.useRecommendedThreshold = !(request.threshold > 0.0f);
            params.primaps.threshold =
                params.useRecommendedThreshold ? result.recommendedThreshold : request.threshold;
            result.threshold = params.primaps.threshold;
            result.decomposition = std::make_shared<const ImageDecomposition>(
                decomposeImage(result.image, backbone, params));
            result.photo = m_photo;
        } catch (const std::bad_alloc&) {
            result.error = describe(request.path, "not enough memory to decompose this image");
        } catch (const std::exception& e) {
            // primaps::Error and cv::Exception alike: a message is all the user can use.
            result.error = describe(request.path, e.what());
        }
        if (!result.error.isEmpty())
            result.decomposition.reset();
        return result;
    }

    // Core's messages from reading a file already name it; the others (a too
    // small image, a failing backbone) get the file name in front.
    static QString describe(const QString& path, const char* what)
    {
        const QString message = QString::fromLocal8Bit(what).trimmed();
        if (message.contains(path))
            return message;
        return QStringLiteral("%1: %2").arg(QFileInfo(path).fileName(), message);
    }

    Backbone& backboneFor(const QString& name)
    {
        const std::string key = name.toStdString();
        auto it = m_backbones.find(key);
        if (it == m_backbones.end())
            it = m_backbones.emplace(key, createBackbone(key)).first;
        return *it->second;
    }

    cv::Mat imageFor(const QString& path)
    {
        const QFileInfo info(path);
        const QDateTime modified = info.lastModified();
        m_loadedNow = false;
        if (path == m_imagePath && modified == m_imageModified && info.size() == m_imageSize &&
            !m_image.empty())
            return m_image;
        m_image.release();
        m_photo = QImage();
        m_imagePath.clear();
        cv::Mat image = loadImageRgb8(path.toStdString());
        // Converted once per file; re-runs hand out the same QImage, which the
        // canvas recognises (same cacheKey) and does not upload again.
        m_photo = toQImage(image);
        m_image = image;
        m_imagePath = path;
        m_imageModified = modified;
        m_imageSize = info.size();
        m_loadedNow = true;
        return image;
    }

    QMutex m_mutex;
    std::optional<Pending> m_pending;

    std::map<std::string, std::unique_ptr<Backbone>> m_backbones;
    QString m_imagePath;
    QDateTime m_imageModified;
    qint64 m_imageSize = -1;
    cv::Mat m_image;
    QImage m_photo;
    bool m_loadedNow = false;
};

DecomposeJob::DecomposeJob(QObject* parent) : QObject(parent)
{
    qRegisterMetaType<primaps::DecomposeResult>();
    m_thread = new QThread(this);
    m_thread->setObjectName(QStringLiteral("primaps-decompose"));
    m_worker = new DecomposeWorker;
    m_worker->moveToThread(m_thread);
    connect(m_worker, &DecomposeWorker::resultReady, this, &DecomposeJob::onWorkerResult,
            Qt::QueuedConnection);
    m_thread->start();
}

DecomposeJob::~DecomposeJob()
{
    m_worker->dropPending();
    m_thread->quit();
    m_thread->wait();
    // The thread has ended, so nothing else can touch the worker (or its backbones) now.
    delete m_worker;
}

quint64 DecomposeJob::submit(const DecomposeRequest& request)
{
    const bool wasBusy = isBusy();
    ++m_generation;
    m_worker->post(m_generation, request);
    if (!wasBusy)
        emit busyChanged(true);
    return m_generation;
}

void DecomposeJob::onWorkerResult(const DecomposeResult& result)
{
    if (result.generation != m_generation)
        return; // superseded while it ran; the newer request is queued behind it
    m_delivered = result.generation;
    emit busyChanged(false);
    emit finished(result);
}

} // namespace primaps

#include "decomposejob.moc"
