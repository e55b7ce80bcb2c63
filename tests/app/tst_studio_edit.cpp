// SPDX-License-Identifier: MIT
// Correcting pseudo-labels in the studio, offscreen and end to end: brush
// strokes with the mouse, reassigning and merging labels, undo and redo,
// corrections that stay with their image across image switches and re-runs of
// the decomposition, names and colours, the export (no replacing without a
// yes), and the question about unexported corrections on quit.
//
// Set PRIMAPS_EDIT_SCREENSHOT=file.png to save a picture of the editing mode.

#include "support/atomicfile.h"
#include "explore/canvaswidget.h"
#include "explore/imagelistwidget.h"
#include "annotate/labeleditor.h"
#include "labels/labelmap.h"
#include "explore/legendwidget.h"
#include "loosecorrections.h"
#include "mainwindow.h"
#include "perspectives.h"
#include "runs/project.h"
#include "projectcontroller.h"
#include "testsupport.h"

#include <cmath>
#include <memory>
#include <tuple>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <QAction>
#include <QDir>
#include <QSet>
#include <QFile>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <QUndoGroup>
#include <QUndoStack>

using namespace primaps;

namespace {

using primaps::testing::sameMat;

using primaps::testing::waitShown;

const int kTimeoutMs = primaps::testing::studioTimeoutMs();
const QString kChelsea = QStringLiteral(PRIMAPS_SAMPLES_DIR "/chelsea.jpg");
const QString kCoffee = QStringLiteral(PRIMAPS_SAMPLES_DIR "/coffee.jpg");

QPoint viewPos(const CanvasWidget& canvas, int x, int y)
{
    const QPointF view = canvas.viewportTransform().map(QPointF(x + 0.5, y + 0.5));
    return QPoint(int(std::floor(view.x())), int(std::floor(view.y())));
}

// The two most frequent labels other than background.
std::pair<int, int> twoLabels(const cv::Mat& labels)
{
    const LabelCounts counts = countLabels(labels);
    int a = 1, b = 2;
    for (int id = 1; id < 256; ++id)
        if (counts[std::size_t(id)] > counts[std::size_t(a)])
            a = id;
    b = a == 1 ? 2 : 1;
    for (int id = 1; id < 256; ++id)
        if (id != a && counts[std::size_t(id)] > counts[std::size_t(b)])
            b = id;
    return {a, b};
}

struct Studio
{
    MainWindow window;
    QSignalSpy shown{&window, &MainWindow::decompositionShown};
    LabelEditor* editor = window.labelEditor();
    int overwriteQuestions = 0;
    bool overwriteAnswer = false;
    int unsavedQuestions = 0;
    LabelEditor::UnsavedChoice unsavedAnswer = LabelEditor::UnsavedChoice::Cancel;

    Studio()
    {
        window.setPersistSettings(false);
        // Strokes are checked pixel for pixel with the picture above 100 %: a
        // window as on a desktop screen, larger than the offscreen one.
        window.perspectives()->setAvailableOverride(QRect(0, 0, 1400, 900));
        window.resize(1400, 900);
        editor->setOverwriteQuestion([this](const QStringList&) {
            ++overwriteQuestions;
            return overwriteAnswer;
        });
        editor->setUnsavedQuestion([this](const QStringList&) {
            ++unsavedQuestions;
            return unsavedAnswer;
        });
    }
    bool open(const QStringList& paths)
    {
        window.show();
        window.openInitial(paths);
        return waitShown(shown) && window.currentResult().ok();
    }
    QString current() const { return window.imageList()->currentPath(); }
    // A brush stroke along a row of label pixels, with the mouse.
    void stroke(int x0, int y0, int x1, int y1)
    {
        QWidget* viewport = window.canvas()->viewport();
        QTest::mousePress(viewport, Qt::LeftButton, {}, viewPos(*window.canvas(), x0, y0));
        QTest::mouseMove(viewport, viewPos(*window.canvas(), x1, y1));
        QTest::mouseRelease(viewport, Qt::LeftButton, {}, viewPos(*window.canvas(), x1, y1));
    }
};

} // namespace

class TestStudioEdit : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void brushMergeReassignUndoRedo();
    void editsSurviveSwitchingImages();
    void rerunDoesNotReplaceEdits();
    void namesColoursAndExport();
    void exportAllEditedImages();
    void quitAsksAboutUnexportedEdits();
    void discardingSeveralEditedImagesClosesCleanly();
    void exportAllNamesNeverCollide();
    void looseCorrectionsFollowTheProject();
    void looseCorrectionsComeBackAfterACrash();

