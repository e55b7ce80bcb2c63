// SPDX-License-Identifier: MIT
// The backbone manager, offscreen, against a tiny HTTP/1.1 server on 127.0.0.1 that the
// test starts: ModelDownloader (success with progress and a recorded SHA-256, redirects,
// 404, truncated bodies, cancel, stalls, failed size and load checks, an existing target,
// local imports: never a partial file left behind) and BackboneManagerDialog (catalogue
// rows, install status, import and download of a tiny DINO checkpoint, remove, and that
// nothing is fetched unasked).

#include "backbonemanager/backbonemanagerdialog.h"
#include "backbones/modelcatalog.h"
#include "backbonemanager/modeldownloader.h"
#include "backbonemanager/modelregistry.h"

#include <QCoreApplication>
#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QHash>
#include <QPointer>
#include <QProgressBar>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>
#include <QTimer>
#include <QTreeWidget>

using namespace primaps;

namespace {

constexpr int kTimeoutMs = 30000;
const QString kTinyDino = QStringLiteral(PRIMAPS_TEST_DATA_DIR "/vit/dino_tiny.pth");

QByteArray pseudoRandomBytes(int size, quint32 seed)
{
    QByteArray bytes(size, Qt::Uninitialized);
    quint32 x = seed;
    for (int i = 0; i < size; ++i) {
        x = x * 1664525u + 1013904223u;
        bytes[i] = char(x >> 24);
    }
    return bytes;
}

QByteArray readAll(const QString& path)
{
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}

QString sha256(const QByteArray& bytes)
{
    return QString::fromLatin1(QCryptographicHash::hash(bytes, QCryptographicHash::Sha256).toHex());
}

// Every entry of `dir`, hidden ones included.
QStringList entries(const QString& dir)
{
    return QDir(dir).entryList(
        QDir::AllEntries | QDir::Hidden | QDir::System | QDir::NoDotAndDotDot, QDir::Name);
}

/// A minimal HTTP/1.1 server: one response per connection ("Connection: close").
class TestServer : public QObject
{
public:
    struct Route
    {
        int status = 200;
        QByteArray reason = "OK";
        QByteArray body;
        qint64 announced = -1; ///< Content-Length; -1 = body size, -2 = no header
        qint64 sendBytes = -1; ///< bytes of the body sent before closing; -1 = all
        int chunk = 0;         ///< > 0: send this many bytes every 20 ms (slow body)
        bool holdOpen = false; ///< after sending, keep the connection open (stall)
        QByteArray location;   ///< Location header (redirects)
    };

    TestServer()
    {
        connect(&m_server, &QTcpServer::newConnection, this, &TestServer::onConnection);
    }

    bool listen() { return m_server.listen(QHostAddress::LocalHost, 0); }
    void close() { m_server.close(); }
    quint16 port() const { return m_server.serverPort(); }
    QUrl url(const QString& path) const
    {
        return QUrl(QStringLiteral("http://127.0.0.1:%1%2").arg(port()).arg(path));
    }
    void route(const QString& path, const Route& r) { m_routes.insert(path, r); }
    int requests(const QString& path) const { return m_requests.value(path); }
    int totalRequests() const
    {
        int n = 0;
        for (int c : m_requests)
            n += c;
        return n;
    }

private:
    void onConnection()
    {
        while (QTcpSocket* socket = m_server.nextPendingConnection()) {
            connect(socket, &QTcpSocket::disconnected, socket, &QObject::deleteLater);
            connect(socket, &QTcpSocket::readyRead, this, [this, socket] { onRead(socket); });
        }
    }

    void onRead(QTcpSocket* socket)
    {
        QByteArray& buffer = m_buffers[socket];
        buffer += socket->readAll();
        if (!buffer.contains("\r\n\r\n"))
            return;
        const QList<QByteArray> requestLine = buffer.left(buffer.indexOf("\r\n")).split(' ');
        m_buffers.remove(socket);
        const QString path =
            requestLine.size() > 1 ? QString::fromLatin1(requestLine[1]) : QString();
        ++m_requests[path];
        Route r;
        if (m_routes.contains(path)) {
            r = m_routes.value(path);
        } else {
            r.status = 404;
            r.reason = "Not Found";
            r.body = "no such file\n";
        }
        QByteArray head = "HTTP/1.1 " + QByteArray::number(r.status) + ' ' + r.reason + "\r\n";
        head += "Content-Type: application/octet-stream\r\nConnection: close\r\n";
        if (r.announced != -2)
            head += "Content-Length: " +
                    QByteArray::number(r.announced >= 0 ? r.announced : r.body.size()) + "\r\n";
        if (!r.location.isEmpty())
            head += "Location: " + r.location + "\r\n";
        head += "\r\n";
        socket->write(head);
        const QByteArray body = r.sendBytes >= 0 ? r.body.left(int(r.sendBytes)) : r.body;
        if (r.chunk > 0) {
            auto* timer = new QTimer(socket);
            auto sent = std::make_shared<int>(0);
            connect(timer, &QTimer::timeout, socket, [socket, timer, body, sent, r] {
                if (socket->state() != QAbstractSocket::ConnectedState) {
                    timer->stop();
                    return;
                }
                const QByteArray part = body.mid(*sent, r.chunk);
                *sent += part.size();
                socket->write(part);
                if (*sent >= body.size()) {
                    timer->stop();
                    socket->disconnectFromHost();
                }
            });
            timer->start(20);
            return;
        }
        socket->write(body);
        if (!r.holdOpen)
            socket->disconnectFromHost();
    }

