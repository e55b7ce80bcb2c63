// SPDX-License-Identifier: MIT
#include "backbonemanager/modeldownloader.h"
#include "common/backgroundpool.h"

#include "backbonemanager/modelregistry.h"
#include "support/runtime.h"

#include <cmath>
#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QLocale>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QtConcurrent/QtConcurrentRun>
#include <QTemporaryFile>
#include <QTimer>

namespace primaps {

namespace {

constexpr qint64 kCopyBlock = qint64(4) << 20;

QString bytes(qint64 n)
{
    if (n < 1000)
        return QStringLiteral("%1 bytes").arg(n);
    return QStringLiteral("%1 (%2 bytes)")
        .arg(QLocale().formattedDataSize(n, 1, QLocale::DataSizeSIFormat))
        .arg(n);
}

bool plausibleSize(qint64 size, qint64 expected, double tolerance)
{
    return expected <= 0 ||
           std::fabs(double(size) - double(expected)) <= tolerance * double(expected);
}

QString expectation(const DownloadRequest& request)
{
    return QStringLiteral("%1 \u00b1 %2 %")
        .arg(bytes(request.expectedSize))
        .arg(request.sizeTolerance * 100.0);
}

// The worker's part: (copy,) size check, verification, digest. Never touches the target.
DownloadResult checkPart(const DownloadRequest& request, const QString& part,
                         const QString& copyFrom, const std::shared_ptr<std::atomic<bool>>& cancel,
                         const std::function<void(qint64, qint64)>& onProgress,
                         const std::function<void()>& onVerifying)
{
    DownloadResult result;
    result.request = request;
    auto cancelled = [&] {
        if (!cancel->load())
            return false;
        result.cancelled = true;
        result.error = QStringLiteral("cancelled");
        return true;
    };

    if (!copyFrom.isEmpty()) {
        QFile in(copyFrom);
        QFile out(part);
        if (!in.open(QIODevice::ReadOnly)) {
            result.error = QStringLiteral("cannot read it: %1").arg(in.errorString());
            return result;
        }
        if (!out.open(QIODevice::WriteOnly | QIODevice::Truncate)) {
            result.error = QStringLiteral("cannot write %1: %2").arg(part, out.errorString());
            return result;
        }
        const qint64 total = in.size();
        qint64 done = 0;
        while (!in.atEnd()) {
            if (cancelled())
                return result;
            const QByteArray block = in.read(kCopyBlock);
            if (block.isEmpty() && in.error() != QFileDevice::NoError) {
                result.error = QStringLiteral("cannot read it: %1").arg(in.errorString());
                return result;
            }
            if (out.write(block) != block.size()) {
                result.error = QStringLiteral("cannot write %1: %2").arg(part, out.errorString());
                return result;
            }
            done += block.size();
            onProgress(done, total);
        }
        const bool flushed = out.flush();
        out.close();
        if (!flushed || out.error() != QFileDevice::NoError) {
            result.error = QStringLiteral("cannot write %1: %2").arg(part, out.errorString());
            return result;
        }
    }
    if (cancelled())
        return result;
    onVerifying();

    const qint64 size = QFileInfo(part).size();
    if (!plausibleSize(size, request.expectedSize, request.sizeTolerance)) {
        result.error = QStringLiteral("the file has %1, but the catalogue expects %2")
                           .arg(bytes(size), expectation(request));
        return result;
    }
    if (request.verify) {
        try {
            result.description = request.verify(part);
        } catch (const std::exception& e) {
            // The part file's name means nothing to the user; the target's does.
            QString why = QString::fromUtf8(e.what());
            why.replace(part, QFileInfo(request.targetPath).fileName());
            result.error = QStringLiteral("it does not load: %1").arg(why);
            return result;
        }
    }
    if (cancelled())
        return result;
    QString hashError;
    result.sha256 = sha256OfFile(part, &hashError, cancel.get());
    if (cancelled())
        return result;
    if (result.sha256.isEmpty()) {
        result.error = hashError;
        return result;
    }
    result.size = size;
    return result;
}

} // namespace

ModelDownloader::ModelDownloader(QObject* parent)
    : QObject(parent), m_network(new QNetworkAccessManager(this))
{
    qRegisterMetaType<primaps::DownloadResult>();
}

ModelDownloader::~ModelDownloader()
{
    if (m_reply) {
        m_reply->disconnect(this);
        m_reply->abort();
        delete m_reply;
    }
    if (m_cancel)
        m_cancel->store(true);
    if (m_check) {
        m_check->disconnect(this);
        m_check->waitForFinished();
    }
    removePart();
}

QString ModelDownloader::describe(const QString& reason) const
{
    if (m_request.url.isLocalFile())
        return QStringLiteral("Import of %1 failed: %2")
            .arg(QDir::toNativeSeparators(m_request.url.toLocalFile()), reason);
    return QStringLiteral("Download of %1 failed: %2").arg(m_request.url.toDisplayString(), reason);
}

bool ModelDownloader::start(const DownloadRequest& request)
{
    if (isBusy())
        return false;
    m_request = request;
    m_received = 0;
    m_failure.clear();
    m_userCancelled = false;
    m_cancel = std::make_shared<std::atomic<bool>>(false);
    setPhase(Phase::Transferring);

    // Every problem found here is reported like any later one: through finished(), after
    // start() has returned.
    auto failSoon = [this](const QString& reason) {
        QMetaObject::invokeMethod(
            this, [this, reason] { fail(reason); }, Qt::QueuedConnection);
        return true;
    };
    const QUrl& url = request.url;
    const bool local = url.isLocalFile();
    if (!url.isValid() ||
        !(local || url.scheme() == QLatin1String("http") || url.scheme() == QLatin1String("https")))
        return failSoon(QStringLiteral("not an http, https or file address"));
    if (request.targetPath.isEmpty())
        return failSoon(QStringLiteral("no target file given"));
    const QFileInfo target(request.targetPath);
    if (target.exists() || target.isSymLink())
        return failSoon(QStringLiteral("%1 already exists; it is never replaced (remove it first)")
                            .arg(QDir::toNativeSeparators(request.targetPath)));
    if (local) {
        const QFileInfo source(url.toLocalFile());
        if (!source.isFile())
            return failSoon(QStringLiteral("no such file"));
    }
    if (!QDir().mkpath(target.absolutePath()))
        return failSoon(QStringLiteral("cannot create the folder %1")
                            .arg(QDir::toNativeSeparators(target.absolutePath())));

    // A unique, visible name next to the target: a crash leaves an obvious leftover, and
    // two programs fetching the same file never share a part file.
    QTemporaryFile temp(target.absoluteFilePath() + QStringLiteral(".XXXXXX.part"));
    temp.setAutoRemove(false);
    if (!temp.open())
        return failSoon(
            QStringLiteral("cannot create a file in %1: %2")
                .arg(QDir::toNativeSeparators(target.absolutePath()), temp.errorString()));
    m_partPath = temp.fileName();
    temp.close();

    if (local)
        startLocalCopy();
    else
        startNetwork();
    return true;
}

void ModelDownloader::startNetwork()
{
    m_part.setFileName(m_partPath);
    if (!m_part.open(QIODevice::WriteOnly | QIODevice::Truncate)) {
        const QString why = m_part.errorString();
        QMetaObject::invokeMethod(
            this, [this, why] { fail(QStringLiteral("cannot write %1: %2").arg(m_partPath, why)); },
            Qt::QueuedConnection);
        return;
    }
    QNetworkRequest request(m_request.url);
    // Official hosts redirect to mirrors; never from https down to http.
    request.setAttribute(QNetworkRequest::RedirectPolicyAttribute,
                         QNetworkRequest::NoLessSafeRedirectPolicy);
    // The bytes as stored: a transparently decompressed body would not match
    // Content-Length, which is how a truncated transfer is recognised.
    request.setRawHeader("Accept-Encoding", "identity");
    request.setHeader(
        QNetworkRequest::UserAgentHeader,
        QStringLiteral("PriMaPs-Studio/%1").arg(QString::fromStdString(versionString())));
    request.setAttribute(QNetworkRequest::CacheLoadControlAttribute,
                         QNetworkRequest::AlwaysNetwork);
    request.setTransferTimeout(m_stallTimeoutMs);
    m_reply = m_network->get(request);
    connect(m_reply, &QNetworkReply::metaDataChanged, this, &ModelDownloader::onMetaData);
    connect(m_reply, &QNetworkReply::readyRead, this, &ModelDownloader::onReadyRead);
    connect(m_reply, &QNetworkReply::finished, this, &ModelDownloader::onReplyFinished);
    emit progress(0, -1);
}

void ModelDownloader::startLocalCopy()
{
    const std::shared_ptr<std::atomic<bool>> cancel = m_cancel;
    const DownloadRequest request = m_request;
    const QString part = m_partPath;
    const QString source = m_request.url.toLocalFile();
    // The worker reports through queued calls; the destructor waits for the worker, and
    // calls still queued for a destroyed downloader are dropped by Qt.
    auto onProgress = [this](qint64 done, qint64 total) {
        QMetaObject::invokeMethod(
            this,
            [this, done, total] {
                if (m_phase == Phase::Transferring)
                    emit progress(done, total);
            },
            Qt::QueuedConnection);
    };
    auto onVerifying = [this] {
        QMetaObject::invokeMethod(
            this, [this] { setPhase(Phase::Verifying); }, Qt::QueuedConnection);
    };
    m_check = new QFutureWatcher<DownloadResult>(this);
    connect(m_check, &QFutureWatcherBase::finished, this, &ModelDownloader::onCheckFinished);
    m_check->setFuture(runInBackground(
        [=] { return checkPart(request, part, source, cancel, onProgress, onVerifying); }));
    emit progress(0, QFileInfo(source).size());
}

void ModelDownloader::onMetaData()
{
    if (!m_reply)
        return;
    const QVariant status = m_reply->attribute(QNetworkRequest::HttpStatusCodeAttribute);
    if (status.toInt() != 200)
        return; // a redirect (followed) or an error (reported when the reply finishes)
    const QVariant length = m_reply->header(QNetworkRequest::ContentLengthHeader);
    if (length.isValid() &&
        !plausibleSize(length.toLongLong(), m_request.expectedSize, m_request.sizeTolerance))
        fail(QStringLiteral("the server announces %1, but the catalogue expects %2 "
                            "(is the address still right?)")
                 .arg(bytes(length.toLongLong()), expectation(m_request)));
}

void ModelDownloader::onReadyRead()
{
    if (!m_reply)
        return;
    const QByteArray data = m_reply->readAll();
    // Only the body of the final, successful response is the file.
    if (m_reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt() != 200 ||
        !m_part.isOpen())
        return;
    if (m_part.write(data) != data.size()) {
        fail(QStringLiteral("cannot write %1: %2 (is the disk full?)")
                 .arg(QDir::toNativeSeparators(m_partPath), m_part.errorString()));
        return;
    }
    m_received += data.size();
    const QVariant length = m_reply->header(QNetworkRequest::ContentLengthHeader);
    emit progress(m_received, length.isValid() ? length.toLongLong() : qint64(-1));
}

void ModelDownloader::onReplyFinished()
{
    QNetworkReply* reply = m_reply;
    if (!reply)
        return;
    reply->disconnect(this);
    m_reply = nullptr;
    reply->deleteLater();
    if (m_part.isOpen()) {
        const bool flushed = m_part.flush();
        m_part.close();
        if (!flushed && m_failure.isEmpty() && !m_userCancelled)
            m_failure = QStringLiteral("cannot write %1: %2")
                            .arg(QDir::toNativeSeparators(m_partPath), m_part.errorString());
    }

    if (m_userCancelled) {
        removePart();
        DownloadResult result;
        result.request = m_request;
        result.cancelled = true;
        result.error =
            QStringLiteral("Download of %1 cancelled.").arg(m_request.url.toDisplayString());
        finish(result);
        return;
    }
    if (!m_failure.isEmpty()) {
        fail(m_failure);
        return;
    }
    const QVariant statusAttribute = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute);
    const int status = statusAttribute.toInt();
    if (statusAttribute.isValid() && status != 200) {
        const QString phrase =
            reply->attribute(QNetworkRequest::HttpReasonPhraseAttribute).toString();
        QString reason = QStringLiteral("the server answered HTTP %1%2")
                             .arg(status)
                             .arg(phrase.isEmpty() ? QString() : QLatin1Char(' ') + phrase);
        if (status >= 300 && status < 400)
            reason +=
                QStringLiteral(" (a redirect that was not followed: %1)")
                    .arg(reply->header(QNetworkRequest::LocationHeader).toUrl().toDisplayString());
        fail(reason);
        return;
    }
    const QVariant length = reply->header(QNetworkRequest::ContentLengthHeader);
    const QString sofar =
        length.isValid()
            ? QStringLiteral("%1 of the %2").arg(bytes(m_received), bytes(length.toLongLong()))
            : bytes(m_received);
    // Neither the user nor we aborted it: the transfer timeout did.
    if (reply->error() == QNetworkReply::OperationCanceledError ||
        reply->error() == QNetworkReply::TimeoutError) {
        fail(QStringLiteral("no data arrived for %1 s (stalled after %2)")
                 .arg(m_stallTimeoutMs / 1000.0)
                 .arg(sofar));
        return;
    }
    if (statusAttribute.isValid() && length.isValid() && m_received != length.toLongLong()) {
        fail(QStringLiteral("the transfer ended after %1 the server announced (truncated; %2)")
                 .arg(sofar, reply->error() != QNetworkReply::NoError
                                 ? reply->errorString()
                                 : QStringLiteral("connection closed")));
        return;
    }
    if (reply->error() != QNetworkReply::NoError) {
        fail(reply->errorString());
        return;
    }
    if (m_received == 0) {
        fail(QStringLiteral("the server sent an empty file"));
        return;
    }
    startCheck();
}

