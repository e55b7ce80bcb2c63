// SPDX-License-Identifier: MIT
// The installed layout: a program in <prefix>/bin finds its samples and model
// catalogue in <prefix>/share/primaps-studio, falls back to the compiled-in
// catalogue when that file is missing or broken, and says which one it uses.
// The real `primaps` is copied into temporary prefixes and run there.
#include "support/datadir.h"
#include "common/exportfolder.h"

#include <QDir>
#include <QFile>
#include <QProcess>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QtTest>

#include "testsupport.h"

namespace {

using Run = primaps::testing::CliRun;

bool writeFile(const QString& path, const QByteArray& bytes)
{
    QDir().mkpath(QFileInfo(path).path());
    QFile f(path);
    return f.open(QIODevice::WriteOnly) && f.write(bytes) == bytes.size();
}

// A prefix with bin/primaps (a copy of the built one) and, when `catalog` is not
// null, share/primaps-studio/models/catalog.json holding it.
QString makePrefix(const QTemporaryDir& dir, const QString& name, const QByteArray* catalog)
{
    const QString prefix = dir.filePath(name);
    QDir().mkpath(prefix + "/bin");
    const QString program = prefix + "/bin/primaps";
    if (!QFile::copy(PRIMAPS_CLI, program))
        return {};
    QFile::setPermissions(program, QFile::ReadOwner | QFile::WriteOwner | QFile::ExeOwner);
    if (catalog && !writeFile(prefix + "/share/primaps-studio/models/catalog.json", *catalog))
        return {};
    return prefix;
}

QByteArray sourceCatalog()
{
    QFile f(PRIMAPS_SOURCE_DIR "/models/catalog.json");
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

} // namespace

class TestInstallLayout : public QObject
{
    Q_OBJECT

    QTemporaryDir dir;

    Run backbones(const QString& prefix)
    {
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert("PRIMAPS_MODELS_DIR", dir.filePath("models"));
        env.insert("XDG_DATA_HOME", dir.filePath("data"));
        env.insert("TORCH_HOME", dir.filePath("torch"));
        return primaps::testing::runProgram(prefix + "/bin/primaps", {"backbones"}, dir.path(),
                                            env);
    }

private slots:
    void dataDirectoryIsShareBesideBin()
    {
        const QString prefix = dir.filePath("layout");
        QVERIFY(QDir().mkpath(prefix + "/bin"));
        const std::string exe = (prefix + "/bin/program").toStdString();
        QCOMPARE(primaps::dataDirectoryFor(exe), std::string());
        QVERIFY(QDir().mkpath(prefix + "/share/primaps-studio"));
        const std::string expected =
            QFileInfo(prefix + "/share/primaps-studio").canonicalFilePath().toStdString();
        QCOMPARE(primaps::dataDirectoryFor(exe), expected);
        QCOMPARE(primaps::dataDirectoryFor("program"), std::string());
        QCOMPARE(primaps::dataDirectoryFor(""), std::string());
    }

    void buildTreeMirrorsTheInstalledLayout()
    {
        // This test runs from the build tree, whose programs use the sources' data.
        const Run run = primaps::testing::runProgram(PRIMAPS_CLI, {"backbones"});
        QCOMPARE(run.exitCode, 0);
        QVERIFY2(run.out.contains("Model catalogue: ") &&
                     run.out.contains("/app/share/primaps-studio/models/catalog.json"),
                 qPrintable(run.out));
        QVERIFY(QFileInfo(QFileInfo(PRIMAPS_CLI).path() +
                          "/../share/primaps-studio/samples/chelsea.jpg")
                    .isFile());
    }

    void installedCatalogueIsUsed()
    {
        QByteArray catalog = sourceCatalog();
        QVERIFY(catalog.contains("\"DINO ViT-S/8\""));
        catalog.replace("\"DINO ViT-S/8\"", "\"DINO ViT-S/8 (installed copy)\"");
        const QString prefix = makePrefix(dir, "installed", &catalog);
        QVERIFY(!prefix.isEmpty());
        const Run run = backbones(prefix);
        QCOMPARE(run.exitCode, 0);
        QVERIFY2(run.out.contains("DINO ViT-S/8 (installed copy)"), qPrintable(run.out));
        const QString path = QFileInfo(prefix + "/share/primaps-studio").canonicalFilePath() +
                             "/models/catalog.json";
        QVERIFY2(run.out.contains("Model catalogue: " + path + "\n"), qPrintable(run.out));
    }

    void brokenCatalogueFallsBackAndSaysWhy()
    {
        const QByteArray broken = "{\"models\": [";
        const QString prefix = makePrefix(dir, "broken", &broken);
        QVERIFY(!prefix.isEmpty());
        const Run run = backbones(prefix);
        QCOMPARE(run.exitCode, 0);
        QVERIFY2(run.out.contains("dino_vits8"), qPrintable(run.out));
        QVERIFY2(run.out.contains("Model catalogue: built in (model catalogue '") &&
                     run.out.contains("not valid JSON"),
                 qPrintable(run.out));
    }

    void oversizedCatalogueIsNotRead()
    {
        // Valid JSON, but no catalogue is megabytes long: it is not read at all.
        const QByteArray huge = QByteArray(2 << 20, ' ') + sourceCatalog();
        const QString prefix = makePrefix(dir, "huge", &huge);
        QVERIFY(!prefix.isEmpty());
        const Run run = backbones(prefix);
        QCOMPARE(run.exitCode, 0);
        QVERIFY2(run.out.contains("Model catalogue: built in (") &&
                     run.out.contains("larger than 1 MiB"),
                 qPrintable(run.out));
    }

    void exportsDefaultToAWritableFolder()
    {
        // Beside the image when its folder can be written to ...
        const QString photo = dir.filePath("photos/cat.jpg");
        QVERIFY(writeFile(photo, "not decoded here"));
        QCOMPARE(primaps::defaultExportFolder(photo), QFileInfo(dir.filePath("photos")).absoluteFilePath());
        // ... else in a folder of the user's (the samples in /usr/share are read-only).
        const QString fallback = primaps::defaultExportFolder("/nonexistent-folder/cat.jpg");
        QVERIFY(QFileInfo(fallback).isDir());
        QVERIFY(fallback != "/nonexistent-folder");
        QVERIFY(fallback == QDir::homePath() ||
                fallback == QStandardPaths::writableLocation(QStandardPaths::PicturesLocation));
    }

    void loneProgramUsesTheCompiledInCatalogue()
    {
        const QString prefix = makePrefix(dir, "lone", nullptr);
        QVERIFY(!prefix.isEmpty());
        const Run run = backbones(prefix);
        QCOMPARE(run.exitCode, 0);
        QVERIFY2(run.out.contains("Model catalogue: built in\n"), qPrintable(run.out));
        QVERIFY(run.out.contains("DINO ViT-S/8 "));
    }
};

QTEST_GUILESS_MAIN(TestInstallLayout)
#include "tst_installlayout.moc"