    QTcpServer m_server;
    QHash<QString, Route> m_routes;
    QHash<QString, int> m_requests;
    QHash<QTcpSocket*, QByteArray> m_buffers;
};

DownloadResult waitFor(QSignalSpy& finished)
{
    if (finished.isEmpty() && !finished.wait(kTimeoutMs))
        return {};
    const DownloadResult result = finished.first().at(0).value<DownloadResult>();
    if (!result.ok())
        qInfo("%s", qPrintable(result.error)); // the message the user would read
    return result;
}

// Downloads `request` with a fresh ModelDownloader (stalling after `stallTimeoutMs`
// when > 0) and returns its result; a request the downloader refuses to start
// fails the test.
DownloadResult download(const DownloadRequest& request, int stallTimeoutMs = 0)
{
    ModelDownloader downloader;
    if (stallTimeoutMs > 0)
        downloader.setStallTimeout(stallTimeoutMs);
    QSignalSpy finished(&downloader, &ModelDownloader::finished);
    if (!downloader.start(request)) {
        QTest::qFail("ModelDownloader::start() refused the request", __FILE__, __LINE__);
        return {};
    }
    return waitFor(finished);
}

DownloadRequest requestFor(const QUrl& url, const QString& targetPath)
{
    DownloadRequest request;
    request.url = url;
    request.targetPath = targetPath;
    return request;
}

ModelInfo tinyEntry(const QUrl& url)
{
    ModelInfo m;
    m.name = "dino_tiny";
    m.title = "DINO ViT-Tiny/8 (test)";
    m.family = "dino";
    m.architecture = "vit_tiny";
    m.patchSize = 8;
    m.dim = 16;
    m.depth = 2;
    m.heads = 2;
    m.parameters = 7000;
    m.url = url.toString().toStdString();
    m.fileName = "dino_tiny_pretrain.pth";
    m.expectedSize = QFileInfo(kTinyDino).size();
    m.sizeTolerance = 0.01;
    m.source = "https://example.org/tiny";
    return m;
}

} // namespace

class TestModelManager : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void init();

    void downloadSucceedsWithProgress();
    void downloadFollowsRedirect();
    void notFoundFailsAndLeavesNothing();
    void truncatedBodyFailsAndLeavesNothing();
    void cancelLeavesNothing();
    void destructorLeavesNothing();
    void cancelDuringVerificationLeavesNothing();
    void stalledTransferFails();
    void connectionRefusedFails();
    void wrongSizeFails();
    void failedVerificationLeavesNothing();
    void wrongArchitectureLeavesNothing();
    void existingTargetIsNeverReplaced();
    void localFileIsCopiedAndVerified();

    void downloadFolderIsTheStudiosDataLocation();
    void dialogListsTheCatalogue();
    void dialogShowsFilesFoundElsewhere();
    void dialogImportMarksInstalled();
    void dialogImportRejectsUnknownCheckpoint();
    void dialogDownloadMarksInstalled();
    void dialogDownloadErrorIsShown();
    void dialogNeverDownloadsUnasked();
    void dialogScreenshot();

private:
    QString dir() const { return m_work->path(); }
    QString target(const QString& name = QStringLiteral("model.pth")) const
    {
        return QDir(dir()).filePath(name);
    }

    // The server's `path` downloaded as dino_vits8's file, checked as the
    // application checks it: createBackbone("dino_vits8", {file}).
    DownloadResult downloadAsVits8(const QString& path)
    {
        const ModelInfo* vits8 = findModel("dino_vits8");
        if (!vits8) {
            QTest::qFail("the catalogue has no dino_vits8", __FILE__, __LINE__);
            return {};
        }
        DownloadRequest request =
            requestFor(m_server.url(path), target(QString::fromStdString(vits8->fileName)));
        const ModelInfo entry = *vits8;
        request.verify = [entry](const QString& file) { return verifyBackboneFile(entry, file); };
        return download(request);
    }

    QTemporaryDir m_home;
    std::unique_ptr<QTemporaryDir> m_work;
    TestServer m_server;
    QByteArray m_good;
    QByteArray m_tiny;
};

