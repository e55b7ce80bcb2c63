// SPDX-License-Identifier: MIT
// Opening images and reporting problems, offscreen: the image list's handling of
// bad files, duplicates and folders, the message banner and its log, transparent
// images composited on a checkerboard.

#include "common/filenamebytes.h"
#include "common/imageconvert.h"
#include "common/messagelogwidget.h"
#include "common/messagewidget.h"
#include "common/transparency.h"
#include "explore/imagelistwidget.h"
#include "image/imageio.h"
#include "testsupport.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <QFile>
#include <QListWidget>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#ifndef _WIN32 // file names as bytes, for names that are not UTF-8
#include <fcntl.h>
#include <unistd.h>
#endif
#include <QToolButton>

using namespace primaps;

class TestImageList : public QObject
{
    Q_OBJECT

private slots:
    void messageWidgetAccumulatesAndDismisses();
    void transparentImagesOnACheckerboard();
    void messageLogKeepsEveryMessage();
    void imageListRejectsUnreadableFiles();
    void imageListIgnoresDuplicatesAndExpandsFolders();
    void folderNamesImagesWhoseNamesAreNotUtf8();
    void bytesAreEscapedWhereTheyAreNotUtf8();
};

void TestImageList::messageWidgetAccumulatesAndDismisses()
{
    QWidget parent;
    MessageWidget* messages = new MessageWidget(&parent);
    parent.show();
    QVERIFY(!messages->isVisible());
    messages->showMessage(QStringLiteral("first"));
    messages->showMessage(QStringLiteral("second"));
    QVERIFY(messages->isVisible());
    QCOMPARE(messages->text(), QStringLiteral("second"));
    QCOMPARE(messages->messages().size(), 2);
    QVERIFY(messages->hasError());
    // Earlier messages are one click away (the log), not behind a hover.
    QVERIFY(messages->toolTip().isEmpty());
    QToolButton* more = nullptr;
    const QList<QToolButton*> buttons = messages->findChildren<QToolButton*>();
    for (QToolButton* b : buttons)
        if (b->text().contains(QStringLiteral("1 more")))
            more = b;
    QVERIFY(more);
    QSignalSpy logRequests(messages, &MessageWidget::logRequested);
    more->click();
    QCOMPARE(logRequests.count(), 1);
    messages->showMessage(QStringLiteral("first")); // again: moves to the end, no duplicate
    QCOMPARE(messages->messages(),
             QStringList({QStringLiteral("second"), QStringLiteral("first")}));
    QSignalSpy spy(messages, &MessageWidget::dismissed);
    messages->dismiss();
    QVERIFY(!messages->isVisible());
    QCOMPARE(spy.count(), 1);
    QVERIFY(messages->messages().isEmpty());
}

// A PNG whose right half is fully transparent (its colour black) shows a grey
// checkerboard there, not black; opaque and half-transparent pixels blend as
// straight alpha says; an opaque PNG is left as decoded.

void TestImageList::transparentImagesOnACheckerboard()
{
    QTemporaryDir dir;
    const std::string path = dir.filePath(QStringLiteral("clear.png")).toStdString();
    cv::Mat bgra(16, 32, CV_8UC4, cv::Scalar(0, 0, 255, 255)); // opaque red
    bgra(cv::Rect(16, 0, 16, 16)).setTo(cv::Scalar(0, 0, 0, 0));
    bgra.at<cv::Vec4b>(3, 3) = cv::Vec4b(255, 0, 0, 128); // half-transparent blue
    QVERIFY(cv::imwrite(path, bgra));
    cv::Mat rgb = loadImageRgb8(path);
    QCOMPARE(rgb.at<cv::Vec3b>(8, 24), cv::Vec3b(0, 0, 0)); // what core decodes
    QVERIFY(compositeTransparency(path, rgb));
    QCOMPARE(rgb.at<cv::Vec3b>(8, 4), cv::Vec3b(255, 0, 0));
    for (const cv::Point p : {cv::Point(16, 0), cv::Point(24, 0), cv::Point(24, 8), cv::Point(31, 15)})
        QCOMPARE(rgb.at<cv::Vec3b>(p), cv::Vec3b::all(checkerGrey(p.x, p.y)));
    QVERIFY(checkerGrey(16, 0) != checkerGrey(24, 0)); // a checkerboard, not a flat grey
    const cv::Vec3b half = rgb.at<cv::Vec3b>(3, 3);
    const double a = 128.0 / 255.0;
    QVERIFY(std::abs(half[0] - checkerGrey(3, 3) * (1 - a)) <= 1.0);
    QVERIFY(std::abs(half[2] - (255 * a + checkerGrey(3, 3) * (1 - a))) <= 1.0);

    const std::string opaque = dir.filePath(QStringLiteral("opaque.png")).toStdString();
    QVERIFY(cv::imwrite(opaque, cv::Mat(8, 8, CV_8UC3, cv::Scalar(10, 20, 30))));
    cv::Mat plain = loadImageRgb8(opaque);
    const cv::Mat before = plain.clone();
    QVERIFY(!compositeTransparency(opaque, plain));
    QCOMPARE(cv::norm(plain, before, cv::NORM_INF), 0.0);
}