private:
    QTemporaryDir m_recovery;
};

void TestStudioEdit::initTestCase()
{
    QStandardPaths::setTestModeEnabled(true);
    QCoreApplication::setOrganizationName(QStringLiteral("PriMaPs"));
    QCoreApplication::setApplicationName(QStringLiteral("PriMaPs Studio Edit Test"));
    // Untitled work autosaves to the recovery folder: the test's own.
    QVERIFY(m_recovery.isValid());
    qputenv("PRIMAPS_RECOVERY_DIR", m_recovery.path().toLocal8Bit());
}

void TestStudioEdit::brushMergeReassignUndoRedo()
{
    Studio s;
    QVERIFY(s.open({kChelsea}));
    const cv::Mat decomposed = s.window.currentResult().decomposition->labelsAtOriginalSize();
    QVERIFY(s.editor->labels(kChelsea).empty()); // no document before editing

    s.editor->setEditMode(true);
    QVERIFY(s.window.canvas()->isEditing());
    // Editing works on the map at the image's resolution.
    QVERIFY(sameMat(s.editor->labels(kChelsea), decomposed));
    QVERIFY(sameMat(s.window.canvas()->labels(), decomposed));
    QCOMPARE(s.window.canvas()->labels().size(), cv::Size(451, 300));

    // A mouse stroke with a new label changes exactly the stroked pixels.
    const int fresh = s.editor->newLabel();
    QVERIFY(fresh > 0);
    QCOMPARE(countLabels(decomposed)[std::size_t(fresh)], std::int64_t(0));
    s.window.canvas()->setBrushRadius(4);
    QVERIFY(s.window.canvas()->zoom() > 1.0);
    s.stroke(100, 150, 200, 150);
    cv::Mat expected = decomposed.clone();
    paintSegment(expected, {100, 150}, {200, 150}, 4, uchar(fresh));
    QVERIFY(sameMat(s.editor->labels(kChelsea), expected));
    QVERIFY(sameMat(s.window.canvas()->labels(), expected));
    QVERIFY(s.window.legend()->fraction(fresh) > 0.0); // the legend shows the new label
    QUndoStack* stack = s.editor->undoStack(kChelsea);
    QCOMPARE(stack->count(), 1);
    const cv::Mat afterStroke = expected.clone();

    // Merge: every pixel of a becomes b.
    const auto [a, b] = twoLabels(decomposed);
    QVERIFY(s.editor->reassignLabel(a, b));
    cv::Mat merged = afterStroke.clone();
    merged.setTo(b, afterStroke == a);
    QVERIFY(sameMat(s.editor->labels(kChelsea), merged));
    QCOMPARE(s.window.legend()->fraction(a), 0.0);

    // Reassign one segment: the connected region under a pixel.
    cv::Point seed(-1, -1);
    for (int y = 0; y < merged.rows && seed.x < 0; y += 7)
        for (int x = 0; x < merged.cols; x += 7)
            if (merged.at<uchar>(y, x) == b) {
                seed = {x, y};
                break;
            }
    QVERIFY(seed.x >= 0);
    const LabelPatch region = fillRegionPatch(merged, seed, 0);
    QVERIFY(s.editor->reassignSegment(QPoint(seed.x, seed.y), 0));
    cv::Mat segmented = merged.clone();
    applyPatch(segmented, region);
    QVERIFY(sameMat(s.editor->labels(kChelsea), segmented));

    // Undo restores each previous map exactly; redo re-applies exactly.
    QCOMPARE(stack->count(), 3);
    s.editor->undoAction()->trigger();
    QVERIFY(sameMat(s.editor->labels(kChelsea), merged));
    QVERIFY(sameMat(s.window.canvas()->labels(), merged));
    s.editor->undoAction()->trigger();
    QVERIFY(sameMat(s.editor->labels(kChelsea), afterStroke));
    s.editor->undoAction()->trigger();
    QVERIFY(sameMat(s.editor->labels(kChelsea), decomposed));
    QVERIFY(sameMat(s.window.canvas()->labels(), decomposed));
    QVERIFY(!s.editor->undoAction()->isEnabled());
    s.editor->redoAction()->trigger();
    s.editor->redoAction()->trigger();
    QVERIFY(sameMat(s.editor->labels(kChelsea), merged));
    s.editor->redoAction()->trigger();
    QVERIFY(sameMat(s.window.canvas()->labels(), segmented));
    // The shortcuts are the usual ones.
    QVERIFY(s.editor->undoAction()->shortcuts().contains(QKeySequence(Qt::CTRL | Qt::Key_Z)));
    QVERIFY(s.editor->redoAction()->shortcuts().contains(
        QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Z)));
}

