// SPDX-License-Identifier: MIT
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <QFile>
#include <QFutureWatcher>
#include <QMetaType>
#include <QObject>
#include <QPointer>
#include <QString>
#include <QUrl>

class QNetworkAccessManager;
class QNetworkReply;

namespace primaps {

/// Checks a freshly fetched file (e.g. by loading it as a backbone) and returns a
/// one-line description of what it holds; throws std::exception with a message for the
/// user when the file is unusable. Runs on a worker thread.
using VerifyFunction = std::function<QString(const QString& path)>;

/// One file to fetch and install.
struct DownloadRequest
{
    /// http(s) address, or a file:// URL for importing a local file (copied on a worker
    /// thread).
    QUrl url;
    /// Where the verified file ends up. Never replaced: if it exists, the request fails.
    QString targetPath;
    /// Catalogue name recorded with the file's SHA-256.
    QString modelName;
    /// Expected size in bytes and its relative tolerance; 0 = not checked.
    qint64 expectedSize = 0;
    double sizeTolerance = 0.01;
    /// Called on a worker thread once the bytes are complete; empty = no check.
    VerifyFunction verify;
    /// Record the SHA-256 in the ModelRegistry of the target's folder.
    bool record = true;
};

/// How a request ended. On success `error` is empty and the file is at `path`; otherwise
/// nothing was left behind, neither the target nor a partial file.
struct DownloadResult
{
    DownloadRequest request;
    QString path;        ///< the installed file (success only)
    QString sha256;      ///< lower-case hex (success only)
    qint64 size = 0;     ///< bytes (success only)
    QString description; ///< what verification found (success only)
    QString error;       ///< one line naming the URL and the reason; empty on success
    bool cancelled = false;

    bool ok() const { return error.isEmpty(); }
};

/// Fetches one file at a time into a models folder, safely.
///
/// The bytes go to a uniquely named "<file>.XXXXXX.part" next to the target. When the
/// transfer is complete (HTTP status 200, as many bytes as Content-Length announced), a
/// worker thread (QtConcurrent) checks the size against the expected one, runs the
/// request's verify function, and computes the SHA-256; only then is the part file
/// renamed to the target (which must not exist) and the digest recorded in the folder's
/// ModelRegistry. On a 404 or other HTTP error, a network error, a truncated body, a
/// stalled transfer, a failed check or cancel(), the part file is deleted and finished()
/// carries an error that names the URL and the reason. Redirects are followed, but never
/// from https to http. Nothing is fetched unless start() is called.
///
/// Threading contract: create, call and destroy it on the GUI thread; only the checks
/// run elsewhere. finished() is always emitted (queued, also for a request that fails at
/// once), exactly once per accepted start(). The destructor aborts a transfer, waits for a
/// running check to end (a verification cannot be interrupted), and removes the part file.
class ModelDownloader : public QObject
{
    Q_OBJECT

public:
    enum class Phase
    {
        Idle,
        Transferring, ///< bytes are arriving (download or local copy)
        Verifying,    ///< the worker checks and hashes the complete file
    };
    Q_ENUM(Phase)

    explicit ModelDownloader(QObject* parent = nullptr);
    ~ModelDownloader() override;

    /// Starts `request`. Returns false (and does nothing) when a request is already
    /// running; every other problem is reported through finished().
    bool start(const DownloadRequest& request);
    /// Stops the running request; finished() follows with `cancelled` set, during a
    /// transfer before cancel() returns. A verification already running completes first,
    /// then its result is discarded.
    void cancel();

    bool isBusy() const { return m_phase != Phase::Idle; }
    Phase phase() const { return m_phase; }
    const DownloadRequest& request() const { return m_request; }
    /// The part file being written ("" when idle).
    QString partPath() const { return m_partPath; }

    /// A transfer that receives nothing for this long fails (default 60 s).
    void setStallTimeout(int milliseconds) { m_stallTimeoutMs = milliseconds; }
    int stallTimeout() const { return m_stallTimeoutMs; }

signals:
    /// Bytes received so far and the total (-1 when the server does not say).
    void progress(qint64 received, qint64 total);
    void phaseChanged(primaps::ModelDownloader::Phase phase);
    void finished(const primaps::DownloadResult& result);

private:
    struct Check;
    void startNetwork();
    void startLocalCopy();
    void onMetaData();
    void onReadyRead();
    void onReplyFinished();
    void startCheck();
    void onCheckFinished();
    void fail(const QString& reason);
    void finish(DownloadResult result);
    void setPhase(Phase phase);
    void removePart();
    QString describe(const QString& reason) const;

    QNetworkAccessManager* m_network = nullptr;
    QPointer<QNetworkReply> m_reply;
    QFile m_part;
    QString m_partPath;
    DownloadRequest m_request;
    Phase m_phase = Phase::Idle;
    qint64 m_received = 0;
    QString m_failure; ///< set when the transfer was aborted for a reason of ours
    std::shared_ptr<std::atomic<bool>> m_cancel;
    bool m_userCancelled = false;
    int m_stallTimeoutMs = 60000;
    QFutureWatcher<DownloadResult>* m_check = nullptr;
};

} // namespace primaps

Q_DECLARE_METATYPE(primaps::DownloadResult)