void TestImageList::messageLogKeepsEveryMessage()
{
    QWidget parent;
    auto* banner = new MessageWidget(&parent);
    auto* log = new MessageLogWidget(&parent);
    connect(banner, &MessageWidget::messageAdded, log, &MessageLogWidget::addMessage);
    banner->showMessage(QStringLiteral("'a.png': truncated"));
    banner->showMessage(QStringLiteral("Autosaved"), MessageWidget::Kind::Information);
    banner->dismiss(); // the banner forgets, the log does not
    banner->showMessage(QStringLiteral("'b.jpg': not an image"));
    QCOMPARE(log->count(), 3);
    QVERIFY(log->entries()[0].error);
    QVERIFY(!log->entries()[1].error);
    const QStringList lines = log->toPlainText().split(QLatin1Char('\n'));
    QCOMPARE(lines.size(), 3);
    QVERIFY(lines[0].endsWith(QStringLiteral("error: 'a.png': truncated")));
    QVERIFY(lines[1].endsWith(QStringLiteral("  Autosaved")));
    for (int i = 0; i < MessageLogWidget::kCapacity + 5; ++i)
        log->addMessage(QString::number(i), false);
    QCOMPARE(log->count(), MessageLogWidget::kCapacity);
    QCOMPARE(log->entries().last().text, QString::number(MessageLogWidget::kCapacity + 4));
    log->clear();
    QCOMPARE(log->count(), 0);
}

void TestImageList::imageListRejectsUnreadableFiles()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString good = dir.filePath(QStringLiteral("good.png"));
    QImage image(24, 16, QImage::Format_RGB888);
    image.fill(Qt::red);
    QVERIFY(image.save(good));
    // A file with an image's name whose content is not an image.
    const QString corrupt = dir.filePath(QStringLiteral("corrupt.jpg"));
    {
        QFile file(corrupt);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write(QByteArray("\xff\xd8\xff\xe0 this is not really a JPEG"));
    }
    const QString text = dir.filePath(QStringLiteral("notes.txt"));
    {
        QFile file(text);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write("hello");
    }
    const QString missing = dir.filePath(QStringLiteral("missing.png"));

    ImageListWidget list;
    list.resize(260, 400);
    list.show();
    QVERIFY(QTest::qWaitForWindowExposed(&list));
    QSignalSpy rejected(&list, &ImageListWidget::imageRejected);
    QSignalSpy current(&list, &ImageListWidget::currentPathChanged);

    QCOMPARE(list.addPaths({corrupt, good, text, missing}), 2);
    // The text file and the missing one are turned away at once.
    QCOMPARE(rejected.count(), 2);
    QVERIFY(list.messageWidget()->isVisible());
    QTRY_VERIFY_WITH_TIMEOUT(!list.isLoading(), 30000);

    // The corrupt file is found out by decoding and taken out again.
    QCOMPARE(list.count(), 1);
    QCOMPARE(QFileInfo(list.pathAt(0)).fileName(), QStringLiteral("good.png"));
    QCOMPARE(rejected.count(), 3);
    QStringList names;
    for (const QList<QVariant>& args : std::as_const(rejected))
        names << QFileInfo(args.at(0).toString()).fileName();
    QVERIFY(names.contains(QStringLiteral("corrupt.jpg")));
    QVERIFY(names.contains(QStringLiteral("notes.txt")));
    QVERIFY(names.contains(QStringLiteral("missing.png")));

    // The banner is visible and names the corrupt file.
    QVERIFY(list.messageWidget()->isVisible());
    QVERIFY(list.messageWidget()->messages().join('\n').contains(QStringLiteral("corrupt.jpg")));
    // The corrupt file was selected first; its removal moved the selection on.
    QCOMPARE(QFileInfo(list.currentPath()).fileName(), QStringLiteral("good.png"));
    QCOMPARE(QFileInfo(current.last().at(0).toString()).fileName(), QStringLiteral("good.png"));
    QVERIFY(list.listWidget()->item(0)->text().contains(QStringLiteral("24 \u00d7 16")));
}