void TestStudioEdit::editsSurviveSwitchingImages()
{
    Studio s;
    QVERIFY(s.open({kChelsea, kCoffee}));
    QCOMPARE(s.current(), kChelsea);
    s.editor->setEditMode(true);
    const auto [a, b] = twoLabels(s.editor->labels(kChelsea));
    QVERIFY(s.editor->reassignLabel(a, b));
    const cv::Mat edited = s.editor->labels(kChelsea).clone();

    s.window.imageList()->selectNext();
    QVERIFY(waitShown(s.shown));
    QCOMPARE(s.current(), kCoffee);
    QCOMPARE(s.editor->shownPath(), kCoffee); // editing mode: coffee has a document too
    QVERIFY(s.editor->undoGroup()->activeStack() == s.editor->undoStack(kCoffee));
    QVERIFY(!s.editor->undoAction()->isEnabled()); // coffee has nothing to undo

    s.window.imageList()->selectPrevious();
    // Shown from the document at once, before any decomposition comes back.
    QCOMPARE(s.editor->shownPath(), kChelsea);
    QVERIFY(sameMat(s.window.canvas()->labels(), edited));
    QVERIFY(waitShown(s.shown));
    QVERIFY(sameMat(s.window.canvas()->labels(), edited));
    QVERIFY(s.editor->undoAction()->isEnabled());
    s.editor->undoAction()->trigger();
    QVERIFY(sameMat(s.window.canvas()->labels(), s.editor->baseLabels(kChelsea)));

    // Out of the editing mode a corrected image still shows its corrections.
    s.editor->redoAction()->trigger();
    s.editor->setEditMode(false);
    QVERIFY(!s.window.canvas()->isEditing());
    QVERIFY(sameMat(s.window.canvas()->labels(), edited));
    QVERIFY(s.window.legend()->caption().contains(QStringLiteral("Corrected")));
}

void TestStudioEdit::rerunDoesNotReplaceEdits()
{
    Studio s;
    QVERIFY(s.open({kChelsea}));
    s.editor->setEditMode(true);
    const auto [a, b] = twoLabels(s.editor->labels(kChelsea));
    QVERIFY(s.editor->reassignLabel(a, b));
    const cv::Mat edited = s.editor->labels(kChelsea).clone();

    s.window.setThreshold(std::min(0.95, s.window.threshold() + 0.2));
    QVERIFY(waitShown(s.shown));
    const cv::Mat fresh = s.window.currentResult().decomposition->labelsAtOriginalSize();
    QVERIFY(!sameMat(fresh, s.editor->baseLabels(kChelsea)));
    // The corrections stay on display; the new masks wait and the badge says so.
    QVERIFY(sameMat(s.window.canvas()->labels(), edited));
    QVERIFY(s.editor->hasNewMasks());
    QVERIFY(s.editor->useNewMasksAction()->isEnabled());
    QVERIFY(s.window.canvas()->badgeText().contains(QStringLiteral("Use New Masks")));

    // Taking them is one more undoable step.
    QVERIFY(s.editor->useNewMasks());
    QVERIFY(sameMat(s.window.canvas()->labels(), fresh));
    QVERIFY(!s.editor->hasNewMasks());
    s.editor->undoAction()->trigger();
    QVERIFY(sameMat(s.window.canvas()->labels(), edited));
    QVERIFY(s.editor->hasNewMasks());

    // An image without corrections simply follows its decompositions.
    s.editor->undoAction()->trigger();
    QVERIFY(s.editor->editedImages().isEmpty());
    s.window.setThreshold(std::max(0.05, s.window.threshold() - 0.3));
    QVERIFY(waitShown(s.shown));
    QVERIFY(sameMat(s.window.canvas()->labels(),
                 s.window.currentResult().decomposition->labelsAtOriginalSize()));
    QVERIFY(!s.editor->hasNewMasks());
}

