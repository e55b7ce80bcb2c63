// SPDX-License-Identifier: MIT
// File ▸ Import Corrections…: ImportCorrectionsDialog on a run fitted and
// exported with the `primaps` CLI; a Label Studio file with one known edit
// comes back, the dialog shows the change per class and per image, and the
// correction is in the run's store. The pseudo-label export dialog keeps its
// rows whole (θ_R with its underscore) once its progress and summary show, and
// a dialog that grows to its job's feedback stays on its screen.
#include "labels/corrections.h"
#include "review/importcorrectionsdialog.h"
#include "review/pseudolabelexportdialog.h"
#include "common/dialogrows.h"
#include "interchange/rle.h"
#include "testsupport.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QLabel>
#include <QProgressBar>
#include <QScreen>
#include <QSignalSpy>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QtTest>
#include <QVBoxLayout>

using nlohmann::json;

namespace {

// Contents that ask for more height than a screen has and need little.
class TallRows : public QWidget
{
public:
    using QWidget::QWidget;
    QSize sizeHint() const override { return {200, 3000}; }
    QSize minimumSizeHint() const override { return {200, 40}; }
};

} // namespace

class TestImportCorrections : public QObject
{
    Q_OBJECT

    QTemporaryDir tmp;
    QString run, out;

private slots:
    void initTestCase()
    {
        const QDir base(tmp.path());
        const QString ds = base.filePath("ds");
        primaps::testing::writeDiscAndBoxDataset(ds, 3, 7);
        run = base.filePath("run");
        out = base.filePath("export");
        const QStringList data{"--dataset", "folder", "--root", ds};
        auto cli = [](const QStringList& args) {
            return primaps::testing::runProgram(PRIMAPS_CLI, args);
        };
        const auto fit = cli(QStringList{"fit", "--out", run, "--epochs", "1", "--batch-size",
                                         "3", "--resolution", "64", "-q"} + data);
        QVERIFY2(fit.exitCode == 0, qPrintable(fit.err));
        const auto ex = cli(QStringList{"export", "--run", run, "--out", out, "--size",
                                        "prepared", "--format", "labelstudio", "-q"} + data);
        QVERIFY2(ex.exitCode == 0, qPrintable(ex.err));
    }

    void knownEditIsShownAndStored()
    {
        std::ifstream in(QDir(out).filePath("labelstudio_all.json").toStdString());
        json tasks = json::parse(in);
        // The annotator accepted every prediction and, in the first image, erased
        // a 5 x 4 block from every brush: those 20 pixels become "ignore".
        for (json& t : tasks)
            t["annotations"] = json::array({{{"result", t["predictions"][0]["result"]}}});
        json& first = tasks[0];
        const std::string id = first["data"]["primaps"]["item"].get<std::string>();
        const int w = first["predictions"][0]["result"][0]["original_width"].get<int>();
        const int h = first["predictions"][0]["result"][0]["original_height"].get<int>();
        cv::Mat block(h, w, CV_8UC1, cv::Scalar(0));
        block(cv::Rect(2, 3, 5, 4)).setTo(1);
        for (json& r : first["annotations"][0]["result"]) {
            cv::Mat m = primaps::interchange::brushRleToMask(
                r["value"]["rle"].get<std::vector<std::uint8_t>>(), h, w);
            m.setTo(0, block);
            r["value"]["rle"] = primaps::interchange::brushRleFromMask(m);
        }
        const QString file = QDir(tmp.path()).filePath("project-1-labelstudio.json");
        std::ofstream(file.toStdString()) << tasks.dump();

        primaps::ImportCorrectionsDialog dialog(run);
        dialog.setFile(file);
        QSignalSpy finished(&dialog, &primaps::ImportCorrectionsDialog::importFinished);
        QVERIFY(dialog.start());
        QVERIFY(finished.wait(60000));
        QCOMPARE(finished.last().at(0).toBool(), true);
        QCOMPARE(finished.last().at(1).toInt(), 1);
        QCOMPARE(dialog.report().changed, std::int64_t(20));
        QVERIFY2(dialog.summary().startsWith("20 of "), qPrintable(dialog.summary()));
        auto* images = dialog.findChildren<QTableWidget*>().at(1);
        QCOMPARE(images->rowCount(), 3);
        QCOMPARE(images->item(0, 0)->text(), QString::fromStdString(id)); // most changed first
        QCOMPARE(images->item(0, 1)->data(Qt::DisplayRole).toLongLong(), 20LL);
        auto* classes = dialog.findChildren<QTableWidget*>().at(0);
        QCOMPARE(classes->rowCount(), 3);
        const cv::Mat stored =
            primaps::CorrectionStore(primaps::CorrectionStore::runFolder(run.toStdString())).read(id);
        QCOMPARE(cv::countNonZero(stored == primaps::CorrectionIgnore), 20);
        // PRIMAPS_SCREENSHOT_DIR=DIR keeps a picture of the dialog with its report.
        if (qEnvironmentVariableIsSet("PRIMAPS_SCREENSHOT_DIR")) {
            dialog.show();
            QVERIFY(QTest::qWaitForWindowExposed(&dialog));
            QVERIFY(dialog.grab().save(
                QDir(qEnvironmentVariable("PRIMAPS_SCREENSHOT_DIR")).filePath("import-corrections.png")));
        }
    }

