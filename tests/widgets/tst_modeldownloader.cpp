// SPDX-License-Identifier: MIT
// ModelDownloader, offscreen, against the tiny HTTP/1.1 server the test starts
// (modelmanagerfixture.h): success with progress and a recorded SHA-256,
// redirects, 404, truncated bodies, cancel, stalls, failed size and load checks,
// an existing target, local imports: never a partial file left behind. And the
// folder downloads go to.

#include "modelmanagerfixture.h"

using namespace primaps;
using namespace primaps::testing;

class TestModelDownloader : public QObject, ModelManagerFixture
{
    Q_OBJECT

private slots:
    void initTestCase() { setUpServer(); }
    void init() { freshFolders(); }

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
};

void TestModelDownloader::downloadSucceedsWithProgress()
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

void TestModelDownloader::downloadFollowsRedirect()
{
    DownloadRequest request = requestFor(m_server.url(QStringLiteral("/redirect")), target());
    request.expectedSize = m_good.size();
    const DownloadResult result = download(request);
    QVERIFY2(result.ok(), qPrintable(result.error));
    QCOMPARE(readAll(target()), m_good);
    QCOMPARE(result.sha256, sha256(m_good));
}

void TestModelDownloader::notFoundFailsAndLeavesNothing()
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

void TestModelDownloader::truncatedBodyFailsAndLeavesNothing()
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

void TestModelDownloader::cancelLeavesNothing()
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

void TestModelDownloader::destructorLeavesNothing()
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

void TestModelDownloader::cancelDuringVerificationLeavesNothing()
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

void TestModelDownloader::stalledTransferFails()
{
    const DownloadRequest request = requestFor(m_server.url(QStringLiteral("/stall.bin")), target());
    const DownloadResult result = download(request, /*stallTimeoutMs=*/700);
    QVERIFY(!result.ok());
    QVERIFY(!result.cancelled);
    QVERIFY2(result.error.contains(request.url.toString()), qPrintable(result.error));
    QVERIFY2(result.error.contains(QStringLiteral("no data arrived")), qPrintable(result.error));
    QVERIFY2(entries(dir()).isEmpty(), qPrintable(entries(dir()).join(QLatin1Char(' '))));
}

void TestModelDownloader::connectionRefusedFails()
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

void TestModelDownloader::wrongSizeFails()
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

void TestModelDownloader::failedVerificationLeavesNothing()
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

void TestModelDownloader::wrongArchitectureLeavesNothing()
{
    // A valid checkpoint of another architecture than the one asked for.
    const DownloadResult result = downloadAsVits8(QStringLiteral("/dino_tiny.pth"));
    QVERIFY(!result.ok());
    QVERIFY2(result.error.contains(QStringLiteral("16-d")), qPrintable(result.error));
    QVERIFY2(result.error.contains(QStringLiteral("not dino_vits8")), qPrintable(result.error));
    QVERIFY(entries(dir()).isEmpty());
}

void TestModelDownloader::existingTargetIsNeverReplaced()
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

void TestModelDownloader::localFileIsCopiedAndVerified()
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

void TestModelDownloader::downloadFolderIsTheStudiosDataLocation()
{
    QCOMPARE(QString::fromStdString(modelDownloadDirectory()),
             QStandardPaths::writableLocation(QStandardPaths::AppLocalDataLocation) +
                 QStringLiteral("/models"));
}

QTEST_MAIN(TestModelDownloader)
#include "tst_modeldownloader.moc"
