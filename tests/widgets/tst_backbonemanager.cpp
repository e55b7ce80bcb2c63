// SPDX-License-Identifier: MIT
// BackboneManagerDialog, offscreen, against the tiny HTTP/1.1 server the test
// starts (modelmanagerfixture.h): catalogue rows, install status, import and
// download of a tiny DINO checkpoint, errors, and that nothing is fetched unasked.

#include "modelmanagerfixture.h"

using namespace primaps;
using namespace primaps::testing;

class TestBackboneManager : public QObject, ModelManagerFixture
{
    Q_OBJECT

private slots:
    void initTestCase() { setUpServer(); }
    void init() { freshFolders(); }

    void dialogListsTheCatalogue();
    void dialogShowsFilesFoundElsewhere();
    void dialogImportMarksInstalled();
    void dialogImportRejectsUnknownCheckpoint();
    void dialogDownloadMarksInstalled();
    void dialogDownloadErrorIsShown();
    void dialogNeverDownloadsUnasked();
    void dialogScreenshot();
};

void TestBackboneManager::dialogListsTheCatalogue()
{
    BackboneManagerDialog dialog;
    // The previous filter bank is listed too (the CLI's `backbones` lists it, and
    // `--backbone filterbank-v1` reproduces older runs), marked as such.
    QStringList expected{QStringLiteral("filterbank"), QStringLiteral("filterbank-v1")};
    for (const ModelInfo& m : modelCatalog())
        expected << QString::fromStdString(m.name);
    expected << QStringLiteral("torchscript");
    QCOMPARE(dialog.backboneNames(), expected);
    QCOMPARE(dialog.table()->topLevelItemCount(), expected.size());
    for (const ModelInfo& m : modelCatalog())
        QCOMPARE(dialog.statusText(QString::fromStdString(m.name)),
                 QStringLiteral("not installed"));
    QVERIFY(dialog.statusText(QStringLiteral("filterbank")).startsWith(QStringLiteral("built in")));
    QVERIFY(dialog.statusText(QStringLiteral("filterbank-v1")).contains(QLatin1String("previous version")));
    QVERIFY(dialog.table()->topLevelItem(1)->text(0).contains(QLatin1String("previous version")));
    QCOMPARE(dialog.cacheFolder(), QString::fromStdString(modelDownloadDirectory()));
    // The row shows what the catalogue says.
    QTreeWidgetItem* row = dialog.table()->topLevelItem(2);
    const ModelInfo& first = modelCatalog().front();
    QCOMPARE(row->text(0), QString::fromStdString(first.title));
    QCOMPARE(row->text(1), QString::fromStdString(first.name));
    QCOMPARE(row->text(4), QString::number(first.patchSize));
    QCOMPARE(row->text(5), QString::number(first.dim));
    QVERIFY(!dialog.isBusy());
}

void TestBackboneManager::dialogShowsFilesFoundElsewhere()
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

void TestBackboneManager::dialogImportMarksInstalled()
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

void TestBackboneManager::dialogImportRejectsUnknownCheckpoint()
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

void TestBackboneManager::dialogDownloadMarksInstalled()
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

void TestBackboneManager::dialogDownloadErrorIsShown()
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

void TestBackboneManager::dialogNeverDownloadsUnasked()
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

void TestBackboneManager::dialogScreenshot()
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

QTEST_MAIN(TestBackboneManager)
#include "tst_backbonemanager.moc"