void TestModelManager::initTestCase()
{
    QVERIFY(m_home.isValid());
    // Every folder the catalogue code looks at lives in the test's own home.
    qputenv("XDG_DATA_HOME", QDir(m_home.path()).filePath(QStringLiteral("data")).toLocal8Bit());
    qputenv("XDG_CACHE_HOME", QDir(m_home.path()).filePath(QStringLiteral("cache")).toLocal8Bit());
    qputenv("TORCH_HOME", QDir(m_home.path()).filePath(QStringLiteral("torch")).toLocal8Bit());
    qunsetenv("PRIMAPS_MODELS_DIR");
    QCoreApplication::setOrganizationName(QStringLiteral("PriMaPs"));
    QCoreApplication::setApplicationName(QStringLiteral("PriMaPs Studio"));

    m_good = pseudoRandomBytes(300 * 1024, 7);
    m_tiny = readAll(kTinyDino);
    QVERIFY(!m_tiny.isEmpty());
    QVERIFY(m_server.listen());

    TestServer::Route good;
    good.body = m_good;
    m_server.route(QStringLiteral("/good.bin"), good);

    TestServer::Route redirect;
    redirect.status = 302;
    redirect.reason = "Found";
    redirect.body = "moved";
    redirect.location = "/good.bin";
    m_server.route(QStringLiteral("/redirect"), redirect);

    TestServer::Route truncated = good;
    truncated.sendBytes = m_good.size() / 3;
    m_server.route(QStringLiteral("/truncated.bin"), truncated);

    TestServer::Route slow = good;
    slow.chunk = 1024;
    m_server.route(QStringLiteral("/slow.bin"), slow);

    TestServer::Route stall = good;
    stall.sendBytes = 1000;
    stall.holdOpen = true;
    m_server.route(QStringLiteral("/stall.bin"), stall);

    TestServer::Route garbage;
    garbage.body = pseudoRandomBytes(4096, 3);
    m_server.route(QStringLiteral("/garbage.pth"), garbage);

    TestServer::Route tiny;
    tiny.body = m_tiny;
    m_server.route(QStringLiteral("/dino_tiny.pth"), tiny);
}

void TestModelManager::init()
{
    m_work = std::make_unique<QTemporaryDir>();
    QVERIFY(m_work->isValid());
    QDir(QString::fromStdString(modelDownloadDirectory())).removeRecursively();
    QDir(QDir(m_home.path()).filePath(QStringLiteral("torch"))).removeRecursively();
}

void TestModelManager::downloadSucceedsWithProgress()
{
    ModelDownloader downloader;
    QSignalSpy progress(&downloader, &ModelDownloader::progress);
    QSignalSpy finished(&downloader, &ModelDownloader::finished);
    DownloadRequest request;
    request.url = m_server.url(QStringLiteral("/good.bin"));
    request.targetPath = target();
    request.modelName = QStringLiteral("good");
    request.expectedSize = m_good.size();
    bool verifiedOffGuiThread = false;
    QThread* gui = QThread::currentThread();
    request.verify = [&](const QString& path) {
        verifiedOffGuiThread = QThread::currentThread() != gui;
        if (readAll(path) != m_good)
            throw std::runtime_error("bytes differ");
        return QStringLiteral("the good file");
    };
    QVERIFY(downloader.start(request));
    QVERIFY(downloader.isBusy());
    QVERIFY(!downloader.start(request)); // one at a time
    const DownloadResult result = waitFor(finished);
    QVERIFY2(result.ok(), qPrintable(result.error));
    QCOMPARE(finished.size(), 1);
    QVERIFY(!downloader.isBusy());
    QVERIFY(verifiedOffGuiThread);
    QCOMPARE(result.path, target());
    QCOMPARE(result.description, QStringLiteral("the good file"));
    QCOMPARE(readAll(target()), m_good);
    QCOMPARE(result.sha256, sha256(m_good));
    QCOMPARE(result.size, qint64(m_good.size()));

    // Progress: increasing, against the announced total, ending complete.
    QVERIFY(progress.size() >= 2);
    qint64 last = -1;
    for (const QList<QVariant>& p : progress) {
        QVERIFY(p.at(0).toLongLong() >= last);
        last = p.at(0).toLongLong();
    }
    QCOMPARE(progress.last().at(0).toLongLong(), qint64(m_good.size()));
    QCOMPARE(progress.last().at(1).toLongLong(), qint64(m_good.size()));

    // The digest is recorded next to the file; nothing else is left.
    const std::optional<InstalledModelRecord> record =
        ModelRegistry(dir()).find(QStringLiteral("model.pth"));
    QVERIFY(record.has_value());
    QCOMPARE(record->sha256, sha256(m_good));
    QCOMPARE(record->size, qint64(m_good.size()));
    QCOMPARE(record->model, QStringLiteral("good"));
    QCOMPARE(record->origin, request.url.toString());
    QCOMPARE(record->description, QStringLiteral("the good file"));
    QCOMPARE(entries(dir()),
             (QStringList{ModelRegistry::registryFileName(), QStringLiteral("model.pth")}));
}

void TestModelManager::downloadFollowsRedirect()
{
    DownloadRequest request = requestFor(m_server.url(QStringLiteral("/redirect")), target());
    request.expectedSize = m_good.size();
    const DownloadResult result = download(request);
    QVERIFY2(result.ok(), qPrintable(result.error));
    QCOMPARE(readAll(target()), m_good);
    QCOMPARE(result.sha256, sha256(m_good));
}

