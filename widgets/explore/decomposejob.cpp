// SPDX-License-Identifier: MIT
#include "explore/decomposejob.h"

#include "common/backgroundpool.h"
#include "common/threadpriority.h"
#include "common/transparency.h"

#include "backbones/backbone.h"
#include "support/error.h"
#include "common/imageconvert.h"
#include "explore/explorepictures.h"
#include "image/imageio.h"

#include <algorithm>
#include <atomic>
#include <list>
#include <map>
#include <optional>
#include <QCoreApplication>
#include <QDateTime>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QMutex>
#include <QMutexLocker>
#include <QThread>

namespace primaps {

namespace {

/// A decomposition that is freed off the GUI thread. Its last holder is usually
/// a view on the GUI thread that moves on to the next result, and freeing the
/// features, the CRF's lattices and the label maps (tens of MB returned to the
/// system page by page) took the GUI thread milliseconds per result.
std::shared_ptr<ImageDecomposition> makeDecomposition(ImageDecomposition&& value)
{
    return std::shared_ptr<ImageDecomposition>(
        new ImageDecomposition(std::move(value)), [](ImageDecomposition* d) {
            if (QCoreApplication::instance() &&
                QThread::currentThread() == QCoreApplication::instance()->thread() &&
                !QCoreApplication::closingDown())
                runInBackground([d] { delete d; });
            else
                delete d;
        });
}

std::shared_ptr<ImageDecomposition> makeDecomposition(const ImageDecomposition& value)
{
    return makeDecomposition(ImageDecomposition(value));
}

} // namespace

/// Lives on the job's thread. Only the pending-request slot and the extraction
/// counter are shared with the GUI thread; everything else is touched by this
/// thread alone.
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

    int extractions() const { return m_extractions.load(std::memory_order_relaxed); }

signals:
    void resultReady(const primaps::DecomposeResult& result);
    void previewReady(const primaps::DecomposeResult& result);

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
            const bool useRecommended = !(request.threshold > 0.0f);
            result.threshold = useRecommended ? result.recommendedThreshold : request.threshold;

