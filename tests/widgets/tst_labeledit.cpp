// SPDX-License-Identifier: MIT
// The editing tools of the canvas (brush, eraser, fill, picker) driven with
// real mouse events, the legend's editing mode, names and colours, and the
// label export dialog. Fixtures are made here; the studio end to end is in
// tests/app/tst_studio_edit.cpp.

#include "explore/canvaswidget.h"
#include "annotate/labelexportdialog.h"
#include "labels/labelmap.h"
#include "explore/legendwidget.h"
#include "testsupport.h"

#include <cmath>
#include <opencv2/core.hpp>
#include <QFile>
#include <QLabel>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

using namespace primaps;

Q_DECLARE_METATYPE(primaps::LabelPatch)

namespace {

using primaps::testing::sameMat;

// Left half 1, right half 2, a 10 x 10 island of 3 at (20, 20).
cv::Mat fixtureLabels()
{
    cv::Mat labels(120, 160, CV_8U, cv::Scalar(1));
    labels(cv::Rect(80, 0, 80, 120)).setTo(2);
    labels(cv::Rect(20, 20, 10, 10)).setTo(3);
    return labels;
}

QImage fixturePhoto()
{
    QImage photo(160, 120, QImage::Format_RGB888);
    for (int y = 0; y < photo.height(); ++y)
        for (int x = 0; x < photo.width(); ++x)
            photo.setPixel(x, y, qRgb(x, y * 2, 128));
    return photo;
}

// The viewport pixel over the centre of label pixel (x, y).
QPoint viewPos(const CanvasWidget& canvas, int x, int y)
{
    const QPointF view = canvas.viewportTransform().map(QPointF(x + 0.5, y + 0.5));
    return QPoint(int(std::floor(view.x())), int(std::floor(view.y())));
}

} // namespace

class TestLabelEdit : public QObject
{
    Q_OBJECT

private slots:
    void init();
    void cleanup();
    void brushStrokeChangesExactlyTheStrokedPixels();
    void eraserPaintsBackgroundAndPatchUndoes();
    void fillReassignsTheClickedSegment();
    void pickerAndAltClickReportTheLabel();
    void withoutEditingTheMousePans();
    void bracketKeysChangeTheBrush();
    void colourAndNameReachOverlayAndReadout();
    void showEditsOnlyHidesUnchangedPixels();
    void legendShowsNamesAndChoosesLabels();
    void exportDialogListsFilesAndMarksExisting();

private:
    CanvasWidget* m_canvas = nullptr;
};

void TestLabelEdit::init()
{
    qRegisterMetaType<primaps::LabelPatch>();
    m_canvas = new CanvasWidget;
    m_canvas->resize(400, 300);
    m_canvas->show();
    QVERIFY(QTest::qWaitForWindowExposed(m_canvas));
    m_canvas->setPhoto(fixturePhoto());
    m_canvas->setLabels(fixtureLabels(), QRectF(0, 0, 160, 120));
    // Two screen pixels per label pixel: every mouse position names one label pixel.
    m_canvas->setZoom(2.0);
}

void TestLabelEdit::cleanup()
{
    delete m_canvas;
    m_canvas = nullptr;
}

