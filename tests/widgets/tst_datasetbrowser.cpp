// SPDX-License-Identifier: MIT
// The Dataset dock's list: rows are the split's items, thumbnails load lazily
// (only rows a view paints ask for one), the name filter and the sort by a
// per-image metric or a class's share keep the current image selected, and an
// unreadable file costs its thumbnail only.
#include "dataset/dataset.h"
#include "review/datasetbrowserwidget.h"
#include "testsupport.h"

#include <fstream>
#include <QComboBox>
#include <QLineEdit>
#include <QListView>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

using namespace primaps;

class TestDatasetBrowser : public QObject
{
    Q_OBJECT

    QTemporaryDir tmp;
    std::shared_ptr<const Dataset> dataset;

private slots:
    void initTestCase()
    {
        const QDir d(tmp.path());
        testing::writeDiscAndBoxDataset(tmp.path(), 40, 0, QStringLiteral("img%1"), 2);
        // One file that is not a picture at all.
        std::ofstream(d.filePath("images/img40.png").toStdString()) << "not a png";
        DatasetOptions o;
        o.root = tmp.path().toStdString();
        dataset = std::make_shared<const Dataset>(Dataset::open(o));
    }

    void thumbnailsOnlyForPaintedRows()
    {
        DatasetBrowserWidget browser;
        browser.resize(260, 300); // a few rows on screen
        browser.setDataset(dataset, "test");
        QCOMPARE(browser.model()->rowCount(), 41);
        QCOMPARE(browser.model()->pendingThumbnails(), 0); // nothing until painted
        browser.show();
        QVERIFY(QTest::qWaitForWindowExposed(&browser));
        browser.model()->waitForThumbnails();
        const int cached = browser.model()->cachedThumbnails();
        QVERIFY(cached > 0);
        QVERIFY2(cached < 20, qPrintable(QString::number(cached)));
        // The last row, scrolled to, gets one; the unreadable file gets none and no crash.
        browser.setCurrentIndex(40);
        QCoreApplication::processEvents();
        browser.model()->waitForThumbnails();
        QCOMPARE(browser.currentIndex(), 40);
        QVERIFY(browser.model()->cachedThumbnails() > cached);
        QCOMPARE(browser.model()->findRow("img07"), 7);
        QCOMPARE(browser.model()->findRow("images/img07.png"), 7);
        QCOMPARE(browser.model()->findRow("nope"), -1);
    }

    void filterAndSortKeepTheCurrentImage()
    {
        DatasetBrowserWidget browser;
        browser.setDataset(dataset, "test");
        QSignalSpy changed(&browser, &DatasetBrowserWidget::currentIndexChanged);
        browser.setCurrentIndex(13);
        QCOMPARE(browser.currentIndex(), 13);
        QCOMPARE(changed.count(), 1);

        browser.setNameFilter("img1");
        QCOMPARE(browser.visibleCount(), 10); // img10..img19
        QCOMPARE(browser.currentIndex(), 13);
        QCOMPARE(browser.proxy()->mapToSource(browser.view()->currentIndex()).row(), 13);
        browser.setNameFilter(QString());
        QCOMPARE(browser.visibleCount(), 41);

        // Metrics: accuracy falls with the index, mIoU rises; class 2's share is index % 5.
        std::vector<ImageListMetrics> metrics(41);
        for (int i = 0; i < 40; ++i) {
            metrics[std::size_t(i)].known = true;
            metrics[std::size_t(i)].accuracy = 100.0 - i;
            metrics[std::size_t(i)].meanIoU = i;
            metrics[std::size_t(i)].classShares = {0.5f, 0.2f, float(i % 5) / 10.0f};
        }
        browser.setMetrics(metrics);
        browser.setSortKey(DatasetImageFilterModel::SortKey::Accuracy);
        QCOMPARE(browser.datasetIndexAt(0), 39); // worst accuracy first
        QCOMPARE(browser.datasetIndexAt(39), 0);
        QCOMPARE(browser.datasetIndexAt(40), 40); // unknown metric last
        QCOMPARE(browser.currentIndex(), 13);
        QCOMPARE(browser.proxy()->mapToSource(browser.view()->currentIndex()).row(), 13);

        browser.setSortKey(DatasetImageFilterModel::SortKey::MeanIoU, -1, Qt::DescendingOrder);
        QCOMPARE(browser.datasetIndexAt(0), 39);
        QCOMPARE(browser.datasetIndexAt(40), 40); // unknown last in descending order too

        browser.setSortKey(DatasetImageFilterModel::SortKey::ClassShare, 2, Qt::DescendingOrder);
        QVERIFY(browser.classCombo()->isVisibleTo(&browser));
        for (int row = 0; row < 8; ++row)
            QCOMPARE(browser.datasetIndexAt(row) % 5, 4); // the largest share first
        QCOMPARE(browser.currentIndex(), 13);
        QCOMPARE(changed.count(), 1); // re-sorting never changed the image

        // Arrow-key neighbours follow the sorted order.
        const int row = browser.view()->currentIndex().row();
        browser.selectNext();
        QCOMPARE(browser.currentIndex(), browser.datasetIndexAt(row + 1));
        QCOMPARE(changed.count(), 2);
    }
};

QTEST_MAIN(TestDatasetBrowser)
#include "tst_datasetbrowser.moc"
