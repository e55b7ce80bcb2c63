// SPDX-License-Identifier: MIT
// Decompose ▸ Image limits…: the studio's pixel budget, edited in a dialog, kept in
// the user's settings and applied process-wide, so that an image beyond it is
// refused (or processed smaller) with a message that says where to raise it.
#include "common/imagelimitsdialog.h"
#include "image/imageio.h"
#include "support/error.h"

#include <opencv2/imgcodecs.hpp>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QPushButton>
#include <QSettings>
#include <QTemporaryDir>
#include <QtTest>

using namespace primaps;

class TestImageLimits : public QObject
{
    Q_OBJECT

    QTemporaryDir dir;

    QString imagePath(int width, int height)
    {
        const QString path = dir.filePath(QStringLiteral("%1x%2.png").arg(width).arg(height));
        cv::imwrite(path.toStdString(), cv::Mat(height, width, CV_8UC3, cv::Scalar(10, 20, 30)));
        return path;
    }

private slots:
    void initTestCase()
    {
        QVERIFY(dir.isValid());
        // The user's real settings stay untouched.
        QSettings::setDefaultFormat(QSettings::IniFormat);
        QSettings::setPath(QSettings::IniFormat, QSettings::UserScope, dir.filePath("config"));
        QCoreApplication::setOrganizationName(QStringLiteral("PriMaPsTest"));
        QCoreApplication::setApplicationName(QStringLiteral("tst_imagelimits"));
    }

    void init()
    {
        QSettings().clear();
        setPixelBudget(PixelBudget());
    }

    void nothingStoredGivesCoreDefaults()
    {
        const PixelBudget defaults;
        const PixelBudget stored = storedPixelBudget(QSettings());
        QCOMPARE(stored.maxPixels, defaults.maxPixels);
        QCOMPARE(stored.maxAspect, defaults.maxAspect);
        QCOMPARE(stored.maxProcessingPixels, defaults.maxProcessingPixels);
        QVERIFY(QString::fromStdString(stored.howToRaise).contains("Image limits"));
    }

    void dialogStoresAppliesAndIsReadBack()
    {
        ImageLimitsDialog dialog;
        auto boxes = dialog.findChildren<QDoubleSpinBox*>();
        QCOMPARE(boxes.size(), 3);
        // The fields open on the budget in force.
        QCOMPARE(dialog.budget().maxPixels, PixelBudget().maxPixels);
        PixelBudget chosen;
        chosen.maxPixels = 50'000;      // 0.05 MP
        chosen.maxAspect = 4.0;
        chosen.maxProcessingPixels = 200'000;
        dialog.setBudget(chosen);
        dialog.accept();

        const PixelBudget now = pixelBudget();
        QCOMPARE(now.maxPixels, std::int64_t(50'000));
        QCOMPARE(now.maxAspect, 4.0);
        QCOMPARE(now.maxProcessingPixels, std::int64_t(200'000));
        const PixelBudget stored = storedPixelBudget(QSettings());
        QCOMPARE(stored.maxPixels, now.maxPixels);
        QCOMPARE(stored.maxProcessingPixels, now.maxProcessingPixels);

        // A later start applies what was stored.
        setPixelBudget(PixelBudget());
        applyStoredPixelBudget();
        QCOMPARE(pixelBudget().maxPixels, std::int64_t(50'000));
    }

    void imageBeyondTheLimitIsRefusedNamingTheSetting()
    {
        PixelBudget small;
        small.maxPixels = 50'000;
        QSettings settings;
        storePixelBudget(settings, small);
        settings.sync();
        applyStoredPixelBudget();
        const QString big = imagePath(300, 300); // 90,000 pixels
        try {
            loadImageRgb8(big.toStdString());
            QFAIL("an image beyond the budget was decoded");
        } catch (const Error& e) {
            const QString message = QString::fromUtf8(e.what());
            QVERIFY2(message.contains("300x300"), qPrintable(message));
            QVERIFY2(message.contains("Image limits"), qPrintable(message));
        }
        // Raised in the dialog, the same file opens.
        ImageLimitsDialog dialog;
        PixelBudget raised = dialog.budget();
        raised.maxPixels = 100'000;
        dialog.setBudget(raised);
        dialog.accept();
        QCOMPARE(loadImageRgb8(big.toStdString()).cols, 300);
    }

    void restoreDefaultsResetsTheFieldsOnly()
    {
        PixelBudget chosen;
        chosen.maxPixels = 70'000;
        setPixelBudget(chosen);
        ImageLimitsDialog dialog;
        QCOMPARE(dialog.budget().maxPixels, std::int64_t(70'000));
        auto* buttons = dialog.findChild<QDialogButtonBox*>();
        QVERIFY(buttons);
        buttons->button(QDialogButtonBox::RestoreDefaults)->click();
        QCOMPARE(dialog.budget().maxPixels, PixelBudget().maxPixels);
        QCOMPARE(pixelBudget().maxPixels, std::int64_t(70'000)); // nothing applied yet
        dialog.reject();
        QCOMPARE(pixelBudget().maxPixels, std::int64_t(70'000));
    }

    void valuesEditedOutOfRangeFallBackToDefaults()
    {
        QSettings settings;
        settings.setValue("imageLimits/maxProcessingPixels", 10); // below 64 x 64
        settings.sync();
        applyStoredPixelBudget();
        QCOMPARE(pixelBudget().maxProcessingPixels, PixelBudget().maxProcessingPixels);
        QVERIFY(QString::fromStdString(pixelBudget().howToRaise).contains("Image limits"));
    }
};

QTEST_MAIN(TestImageLimits)
#include "tst_imagelimits.moc"
