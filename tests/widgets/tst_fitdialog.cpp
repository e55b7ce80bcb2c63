// SPDX-License-Identifier: MIT
// Fit ▸ New Fit…: every text of the dialog is readable at the size it opens
// with (placeholders, special values, labels, check boxes, the run note), the
// dialog fits a 1366x768 screen, and the PCA images follow the data on every
// path a dataset reaches the dialog: typed, browsed, remembered, a split list,
// a run folder to resume. The dataset is looked up once its fields rest, off
// the GUI thread, and OK pressed before it answers waits for it; a run folder
// with someone else's files, and a resolution below two of the backbone's
// patches, are refused on OK; the protocol and the hold-out reach the fit's
// settings.
//
// PRIMAPS_TEST_GRAB_DIR=DIR saves the dialog as DIR/fitdialog-<case>.png, to
// look at it (e.g. under xvfb-run with QT_QPA_PLATFORM=xcb).

#include "dataset/dataset.h"
#include "fit/fitdialog.h"
#include "testsupport.h"

#include <QAbstractButton>
#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QDir>
#include <QFile>
#include <QGroupBox>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStandardPaths>
#include <QStyle>
#include <QStyleOptionFrame>
#include <QTemporaryDir>
#include <QTest>

using namespace primaps;

namespace {

// The width the text of a line edit (or a spin box's) has inside its frame, as
// QLineEdit::paintEvent() lays it out: the style's contents rect of the frame,
// less the text margins and QLineEdit's 2-pixel horizontal margin on each side.
int textRoom(const QLineEdit* edit)
{
    QStyleOptionFrame panel;
    panel.initFrom(edit);
    panel.rect = edit->contentsRect();
    panel.lineWidth =
        edit->hasFrame() ? edit->style()->pixelMetric(QStyle::PM_DefaultFrameWidth, &panel, edit) : 0;
    panel.midLineWidth = 0;
    panel.state |= QStyle::State_Sunken;
    const QRect contents = edit->style()->subElementRect(QStyle::SE_LineEditContents, &panel, edit);
    const QMargins m = edit->textMargins();
    return contents.width() - m.left() - m.right() - 4;
}

// Every place of the dialog where a text can be cut off, with what is cut.
QStringList cutOffTexts(const QDialog& dialog)
{
    QStringList problems;
    for (const QLineEdit* edit : dialog.findChildren<QLineEdit*>()) {
        if (!edit->isVisibleTo(&dialog))
            continue;
        const QFontMetrics fm(edit->font());
        const QString placeholder = edit->placeholderText();
        // A placeholder ending at the frame reads as cut off: room for one more character.
        if (!placeholder.isEmpty() && edit->text().isEmpty() &&
            fm.horizontalAdvance(placeholder) + fm.averageCharWidth() > textRoom(edit))
            problems << QStringLiteral("placeholder '%1' (%2 px in %3)")
                            .arg(placeholder)
                            .arg(fm.horizontalAdvance(placeholder))
                            .arg(textRoom(edit));
    }
    for (const QAbstractSpinBox* box : dialog.findChildren<QAbstractSpinBox*>()) {
        if (!box->isVisibleTo(&dialog))
            continue;
        // The longest of the texts the box shows: its special value and its extremes.
        const QLineEdit* edit = box->findChild<QLineEdit*>();
        const QFontMetrics fm(box->font());
        QStringList shown{box->specialValueText(), edit->text()};
        if (const auto* spin = qobject_cast<const QSpinBox*>(box))
            shown << spin->prefix() + QLocale().toString(spin->maximum()) + spin->suffix();
        for (const QString& text : shown)
            if (fm.horizontalAdvance(text) > textRoom(edit))
                problems << QStringLiteral("spin box text '%1' (%2 px in %3)")
                                .arg(text)
                                .arg(fm.horizontalAdvance(text))
                                .arg(textRoom(edit));
    }
    for (const QComboBox* combo : dialog.findChildren<QComboBox*>()) {
        if (!combo->isVisibleTo(&dialog))
            continue;
        const QFontMetrics fm(combo->font());
        // Frame, margins and the arrow take about 30 px of a combo box.
        const int room = combo->width() - 30;
        for (int i = 0; i < combo->count(); ++i)
            if (fm.horizontalAdvance(combo->itemText(i)) > room)
                problems << QStringLiteral("item '%1' (%2 px in %3)")
                                .arg(combo->itemText(i))
                                .arg(fm.horizontalAdvance(combo->itemText(i)))
                                .arg(room);
        if (combo->isEditable() && combo->lineEdit()->text().isEmpty()) {
            const QString placeholder = combo->lineEdit()->placeholderText();
            if (fm.horizontalAdvance(placeholder) > textRoom(combo->lineEdit()))
                problems << QStringLiteral("placeholder '%1'").arg(placeholder);
        }
    }
    for (const QLabel* label : dialog.findChildren<QLabel*>()) {
        if (!label->isVisibleTo(&dialog) || label->text().isEmpty())
            continue;
        if (label->wordWrap()) {
            const int needed = label->heightForWidth(label->contentsRect().width());
            if (needed > label->contentsRect().height())
                problems << QStringLiteral("wrapped label '%1' (%2 px high in %3)")
                                .arg(label->text())
                                .arg(needed)
                                .arg(label->contentsRect().height());
        } else if (label->sizeHint().width() > label->width()) {
            problems << QStringLiteral("label '%1' (%2 px in %3)")
                            .arg(label->text())
                            .arg(label->sizeHint().width())
                            .arg(label->width());
        }
    }
    for (const QAbstractButton* button : dialog.findChildren<QAbstractButton*>()) {
        if (!button->isVisibleTo(&dialog) || button->text().isEmpty())
            continue;
        if (button->sizeHint().width() > button->width())
            problems << QStringLiteral("button '%1' (%2 px in %3)")
                            .arg(button->text())
                            .arg(button->sizeHint().width())
                            .arg(button->width());
    }
    for (const QGroupBox* group : dialog.findChildren<QGroupBox*>())
        if (group->isVisibleTo(&dialog) && group->minimumSizeHint().width() > group->width())
            problems << QStringLiteral("group '%1'").arg(group->title());
    return problems;
}

void grabIfAsked(QDialog& dialog, const QString& name)
{
    const QString dir = qEnvironmentVariable("PRIMAPS_TEST_GRAB_DIR");
    if (!dir.isEmpty())
        dialog.grab().save(QDir(dir).filePath(QStringLiteral("fitdialog-%1.png").arg(name)));
}

// How long a dataset lookup (the typing pause and a listing on a worker that
// runs below the GUI thread's priority) may take on a loaded machine.
constexpr int kLookupTimeoutMs = 10000;

// The dataset lookup has answered (the fields rested and the listing is done).
bool settled(const FitDialog& dialog)
{
    return QTest::qWaitFor([&] { return !dialog.isLookingUp(); }, kLookupTimeoutMs);
}

// What cutOffTexts() finds once the layouts have settled. A note that wraps onto
// more lines takes more than one pass of the event loop (a layout request for
// each level of nesting), and settled() returns in the pass that shows the
// lookup's answer, which may be the first pass after the note changed.
QStringList cutOffOnceLaidOut(const QDialog& dialog)
{
    if (QTest::qWaitFor([&] { return cutOffTexts(dialog).isEmpty(); }, 5000))
        return {};
    return cutOffTexts(dialog);
}

void showAndSettle(FitDialog& dialog)
{
    dialog.show();
    QVERIFY(QTest::qWaitForWindowExposed(&dialog));
    QVERIFY(settled(dialog));
    QCoreApplication::processEvents();
}

// Shows the dialog, types a run folder and a root and presses OK before the
// root's lookup has answered: OK waits.
void pressOkBeforeTheLookup(FitDialog& dialog, const QString& run, const QString& root)
{
    showAndSettle(dialog);
    dialog.runEdit()->setText(run);
    dialog.rootEdit()->setText(root);
    dialog.accept();
    QVERIFY(dialog.isAcceptPending());
}

} // namespace