void TestStudioEdit::namesColoursAndExport()
{
    Studio s;
    QVERIFY(s.open({kChelsea}));
    s.editor->setEditMode(true);
    const int fresh = s.editor->newLabel();
    s.window.canvas()->setBrushRadius(6);
    s.stroke(60, 80, 260, 120);
    QVERIFY(s.editor->renameLabel(fresh, QStringLiteral("whiskers")));
    QVERIFY(s.editor->setLabelColor(fresh, QColor(250, 20, 200)));
    const auto [a, b] = twoLabels(s.editor->labels(kChelsea));
    QVERIFY(s.editor->renameLabel(b, QStringLiteral("fur")));
    // The legend and the canvas use the names and colours.
    QVERIFY(s.window.legend()->chipText(fresh).contains(QStringLiteral("whiskers")));
    QVERIFY(s.window.legend()->chipText(b).contains(QStringLiteral("fur")));
    QCOMPARE(s.window.canvas()->labelTable().name(fresh), std::string("whiskers"));
    // Renames are undoable too.
    s.editor->undoAction()->trigger();
    QVERIFY(!s.window.legend()->chipText(b).contains(QStringLiteral("fur")));
    s.editor->redoAction()->trigger();

    if (qEnvironmentVariableIsSet("PRIMAPS_EDIT_SCREENSHOT")) {
        QTest::qWait(300); // the legend grew a row: let the canvas settle first
        QTest::mouseMove(s.window.canvas()->viewport(), viewPos(*s.window.canvas(), 150, 98));
        QTest::qWait(100);
        QVERIFY(s.window.grab().save(qEnvironmentVariable("PRIMAPS_EDIT_SCREENSHOT")));
    }

    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString target = dir.filePath(QStringLiteral("chelsea_labels.png"));
    LabelExportOptions options;
    options.colorPng = true;
    options.overlayPng = true;
    options.sidecar = true;
    QSignalSpy exported(s.editor, &LabelEditor::exportFinished);
    QVERIFY(!s.editor->unsavedImages().isEmpty());
    QVERIFY(s.editor->exportLabels(target, options));
    QVERIFY(QTest::qWaitFor([&] { return exported.count() == 1; }, kTimeoutMs));
    QCOMPARE(exported.at(0).at(1).toString(), QString());
    QCOMPARE(s.overwriteQuestions, 0); // nothing existed
    const cv::Mat written = cv::imread(target.toStdString(), cv::IMREAD_UNCHANGED);
    QVERIFY(sameMat(written, s.editor->labels(kChelsea)));
    const LabelTable table =
        parseLabelSidecar(readFile(dir.filePath(QStringLiteral("chelsea_labels.json")).toStdString()));
    QCOMPARE(table.name(fresh), std::string("whiskers"));
    QCOMPARE(table.color(fresh), cv::Vec3b(250, 20, 200));
    const cv::Mat color =
        cv::imread(dir.filePath(QStringLiteral("chelsea_labels_color.png")).toStdString());
    QCOMPARE(color.at<cv::Vec3b>(100, 160), cv::Vec3b(200, 20, 250)); // BGR of the new colour
    QVERIFY(QFile::exists(dir.filePath(QStringLiteral("chelsea_labels_overlay.png"))));
    QVERIFY(s.editor->unsavedImages().isEmpty()); // exported

    // A second export asks first; "no" leaves the files as they were.
    QVERIFY(s.editor->reassignLabel(fresh, 0));
    QFile file(target);
    QVERIFY(file.open(QIODevice::ReadOnly));
    const QByteArray before = file.readAll();
    file.close();
    QVERIFY(!s.editor->exportLabels(target, options));
    QCOMPARE(s.overwriteQuestions, 1);
    QVERIFY(file.open(QIODevice::ReadOnly));
    QCOMPARE(file.readAll(), before);
    file.close();
    QCOMPARE(exported.count(), 1);
    // "Yes" replaces them with the map as it is now.
    s.overwriteAnswer = true;
    QVERIFY(s.editor->exportLabels(target, options));
    QCOMPARE(s.overwriteQuestions, 2);
    QVERIFY(QTest::qWaitFor([&] { return exported.count() == 2; }, kTimeoutMs));
    QVERIFY(sameMat(cv::imread(target.toStdString(), cv::IMREAD_UNCHANGED),
                 s.editor->labels(kChelsea)));
    QCOMPARE(cv::countNonZero(s.editor->labels(kChelsea) == fresh), 0);
}

