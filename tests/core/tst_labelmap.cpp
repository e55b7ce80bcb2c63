// SPDX-License-Identifier: MIT
// Label-map editing in core: brush strokes, merging, flood fill, reversible
// patches, label names and colours, and the export files (label PNG, colour
// PNG, overlay, JSON sidecar).
#include "support/atomicfile.h"
#include "support/error.h"
#include "labels/labelmap.h"
#include "image/overlay.h"
#include "testsupport.h"

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <QTemporaryDir>
#include <QtTest>

using namespace primaps;

namespace {

using primaps::testing::sameMat;

// Left half 1, right half 2, a 3 x 3 block of 3 in the middle of the left
// half and a separate 2 x 2 island of 1 inside the right half.
cv::Mat sampleMap()
{
    cv::Mat labels(20, 30, CV_8U, cv::Scalar(1));
    labels(cv::Rect(15, 0, 15, 20)).setTo(2);
    labels(cv::Rect(6, 8, 3, 3)).setTo(3);
    labels(cv::Rect(22, 4, 2, 2)).setTo(1);
    return labels;
}

} // namespace

class TestLabelMap : public QObject
{
    Q_OBJECT

private slots:
    void discHasTheExpectedPixels();
    void segmentIsACapsule();
    void strokeIsClippedToTheMap();
    void diffAndApplyRoundTrip();
    void replaceMergesOneLabelIntoAnother();
    void fillReassignsOnlyTheConnectedSegment();
    void countsLabels();
    void tableNamesAndColours();
    void sidecarRoundTrip();
    void sidecarRejectsOtherJson();
    void exportWritesWhatWasAsked();
    void badInputThrows();
};

void TestLabelMap::discHasTheExpectedPixels()
{
    cv::Mat labels(11, 11, CV_8U, cv::Scalar(0));
    const cv::Rect box = paintSegment(labels, {5, 5}, {5, 5}, 2, 7);
    // x^2 + y^2 <= 4 has 13 integer solutions.
    QCOMPARE(cv::countNonZero(labels), 13);
    QCOMPARE(box, cv::Rect(3, 3, 5, 5));
    QCOMPARE(int(labels.at<uchar>(5, 3)), 7);
    QCOMPARE(int(labels.at<uchar>(3, 5)), 7);
    QCOMPARE(int(labels.at<uchar>(4, 4)), 7);
    QCOMPARE(int(labels.at<uchar>(3, 4)), 0); // 1 + 4 > 4
    // Radius 0 is a single pixel.
    labels.setTo(0);
    QCOMPARE(paintSegment(labels, {2, 9}, {2, 9}, 0, 1), cv::Rect(2, 9, 1, 1));
    QCOMPARE(cv::countNonZero(labels), 1);
}

void TestLabelMap::segmentIsACapsule()
{
    cv::Mat labels(12, 16, CV_8U, cv::Scalar(0));
    paintSegment(labels, {5, 5}, {10, 5}, 1, 4);
    // Row 5 from x 4 to 11 (8 pixels), rows 4 and 6 from x 5 to 10 (6 each).
    QCOMPARE(cv::countNonZero(labels), 20);
    QCOMPARE(cv::countNonZero(labels.row(5)), 8);
    QCOMPARE(cv::countNonZero(labels.row(4)), 6);
    QCOMPARE(int(labels.at<uchar>(4, 4)), 0);
    QCOMPARE(int(labels.at<uchar>(5, 11)), 4);
    // A diagonal stroke leaves no gaps along the line.
    labels.setTo(0);
    paintSegment(labels, {0, 0}, {11, 11}, 0, 9);
    for (int i = 0; i <= 11; ++i)
        QCOMPARE(int(labels.at<uchar>(i, i)), 9);
}

void TestLabelMap::strokeIsClippedToTheMap()
{
    cv::Mat labels(8, 8, CV_8U, cv::Scalar(0));
    const cv::Rect box = paintSegment(labels, {-1, -1}, {-1, -1}, 3, 5);
    QCOMPARE(box, cv::Rect(0, 0, 2, 2));
    // (0,0), (1,0), (0,1), (1,1) are within 3 of (-1,-1); (2,0) is not.
    QCOMPARE(cv::countNonZero(labels), 4);
    QVERIFY(paintSegment(labels, {-20, -20}, {-15, -20}, 2, 5).empty());
    QCOMPARE(cv::countNonZero(labels), 4);
}

