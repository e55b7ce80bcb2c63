// SPDX-License-Identifier: MIT
// What the backbone manager's tests share: a tiny HTTP/1.1 server on 127.0.0.1
// with the routes they download from (good, redirected, truncated, slow,
// stalling, garbage and a tiny DINO checkpoint), the test's own home folders,
// and small helpers to download and read files. Used by tst_modeldownloader
// (ModelDownloader) and tst_backbonemanager (BackboneManagerDialog).
#pragma once

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
#include <memory>

namespace primaps::testing {

constexpr int kTimeoutMs = 30000;
const QString kTinyDino = QStringLiteral(PRIMAPS_TEST_DATA_DIR "/vit/dino_tiny.pth");

inline QByteArray pseudoRandomBytes(int size, quint32 seed)
{
    QByteArray bytes(size, Qt::Uninitialized);
    quint32 x = seed;
    for (int i = 0; i < size; ++i) {
        x = x * 1664525u + 1013904223u;
        bytes[i] = char(x >> 24);
    }
    return bytes;
}

inline QByteArray readAll(const QString& path)
{
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}

inline QString sha256(const QByteArray& bytes)
{
    return QString::fromLatin1(QCryptographicHash::hash(bytes, QCryptographicHash::Sha256).toHex());
}

// Every entry of `dir`, hidden ones included.
inline QStringList entries(const QString& dir)
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

inline DownloadResult waitFor(QSignalSpy& finished)
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
inline DownloadResult download(const DownloadRequest& request, int stallTimeoutMs = 0)
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

inline DownloadRequest requestFor(const QUrl& url, const QString& targetPath)
{
    DownloadRequest request;
    request.url = url;
    request.targetPath = targetPath;
    return request;
}

inline ModelInfo tinyEntry(const QUrl& url)
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

/// The server, its routes and a fresh work folder per test function.
class ModelManagerFixture
{
protected:
    /// From the test class's initTestCase(): the test's own home folders, the
    /// application's names, the server and its routes.
    void setUpServer()
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

    /// From the test class's init(): a fresh work folder, no downloaded or
    /// imported model left from the function before.
    void freshFolders()
    {
        m_work = std::make_unique<QTemporaryDir>();
        QVERIFY(m_work->isValid());
        QDir(QString::fromStdString(modelDownloadDirectory())).removeRecursively();
        QDir(QDir(m_home.path()).filePath(QStringLiteral("torch"))).removeRecursively();
    }

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

} // namespace primaps::testing