class TestFitDialog : public QObject
{
    Q_OBJECT

    QTemporaryDir tmp;
    QString small; // 4 images
    QString large; // 12 images, split lists train (9) and val (3)

private slots:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true);
        QSettings().remove(QStringLiteral("fit"));
        QVERIFY(tmp.isValid());
        small = tmp.filePath("small");
        testing::writeDiscAndBoxDataset(small, 4, 1, QStringLiteral("img%1"), 2);
        large = tmp.filePath("large");
        testing::writeDiscAndBoxDataset(large, 12, 1, QStringLiteral("img%1"), 2);
        QFile train(large + "/train.txt"), val(large + "/val.txt");
        QVERIFY(train.open(QIODevice::WriteOnly) && val.open(QIODevice::WriteOnly));
        for (int i = 0; i < 12; ++i)
            (i < 9 ? train : val)
                .write(QStringLiteral("img%1\n").arg(i, 2, 10, QLatin1Char('0')).toUtf8());
    }

    void cleanupTestCase() { QSettings().remove(QStringLiteral("fit")); }

    // At the size it opens with, nothing is cut off; the whole dialog fits a
    // 1366x768 screen (with room for a panel and the title bar).
    void everyTextIsReadable()
    {
        FitDialog dialog;
        showAndSettle(dialog);
        QVERIFY2(dialog.width() <= 1366 && dialog.height() <= 768 - 80,
                 qPrintable(QStringLiteral("%1x%2").arg(dialog.width()).arg(dialog.height())));
        const QStringList problems = cutOffTexts(dialog);
        grabIfAsked(dialog, QStringLiteral("new"));
        QVERIFY2(problems.isEmpty(), qPrintable(problems.join(QStringLiteral("\n"))));

        // With a Cityscapes layout, an existing run folder and its long note, too.
        dialog.rootEdit()->setText(large);
        emit dialog.rootEdit()->editingFinished();
        // A folder left by a fit stopped while caching: only its cache.
        const QString cached = tmp.filePath(QStringLiteral("cached-run"));
        QVERIFY(QDir().mkpath(cached + QStringLiteral("/cache")));
        dialog.runEdit()->setText(cached);
        emit dialog.runEdit()->editingFinished();
        QVERIFY(dialog.runFolderNote().contains(QLatin1String("holds no fit")));
        QVERIFY(settled(dialog));
        const QStringList filled = cutOffOnceLaidOut(dialog);
        grabIfAsked(dialog, QStringLiteral("filled"));
        QVERIFY2(filled.isEmpty(), qPrintable(filled.join(QStringLiteral("\n"))));

        // The guard's refusal of a folder with other files, the paper's protocol
        // and a hold-out: their notes are whole too.
        dialog.runEdit()->setText(tmp.path());
        emit dialog.runEdit()->editingFinished();
        QVERIFY(!dialog.runFolderProblem().isEmpty());
        dialog.protocolBox()->setCurrentIndex(1);
        dialog.holdoutBox()->setValue(0.2);
        QVERIFY(settled(dialog));
        const QStringList refused = cutOffOnceLaidOut(dialog);
        grabIfAsked(dialog, QStringLiteral("refused"));
        QVERIFY2(refused.isEmpty(), qPrintable(refused.join(QStringLiteral("\n"))));
        QVERIFY2(dialog.height() <= 768 - 80, qPrintable(QString::number(dialog.height())));
    }

    // The check above finds a cut-off text: a placeholder wider than its field.
    void theCheckFindsACutOffText()
    {
        FitDialog dialog;
        showAndSettle(dialog);
        dialog.rootEdit()->setPlaceholderText(QString(200, QLatin1Char('x')));
        QVERIFY(!cutOffTexts(dialog).isEmpty());
    }

    // A folder typed into the root field counts even when the focus never left it.
    void typedRootCapsThePcaImages()
    {
        FitDialog dialog;
        QVERIFY(EmParams().pcaImages > 12);
        dialog.rootEdit()->setText(small);
        QVERIFY(settled(dialog));
        QCOMPARE(dialog.settings().em.pcaImages, 4);
        QVERIFY(dialog.pcaImagesBox()->toolTip().contains(QLatin1String("has 4")));
    }

    // A root typed key by key is not listed per keystroke on the GUI thread (the
    // old dialog listed ROOT/images and stat'ed ROOT/train.txt twice for every
    // character): nothing changes while the typing goes on, and one lookup
    // answers once the field rests, off the GUI thread. A newer request wins
    // over an older one still running.
    void datasetIsLookedUpOnceTheFieldsRest()
    {
        FitDialog dialog;
        showAndSettle(dialog);
        const int reference = EmParams().pcaImages;
        QSignalSpy answers(&dialog, &FitDialog::datasetLookedUp);
        dialog.rootEdit()->setFocus();
        QTest::keyClicks(dialog.rootEdit(), small);
        QCOMPARE(dialog.rootEdit()->text(), small);
        // Typed, not yet looked up: no listing ran on the GUI thread.
        QCOMPARE(dialog.settings().em.pcaImages, reference);
        QVERIFY(dialog.isLookingUp());
        QCOMPARE(answers.count(), 0);
        QVERIFY(settled(dialog));
        QCOMPARE(answers.count(), 1);
        QCOMPARE(dialog.settings().em.pcaImages, 4);
        QCOMPARE(dialog.splitBox()->lineEdit()->placeholderText(), QStringLiteral("all images"));

        // A split typed key by key: one more lookup, the list's 3 images.
        dialog.rootEdit()->setText(large);
        QVERIFY(settled(dialog));
        QVERIFY(dialog.splitBox()->lineEdit()->placeholderText().contains(
            QLatin1String("train.txt")));
        answers.clear();
        dialog.splitBox()->lineEdit()->setFocus();
        QTest::keyClicks(dialog.splitBox()->lineEdit(), QStringLiteral("val"));
        QVERIFY(settled(dialog));
        QCOMPARE(answers.count(), 1);
        QCOMPARE(dialog.settings().em.pcaImages, 3);

        // The newest request wins: the large folder's lookup may still run when
        // the small one is asked for; its answer is not shown.
        dialog.splitBox()->setCurrentText(QString());
        for (int round = 0; round < 5; ++round) {
            dialog.rootEdit()->setText(large);
            QTest::qWait(FitDialog::kLookupDelayMs + 5 * round);
            dialog.rootEdit()->setText(small);
            QVERIFY(settled(dialog));
            QCOMPARE(dialog.settings().em.pcaImages, 4);
            QCOMPARE(dialog.splitBox()->lineEdit()->placeholderText(),
                     QStringLiteral("all images"));
        }
    }

    // OK on a run folder that holds someone else's files keeps the dialog open
    // and names the files under the folder field (core's requireFitRunFolder,
    // which the fit ran only after Start before); the emptied folder is taken.
    void runFolderWithOtherFilesIsRefusedOnOk()
    {
        FitDialog dialog;
        showAndSettle(dialog);
        dialog.rootEdit()->setText(small);
        const QString run = tmp.filePath(QStringLiteral("user-folder"));
        QVERIFY(QDir().mkpath(run));
        QFile notes(run + QStringLiteral("/notes.txt"));
        QVERIFY(notes.open(QIODevice::WriteOnly));
        notes.close();
        dialog.runEdit()->setText(run); // typed; the focus never left the field
        dialog.accept();
        // OK waits for the root's lookup (okWaitsForTheDatasetLookup), then refuses.
        QTRY_VERIFY_WITH_TIMEOUT(!dialog.isAcceptPending(), kLookupTimeoutMs);
        QVERIFY(dialog.isVisible());
        QCOMPARE(dialog.result(), int(QDialog::Rejected));
        QVERIFY2(dialog.runFolderProblem().contains(QLatin1String("notes.txt")),
                 qPrintable(dialog.runFolderProblem()));
        QVERIFY(dialog.runNoteLabel()->isVisible());
        QVERIFY2(dialog.runNoteLabel()->text().contains(QLatin1String("notes.txt")),
                 qPrintable(dialog.runNoteLabel()->text()));
        QVERIFY(dialog.runEdit()->hasFocus() || !QApplication::focusWidget());
        // Whole once the nested layouts have settled.
        QTRY_VERIFY2(cutOffTexts(dialog).isEmpty(), qPrintable(cutOffTexts(dialog).join('\n')));
        grabIfAsked(dialog, QStringLiteral("runrefused"));

        QVERIFY(QFile::remove(run + QStringLiteral("/notes.txt")));
        dialog.accept();
        QCOMPARE(dialog.result(), int(QDialog::Accepted));
        QVERIFY(dialog.runFolderProblem().isEmpty());
    }

    // OK pressed within the typing pause (kLookupDelayMs) of a root does not
    // accept the values the lookup has yet to set (the old dialog started the fit
    // with the uncapped PCA images and no validation): the lookup starts at once,
    // OK waits disabled ("Checking the dataset…"), and the answer accepts.
    // Editing a field meanwhile, or Cancel, ends the wait without accepting.
    void okWaitsForTheDatasetLookup()
    {
        FitDialog dialog;
        showAndSettle(dialog);
        QPushButton* ok = dialog.buttonBox()->button(QDialogButtonBox::Ok);
        QSignalSpy accepted(&dialog, &QDialog::accepted);
        dialog.runEdit()->setText(tmp.filePath(QStringLiteral("ok-waits")));
        dialog.rootEdit()->setText(small);
        emit dialog.rootEdit()->editingFinished(); // a folder with labels: validate on it
        QVERIFY(dialog.isLookingUp());
        QTest::mouseClick(ok, Qt::LeftButton);
        QVERIFY2(accepted.isEmpty(), "accepted before the dataset was looked up");
        QVERIFY(dialog.isAcceptPending());
        QVERIFY(!ok->isEnabled());
        QVERIFY2(ok->text().contains(QLatin1String("Checking")), qPrintable(ok->text()));
        QTRY_COMPARE_WITH_TIMEOUT(accepted.count(), 1, kLookupTimeoutMs);
        QCOMPARE(dialog.result(), int(QDialog::Accepted));
        QCOMPARE(dialog.settings().em.pcaImages, 4);
        QCOMPARE(dialog.settings().validationSplit, std::string("all"));
        QVERIFY(ok->isEnabled());
        QCOMPARE(ok->text(), QStringLiteral("Start Fit"));

        // Another folder typed while OK waits: the wait ends, nothing is accepted.
        FitDialog edited;
        QSignalSpy editedAccepted(&edited, &QDialog::accepted);
        pressOkBeforeTheLookup(edited, tmp.filePath(QStringLiteral("ok-edited")), small);
        edited.rootEdit()->setText(large);
        QVERIFY(!edited.isAcceptPending());
        QVERIFY(edited.buttonBox()->button(QDialogButtonBox::Ok)->isEnabled());
        QVERIFY(settled(edited));
        QTest::qWait(50);
        QVERIFY(editedAccepted.isEmpty());
        QCOMPARE(edited.settings().em.pcaImages, 9); // train.txt's images
        edited.accept(); // answered: accepted at once
        QCOMPARE(editedAccepted.count(), 1);

        // Another field (the run folder, half retyped) changed while OK waits:
        // the answer hands OK back, with Enter on it, instead of accepting.
        FitDialog retyped;
        QSignalSpy retypedAccepted(&retyped, &QDialog::accepted);
        pressOkBeforeTheLookup(retyped, tmp.filePath(QStringLiteral("ok-retyped")), small);
        retyped.runEdit()->setText(tmp.filePath(QStringLiteral("ok-ret")));
        QTRY_VERIFY_WITH_TIMEOUT(!retyped.isAcceptPending(), kLookupTimeoutMs);
        QVERIFY(settled(retyped));
        QTest::qWait(50);
        QVERIFY2(retypedAccepted.isEmpty(), "accepted a run folder typed while OK waited");
        QPushButton* retypedOk = retyped.buttonBox()->button(QDialogButtonBox::Ok);
        QVERIFY(retypedOk->isEnabled() && retypedOk->isDefault());
        retyped.accept(); // the user presses OK again: accepted with what they typed
        QCOMPARE(retypedAccepted.count(), 1);
        QCOMPARE(QString::fromStdString(retyped.settings().runDir),
                 tmp.filePath(QStringLiteral("ok-ret")));

        // Cancel while OK waits: the answer accepts nothing.
        FitDialog cancelled;
        QSignalSpy cancelledAccepted(&cancelled, &QDialog::accepted);
        pressOkBeforeTheLookup(cancelled, tmp.filePath(QStringLiteral("ok-cancelled")), large);
        cancelled.reject();
        QVERIFY(!cancelled.isAcceptPending());
        QVERIFY(settled(cancelled));
        QTest::qWait(50);
        QVERIFY(cancelledAccepted.isEmpty());
        QCOMPARE(cancelled.result(), int(QDialog::Rejected));
    }

    // A resolution below two patches of the backbone (16 pixels for the /8
    // filter bank; core's minimumResolution(), which the fit refused only after
    // loading the backbone) is named under the field and refused on OK; 0, the
    // backbone's default, and the minimum itself are taken. The rule follows the
    // backbone chosen: 20 is enough for /8, not for a /14 ViT (28).
    void resolutionBelowTwoPatchesIsRefused()
    {
        FitDialog dialog;
        showAndSettle(dialog);
        dialog.rootEdit()->setText(small);
        dialog.runEdit()->setText(tmp.filePath(QStringLiteral("resolution-run")));
        QVERIFY(settled(dialog));
        QCOMPARE(dialog.backboneBox()->currentText(), QStringLiteral("filterbank"));
        dialog.resolutionBox()->setValue(8);
        dialog.accept();
        QVERIFY2(dialog.result() != QDialog::Accepted, "resolution 8 accepted for a /8 backbone");
        QVERIFY(dialog.isVisible());
        QVERIFY(dialog.resolutionNote()->isVisible());
        QVERIFY2(dialog.resolutionNote()->text().contains(QLatin1String("at least 16 pixels")),
                 qPrintable(dialog.resolutionNote()->text()));
        QCOMPARE(dialog.resolutionNote()->text(), dialog.resolutionProblem());
        QVERIFY(dialog.resolutionBox()->hasFocus() || !QApplication::focusWidget());
        QTRY_VERIFY2(cutOffTexts(dialog).isEmpty(), qPrintable(cutOffTexts(dialog).join('\n')));
        grabIfAsked(dialog, QStringLiteral("resolution"));
        dialog.resolutionBox()->setValue(15);
        QVERIFY(!dialog.resolutionProblem().isEmpty());
        dialog.resolutionBox()->setValue(0); // the backbone's default
        QVERIFY(dialog.resolutionProblem().isEmpty());
        QVERIFY(!dialog.resolutionNote()->isVisible());
        dialog.resolutionBox()->setValue(20);
        QVERIFY(dialog.resolutionProblem().isEmpty());

        const int vit14 = dialog.backboneBox()->findText(QStringLiteral("dinov2_vits14"));
        QVERIFY(vit14 >= 0); // the catalogue is built in when no file is installed
        dialog.backboneBox()->setCurrentIndex(vit14);
        QVERIFY(dialog.resolutionNote()->isVisible());
        QVERIFY2(dialog.resolutionProblem().contains(QLatin1String("at least 28 pixels")),
                 qPrintable(dialog.resolutionProblem()));
        dialog.backboneBox()->setCurrentIndex(0);
        QVERIFY(!dialog.resolutionNote()->isVisible());
        dialog.resolutionBox()->setValue(16);
        dialog.accept();
        QCOMPARE(dialog.result(), int(QDialog::Accepted));
        QCOMPARE(dialog.settings().resolution, 16);
    }

    // The protocol (robust by default, each explained in a line) and the folder
    // hold-out (`primaps fit --protocol`, `--holdout F`) reach the fit's settings;
    // the hold-out is disabled, and says why, for the benchmark layouts.
    void protocolAndHoldoutReachTheFit()
    {
        FitDialog dialog;
        showAndSettle(dialog);
        QCOMPARE(dialog.settings().em.protocol, EmProtocol::Robust);
        QCOMPARE(dialog.settings().em.learningRate, defaultLearningRate(EmProtocol::Robust));
        const QString robustNote = dialog.protocolNote()->text();
        QVERIFY(!robustNote.isEmpty());
        dialog.protocolBox()->setCurrentIndex(1);
        QCOMPARE(dialog.settings().em.protocol, EmProtocol::Paper);
        QCOMPARE(dialog.settings().em.learningRate, defaultLearningRate(EmProtocol::Paper));
        QCOMPARE(dialog.settings().em.whitenRidge, 0.0f);
        QVERIFY(dialog.protocolNote()->text() != robustNote);
        dialog.protocolBox()->setCurrentIndex(0);
        QCOMPARE(dialog.settings().em.learningRate, defaultLearningRate(EmProtocol::Robust));

        dialog.rootEdit()->setText(large);
        emit dialog.rootEdit()->editingFinished();
        dialog.runEdit()->setText(tmp.filePath(QStringLiteral("holdout-new")));
        QVERIFY(dialog.holdoutBox()->isEnabled());
        QCOMPARE(dialog.datasetOptions().holdout, 0.0);
        dialog.holdoutBox()->setValue(0.25);
        QVERIFY(settled(dialog));
        DatasetOptions expected;
        expected.root = large.toStdString();
        expected.split = "train";
        expected.holdout = 0.25;
        QCOMPARE(dialog.datasetOptions().holdout, 0.25);
        QCOMPARE(dialog.datasetOptions().split, std::string("train")); // the hold-out's rest
        QCOMPARE(dialog.settings().em.pcaImages, int(Dataset::open(expected).size()));
        QVERIFY(dialog.splitBox()->lineEdit()->placeholderText().contains(QLatin1String("hold-out")));
        QCOMPARE(dialog.settings().validationSplit, std::string("val"));
        QVERIFY2(dialog.validate().isEmpty(), qPrintable(dialog.validate()));
        dialog.splitBox()->setCurrentText(QStringLiteral("all"));
        QVERIFY(dialog.validate().contains(QLatin1String("'train'")));
        dialog.splitBox()->setCurrentText(QString());

        dialog.layoutBox()->setCurrentIndex(1); // Cityscapes has its own splits
        QVERIFY(!dialog.holdoutBox()->isEnabled());
        QCOMPARE(dialog.datasetOptions().holdout, 0.0);
        QVERIFY(dialog.holdoutBox()->toolTip().contains(QLatin1String("Folder datasets only")));

        // A run's protocol comes back with its settings.
        DatasetOptions data;
        data.kind = DatasetKind::Folder;
        data.root = small.toStdString();
        FitRunSettings s;
        s.em.protocol = EmProtocol::Paper;
        dialog.setRequest(data, s);
        QCOMPARE(dialog.settings().em.protocol, EmProtocol::Paper);
        QVERIFY(dialog.holdoutBox()->isEnabled());
    }

    // The cap follows the folder: a larger folder raises it again, up to the
    // default; a value the user chose is kept as long as the data allows it.
    void capFollowsTheFolder()
    {
        FitDialog dialog;
        const int reference = EmParams().pcaImages;
        dialog.rootEdit()->setText(small);
        QVERIFY(settled(dialog));
        QCOMPARE(dialog.settings().em.pcaImages, 4);
        dialog.rootEdit()->setText(large); // train.txt lists 9 of its 12 images
        QVERIFY(settled(dialog));
        QCOMPARE(dialog.settings().em.pcaImages, 9);
        dialog.rootEdit()->setText(tmp.filePath("nowhere"));
        QVERIFY(settled(dialog));
        QCOMPARE(dialog.settings().em.pcaImages, reference);

        dialog.rootEdit()->setText(large);
        dialog.pcaImagesBox()->setValue(7); // the user's choice
        dialog.rootEdit()->setText(small);
        QVERIFY(settled(dialog));
        QCOMPARE(dialog.settings().em.pcaImages, 4);
        dialog.rootEdit()->setText(large);
        QVERIFY(settled(dialog));
        QCOMPARE(dialog.settings().em.pcaImages, 7);
    }

    // A split list limits the images to its lines.
    void splitListCapsThePcaImages()
    {
        FitDialog dialog;
        dialog.rootEdit()->setText(large);
        QVERIFY(settled(dialog));
        QCOMPARE(dialog.settings().em.pcaImages, 9); // train.txt by default
        QComboBox* split = dialog.splitBox();
        QVERIFY(split->isEditable());
        split->setCurrentText(QStringLiteral("all"));
        QVERIFY(settled(dialog));
        QCOMPARE(dialog.settings().em.pcaImages, 12);
        split->setCurrentText(QStringLiteral("val"));
        QVERIFY(settled(dialog));
        QCOMPARE(dialog.settings().em.pcaImages, 3);
        split->setCurrentText(QStringLiteral("train"));
        QVERIFY(settled(dialog));
        QCOMPARE(dialog.settings().em.pcaImages, 9);
    }

    // An empty Split field is the split `primaps fit` reads (core's defaultSplit):
    // a folder's train.txt when it lists one, else every image; the field's hint
    // says which. Validation defaults to the folder's val.txt the same way.
    void emptySplitIsTheFoldersTrainList()
    {
        FitDialog dialog;
        showAndSettle(dialog);
        QComboBox* split = dialog.splitBox();
        dialog.rootEdit()->setText(large);
        emit dialog.rootEdit()->editingFinished();
        QVERIFY(settled(dialog));
        QVERIFY(split->currentText().isEmpty());
        QCOMPARE(dialog.datasetOptions().split, std::string("train"));
        QVERIFY2(split->lineEdit()->placeholderText().contains(QLatin1String("train.txt")),
                 qPrintable(split->lineEdit()->placeholderText()));
        QCOMPARE(dialog.settings().validationSplit, std::string("val"));
        const QStringList listed = cutOffOnceLaidOut(dialog);
        grabIfAsked(dialog, QStringLiteral("listed"));
        QVERIFY2(listed.isEmpty(), qPrintable(listed.join('\n')));

        dialog.rootEdit()->setText(small); // no lists
        emit dialog.rootEdit()->editingFinished();
        QVERIFY(settled(dialog));
        QCOMPARE(dialog.datasetOptions().split, std::string());
        QCOMPARE(split->lineEdit()->placeholderText(), QStringLiteral("all images"));
        QCOMPARE(dialog.settings().validationSplit, std::string("all"));

        // Explicitly every image, lists or not.
        dialog.rootEdit()->setText(large);
        split->setCurrentText(QStringLiteral("all"));
        QCOMPARE(dialog.datasetOptions().split, std::string("all"));
    }

    // A run folder to resume keeps the PCA images it was fitted with when its
    // dataset has them; the cap applies to a request that asks for more.
    void requestIsCappedByItsDataset()
    {
        FitDialog dialog;
        DatasetOptions data;
        data.kind = DatasetKind::Folder;
        data.root = small.toStdString();
        FitRunSettings s;
        s.em.pcaImages = 3;
        dialog.setRequest(data, s);
        QVERIFY(settled(dialog));
        QCOMPARE(dialog.settings().em.pcaImages, 3);
        s.em.pcaImages = 50;
        dialog.setRequest(data, s);
        QVERIFY(settled(dialog));
        QCOMPARE(dialog.settings().em.pcaImages, 4);

        // A run fitted with a hold-out: its train split is the images not held out,
        // without a list file, and the dialog neither loses the fraction nor asks
        // for train.txt.
        data.root = large.toStdString();
        data.split = "train";
        data.holdout = 0.25;
        DatasetOptions reference = data;
        const int trainImages = int(Dataset::open(reference).size());
        QVERIFY(trainImages > 0 && trainImages < 12);
        dialog.setRequest(data, s);
        dialog.runEdit()->setText(tmp.filePath("holdout-run"));
        QVERIFY(settled(dialog));
        QCOMPARE(dialog.datasetOptions().holdout, 0.25);
        QCOMPARE(dialog.settings().em.pcaImages, trainImages);
        QVERIFY2(dialog.validate().isEmpty(), qPrintable(dialog.validate()));
    }

    // The dialog fits a 1366x768 screen (less a title bar and a panel) as it opens.
    void fitsASmallScreen()
    {
        FitDialog dialog;
        const QSize hint = dialog.sizeHint();
        QVERIFY2(hint.width() <= 1366 && hint.height() <= 700,
                 qPrintable(QStringLiteral("size hint %1x%2").arg(hint.width()).arg(hint.height())));
    }

    // The Weights field's placeholder is whole at the size the dialog opens with on
    // a 1366x768 screen (its hint, capped by the screen less a title bar and a
    // panel), with room for one more character: the old "optional: the backbone's
    // default location" fitted by 4 px under DejaVu Sans and read as cut off at the
    // frame (a font a pixel wider cut it). The long form is in the tooltip.
    void weightsPlaceholderFitsItsField()
    {
        FitDialog dialog;
        dialog.resize(dialog.sizeHint().boundedTo(QSize(1366, 768 - 80)));
        showAndSettle(dialog);
        const QLineEdit* weights = dialog.weightsEdit();
        QVERIFY(weights->text().isEmpty());
        const QString placeholder = weights->placeholderText();
        QVERIFY(!placeholder.isEmpty());
        const QFontMetrics fm(weights->font());
        const int needed = fm.horizontalAdvance(placeholder) + fm.averageCharWidth();
        QVERIFY2(needed <= textRoom(weights),
                 qPrintable(QStringLiteral("'%1' and one character need %2 px, the field has "
                                           "%3 px at %4x%5")
                                .arg(placeholder)
                                .arg(needed)
                                .arg(textRoom(weights))
                                .arg(dialog.width())
                                .arg(dialog.height())));
        QVERIFY(weights->toolTip().contains(QLatin1String("default location")));
        grabIfAsked(dialog, QStringLiteral("weights"));
    }

    // The whitening ridge is automatic by default (the backbone decides at start), and a
    // recorded run's ridge, 0 included, comes back as it was.
    void whiteningRidgeIsAutomaticUnlessRecorded()
    {
        FitDialog dialog;
        QCOMPARE(dialog.settings().backbone, std::string("filterbank"));
        QCOMPARE(dialog.settings().em.whitenRidge, defaultWhitenRidge(EmProtocol::Robust,
                                                                     "filterbank"));
        QVERIFY(dialog.settings().em.whitenRidge > 0.0f);
        DatasetOptions data;
        data.kind = DatasetKind::Folder;
        data.root = small.toStdString();
        FitRunSettings s;
        s.em.whitenRidge = 0.0f;
        dialog.setRequest(data, s);
        QCOMPARE(dialog.settings().em.whitenRidge, 0.0f);
        s.em.whitenRidge = 0.75f;
        dialog.setRequest(data, s);
        QCOMPARE(dialog.settings().em.whitenRidge, 0.75f);
    }

    // The remembered root of the last fit caps the images without any edit.
    void rememberedRootCapsThePcaImages()
    {
        QSettings settings;
        settings.beginGroup(QStringLiteral("fit"));
        settings.setValue(QStringLiteral("kind"), QStringLiteral("folder"));
        settings.setValue(QStringLiteral("root"), small);
        settings.sync();
        FitDialog dialog;
        dialog.restoreRecent();
        QVERIFY(settled(dialog));
        QCOMPARE(dialog.rootEdit()->text(), small);
        QCOMPARE(dialog.settings().em.pcaImages, 4);
        settings.remove(QString());
    }

    // Other layouts are not counted here (their splits are listed in the fit's
    // thread): the reference's default stays.
    void otherLayoutsKeepTheDefault()
    {
        FitDialog dialog;
        dialog.rootEdit()->setText(small);
        QVERIFY(settled(dialog));
        QCOMPARE(dialog.settings().em.pcaImages, 4);
        dialog.layoutBox()->setCurrentIndex(1); // Cityscapes
        QVERIFY(settled(dialog));
        QCOMPARE(dialog.settings().em.pcaImages, EmParams().pcaImages);
    }
};

QTEST_MAIN(TestFitDialog)
#include "tst_fitdialog.moc"