void TestLabelEdit::brushStrokeChangesExactlyTheStrokedPixels()
{
    QSignalSpy edited(m_canvas, &CanvasWidget::labelsEdited);
    m_canvas->setEditingEnabled(true);
    m_canvas->setEditTool(CanvasWidget::EditTool::Brush);
    m_canvas->setBrushLabel(5);
    m_canvas->setBrushRadius(3);
    QVERIFY(m_canvas->isEditing());

    QWidget* viewport = m_canvas->viewport();
    QTest::mousePress(viewport, Qt::LeftButton, {}, viewPos(*m_canvas, 40, 30));
    QTest::mouseMove(viewport, viewPos(*m_canvas, 60, 30));
    QTest::mouseMove(viewport, viewPos(*m_canvas, 60, 50));
    QTest::mouseRelease(viewport, Qt::LeftButton, {}, viewPos(*m_canvas, 60, 50));

    // Exactly the two capsules, nothing else.
    cv::Mat expected = fixtureLabels();
    paintSegment(expected, {40, 30}, {60, 30}, 3, 5);
    paintSegment(expected, {60, 30}, {60, 50}, 3, 5);
    QVERIFY(sameMat(m_canvas->labels(), expected));
    QCOMPARE(cv::countNonZero(m_canvas->labels() == 5), cv::countNonZero(expected == 5));
    QVERIFY(cv::countNonZero(expected == 5) > 150);

    // One stroke, one patch, and the patch takes it back exactly.
    QCOMPARE(edited.count(), 1);
    const auto patch = edited.at(0).at(0).value<primaps::LabelPatch>();
    QCOMPARE(patch.rect, cv::Rect(37, 27, 27, 27));
    cv::Mat undone = m_canvas->labels().clone();
    applyPatch(undone, patch, false);
    QVERIFY(sameMat(undone, fixtureLabels()));
    // The areas follow the edit.
    QVERIFY(m_canvas->areaFractions().size() == 6);
    QCOMPARE(m_canvas->areaFractions()[5],
             double(cv::countNonZero(expected == 5)) / double(expected.total()));
}

void TestLabelEdit::eraserPaintsBackgroundAndPatchUndoes()
{
    QSignalSpy edited(m_canvas, &CanvasWidget::labelsEdited);
    m_canvas->setEditingEnabled(true);
    m_canvas->setEditTool(CanvasWidget::EditTool::Eraser);
    m_canvas->setBrushRadius(0);
    QWidget* viewport = m_canvas->viewport();
    // A single click is a single dab: one pixel with radius 0.
    QTest::mouseClick(viewport, Qt::LeftButton, {}, viewPos(*m_canvas, 100, 70));
    QCOMPARE(cv::countNonZero(m_canvas->labels() == 0), 1);
    QCOMPARE(int(m_canvas->labels().at<uchar>(70, 100)), 0);
    QCOMPARE(edited.count(), 1);
    QCOMPARE(edited.at(0).at(1).toString(), QStringLiteral("Erase"));

    const auto patch = edited.at(0).at(0).value<primaps::LabelPatch>();
    m_canvas->applyLabelPatch(patch, false);
    QVERIFY(sameMat(m_canvas->labels(), fixtureLabels()));
    m_canvas->applyLabelPatch(patch, true);
    QCOMPARE(int(m_canvas->labels().at<uchar>(70, 100)), 0);
}

void TestLabelEdit::fillReassignsTheClickedSegment()
{
    QSignalSpy edited(m_canvas, &CanvasWidget::labelsEdited);
    m_canvas->setEditingEnabled(true);
    m_canvas->setEditTool(CanvasWidget::EditTool::Fill);
    m_canvas->setBrushLabel(7);
    QTest::mouseClick(m_canvas->viewport(), Qt::LeftButton, {}, viewPos(*m_canvas, 25, 25));
    cv::Mat expected = fixtureLabels();
    expected(cv::Rect(20, 20, 10, 10)).setTo(7);
    QVERIFY(sameMat(m_canvas->labels(), expected));
    QCOMPARE(edited.count(), 1);
    QCOMPARE(edited.at(0).at(0).value<primaps::LabelPatch>().rect, cv::Rect(20, 20, 10, 10));
    // Filling with the label it has changes nothing and reports nothing.
    QTest::mouseClick(m_canvas->viewport(), Qt::LeftButton, {}, viewPos(*m_canvas, 25, 25));
    QCOMPARE(edited.count(), 1);
}