void TestLabelMap::diffAndApplyRoundTrip()
{
    const cv::Mat before = sampleMap();
    cv::Mat after = before.clone();
    paintSegment(after, {3, 3}, {12, 15}, 2, 9);
    after.at<uchar>(19, 29) = 0;

    const LabelPatch patch = diffLabels(before, after);
    QVERIFY(!patch.empty());
    QCOMPARE(patch.rect.br(), cv::Point(30, 20)); // reaches the changed corner
    QCOMPARE(patch.changedPixels(), std::int64_t(cv::countNonZero(before != after)));

    cv::Mat map = before.clone();
    applyPatch(map, patch, true);
    QVERIFY(sameMat(map, after));
    applyPatch(map, patch, false);
    QVERIFY(sameMat(map, before));

    QVERIFY(diffLabels(before, before.clone()).empty());
    // A hint limits the search.
    QCOMPARE(diffLabels(before, after, cv::Rect(25, 15, 5, 5)).rect, cv::Rect(29, 19, 1, 1));
}

void TestLabelMap::replaceMergesOneLabelIntoAnother()
{
    const cv::Mat labels = sampleMap();
    const LabelPatch patch = replaceLabelPatch(labels, 1, 2);
    cv::Mat merged = labels.clone();
    applyPatch(merged, patch);
    const LabelCounts counts = countLabels(merged);
    QCOMPARE(counts[1], std::int64_t(0));
    QCOMPARE(counts[2], std::int64_t(20 * 30 - 9));
    QCOMPARE(counts[3], std::int64_t(9));
    // The island of 1 inside 2 went along: merge is by label, not by region.
    QCOMPARE(int(merged.at<uchar>(4, 22)), 2);
    QVERIFY(replaceLabelPatch(labels, 7, 2).empty());
    QVERIFY(replaceLabelPatch(labels, 2, 2).empty());
}

void TestLabelMap::fillReassignsOnlyTheConnectedSegment()
{
    const cv::Mat labels = sampleMap();
    const LabelPatch patch = fillRegionPatch(labels, {22, 4}, 5);
    QCOMPARE(patch.rect, cv::Rect(22, 4, 2, 2));
    cv::Mat filled = labels.clone();
    applyPatch(filled, patch);
    QCOMPARE(countLabels(filled)[5], std::int64_t(4));
    // The left half (also 1) is not connected to the island.
    QCOMPARE(int(filled.at<uchar>(0, 0)), 1);

    // 4-connectivity: a diagonal neighbour does not join the region.
    cv::Mat diagonal(3, 3, CV_8U, cv::Scalar(0));
    diagonal.at<uchar>(0, 0) = 1;
    diagonal.at<uchar>(1, 1) = 1;
    const LabelPatch one = fillRegionPatch(diagonal, {0, 0}, 4);
    QCOMPARE(one.changedPixels(), std::int64_t(1));

    QVERIFY(fillRegionPatch(labels, {0, 0}, 1).empty()); // already that label
    QVERIFY(fillRegionPatch(labels, {-1, 0}, 4).empty());
}

void TestLabelMap::countsLabels()
{
    const cv::Mat labels = sampleMap();
    const LabelCounts all = countLabels(labels);
    QCOMPARE(all[1], std::int64_t(15 * 20 - 9 + 4));
    QCOMPARE(all[2], std::int64_t(15 * 20 - 4));
    QCOMPARE(all[3], std::int64_t(9));
    QCOMPARE(countLabels(labels, cv::Rect(6, 8, 3, 3))[3], std::int64_t(9));
    QCOMPARE(labelBounds(labels, 3), cv::Rect(6, 8, 3, 3));
    QVERIFY(labelBounds(labels, 9).empty());
}

void TestLabelMap::tableNamesAndColours()
{
    LabelTable table;
    QCOMPARE(table.name(0), std::string("background"));
    QCOMPARE(table.name(4), std::string("mask 4"));
    QCOMPARE(table.color(4), labelColor(4));
    QVERIFY(table.empty());

    table.setName(4, "sky");
    table.setColor(2, cv::Vec3b(1, 2, 3));
    QCOMPARE(table.name(4), std::string("sky"));
    QCOMPARE(table.color(2), cv::Vec3b(1, 2, 3));
    QCOMPARE(table.customisedIds(), std::vector<int>({2, 4}));

    const cv::Mat colored = colorizeLabels(sampleMap(), table);
    QCOMPARE(colored.at<cv::Vec3b>(0, 29), cv::Vec3b(1, 2, 3));
    QCOMPARE(colored.at<cv::Vec3b>(0, 0), labelColor(1));

    // The default name or colour is no customisation.
    table.setName(4, "mask 4");
    table.setColor(2, labelColor(2));
    QVERIFY(table.empty());
}