void TestStudioEdit::exportAllEditedImages()
{
    Studio s;
    QVERIFY(s.open({kChelsea, kCoffee}));
    s.editor->setEditMode(true);
    auto [a, b] = twoLabels(s.editor->labels(kChelsea));
    QVERIFY(s.editor->reassignLabel(a, b));
    s.window.imageList()->selectNext();
    QVERIFY(waitShown(s.shown));
    std::tie(a, b) = twoLabels(s.editor->labels(kCoffee));
    QVERIFY(s.editor->reassignLabel(b, a));
    QCOMPARE(s.editor->editedImages().size(), 2);
    QCOMPARE(s.editor->unsavedImages().size(), 2);

    QTemporaryDir dir;
    LabelExportOptions options;
    options.colorPng = false;
    options.overlayPng = false;
    options.sidecar = true;
    const QStringList files = s.editor->exportAllFiles(dir.path(), options);
    QCOMPARE(files.size(), 4);
    QSignalSpy exported(s.editor, &LabelEditor::exportFinished);
    QVERIFY(s.editor->exportAll(dir.path(), options));
    QVERIFY(QTest::qWaitFor([&] { return exported.count() == 1; }, kTimeoutMs));
    QCOMPARE(exported.at(0).at(1).toString(), QString());
    for (const QString& path : {kChelsea, kCoffee}) {
        const QString png =
            dir.filePath(QFileInfo(path).completeBaseName() + QStringLiteral("_labels.png"));
        QVERIFY2(sameMat(cv::imread(png.toStdString(), cv::IMREAD_UNCHANGED), s.editor->labels(path)),
                 qPrintable(png));
    }
    QVERIFY(s.editor->unsavedImages().isEmpty());
}

void TestStudioEdit::quitAsksAboutUnexportedEdits()
{
    Studio s;
    QVERIFY(s.open({kChelsea}));
    // Nothing corrected: closes without a question.
    QVERIFY(s.editor->maybeClose());
    QCOMPARE(s.unsavedQuestions, 0);

    s.editor->setEditMode(true);
    const auto [a, b] = twoLabels(s.editor->labels(kChelsea));
    QVERIFY(s.editor->reassignLabel(a, b));
    s.unsavedAnswer = LabelEditor::UnsavedChoice::Cancel;
    QVERIFY(!s.window.close());
    QCOMPARE(s.unsavedQuestions, 1);
    QVERIFY(s.window.isVisible());
    // Undoing every correction leaves nothing to lose.
    s.editor->undoAction()->trigger();
    QVERIFY(s.editor->maybeClose());
    QCOMPARE(s.unsavedQuestions, 1);
    s.editor->redoAction()->trigger();
    s.unsavedAnswer = LabelEditor::UnsavedChoice::Discard;
    QVERIFY(s.window.close());
    QCOMPARE(s.unsavedQuestions, 2);
}

// Discard on quit with corrections in more than one image: the window and its
// editor go away with unexported undo stacks (each stack's clear() on deletion
// reports a clean change; the editor must not look at stacks already deleted).
void TestStudioEdit::discardingSeveralEditedImagesClosesCleanly()
{
    auto s = std::make_unique<Studio>();
    QVERIFY(s->open({kChelsea, kCoffee}));
    s->editor->setEditMode(true);
    auto [a, b] = twoLabels(s->editor->labels(kChelsea));
    QVERIFY(s->editor->reassignLabel(a, b));
    s->window.imageList()->selectNext();
    QVERIFY(waitShown(s->shown));
    std::tie(a, b) = twoLabels(s->editor->labels(kCoffee));
    QVERIFY(s->editor->reassignLabel(b, a));
    QCOMPARE(s->editor->unsavedImages().size(), 2);
    QSignalSpy unsaved(s->editor, &LabelEditor::unsavedChanged);
    s->unsavedAnswer = LabelEditor::UnsavedChoice::Discard;
    QVERIFY(s->window.close());
    s.reset(); // must not touch a deleted undo stack
    QCOMPARE(unsaved.count(), 0); // and says nothing while it goes
}