void TestLabelEdit::pickerAndAltClickReportTheLabel()
{
    QSignalSpy picked(m_canvas, &CanvasWidget::labelPicked);
    m_canvas->setEditingEnabled(true);
    m_canvas->setEditTool(CanvasWidget::EditTool::Picker);
    QTest::mouseClick(m_canvas->viewport(), Qt::LeftButton, {}, viewPos(*m_canvas, 120, 10));
    QCOMPARE(picked.count(), 1);
    QCOMPARE(picked.at(0).at(0).toInt(), 2);
    m_canvas->setEditTool(CanvasWidget::EditTool::Brush);
    QTest::mouseClick(m_canvas->viewport(), Qt::LeftButton, Qt::AltModifier,
                      viewPos(*m_canvas, 22, 22));
    QCOMPARE(picked.count(), 2);
    QCOMPARE(picked.at(1).at(0).toInt(), 3);
    QVERIFY(sameMat(m_canvas->labels(), fixtureLabels())); // picking paints nothing
}

void TestLabelEdit::withoutEditingTheMousePans()
{
    QSignalSpy edited(m_canvas, &CanvasWidget::labelsEdited);
    m_canvas->setEditTool(CanvasWidget::EditTool::Brush);
    QVERIFY(!m_canvas->isEditing()); // not enabled by an owner of the edits
    QWidget* viewport = m_canvas->viewport();
    QTest::mousePress(viewport, Qt::LeftButton, {}, viewPos(*m_canvas, 40, 30));
    QTest::mouseMove(viewport, viewPos(*m_canvas, 60, 30));
    QTest::mouseRelease(viewport, Qt::LeftButton, {}, viewPos(*m_canvas, 60, 30));
    QCOMPARE(edited.count(), 0);
    QVERIFY(sameMat(m_canvas->labels(), fixtureLabels()));
    QCOMPARE(m_canvas->dragMode(), QGraphicsView::ScrollHandDrag);
    m_canvas->setEditingEnabled(true);
    QCOMPARE(m_canvas->dragMode(), QGraphicsView::NoDrag);
}

void TestLabelEdit::bracketKeysChangeTheBrush()
{
    QSignalSpy radius(m_canvas, &CanvasWidget::brushRadiusChanged);
    m_canvas->setEditingEnabled(true);
    m_canvas->setEditTool(CanvasWidget::EditTool::Brush);
    m_canvas->setBrushRadius(10);
    QTest::keyClick(m_canvas, Qt::Key_BracketRight);
    QVERIFY(m_canvas->brushRadius() > 10);
    const int larger = m_canvas->brushRadius();
    QTest::keyClick(m_canvas, Qt::Key_BracketLeft);
    QTest::keyClick(m_canvas, Qt::Key_BracketLeft);
    QVERIFY(m_canvas->brushRadius() < larger);
    QCOMPARE(radius.count(), 4);
    m_canvas->setBrushRadius(0);
    QTest::keyClick(m_canvas, Qt::Key_BracketLeft);
    QCOMPARE(m_canvas->brushRadius(), 0); // clamped
    QTest::keyClick(m_canvas, Qt::Key_BracketRight);
    QCOMPARE(m_canvas->brushRadius(), 1); // never stuck at 0
}

void TestLabelEdit::colourAndNameReachOverlayAndReadout()
{
    const QColor before = m_canvas->overlayImage().pixelColor(5, 60);
    LabelTable table;
    table.setColor(1, cv::Vec3b(10, 20, 250));
    table.setName(1, "sky");
    m_canvas->setLabelTable(table);
    QCOMPARE(m_canvas->overlayImage().pixelColor(5, 60), QColor(10, 20, 250));
    QVERIFY(before != QColor(10, 20, 250));

    // The readout names the label under the cursor by its new name.
    QTest::mouseMove(m_canvas->viewport(), viewPos(*m_canvas, 5, 60));
    const QList<QLabel*> labels = m_canvas->findChildren<QLabel*>();
    bool named = false;
    for (const QLabel* label : labels)
        named = named || (label->isVisible() && label->text().contains(QStringLiteral("sky")));
    QVERIFY(named);
}