void TestModelManager::notFoundFailsAndLeavesNothing()
{
    const DownloadRequest request =
        requestFor(m_server.url(QStringLiteral("/missing.pth")), target());
    const DownloadResult result = download(request);
    QVERIFY(!result.ok());
    QVERIFY(!result.cancelled);
    QVERIFY2(result.error.contains(QStringLiteral("404")), qPrintable(result.error));
    QVERIFY2(result.error.contains(request.url.toString()), qPrintable(result.error));
    QVERIFY2(entries(dir()).isEmpty(), qPrintable(entries(dir()).join(QLatin1Char(' '))));
}

void TestModelManager::truncatedBodyFailsAndLeavesNothing()
{
    DownloadRequest request = requestFor(m_server.url(QStringLiteral("/truncated.bin")), target());
    bool verified = false;
    request.verify = [&](const QString&) {
        verified = true;
        return QString();
    };
    const DownloadResult result = download(request);
    QVERIFY(!result.ok());
    QVERIFY2(result.error.contains(QStringLiteral("truncated")), qPrintable(result.error));
    QVERIFY2(result.error.contains(request.url.toString()), qPrintable(result.error));
    QVERIFY(!verified);
    QVERIFY2(entries(dir()).isEmpty(), qPrintable(entries(dir()).join(QLatin1Char(' '))));
}

void TestModelManager::cancelLeavesNothing()
{
    ModelDownloader downloader;
    QSignalSpy progress(&downloader, &ModelDownloader::progress);
    QSignalSpy finished(&downloader, &ModelDownloader::finished);
    DownloadRequest request;
    request.url = m_server.url(QStringLiteral("/slow.bin"));
    request.targetPath = target();
    QVERIFY(downloader.start(request));
    QVERIFY(QTest::qWaitFor(
        [&] { return !progress.isEmpty() && progress.last().at(0).toLongLong() > 2048; },
        kTimeoutMs));
    QVERIFY(QFileInfo::exists(downloader.partPath())); // the bytes so far are on disk
    QVERIFY(downloader.partPath().endsWith(QStringLiteral(".part")));
    downloader.cancel();
    const DownloadResult result = waitFor(finished);
    QVERIFY(result.cancelled);
    QVERIFY2(result.error.contains(QStringLiteral("cancelled")), qPrintable(result.error));
    QVERIFY(!downloader.isBusy());
    QVERIFY2(entries(dir()).isEmpty(), qPrintable(entries(dir()).join(QLatin1Char(' '))));
}

void TestModelManager::destructorLeavesNothing()
{
    auto downloader = std::make_unique<ModelDownloader>();
    QSignalSpy progress(downloader.get(), &ModelDownloader::progress);
    DownloadRequest request;
    request.url = m_server.url(QStringLiteral("/slow.bin"));
    request.targetPath = target();
    QVERIFY(downloader->start(request));
    QVERIFY(QTest::qWaitFor(
        [&] { return !progress.isEmpty() && progress.last().at(0).toLongLong() > 0; }, kTimeoutMs));
    downloader.reset();
    QTest::qWait(50);
    QVERIFY2(entries(dir()).isEmpty(), qPrintable(entries(dir()).join(QLatin1Char(' '))));
}

void TestModelManager::cancelDuringVerificationLeavesNothing()
{
    ModelDownloader downloader;
    QSignalSpy finished(&downloader, &ModelDownloader::finished);
    DownloadRequest request;
    request.url = m_server.url(QStringLiteral("/good.bin"));
    request.targetPath = target();
    std::atomic<bool> verifying{false};
    request.verify = [&](const QString&) {
        verifying = true;
        QThread::msleep(300); // a verification cannot be interrupted
        return QStringLiteral("slow");
    };
    QVERIFY(downloader.start(request));
    QVERIFY(QTest::qWaitFor([&] { return verifying.load(); }, kTimeoutMs));
    QCOMPARE(downloader.phase(), ModelDownloader::Phase::Verifying);
    downloader.cancel();
    const DownloadResult result = waitFor(finished);
    QVERIFY(result.cancelled);
    QVERIFY(!downloader.isBusy());
    QVERIFY2(entries(dir()).isEmpty(), qPrintable(entries(dir()).join(QLatin1Char(' '))));
}

void TestModelManager::stalledTransferFails()
{
    const DownloadRequest request = requestFor(m_server.url(QStringLiteral("/stall.bin")), target());
    const DownloadResult result = download(request, /*stallTimeoutMs=*/700);
    QVERIFY(!result.ok());
    QVERIFY(!result.cancelled);
    QVERIFY2(result.error.contains(request.url.toString()), qPrintable(result.error));
    QVERIFY2(result.error.contains(QStringLiteral("no data arrived")), qPrintable(result.error));
    QVERIFY2(entries(dir()).isEmpty(), qPrintable(entries(dir()).join(QLatin1Char(' '))));
}

void TestModelManager::connectionRefusedFails()
{
    QTcpServer closed;
    QVERIFY(closed.listen(QHostAddress::LocalHost, 0));
    const quint16 port = closed.serverPort();
    closed.close();
    const DownloadRequest request =
        requestFor(QUrl(QStringLiteral("http://127.0.0.1:%1/model.pth").arg(port)), target());
    const DownloadResult result = download(request);
    QVERIFY(!result.ok());
    QVERIFY2(result.error.contains(request.url.toString()), qPrintable(result.error));
    QVERIFY2(result.error.contains(QStringLiteral("refused"), Qt::CaseInsensitive),
             qPrintable(result.error));
    QVERIFY(entries(dir()).isEmpty());
}