void TestLabelMap::sidecarRoundTrip()
{
    LabelTable table;
    table.setName(2, "road \"north\"");
    table.setColor(2, cv::Vec3b(10, 200, 30));
    table.setName(9, "unused but named");
    const std::string text = labelSidecarJson(sampleMap(), table, "street.jpg");

    const nlohmann::json json = nlohmann::json::parse(text);
    QCOMPARE(json["format"].get<std::string>(), std::string("primaps-labels"));
    QCOMPARE(json["image"].get<std::string>(), std::string("street.jpg"));
    QCOMPARE(json["width"].get<int>(), 30);
    QCOMPARE(json["labels"].size(), std::size_t(4)); // 1, 2, 3 present, 9 named
    QCOMPARE(json["labels"][1]["color"].get<std::string>(), std::string("#0ac81e"));
    QCOMPARE(json["labels"][1]["pixels"].get<int>(), 15 * 20 - 4);
    QCOMPARE(json["labels"][3]["pixels"].get<int>(), 0);

    QVERIFY(parseLabelSidecar(text) == table);
}

void TestLabelMap::sidecarRejectsOtherJson()
{
    using testing::errorOf;
    QVERIFY(!errorOf([] { parseLabelSidecar("{\"labels\": []}"); }).empty());
    QVERIFY(!errorOf([] { parseLabelSidecar("not json"); }).empty());
    QVERIFY(!errorOf([] {
                parseLabelSidecar(
                    R"({"format":"primaps-labels","labels":[{"id":300,"name":"x"}]})");
            }).empty());
    QVERIFY(!errorOf([] {
                parseLabelSidecar(
                    R"({"format":"primaps-labels","labels":[{"id":3,"color":"red"}]})");
            }).empty());
}

void TestLabelMap::exportWritesWhatWasAsked()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const std::string target = dir.filePath(QStringLiteral("street_labels.png")).toStdString();
    LabelExportOptions options;
    options.colorPng = true;
    options.overlayPng = true;
    options.sidecar = true;
    const LabelExportFiles files = labelExportFiles(target, options);
    QCOMPARE(files.color, dir.filePath(QStringLiteral("street_labels_color.png")).toStdString());
    QCOMPARE(files.overlay,
             dir.filePath(QStringLiteral("street_labels_overlay.png")).toStdString());
    QCOMPARE(files.sidecar, dir.filePath(QStringLiteral("street_labels.json")).toStdString());
    QCOMPARE(files.all().size(), std::size_t(4));

    cv::Mat labels = sampleMap();
    labels.at<uchar>(0, 0) = 200; // ids are written as they are, not remapped
    LabelTable table;
    table.setColor(3, cv::Vec3b(250, 0, 0));
    const cv::Mat rgb = testing::patternedImage(labels.rows, labels.cols);
    writeLabelExport(files, labels, table, rgb, "street.jpg", 0.5f);

    const cv::Mat read = cv::imread(files.labels, cv::IMREAD_UNCHANGED);
    QVERIFY(sameMat(read, labels));
    const cv::Mat color = cv::imread(files.color, cv::IMREAD_COLOR); // BGR
    QCOMPARE(color.at<cv::Vec3b>(9, 7), cv::Vec3b(0, 0, 250));
    const cv::Mat overlay = cv::imread(files.overlay, cv::IMREAD_COLOR);
    QCOMPARE(overlay.size(), labels.size());
    QVERIFY(parseLabelSidecar(readFile(files.sidecar)) == table);

    // Nothing else requested, nothing else written.
    QTemporaryDir other;
    const LabelExportFiles only =
        labelExportFiles(other.filePath(QStringLiteral("a.png")).toStdString(),
                         LabelExportOptions{false, false, false, 0.6f});
    QCOMPARE(only.all().size(), std::size_t(1));
    writeLabelExport(only, labels, table, cv::Mat(), "a.jpg", 0.6f);
    QCOMPARE(int(QDir(other.path()).entryList(QDir::Files).size()), 1);
}

void TestLabelMap::badInputThrows()
{
    using testing::errorOf;
    cv::Mat wrong(4, 4, CV_32F, cv::Scalar(0));
    QVERIFY(!errorOf([&] { paintSegment(wrong, {1, 1}, {1, 1}, 1, 1); }).empty());
    cv::Mat labels(4, 4, CV_8U, cv::Scalar(0));
    LabelPatch outside;
    outside.rect = cv::Rect(3, 3, 2, 2);
    outside.before = cv::Mat(2, 2, CV_8U, cv::Scalar(0));
    outside.after = outside.before.clone();
    QVERIFY(!errorOf([&] { applyPatch(labels, outside); }).empty());
    // The overlay needs the photo.
    QTemporaryDir dir;
    LabelExportOptions options;
    options.overlayPng = true;
    const LabelExportFiles files =
        labelExportFiles(dir.filePath(QStringLiteral("x.png")).toStdString(), options);
    QVERIFY(!errorOf([&] {
                writeLabelExport(files, labels, LabelTable(), cv::Mat(), "x.jpg", 0.5f);
            }).empty());
    QVERIFY(QDir(dir.path()).entryList(QDir::Files).isEmpty()); // nothing half-done
}

QTEST_APPLESS_MAIN(TestLabelMap)
#include "tst_labelmap.moc"