// Two "cat" images from different folders and one named "cat-2": the second
// cat must not be given cat-2's name (one file would replace the other).
void TestStudioEdit::exportAllNamesNeverCollide()
{
    QTemporaryDir dir;
    QStringList images;
    for (const auto& [folder, name, source] :
         {std::tuple{"a", "cat.jpg", kChelsea}, std::tuple{"b", "cat.jpg", kChelsea},
          std::tuple{"c", "cat-2.jpg", kCoffee}}) {
        QVERIFY(QDir(dir.path()).mkpath(folder));
        images << QDir(dir.filePath(folder)).filePath(name);
        QVERIFY(QFile::copy(source, images.last()));
    }
    Studio s;
    QVERIFY(s.open(images));
    s.editor->setEditMode(true);
    for (int i = 0; i < images.size(); ++i) {
        if (i > 0) {
            s.window.imageList()->selectNext();
            QVERIFY(waitShown(s.shown));
        }
        QCOMPARE(s.current(), images[i]);
        QVERIFY(s.editor->renameLabel(1, QStringLiteral("label of %1").arg(i)));
    }
    QCOMPARE(s.editor->editedImages().size(), 3);
    LabelExportOptions options;
    options.colorPng = false;
    options.overlayPng = false;
    options.sidecar = false;
    const QStringList files = s.editor->exportAllFiles(dir.filePath("out"), options);
    QCOMPARE(files.size(), 3);
    QCOMPARE(QSet<QString>(files.begin(), files.end()).size(), 3);
}

// Corrections of loose images are written as they are made: to the recovery
// folder while the project is untitled, beside the project once it is saved;
// reopening the project brings them back on the image's next decomposition.
void TestStudioEdit::looseCorrectionsFollowTheProject()
{
    QTemporaryDir dir;
    const QString projectPath = dir.filePath(QStringLiteral("cats.primaps"));
    cv::Mat edited;
    {
        Studio s;
        QVERIFY(s.open({kChelsea, kCoffee}));
        LooseCorrections* loose = s.window.projectController()->looseCorrections();
        const QString untitled = loose->folder();
        QVERIFY(untitled.startsWith(m_recovery.path()));
        s.editor->setEditMode(true);
        const auto [a, b] = twoLabels(s.editor->labels(kChelsea));
        QVERIFY(s.editor->reassignLabel(a, b));
        // Written within the write delay, without a save.
        const QString untitledFile = QDir(untitled).filePath(QStringLiteral("chelsea.png"));
        QVERIFY(QTest::qWaitFor([&] { return QFile::exists(untitledFile); }, 5000));
        const cv::Mat first = cv::imread(untitledFile.toStdString(), cv::IMREAD_UNCHANGED);
        QVERIFY(sameMat(first, correctionFromEdit(s.editor->baseLabels(kChelsea),
                                                  s.editor->labels(kChelsea))));

        // Saving moves them beside the project; the untitled copy goes.
        QVERIFY(s.window.projectController()->save(projectPath));
        const QString folder = dir.filePath(QStringLiteral("cats.corrections"));
        QCOMPARE(loose->folder(), folder);
        QVERIFY(QFile::exists(QDir(folder).filePath(QStringLiteral("chelsea.png"))));
        QVERIFY(!QDir(untitled).exists());

        // A later edit goes straight there, no save needed.
        s.window.canvas()->setBrushRadius(5);
        s.editor->setCurrentLabel(b);
        s.stroke(40, 40, 200, 60);
        edited = s.editor->labels(kChelsea).clone();
        const QString file = QDir(folder).filePath(QStringLiteral("chelsea.png"));
        QVERIFY(QTest::qWaitFor(
            [&] {
                const cv::Mat stored = cv::imread(file.toStdString(), cv::IMREAD_UNCHANGED);
                return sameMat(stored, correctionFromEdit(s.editor->baseLabels(kChelsea), edited));
            },
            5000));
        // Undoing everything removes the file (no correction left) ...
        while (s.editor->undoAction()->isEnabled())
            s.editor->undoAction()->trigger();
        QVERIFY(QTest::qWaitFor([&] { return !QFile::exists(file); }, 5000));
        // ... and redoing writes it again.
        while (s.editor->redoAction()->isEnabled())
            s.editor->redoAction()->trigger();
        QVERIFY(sameMat(s.editor->labels(kChelsea), edited));
        QVERIFY(QTest::qWaitFor([&] { return QFile::exists(file); }, 5000));
        s.unsavedAnswer = LabelEditor::UnsavedChoice::Discard; // not exported: kept by the project
        QVERIFY(s.window.close());
        QVERIFY(QFile::exists(file));
    }

    // A new studio, not in the editing mode: the project brings the edit back.
    Studio s;
    s.window.show();
    // The edits after the save were autosaved beside the project: restoring
    // them or not gives the same corrections (they are in the folder either way).
    s.window.projectController()->setRestoreQuestion([](const Autosave&) { return true; });
    QVERIFY(s.window.projectController()->open(projectPath));
    QVERIFY(waitShown(s.shown));
    QCOMPARE(s.current(), kChelsea);
    QVERIFY(!s.editor->isEditMode());
    QVERIFY(sameMat(s.editor->labels(kChelsea), edited));
    QVERIFY(sameMat(s.window.canvas()->labels(), edited));
    QCOMPARE(s.editor->editedImages(), QStringList{kChelsea});
    // The other image has none.
    s.window.imageList()->selectNext();
    QVERIFY(waitShown(s.shown));
    QVERIFY(s.editor->labels(kCoffee).empty());

    // Two images of the same name from different folders do not share a file.
    QVERIFY(QDir(dir.path()).mkpath(QStringLiteral("a")));
    QVERIFY(QDir(dir.path()).mkpath(QStringLiteral("b")));
    const QString catA = dir.filePath(QStringLiteral("a/cat.jpg"));
    const QString catB = dir.filePath(QStringLiteral("b/cat.jpg"));
    QVERIFY(QFile::copy(kChelsea, catA) && QFile::copy(kChelsea, catB));
    s.window.openPaths({catA, catB});
    LooseCorrections* loose = s.window.projectController()->looseCorrections();
    QVERIFY(loose->keyOf(catA) != loose->keyOf(catB));
    QCOMPARE(loose->keyOf(kChelsea), std::string("chelsea"));
}