void TestModelManager::wrongSizeFails()
{
    // The announced size is wrong: the transfer stops as soon as the headers say so.
    ModelDownloader downloader;
    QSignalSpy finished(&downloader, &ModelDownloader::finished);
    DownloadRequest request;
    request.url = m_server.url(QStringLiteral("/good.bin"));
    request.targetPath = target();
    request.expectedSize = 10 * m_good.size();
    QVERIFY(downloader.start(request));
    DownloadResult result = waitFor(finished);
    QVERIFY(!result.ok());
    QVERIFY2(result.error.contains(QStringLiteral("catalogue expects")), qPrintable(result.error));
    QVERIFY(entries(dir()).isEmpty());

    // Without Content-Length the complete file is measured.
    TestServer::Route unannounced;
    unannounced.body = m_good;
    unannounced.announced = -2;
    m_server.route(QStringLiteral("/unannounced.bin"), unannounced);
    finished.clear();
    request.url = m_server.url(QStringLiteral("/unannounced.bin"));
    QVERIFY(downloader.start(request));
    result = waitFor(finished);
    QVERIFY(!result.ok());
    QVERIFY2(result.error.contains(QStringLiteral("the file has")), qPrintable(result.error));
    QVERIFY(entries(dir()).isEmpty());

    request.expectedSize = m_good.size() + m_good.size() / 200; // within 1 %
    finished.clear();
    QVERIFY(downloader.start(request));
    result = waitFor(finished);
    QVERIFY2(result.ok(), qPrintable(result.error));
}

void TestModelManager::failedVerificationLeavesNothing()
{
    // The application's own check: createBackbone("dino_vits8", {file}) on random bytes.
    const DownloadResult result = downloadAsVits8(QStringLiteral("/garbage.pth"));
    QVERIFY(!result.ok());
    QVERIFY2(result.error.contains(QStringLiteral("does not load")), qPrintable(result.error));
    QVERIFY2(result.error.contains(QStringLiteral("not a PyTorch checkpoint")),
             qPrintable(result.error));
    QVERIFY2(!result.error.contains(QStringLiteral(".part")), qPrintable(result.error));
    QVERIFY2(entries(dir()).isEmpty(), qPrintable(entries(dir()).join(QLatin1Char(' '))));
}

void TestModelManager::wrongArchitectureLeavesNothing()
{
    // A valid checkpoint of another architecture than the one asked for.
    const DownloadResult result = downloadAsVits8(QStringLiteral("/dino_tiny.pth"));
    QVERIFY(!result.ok());
    QVERIFY2(result.error.contains(QStringLiteral("16-d")), qPrintable(result.error));
    QVERIFY2(result.error.contains(QStringLiteral("not dino_vits8")), qPrintable(result.error));
    QVERIFY(entries(dir()).isEmpty());
}

void TestModelManager::existingTargetIsNeverReplaced()
{
    {
        QFile existing(target());
        QVERIFY(existing.open(QIODevice::WriteOnly));
        existing.write("keep me");
    }
    const int before = m_server.totalRequests();
    ModelDownloader downloader;
    QSignalSpy finished(&downloader, &ModelDownloader::finished);
    DownloadRequest request;
    request.url = m_server.url(QStringLiteral("/good.bin"));
    request.targetPath = target();
    QVERIFY(downloader.start(request));
    QVERIFY(finished.isEmpty()); // reported after start() returns, like any failure
    const DownloadResult result = waitFor(finished);
    QVERIFY(!result.ok());
    QVERIFY2(result.error.contains(QStringLiteral("already exists")), qPrintable(result.error));
    QCOMPARE(readAll(target()), QByteArray("keep me"));
    QCOMPARE(entries(dir()), QStringList{QStringLiteral("model.pth")});
    QCOMPARE(m_server.totalRequests(), before); // not even fetched
}

void TestModelManager::localFileIsCopiedAndVerified()
{
    ModelDownloader downloader;
    QSignalSpy progress(&downloader, &ModelDownloader::progress);
    QSignalSpy finished(&downloader, &ModelDownloader::finished);
    DownloadRequest request;
    request.url = QUrl::fromLocalFile(kTinyDino);
    request.targetPath = target(QStringLiteral("sub/tiny.pth"));
    request.modelName = QStringLiteral("dino_tiny");
    const ModelInfo entry = tinyEntry(QUrl());
    request.verify = [entry](const QString& path) { return verifyBackboneFile(entry, path); };
    QVERIFY(downloader.start(request));
    const DownloadResult result = waitFor(finished);
    QVERIFY2(result.ok(), qPrintable(result.error));
    QVERIFY2(result.description.contains(QStringLiteral("16-d")), qPrintable(result.description));
    QCOMPARE(readAll(request.targetPath), m_tiny);
    QCOMPARE(ModelRegistry(QFileInfo(request.targetPath).absolutePath())
                 .find(QStringLiteral("tiny.pth"))
                 ->sha256,
             sha256(m_tiny));
    QVERIFY(!progress.isEmpty());
    QCOMPARE(progress.last().at(0).toLongLong(), qint64(m_tiny.size()));
}