    // Export Pseudo-Label Dataset: the dialog's texts (θ_R with its underscore)
    // stay whole once the export runs and its progress shows.
    void exportDialogKeepsItsTextsWhileRunning()
    {
        primaps::PseudoLabelExportDialog dialog(run, primaps::DatasetOptions());
        dialog.setOutputFolder(QDir(tmp.path()).filePath("export-dialog"));
        dialog.setPrediction("r", false);
        dialog.show();
        QVERIFY(QTest::qWaitForWindowExposed(&dialog));
        const QString dir = qEnvironmentVariable("PRIMAPS_SCREENSHOT_DIR");
        if (!dir.isEmpty())
            dialog.grab().save(QDir(dir).filePath("export-before.png"));
        QSignalSpy finished(&dialog, &primaps::PseudoLabelExportDialog::exportFinished);
        QVERIFY(dialog.start());
        QCoreApplication::processEvents();
        // Nothing is squeezed below its height once the progress bar shows (the
        // dialog was sized without it, and its combo boxes lost 5 px, which cut
        // the underscore of "θ_R"): a combo box's text is whole at its size hint.
        const auto squeezed = [&] {
            QStringList found;
            for (const QComboBox* box : dialog.findChildren<QComboBox*>())
                if (box->height() < box->sizeHint().height())
                    found << QStringLiteral("'%1' %2 px high, needs %3")
                                 .arg(box->currentText())
                                 .arg(box->height())
                                 .arg(box->sizeHint().height());
            for (const QLabel* label : dialog.findChildren<QLabel*>())
                if (label->isVisible() && label->wordWrap() &&
                    label->height() < label->heightForWidth(label->width()))
                    found << QStringLiteral("'%1' %2 px high, needs %3")
                                 .arg(label->text().left(40))
                                 .arg(label->height())
                                 .arg(label->heightForWidth(label->width()));
            return found;
        };
        QVERIFY(dialog.findChild<QProgressBar*>()->isVisible());
        QTRY_VERIFY2(squeezed().isEmpty(), qPrintable(squeezed().join('\n')));
        QCOMPARE(dialog.findChild<QComboBox*>()->currentText(), QStringLiteral("\u03b8_R (trained)"));
        if (!dir.isEmpty())
            dialog.grab().save(QDir(dir).filePath("export-running.png"));
        QVERIFY(!finished.isEmpty() || finished.wait(120000));
        QVERIFY2(finished.first().at(0).toBool(), qPrintable(dialog.summary()));
        // The summary wraps onto more lines: still nothing squeezed.
        QTRY_VERIFY2(squeezed().isEmpty(), qPrintable(squeezed().join('\n')));
        if (!dir.isEmpty())
            dialog.grab().save(QDir(dir).filePath("export-done.png"));
    }

    // A dialog with job feedback grows to its contents only as far as its
    // screen's free area, and moves up so that its bottom (OK and Cancel) stays
    // on the screen: the old one grew to a screen's height wherever it stood,
    // its bottom half a screen below the edge at 1366x768. The status line
    // is taller than the screen here (the offscreen screen is 800x600).
    void grownDialogStaysOnTheScreen()
    {
        QDialog dialog;
        auto* layout = new QVBoxLayout(&dialog);
        // Rows that would like more height than any screen has and can do with
        // little (a list, a table): the dialog may grow, and the rows shrink.
        auto* rows = new TallRows(&dialog);
        layout->addWidget(rows);
        const primaps::JobFeedback feedback = primaps::addJobFeedback(layout, &dialog);
        layout->addWidget(new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel,
                                               &dialog));
        dialog.show();
        QVERIFY(QTest::qWaitForWindowExposed(&dialog));
        QVERIFY(dialog.screen());
        const QRect area = dialog.screen()->availableGeometry();
        // Small and low on the screen, as a dialog opened over the lower half of a
        // window.
        dialog.resize(dialog.width(), area.height() / 4);
        dialog.move(area.left() + 20, area.top() + area.height() / 2);
        QTRY_COMPARE(dialog.frameGeometry().top(), area.top() + area.height() / 2);
        const int before = dialog.height();
        QVERIFY(area.contains(dialog.frameGeometry()));
        feedback.progress->show(); // the job starts: its layout request grows the dialog
        feedback.status->setText(QStringLiteral("Exporting image 1 of 3\u2026"));
        QTRY_VERIFY(dialog.height() > before);
        QTest::qWait(50); // any further layout request handled
        const QString where = QStringLiteral("dialog %1x%2 at %3,%4, screen's area %5x%6 at %7,%8")
                                  .arg(dialog.frameGeometry().width())
                                  .arg(dialog.frameGeometry().height())
                                  .arg(dialog.frameGeometry().x())
                                  .arg(dialog.frameGeometry().y())
                                  .arg(area.width())
                                  .arg(area.height())
                                  .arg(area.x())
                                  .arg(area.y());
        QVERIFY2(area.contains(dialog.frameGeometry()), qPrintable(where));
        // Grown as far as the screen allows, not left small.
        QCOMPARE(dialog.frameGeometry().height(), area.height());
    }
};

QTEST_MAIN(TestImportCorrections)
#include "tst_importcorrections.moc"