void TestLabelEdit::showEditsOnlyHidesUnchangedPixels()
{
    m_canvas->setEditBase(fixtureLabels());
    m_canvas->setEditingEnabled(true);
    m_canvas->setEditTool(CanvasWidget::EditTool::Brush);
    m_canvas->setBrushLabel(4);
    m_canvas->setBrushRadius(2);
    QTest::mouseClick(m_canvas->viewport(), Qt::LeftButton, {}, viewPos(*m_canvas, 50, 60));
    m_canvas->setShowEditsOnly(true);
    QCOMPARE(qAlpha(m_canvas->overlayImage().pixel(5, 5)), 0); // unchanged: photo shows through
    QVERIFY(qAlpha(m_canvas->overlayImage().pixel(50, 60)) == 255); // the correction in colour
    m_canvas->setShowEditsOnly(false);
    QVERIFY(qAlpha(m_canvas->overlayImage().pixel(5, 5)) == 255);
}

void TestLabelEdit::legendShowsNamesAndChoosesLabels()
{
    LegendWidget legend;
    legend.resize(600, 60);
    legend.show();
    QVERIFY(QTest::qWaitForWindowExposed(&legend));
    legend.setAreas({0.25, 0.5, 0.25});
    QCOMPARE(legend.chipText(1), QStringLiteral("1  50.0 %"));
    LabelTable table;
    table.setName(1, "road");
    table.setName(0, "void");
    legend.setLabelTable(table);
    QCOMPARE(legend.chipText(1), QStringLiteral("1 road  50.0 %"));
    QCOMPARE(legend.chipText(0), QStringLiteral("void  25.0 %"));

    QSignalSpy highlight(&legend, &LegendWidget::maskClicked);
    QSignalSpy chosen(&legend, &LegendWidget::labelChosen);
    QSignalSpy rename(&legend, &LegendWidget::labelRenameRequested);
    QTest::mouseClick(&legend, Qt::LeftButton, {}, legend.chipRect(2).center());
    QCOMPARE(highlight.count(), 1);
    QCOMPARE(chosen.count(), 0);
    legend.setEditable(true);
    QTest::mouseClick(&legend, Qt::LeftButton, {}, legend.chipRect(2).center());
    QCOMPARE(highlight.count(), 1);
    QCOMPARE(chosen.count(), 1);
    QCOMPARE(chosen.at(0).at(0).toInt(), 2);
    QTest::mouseDClick(&legend, Qt::LeftButton, {}, legend.chipRect(1).center());
    QCOMPARE(rename.count(), 1);
    QCOMPARE(rename.at(0).at(0).toInt(), 1);
}

void TestLabelEdit::exportDialogListsFilesAndMarksExisting()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString target = dir.filePath(QStringLiteral("cat_labels"));
    {
        QFile existing(dir.filePath(QStringLiteral("cat_labels.json")));
        QVERIFY(existing.open(QIODevice::WriteOnly));
        existing.write("{}");
    }
    LabelExportOptions options;
    options.colorPng = true;
    options.overlayPng = false;
    options.sidecar = true;
    LabelExportDialog dialog(
        LabelExportDialog::Mode::File, target, options,
        [](const QString& t, const LabelExportOptions& o) {
            QStringList files;
            for (const std::string& f : labelExportFiles(t.toStdString(), o).all())
                files << QString::fromStdString(f);
            return files;
        });
    // ".png" is added to a name without it.
    QCOMPARE(dialog.target(), target + QStringLiteral(".png"));
    QCOMPARE(dialog.files(), QStringList({target + QStringLiteral(".png"),
                                          target + QStringLiteral("_color.png"),
                                          target + QStringLiteral(".json")}));
    QCOMPARE(dialog.existingFiles(), QStringList({target + QStringLiteral(".json")}));
    const QList<QLabel*> labels = dialog.findChildren<QLabel*>();
    bool warned = false;
    for (const QLabel* label : labels)
        warned = warned || label->text().contains(QStringLiteral("will be replaced"));
    QVERIFY(warned);

    LabelExportOptions none = dialog.options();
    none.colorPng = false;
    none.sidecar = false;
    dialog.setOptions(none);
    QCOMPARE(dialog.files().size(), 1);
    QVERIFY(dialog.existingFiles().isEmpty());
}

QTEST_MAIN(TestLabelEdit)
#include "tst_labeledit.moc"