// ---- the dialog ---------------------------------------------------------------------------

void TestModelManager::downloadFolderIsTheStudiosDataLocation()
{
    QCOMPARE(QString::fromStdString(modelDownloadDirectory()),
             QStandardPaths::writableLocation(QStandardPaths::AppLocalDataLocation) +
                 QStringLiteral("/models"));
}

void TestModelManager::dialogListsTheCatalogue()
{
    BackboneManagerDialog dialog;
    QStringList expected{QStringLiteral("filterbank")};
    for (const ModelInfo& m : modelCatalog())
        expected << QString::fromStdString(m.name);
    expected << QStringLiteral("torchscript");
    QCOMPARE(dialog.backboneNames(), expected);
    QCOMPARE(dialog.table()->topLevelItemCount(), expected.size());
    for (const ModelInfo& m : modelCatalog())
        QCOMPARE(dialog.statusText(QString::fromStdString(m.name)),
                 QStringLiteral("not installed"));
    QVERIFY(dialog.statusText(QStringLiteral("filterbank")).startsWith(QStringLiteral("built in")));
    QCOMPARE(dialog.cacheFolder(), QString::fromStdString(modelDownloadDirectory()));
    // The row shows what the catalogue says.
    QTreeWidgetItem* row = dialog.table()->topLevelItem(1);
    const ModelInfo& first = modelCatalog().front();
    QCOMPARE(row->text(0), QString::fromStdString(first.title));
    QCOMPARE(row->text(1), QString::fromStdString(first.name));
    QCOMPARE(row->text(4), QString::number(first.patchSize));
    QCOMPARE(row->text(5), QString::number(first.dim));
    QVERIFY(!dialog.isBusy());
}

void TestModelManager::dialogShowsFilesFoundElsewhere()
{
    // A file in PyTorch Hub's cache counts as installed, but is not the dialog's to delete.
    const ModelInfo* vits8 = findModel("dino_vits8");
    const QString hub = QDir(m_home.path()).filePath(QStringLiteral("torch/hub/checkpoints"));
    QVERIFY(QDir().mkpath(hub));
    const QString file = QDir(hub).filePath(QString::fromStdString(vits8->fileName));
    {
        QFile f(file);
        QVERIFY(f.open(QIODevice::WriteOnly));
    }
    BackboneManagerDialog dialog;
    QCOMPARE(dialog.installedPath(QStringLiteral("dino_vits8")), file);
    QVERIFY2(
        dialog.statusText(QStringLiteral("dino_vits8")).startsWith(QStringLiteral("installed at ")),
        qPrintable(dialog.statusText(QStringLiteral("dino_vits8"))));
    QVERIFY(!dialog.removeInstalled(QStringLiteral("dino_vits8")));
    QVERIFY(QFileInfo::exists(file));
    QVERIFY(!dialog.download(QStringLiteral("dino_vits8"))); // already there
    QVERIFY(!dialog.isBusy());
}

void TestModelManager::dialogImportMarksInstalled()
{
    std::vector<ModelInfo> catalog = modelCatalog();
    catalog.push_back(tinyEntry(m_server.url(QStringLiteral("/dino_tiny.pth"))));
    BackboneManagerDialog dialog(catalog);
    const QString name = QStringLiteral("dino_tiny");
    QCOMPARE(dialog.statusText(name), QStringLiteral("not installed"));
    QSignalSpy done(&dialog, &BackboneManagerDialog::operationFinished);
    QSignalSpy changed(&dialog, &BackboneManagerDialog::modelsChanged);
    const int fetched = m_server.requests(QStringLiteral("/dino_tiny.pth"));
    QVERIFY(dialog.importFile(kTinyDino));
    QVERIFY(dialog.isBusy());
    QVERIFY(done.wait(kTimeoutMs));
    QVERIFY2(done.first().at(0).toBool(), qPrintable(done.first().at(1).toString()));
    QCOMPARE(changed.size(), 1);
    QVERIFY(!dialog.isBusy());

    const QString installed =
        QDir(dialog.cacheFolder()).filePath(QStringLiteral("dino_tiny_pretrain.pth"));
    QCOMPARE(dialog.installedPath(name), installed);
    QCOMPARE(dialog.statusText(name), QStringLiteral("installed at ") + displayPath(installed));
    QCOMPARE(readAll(installed), m_tiny);
    QVERIFY(QFileInfo::exists(kTinyDino)); // the original stays
    const std::optional<InstalledModelRecord> record =
        ModelRegistry(dialog.cacheFolder()).find(QStringLiteral("dino_tiny_pretrain.pth"));
    QVERIFY(record.has_value());
    QCOMPARE(record->sha256, sha256(m_tiny));
    QCOMPARE(record->model, name);
    QCOMPARE(m_server.requests(QStringLiteral("/dino_tiny.pth")), fetched); // imported, not fetched

    // Importing it again is refused: it is installed.
    done.clear();
    QVERIFY(dialog.importFile(kTinyDino));
    QVERIFY(done.wait(kTimeoutMs));
    QVERIFY(!done.first().at(0).toBool());
    QVERIFY2(done.first().at(1).toString().contains(QStringLiteral("already installed")),
             qPrintable(done.first().at(1).toString()));

    // Remove takes the file and its record away.
    QVERIFY(dialog.removeInstalled(name));
    QCOMPARE(dialog.statusText(name), QStringLiteral("not installed"));
    QVERIFY(!QFileInfo::exists(installed));
    QVERIFY(!ModelRegistry(dialog.cacheFolder()).find(QStringLiteral("dino_tiny_pretrain.pth")));
    QCOMPARE(changed.size(), 2);
}