void ModelDownloader::startCheck()
{
    const std::shared_ptr<std::atomic<bool>> cancel = m_cancel;
    const DownloadRequest request = m_request;
    const QString part = m_partPath;
    setPhase(Phase::Verifying);
    m_check = new QFutureWatcher<DownloadResult>(this);
    connect(m_check, &QFutureWatcherBase::finished, this, &ModelDownloader::onCheckFinished);
    m_check->setFuture(runInBackground([=] {
        return checkPart(
            request, part, QString(), cancel, [](qint64, qint64) {}, [] {});
    }));
}

void ModelDownloader::onCheckFinished()
{
    QFutureWatcher<DownloadResult>* watcher = m_check;
    m_check = nullptr;
    DownloadResult result = watcher->result();
    watcher->deleteLater();
    result.request = m_request;

    if (m_userCancelled || result.cancelled) {
        removePart();
        result = DownloadResult();
        result.request = m_request;
        result.cancelled = true;
        result.error =
            m_request.url.isLocalFile()
                ? QStringLiteral("Import of %1 cancelled.")
                      .arg(QDir::toNativeSeparators(m_request.url.toLocalFile()))
                : QStringLiteral("Download of %1 cancelled.").arg(m_request.url.toDisplayString());
        finish(result);
        return;
    }
    if (!result.ok()) {
        fail(result.error);
        return;
    }
    // QFile::rename() never replaces an existing file.
    const QString target = m_request.targetPath;
    if (QFileInfo::exists(target)) {
        fail(QStringLiteral("%1 appeared meanwhile; it was not replaced")
                 .arg(QDir::toNativeSeparators(target)));
        return;
    }
    if (!QFile::rename(m_partPath, target)) {
        fail(QStringLiteral("cannot rename %1 to %2")
                 .arg(QDir::toNativeSeparators(m_partPath), QDir::toNativeSeparators(target)));
        return;
    }
    m_partPath.clear();
    if (m_request.record) {
        InstalledModelRecord record;
        record.fileName = QFileInfo(target).fileName();
        record.model = m_request.modelName;
        record.sha256 = result.sha256;
        record.size = result.size;
        record.origin = m_request.url.isLocalFile()
                            ? QDir::toNativeSeparators(m_request.url.toLocalFile())
                            : m_request.url.toString();
        record.description = result.description;
        record.installed = QDateTime::currentDateTimeUtc();
        QString error;
        if (!ModelRegistry(QFileInfo(target).absolutePath()).record(record, &error)) {
            // Unrecorded means unverifiable later: take the file back out.
            QFile::remove(target);
            fail(error);
            return;
        }
    }
    result.path = target;
    finish(result);
}