            const FileIdentity file = identify(request.path);
            dropStale(file);
            auto hit = findEntry(file, result.backboneName);
            std::shared_ptr<ImageDecomposition> decomposition;
            if (hit != m_cache.end()) {
                // Same image, same backbone: only PriMaPs and step 5 run again,
                // on a copy, because the cached result may be on display.
                decomposition = makeDecomposition(*hit->decomposition);
                PrimapsParams primaps;
                primaps.threshold = result.threshold;
                redecompose(*decomposition, primaps, false);
                m_cache.splice(m_cache.begin(), m_cache, hit);
                result.featuresReused = true;
            } else {
                CacheEntry entry;
                entry.file = file;
                entry.backbone = result.backboneName;
                QElapsedTimer clock;
                clock.start();
                // The same file under another backbone is not decoded again.
                auto sameFile = findEntry(file, QString());
                if (sameFile != m_cache.end()) {
                    entry.image = sameFile->image;
                    entry.photo = sameFile->photo;
                    entry.warning = sameFile->warning;
                } else {
                    std::string partial;
                    entry.image = loadImageRgb8(request.path.toStdString(), &partial);
                    // Clear pixels on a checkerboard, not on whatever colour they hold.
                    compositeTransparency(request.path.toStdString(), entry.image);
                    entry.warning = QString::fromStdString(partial);
                    // Converted once per file, to RGB32: a pixmap is made from
                    // it without another conversion on the GUI thread. Re-runs
                    // hand out the same QImage, which the canvas recognises
                    // (same cacheKey) and does not upload again.
                    entry.photo = toQImage(entry.image).convertToFormat(QImage::Format_RGB32);
                    result.loadMs = double(clock.nsecsElapsed()) / 1e6;
                }
                PipelineParams params;
                params.useRecommendedThreshold = useRecommended;
                params.primaps.threshold = result.threshold;
                params.crf = false;
                decomposition =
                    makeDecomposition(decomposeImage(entry.image, backbone, params));
                m_extractions.fetch_add(1, std::memory_order_relaxed);
                m_cache.push_front(std::move(entry));
                if (m_cache.size() > kCachedDecompositions)
                    m_cache.pop_back();
            }
            CacheEntry& entry = m_cache.front();
            result.image = entry.image;
            result.photo = entry.photo;
            result.warning = entry.warning;
            if (const std::string note = decomposition->prepared.budgetNote(); !note.empty()) {
                if (!result.warning.isEmpty())
                    result.warning += QLatin1Char('\n');
                result.warning += QStringLiteral("%1: %2").arg(QFileInfo(request.path).fileName(),
                                                             QString::fromStdString(note));
            }
            entry.decomposition = decomposition;
            result.decomposition = decomposition;
            const auto steps = std::make_shared<const std::vector<StepPictures>>(
                stepPicturesOf(decomposition->trace));
            result.pictures =
                draw(*decomposition, steps, request.crf ? nullptr : &request, result.warning);
            if (request.crf) {
                // The masks before the CRF at once; the CRF on a copy, with the
                // lattices the image's earlier decompositions kept.
                DecomposeResult preview = result;
                preview.preview = true;
                emit previewReady(preview);
                auto refined = makeDecomposition(*decomposition);
                applyCrf(*refined, DenseCrfParams(), request.crfMaxPixels);
                entry.decomposition = refined;
                result.decomposition = refined;
                // Same trace, new label maps.
                result.pictures = draw(*refined, steps, &request, result.warning);
            }
        } catch (const std::bad_alloc&) {
            result.error = describe(request.path, "not enough memory to decompose this image");
        } catch (const std::exception& e) {
            // primaps::Error and cv::Exception alike: a message is all the user can use.
            result.error = describe(request.path, e.what());
        }
        if (!result.error.isEmpty()) {
            result.decomposition.reset();
            result.pictures.reset();
            result.image.release();
            result.photo = QImage();
        }
        return result;
    }

    // The pictures of `decomposition`; for a final result (`restoreFor` set) also
    // the image's saved corrections applied to its labels, whose failure becomes
    // a line of `warning`.
    static std::shared_ptr<const ExplorePictures>
    draw(const ImageDecomposition& decomposition,
         const std::shared_ptr<const std::vector<StepPictures>>& steps,
         const DecomposeRequest* restoreFor, QString& warning)
    {
        auto pictures = std::make_shared<ExplorePictures>();
        pictures->canvas = canvasLabelsOf(decomposition, true);
        pictures->steps = steps;
        pictures->labelsAtOriginalSize = decomposition.labelsAtOriginalSize();
        if (restoreFor && restoreFor->restoreLabels) {
            pictures->restoreAsked = true;
            try {
                pictures->restoredLabels = restoreFor->restoreLabels(pictures->labelsAtOriginalSize);
            } catch (const std::exception& e) {
                if (!warning.isEmpty())
                    warning += QLatin1Char('\n');
                warning += describe(restoreFor->path, e.what());
            }
        }
        return pictures;
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

    /// A file as it is on disk now: a changed modification time or size means
    /// new pixels, and cached results of the old ones must not be used.
    struct FileIdentity
    {
        QString path;
        QDateTime modified;
        qint64 size = -1;

        bool operator==(const FileIdentity& other) const
        {
            return path == other.path && modified == other.modified && size == other.size;
        }
    };

    struct CacheEntry
    {
        FileIdentity file;
        QString backbone; ///< Backbone::name()
        cv::Mat image;    ///< CV_8UC3 RGB at the original size
        QImage photo;
        QString warning; ///< the decode's (a truncated file), for every result of it
        /// The newest result for this image and backbone; its features serve
        /// the next request. Never modified: it may be on display.
        std::shared_ptr<const ImageDecomposition> decomposition;
    };

    static FileIdentity identify(const QString& path)
    {
        const QFileInfo info(path);
        return {path, info.lastModified(), info.exists() ? info.size() : -1};
    }

    /// The entry for `file` and `backbone`, or for `file` under any backbone
    /// when `backbone` is empty.
    std::list<CacheEntry>::iterator findEntry(const FileIdentity& file, const QString& backbone)
    {
        return std::find_if(m_cache.begin(), m_cache.end(), [&](const CacheEntry& e) {
            return e.file == file && (backbone.isEmpty() || e.backbone == backbone);
        });
    }

    /// Forgets what was computed from an earlier version of the file.
    void dropStale(const FileIdentity& file)
    {
        m_cache.remove_if(
            [&](const CacheEntry& e) { return e.file.path == file.path && !(e.file == file); });
    }

    // A handful of image + backbone pairs: enough to flip between a few images
    // or backbones without extracting again; each holds one feature map
    // (a few MB for the ViTs).
    static constexpr std::size_t kCachedDecompositions = 4;

    QMutex m_mutex;
    std::optional<Pending> m_pending;

    std::map<std::string, std::unique_ptr<Backbone>> m_backbones;
    std::list<CacheEntry> m_cache;     ///< most recently used first
    std::atomic<int> m_extractions{0}; ///< read by the GUI thread (featureExtractions())
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
    connect(m_worker, &DecomposeWorker::previewReady, this, &DecomposeJob::onWorkerPreview,
            Qt::QueuedConnection);
    // The decomposition, the CRF and their OpenMP/TBB helpers (which inherit
    // it) below the GUI thread.
    connect(
        m_thread, &QThread::started, m_thread, [] { lowerThisThreadPriority(); },
        Qt::DirectConnection);
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

int DecomposeJob::featureExtractions() const
{
    return m_worker->extractions();
}

void DecomposeJob::onWorkerPreview(const DecomposeResult& result)
{
    if (result.generation == m_generation)
        emit preview(result);
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