void TestImageList::imageListIgnoresDuplicatesAndExpandsFolders()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    QImage image(8, 8, QImage::Format_RGB888);
    image.fill(Qt::blue);
    QVERIFY(image.save(dir.filePath(QStringLiteral("b.png"))));
    QVERIFY(image.save(dir.filePath(QStringLiteral("a.png"))));
    QVERIFY(QDir(dir.path()).mkdir(QStringLiteral("sub")));
    QVERIFY(image.save(dir.filePath(QStringLiteral("sub/c.png"))));

    ImageListWidget list;
    QCOMPARE(list.addPaths({dir.path()}), 2); // subfolders are not searched
    QCOMPARE(QFileInfo(list.pathAt(0)).fileName(), QStringLiteral("a.png"));
    QCOMPARE(QFileInfo(list.pathAt(1)).fileName(), QStringLiteral("b.png"));
    QCOMPARE(list.currentRow(), 0);

    // The same file by another name is still the same file.
    list.setCurrentRow(0);
    QCOMPARE(list.addPaths({dir.filePath(QStringLiteral("sub/../b.png")), dir.path()}), 0);
    QCOMPARE(list.count(), 2);
    QCOMPARE(list.currentRow(), 1); // re-opening an image shows it

    QCOMPARE(list.addPaths({dir.filePath(QStringLiteral("sub"))}), 1);
    QCOMPARE(list.count(), 3);
    QCOMPARE(list.currentRow(), 2);
    QTRY_VERIFY_WITH_TIMEOUT(!list.isLoading(), 30000);
    QVERIFY(!list.messageWidget()->hasError());

    // With an outside banner, reports go there and the own one stays away.
    MessageWidget outside;
    list.setMessageWidget(&outside);
    QCOMPARE(list.messageWidget(), &outside);
    QCOMPARE(list.addPaths({dir.filePath(QStringLiteral("nothing-here.png"))}), 0);
    QCOMPARE(outside.messages().size(), 1);
    QVERIFY(outside.text().contains(QStringLiteral("nothing-here.png")));
}

// A folder with images whose names are not UTF-8 (Latin-1 names from an old
// camera or archive): Qt lists them under a mangled name that opens nothing, and
// Open Folder used to leave them out without a word. They are named in the
// banner with their bytes escaped, and the rest of the folder opens.
void TestImageList::folderNamesImagesWhoseNamesAreNotUtf8()
{
#ifdef Q_OS_WIN
    QSKIP("Windows file names are UTF-16");
#else
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    QImage image(8, 8, QImage::Format_RGB888);
    image.fill(Qt::red);
    QVERIFY(image.save(dir.filePath(QStringLiteral("good.png"))));
    QFile good(dir.filePath(QStringLiteral("good.png")));
    QVERIFY(good.open(QIODevice::ReadOnly));
    const QByteArray png = good.readAll();
    // "caf\xe9.png" (Latin-1 e acute) and "\xff\xfe.jpg", written byte-wise.
    for (const QByteArray& name : {QByteArray("caf\xe9.png"), QByteArray("\xff\xfe.JPG"),
                                   QByteArray("notes\xe9.txt")}) {
        const QByteArray path = QFile::encodeName(dir.path()) + '/' + name;
        const int fd = ::open(path.constData(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        QVERIFY(fd >= 0);
        QCOMPARE(::write(fd, png.constData(), size_t(png.size())), ssize_t(png.size()));
        ::close(fd);
    }

    ImageListWidget list;
    QSignalSpy rejected(&list, &ImageListWidget::imageRejected);
    QCOMPARE(list.addPaths({dir.path()}), 1); // the rest of the folder opens
    QCOMPARE(QFileInfo(list.pathAt(0)).fileName(), QStringLiteral("good.png"));
    QCOMPARE(rejected.count(), 1);
    const QString reason = rejected.first().at(1).toString();
    QVERIFY2(reason.contains(QLatin1String("caf\\xe9.png")), qPrintable(reason));
    QVERIFY2(reason.contains(QLatin1String("\\xff\\xfe.JPG")), qPrintable(reason));
    QVERIFY2(reason.contains(QLatin1String("2 image(s)")), qPrintable(reason));
    QVERIFY2(!reason.contains(QLatin1String("notes")), qPrintable(reason)); // not an image
    QVERIFY(list.messageWidget()->text().contains(QLatin1String("caf\\xe9.png")));
    QTRY_VERIFY_WITH_TIMEOUT(!list.isLoading(), 30000);
    QCOMPARE(list.count(), 1);
#endif
}

void TestImageList::bytesAreEscapedWhereTheyAreNotUtf8()
{
    QVERIFY(isWellFormedUtf8(QByteArray("plain.png")));
    QVERIFY(isWellFormedUtf8(QStringLiteral("caf\u00e9 \u03b8 \U0001F600").toUtf8()));
    QVERIFY(!isWellFormedUtf8(QByteArray("caf\xe9")));
    QVERIFY(!isWellFormedUtf8(QByteArray("\xc0\xaf")));         // overlong '/'
    QVERIFY(!isWellFormedUtf8(QByteArray("\xed\xa0\x80")));     // a surrogate
    QVERIFY(!isWellFormedUtf8(QByteArray("\xf4\x90\x80\x80"))); // above U+10FFFF
    QVERIFY(!isWellFormedUtf8(QByteArray("ab\xe2\x82")));        // cut off
    QCOMPARE(escapedBytes(QByteArray("caf\xe9.png")), QStringLiteral("caf\\xe9.png"));
    QCOMPARE(escapedBytes(QByteArray("\xce\xb8_\xff")), QStringLiteral("\u03b8_\\xff"));
}

QTEST_MAIN(TestImageList)
#include "tst_imagelist.moc"