void TestModelManager::dialogImportRejectsUnknownCheckpoint()
{
    BackboneManagerDialog dialog; // the real catalogue has no 16-d ViT
    QSignalSpy done(&dialog, &BackboneManagerDialog::operationFinished);
    QVERIFY(dialog.importFile(kTinyDino));
    QVERIFY(done.wait(kTimeoutMs));
    QVERIFY(!done.first().at(0).toBool());
    const QString message = done.first().at(1).toString();
    QVERIFY2(message.contains(QStringLiteral("16-d")), qPrintable(message));
    QVERIFY2(message.contains(QStringLiteral("none of the catalogued")), qPrintable(message));
    QCOMPARE(dialog.message(), message);
    QVERIFY(entries(dialog.cacheFolder()).isEmpty());

    // Not a checkpoint at all.
    done.clear();
    const QString garbage = target(QStringLiteral("garbage.pth"));
    {
        QFile f(garbage);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(pseudoRandomBytes(1000, 5));
    }
    QVERIFY(dialog.importFile(garbage));
    QVERIFY(done.wait(kTimeoutMs));
    QVERIFY(!done.first().at(0).toBool());
    QVERIFY2(done.first().at(1).toString().contains(QStringLiteral("not a PyTorch checkpoint")),
             qPrintable(done.first().at(1).toString()));
    QVERIFY(entries(dialog.cacheFolder()).isEmpty());
}

void TestModelManager::dialogDownloadMarksInstalled()
{
    std::vector<ModelInfo> catalog = modelCatalog();
    catalog.push_back(tinyEntry(m_server.url(QStringLiteral("/dino_tiny.pth"))));
    BackboneManagerDialog dialog(catalog);
    const QString name = QStringLiteral("dino_tiny");
    QVERIFY(dialog.selectBackbone(name));
    QSignalSpy done(&dialog, &BackboneManagerDialog::operationFinished);
    QSignalSpy progress(dialog.downloader(), &ModelDownloader::progress);
    const int before = m_server.requests(QStringLiteral("/dino_tiny.pth"));
    QVERIFY(dialog.download(name));
    QVERIFY(dialog.isBusy());
    QVERIFY(!dialog.download(name)); // one at a time
    done.clear();
    QVERIFY(done.wait(kTimeoutMs));
    QVERIFY2(done.first().at(0).toBool(), qPrintable(done.first().at(1).toString()));
    QCOMPARE(m_server.requests(QStringLiteral("/dino_tiny.pth")), before + 1);
    QVERIFY(!progress.isEmpty());
    const QString installed =
        QDir(dialog.cacheFolder()).filePath(QStringLiteral("dino_tiny_pretrain.pth"));
    QCOMPARE(dialog.statusText(name), QStringLiteral("installed at ") + displayPath(installed));
    QCOMPARE(
        ModelRegistry(dialog.cacheFolder()).find(QStringLiteral("dino_tiny_pretrain.pth"))->sha256,
        sha256(m_tiny));
    QVERIFY(dialog.message().contains(QStringLiteral("Installed")));
    QCOMPARE(entries(dialog.cacheFolder()), (QStringList{QStringLiteral("dino_tiny_pretrain.pth"),
                                                         ModelRegistry::registryFileName()}));
}