void ModelDownloader::fail(const QString& reason)
{
    if (m_reply) {
        // abort() finishes the reply, which lands in onReplyFinished() with this reason.
        if (m_failure.isEmpty())
            m_failure = reason;
        m_reply->abort();
        if (m_reply)
            onReplyFinished();
        return;
    }
    if (m_check)
        return; // the worker's result decides
    removePart();
    DownloadResult result;
    result.request = m_request;
    result.error = describe(reason);
    finish(result);
}

void ModelDownloader::cancel()
{
    if (!isBusy())
        return;
    m_userCancelled = true;
    if (m_cancel)
        m_cancel->store(true);
    if (m_reply) {
        m_reply->abort();
        if (m_reply)
            onReplyFinished();
    }
}

void ModelDownloader::finish(DownloadResult result)
{
    m_failure.clear();
    setPhase(Phase::Idle);
    emit finished(result);
}

void ModelDownloader::setPhase(Phase phase)
{
    if (m_phase == phase)
        return;
    m_phase = phase;
    emit phaseChanged(phase);
}

void ModelDownloader::removePart()
{
    if (m_part.isOpen())
        m_part.close();
    if (!m_partPath.isEmpty())
        QFile::remove(m_partPath);
    m_partPath.clear();
}

} // namespace primaps