// An untitled session that dies: the autosave names the recovery folder's
// corrections and a new studio that restores it shows the corrected labels.
void TestStudioEdit::looseCorrectionsComeBackAfterACrash()
{
    cv::Mat edited;
    auto crashed = std::make_unique<Studio>();
    QVERIFY(crashed->open({kCoffee}));
    crashed->editor->setEditMode(true);
    const auto [a, b] = twoLabels(crashed->editor->labels(kCoffee));
    QVERIFY(crashed->editor->reassignLabel(b, a));
    edited = crashed->editor->labels(kCoffee).clone();
    ProjectController* project = crashed->window.projectController();
    QVERIFY(project->isDirty());
    QVERIFY(project->autosaveNow());
    const QString autosave = project->autosavePath();
    QVERIFY(autosave.startsWith(m_recovery.path()));
    const QString folder = project->looseCorrections()->folder();
    QVERIFY(QFile::exists(QDir(folder).filePath(QStringLiteral("coffee.png"))));
    QCOMPARE(QString::fromStdString(readAutosave(autosave.toStdString()).project.correctionsDir),
             folder);
    // No clean close: the window goes away as if the process had died.
    crashed->window.setAttribute(Qt::WA_DeleteOnClose, false);
    QTest::qWait(1); // a new session id
    {
        Studio s;
        s.window.show();
        int asked = 0;
        s.window.projectController()->setRestoreQuestion([&](const Autosave&) {
            ++asked;
            return true;
        });
        QVERIFY(s.window.projectController()->offerRecovery());
        QCOMPARE(asked, 1);
        QVERIFY(waitShown(s.shown));
        QCOMPARE(s.current(), kCoffee);
        QVERIFY(sameMat(s.editor->labels(kCoffee), edited));
        QVERIFY(sameMat(s.window.canvas()->labels(), edited));
        // Restored work stays in that folder until it is saved or dropped.
        QCOMPARE(s.window.projectController()->looseCorrections()->folder(), folder);
        s.unsavedAnswer = LabelEditor::UnsavedChoice::Discard;
        QVERIFY(s.window.close());
        QCoreApplication::processEvents();
        // A clean close of untitled work drops its recovery copy.
        QVERIFY(QTest::qWaitFor([&] { return !QDir(folder).exists(); }, 5000));
    }
    crashed.reset();
}

QTEST_MAIN(TestStudioEdit)
#include "tst_studio_edit.moc"