void TestModelManager::dialogDownloadErrorIsShown()
{
    std::vector<ModelInfo> catalog = modelCatalog();
    catalog.push_back(tinyEntry(m_server.url(QStringLiteral("/gone/dino_tiny.pth"))));
    BackboneManagerDialog dialog(catalog);
    QSignalSpy done(&dialog, &BackboneManagerDialog::operationFinished);
    QVERIFY(dialog.download(QStringLiteral("dino_tiny")));
    QVERIFY(done.wait(kTimeoutMs));
    QVERIFY(!done.first().at(0).toBool());
    QVERIFY2(dialog.message().contains(QStringLiteral("404")), qPrintable(dialog.message()));
    QCOMPARE(dialog.statusText(QStringLiteral("dino_tiny")), QStringLiteral("not installed"));
    QVERIFY(entries(dialog.cacheFolder()).isEmpty());

    // Cancel from the dialog.
    catalog.back().url = m_server.url(QStringLiteral("/slow.bin")).toString().toStdString();
    catalog.back().expectedSize = m_good.size();
    BackboneManagerDialog slow(catalog);
    QSignalSpy slowDone(&slow, &BackboneManagerDialog::operationFinished);
    QSignalSpy progress(slow.downloader(), &ModelDownloader::progress);
    QVERIFY(slow.download(QStringLiteral("dino_tiny")));
    QVERIFY(QTest::qWaitFor(
        [&] { return !progress.isEmpty() && progress.last().at(0).toLongLong() > 0; }, kTimeoutMs));
    QVERIFY2(slow.statusText(QStringLiteral("dino_tiny"))
                 .startsWith(QStringLiteral("downloading\u2026")),
             qPrintable(slow.statusText(QStringLiteral("dino_tiny"))));
    slow.cancel();
    QVERIFY(!slowDone.isEmpty() || slowDone.wait(kTimeoutMs));
    QVERIFY2(slow.message().contains(QStringLiteral("cancelled")), qPrintable(slow.message()));
    QCOMPARE(slow.statusText(QStringLiteral("dino_tiny")), QStringLiteral("not installed"));
    QVERIFY(entries(slow.cacheFolder()).isEmpty());
}

void TestModelManager::dialogNeverDownloadsUnasked()
{
    std::vector<ModelInfo> catalog = modelCatalog();
    for (ModelInfo& m : catalog)
        m.url = m_server.url(QStringLiteral("/") + QString::fromStdString(m.fileName))
                    .toString()
                    .toStdString();
    catalog.push_back(tinyEntry(m_server.url(QStringLiteral("/dino_tiny.pth"))));
    const int before = m_server.totalRequests();
    {
        BackboneManagerDialog dialog(catalog);
        dialog.show();
        QVERIFY(QTest::qWaitForWindowExposed(&dialog));
        for (const QString& name : dialog.backboneNames())
            dialog.selectBackbone(name);
        dialog.refresh();
        QTest::qWait(300);
        QVERIFY(!dialog.isBusy());
    }
    QCOMPARE(m_server.totalRequests(), before);
    QVERIFY(!QFileInfo::exists(QString::fromStdString(modelDownloadDirectory())) ||
            entries(QString::fromStdString(modelDownloadDirectory())).isEmpty());
}

void TestModelManager::dialogScreenshot()
{
    // The dialog renders mid-download and after an import. The pictures go to a
    // temporary folder, or to PRIMAPS_SCREENSHOT_DIR to keep them (documentation, review).
    QTemporaryDir scratch;
    const QString shots = qEnvironmentVariable("PRIMAPS_SCREENSHOT_DIR", scratch.path());

    // One model found in PyTorch Hub's cache, one installed by import, one downloading.
    const ModelInfo* vitb16 = findModel("dino_vitb16");
    const QString hub = QDir(m_home.path()).filePath(QStringLiteral("torch/hub/checkpoints"));
    QVERIFY(QDir().mkpath(hub));
    QFile(QDir(hub).filePath(QString::fromStdString(vitb16->fileName))).open(QIODevice::WriteOnly);
    std::vector<ModelInfo> catalog = modelCatalog();
    for (ModelInfo& m : catalog)
        if (m.name == "dinov2_vits14") {
            m.url = m_server.url(QStringLiteral("/slow.bin")).toString().toStdString();
            m.expectedSize = m_good.size();
        }
    catalog.push_back(tinyEntry(m_server.url(QStringLiteral("/dino_tiny.pth"))));
    BackboneManagerDialog dialog(catalog);
    dialog.show();
    QVERIFY(QTest::qWaitForWindowExposed(&dialog));
    QSignalSpy done(&dialog, &BackboneManagerDialog::operationFinished);
    QVERIFY(dialog.importFile(kTinyDino));
    QVERIFY(done.wait(kTimeoutMs));
    QSignalSpy progress(dialog.downloader(), &ModelDownloader::progress);
    QVERIFY(dialog.selectBackbone(QStringLiteral("dinov2_vits14")));
    QVERIFY(dialog.download(QStringLiteral("dinov2_vits14")));
    QVERIFY(QTest::qWaitFor(
        [&] { return !progress.isEmpty() && progress.last().at(0).toLongLong() > 90 * 1024; },
        kTimeoutMs));
    QTest::qWait(50);
    const QString path = QDir(shots).filePath(QStringLiteral("mgr.png"));
    const QImage downloading = dialog.grab().toImage();
    QVERIFY(downloading.width() > 200 && downloading.height() > 200);
    QVERIFY(downloading.save(path));
    qInfo("saved %s", qPrintable(path));
    dialog.cancel();
    QVERIFY(QTest::qWaitFor([&] { return !dialog.isBusy(); }, kTimeoutMs));
    QVERIFY(dialog.selectBackbone(QStringLiteral("dino_tiny")));
    const QString installed = QDir(shots).filePath(QStringLiteral("mgr-installed.png"));
    QVERIFY(dialog.grab().save(installed));
    qInfo("saved %s", qPrintable(installed));
}

QTEST_MAIN(TestModelManager)
#include "tst_modelmanager.moc"
