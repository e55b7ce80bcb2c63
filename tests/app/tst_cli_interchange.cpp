// SPDX-License-Identifier: MIT
// Annotation-tool formats out and corrections back in: `primaps export --format
// coco,coco-panoptic,cvat,labelstudio --palette` and `primaps import` on a run
// fitted here, in a folder whose path has spaces and non-ASCII letters. Every
// format is decoded by a decoder written in this file from the published
// definition (COCO's compressed RLE, CVAT's zip and colours, Label Studio's
// brush RLE, PNG palettes through OpenCV) and must give back the label files
// exactly; tiny hand-written cases pin the encodings down to the bit.
#include "interchange/rle.h"
#include "interchange/sha256.h"
#include "testsupport.h"

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <QDirIterator>
#include <QTemporaryDir>
#include <QtTest>
#include <zip.h>

namespace {

using nlohmann::json;
using Run = primaps::testing::CliRun;
namespace ix = primaps::interchange;

Run runCli(const QStringList& args)
{
    return primaps::testing::runProgram(PRIMAPS_CLI, args);
}

json readJson(const QString& path)
{
    std::ifstream in(path.toStdString());
    return json::parse(in);
}

void writeText(const QString& path, const std::string& text)
{
    std::ofstream(path.toStdString(), std::ios::binary) << text;
}

cv::Mat readGrey(const QString& path)
{
    return cv::imread(path.toStdString(), cv::IMREAD_UNCHANGED);
}

// COCO's compressed RLE decoded from the definition (pycocotools' maskApi.c,
// rleFrString): 5-bit little-endian groups, char - 48, 0x20 = more groups,
// 0x10 of the last group = negative; counts after the second are deltas to the
// count two before. Returns the column-major run lengths.
std::vector<long> decodeCocoString(const std::string& s)
{
    std::vector<long> counts;
    std::size_t p = 0;
    while (p < s.size()) {
        // Assembled unsigned: maskApi.c's `x |= -1 << 5 * k` shifts a negative
        // value, which C++17 leaves undefined (UBSan).
        unsigned long bits = 0;
        int k = 0;
        int c = 0;
        do {
            c = s[p++] - 48;
            bits |= static_cast<unsigned long>(c & 0x1f) << (5 * k++);
        } while (c & 0x20);
        if (c & 0x10)
            bits |= ~0UL << (5 * k);
        long x = static_cast<long>(bits);
        if (counts.size() > 2)
            x += counts[counts.size() - 2];
        counts.push_back(x);
    }
    return counts;
}

cv::Mat maskFromColumnRuns(const std::vector<long>& counts, int h, int w)
{
    cv::Mat m(h, w, CV_8UC1, cv::Scalar(0));
    long pos = 0;
    for (std::size_t i = 0; i < counts.size(); ++i) {
        for (long k = 0; k < counts[i]; ++k, ++pos)
            if (i % 2)
                m.at<std::uint8_t>(int(pos % h), int(pos / h)) = 1;
    }
    return m;
}

// Label Studio's brush RLE from its definition (label-studio-converter's
// decode_rle over a bit string): 32-bit count, 5-bit word size - 1, four 4-bit
// width - 1 fields, then blocks [repeat bit][2-bit width index][length - 1][values].
std::vector<int> decodeBrush(const std::vector<int>& bytes)
{
    std::string bits;
    for (int b : bytes)
        for (int i = 7; i >= 0; --i)
            bits += ((b >> i) & 1) ? '1' : '0';
    std::size_t at = 0;
    auto read = [&](int n) {
        long v = std::stol(bits.substr(at, std::size_t(n)), nullptr, 2);
        at += std::size_t(n);
        return v;
    };
    const long num = read(32);
    const int word = int(read(5)) + 1;
    int sizes[4];
    for (int& s : sizes)
        s = int(read(4)) + 1;
    std::vector<int> out;
    while (long(out.size()) < num) {
        const long x = read(1);
        const long j = long(out.size()) + 1 + read(sizes[read(2)]);
        if (x) {
            const int v = int(read(word));
            while (long(out.size()) < j)
                out.push_back(v);
        } else {
            while (long(out.size()) < j)
                out.push_back(int(read(word)));
        }
    }
    return out;
}

std::string zipEntry(zip_t* z, const std::string& name)
{
    zip_stat_t st;
    if (zip_stat(z, name.c_str(), 0, &st) != 0)
        return {};
    zip_file_t* f = zip_fopen(z, name.c_str(), 0);
    std::string bytes(std::size_t(st.size), '\0');
    zip_fread(f, bytes.data(), st.size);
    zip_fclose(f);
    return bytes;
}

cv::Mat decodeImage(const std::string& bytes)
{
    return cv::imdecode(std::vector<std::uint8_t>(bytes.begin(), bytes.end()), cv::IMREAD_COLOR);
}

} // namespace

class TestCliInterchange : public QObject
{
    Q_OBJECT

    QTemporaryDir tmp;
    QString base, ds, run, out;
    QStringList data;
    std::map<std::string, cv::Mat> labels; // item id -> exported label values
    std::map<std::string, int> classOfName;

    QString path(const QString& name) const { return QDir(base).filePath(name); }

private slots:
    void initTestCase()
    {
        // Spaces and letters beyond ASCII in every path the formats record.
        base = QDir(tmp.path()).filePath(QString::fromUtf8("Bäume und Straßen – 試験"));
        QVERIFY(QDir().mkpath(base));
        ds = path("data set");
        primaps::testing::writeDiscAndBoxDataset(ds, 6, 40, QStringLiteral("bild %1"));
        run = path("run ü");
        data = {"--dataset", "folder", "--root", ds};
        const Run fit = runCli(QStringList{"fit", "--out", run, "--epochs", "2", "--batch-size",
                                           "3", "--resolution", "64", "-q"} + data);
        QVERIFY2(fit.exitCode == 0, qPrintable(fit.err));
        out = path("export ö");
        const Run ex = runCli(QStringList{"export", "--run", run, "--out", out, "--format",
                                          "coco,coco-panoptic,cvat,labelstudio", "-q"} + data);
        QVERIFY2(ex.exitCode == 0, qPrintable(ex.err + ex.out));
        const json manifest = readJson(QDir(out).filePath("manifest.json"));
        for (const json& im : manifest["images"]) {
            const cv::Mat v = readGrey(QDir(out).filePath(
                QString::fromStdString(im["labels"].get<std::string>())));
            QCOMPARE(v.type(), CV_8UC1);
            labels[im["id"].get<std::string>()] = v;
        }
        QCOMPARE(int(labels.size()), 6);
        for (const json& c : manifest["classes"])
            classOfName[c["name"].get<std::string>()] = c["value"].get<int>();
        // Provenance: tool version, run, backbone and digest, threshold, protocol, seed, date.
        const json p = manifest["provenance"];
        for (const char* key : {"version", "run", "backbone", "weights_sha256", "threshold",
                                "protocol", "seed", "written", "export_folder"})
            QVERIFY2(p.contains(key), key);
        QCOMPARE(p["backbone"].get<std::string>(), std::string("filterbank"));
    }

    // ---- hand-written golden cases ------------------------------------------

    void cocoRleGolden()
    {
        // 3 x 2, column-major: column 0 = (0, 1, 1), column 1 = (1, 0, 0) ->
        // runs 1 out, 3 in, 2 out -> counts [1, 3, 2] -> "13" + "2" = "132".
        cv::Mat m = (cv::Mat_<std::uint8_t>(3, 2) << 0, 1, 1, 0, 1, 0);
        QCOMPARE(ix::cocoRunLengths(m), (std::vector<std::uint32_t>{1, 3, 2}));
        QCOMPARE(ix::cocoRleString({1, 3, 2}), std::string("132"));
        // 40 = 0b1'01000 needs two groups: 8 with the 0x20 "more" bit ('X' = 48 +
        // 40), then 1 ('1'). The fourth count is stored as its difference to the
        // count two before, 5 - 40 = -35: 29 with "more" ('m' = 48 + 61), then 30,
        // whose 0x10 bit marks the end of a negative value ('N' = 48 + 30).
        QCOMPARE(ix::cocoRleString({0, 40, 1, 5}), std::string("0X11mN"));
        QCOMPARE(decodeCocoString("0X11mN"), (std::vector<long>{0, 40, 1, 5}));
        // A negative difference: 4th = 1, 2nd = 40 -> -39 = two groups with sign.
        const std::string s = ix::cocoRleString({0, 40, 1, 1});
        QCOMPARE(decodeCocoString(s), (std::vector<long>{0, 40, 1, 1}));
        QCOMPARE(ix::parseCocoRleString(s), (std::vector<std::uint32_t>{0, 40, 1, 1}));
        QVERIFY(!primaps::testing::errorOf([] { ix::parseCocoRleString("0~"); }).empty());
        // The extremes of 32-bit runs: differences of -(2^32 - 2) and +(2^32 - 2)
        // need all seven groups with their sign, in both decoders.
        const std::vector<std::uint32_t> extremes = {0, 4294967295u, 1, 1, 0, 4294967295u, 7};
        const std::string wide = ix::cocoRleString(extremes);
        QCOMPARE(ix::parseCocoRleString(wide), extremes);
        QCOMPARE(decodeCocoString(wide), std::vector<long>(extremes.begin(), extremes.end()));
        // Refused: eight groups (more than any 32-bit run needs) and a first count of
        // 2^33 (six empty groups with "more", 'P' = 48 + 32, then 8 in the seventh).
        QVERIFY(primaps::testing::errorOf([] { ix::parseCocoRleString("PPPPPPP0"); })
                    .find("longer than 7") != std::string::npos);
        QVERIFY(primaps::testing::errorOf([] { ix::parseCocoRleString("PPPPPP8"); })
                    .find("beyond 2^32 - 1") != std::string::npos);
        // A difference that makes a run negative: 2nd = 1, 4th = 1 + (-2) (-2 = 'N').
        QVERIFY(primaps::testing::errorOf([] { ix::parseCocoRleString("011N"); })
                    .find("negative") != std::string::npos);
    }

    void brushRleGolden()
    {
        // Three values 7, 7, 9: header 32 bits (3), 5 bits (7), 2,3,7,15 in 4 bits;
        // then [1][00][001][00000111] (two 7s) and [0][00][000][00001001] (one 9).
        const std::string bits = std::string(30, '0') + "11" + "00111" + "0010" + "0011" +
                                 "0111" + "1111" + "1" + "00" + "001" + "00000111" + "0" + "00" +
                                 "000" + "00001001";
        std::string padded = bits + std::string((8 - bits.size() % 8) % 8, '0');
        std::vector<std::uint8_t> expected;
        for (std::size_t i = 0; i < padded.size(); i += 8)
            expected.push_back(std::uint8_t(std::stoi(padded.substr(i, 8), nullptr, 2)));
        QCOMPARE(ix::brushRleEncode({7, 7, 9}), expected);
        QCOMPARE(ix::brushRleDecode(expected), (std::vector<std::uint8_t>{7, 7, 9}));
        // A 2 x 3 mask: its RGBA bytes, decoded by the definition, alpha = mask.
        const cv::Mat m = (cv::Mat_<std::uint8_t>(2, 3) << 1, 0, 0, 1, 1, 0);
        const std::vector<std::uint8_t> rle = ix::brushRleFromMask(m);
        const std::vector<int> rgba = decodeBrush(std::vector<int>(rle.begin(), rle.end()));
        QCOMPARE(int(rgba.size()), 24);
        for (int k = 0; k < 6; ++k)
            QCOMPARE(rgba[std::size_t(4 * k + 3)], m.at<std::uint8_t>(k / 3, k % 3) ? 255 : 0);
    }

    void sha256KnownDigest()
    {
        QCOMPARE(ix::sha256Hex("abc"),
                 std::string("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
        QCOMPARE(ix::sha256Hex(""),
                 std::string("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    }

    // ---- every format decodes to the label files ----------------------------

    void cocoDecodesToTheLabels()
    {
        const json coco = readJson(QDir(out).filePath("coco_all.json"));
        QVERIFY(coco["info"]["primaps"].contains("weights_sha256"));
        std::map<int, int> valueOfCategory;
        for (const json& c : coco["categories"])
            valueOfCategory[c["id"].get<int>()] = classOfName.at(c["name"].get<std::string>());
        std::map<int, cv::Mat> rebuilt;
        std::map<int, std::string> idOfImage;
        for (const json& im : coco["images"]) {
            idOfImage[im["id"].get<int>()] = im["primaps_item"].get<std::string>();
            rebuilt[im["id"].get<int>()] =
                cv::Mat(im["height"].get<int>(), im["width"].get<int>(), CV_8UC1, cv::Scalar(255));
            QVERIFY(QFileInfo::exists(
                QDir(ds).filePath(QString::fromStdString(im["file_name"].get<std::string>()))));
        }
        int annotations = 0;
        for (const json& a : coco["annotations"]) {
            QCOMPARE(a["iscrowd"].get<int>(), 0);
            cv::Mat& target = rebuilt[a["image_id"].get<int>()];
            const cv::Mat mask =
                maskFromColumnRuns(decodeCocoString(a["segmentation"]["counts"].get<std::string>()),
                                   target.rows, target.cols);
            QCOMPARE(a["area"].get<int>(), cv::countNonZero(mask));
            target.setTo(valueOfCategory.at(a["category_id"].get<int>()), mask);
            ++annotations;
        }
        QVERIFY(annotations >= 6);
        for (const auto& [id, m] : rebuilt)
            QVERIFY2(primaps::testing::sameMat(m, labels.at(idOfImage[id])), idOfImage[id].c_str());
    }

    void panopticDecodesToTheLabels()
    {
        const json p = readJson(QDir(out).filePath("panoptic_all.json"));
        std::map<int, int> valueOfCategory;
        for (const json& c : p["categories"])
            valueOfCategory[c["id"].get<int>()] = classOfName.at(c["name"].get<std::string>());
        std::map<int, std::string> idOfImage;
        for (const json& im : p["images"])
            idOfImage[im["id"].get<int>()] = im["primaps_item"].get<std::string>();
        for (const json& a : p["annotations"]) {
            const cv::Mat bgr = cv::imread(
                QDir(out).filePath("panoptic_all/" +
                                   QString::fromStdString(a["file_name"].get<std::string>()))
                    .toStdString(),
                cv::IMREAD_COLOR);
            std::map<int, int> valueOfSegment;
            for (const json& s : a["segments_info"])
                valueOfSegment[s["id"].get<int>()] = valueOfCategory.at(s["category_id"].get<int>());
            cv::Mat rebuilt(bgr.size(), CV_8UC1, cv::Scalar(255));
            for (int y = 0; y < bgr.rows; ++y)
                for (int x = 0; x < bgr.cols; ++x) {
                    const cv::Vec3b c = bgr.at<cv::Vec3b>(y, x); // B, G, R
                    const int id = c[2] + 256 * c[1] + 65536 * c[0];
                    if (id)
                        rebuilt.at<std::uint8_t>(y, x) = std::uint8_t(valueOfSegment.at(id));
                }
            QVERIFY(primaps::testing::sameMat(rebuilt, labels.at(idOfImage[a["image_id"].get<int>()])));
        }
    }

    void cvatZipDecodesToTheLabels()
    {
        const std::string zipPath = QDir(out).filePath("cvat_all.zip").toStdString();
        int error = 0;
        zip_t* z = zip_open(zipPath.c_str(), ZIP_RDONLY, &error);
        QVERIFY(z);
        std::set<std::string> names;
        for (zip_int64_t i = 0; i < zip_get_num_entries(z, 0); ++i)
            names.insert(zip_get_name(z, zip_uint64_t(i), 0));
        QVERIFY(names.count("labelmap.txt"));
        QVERIFY(names.count("ImageSets/Segmentation/default.txt"));
        std::map<std::uint32_t, int> valueOfColour;
        std::istringstream labelmap(zipEntry(z, "labelmap.txt"));
        for (std::string line; std::getline(labelmap, line);) {
            if (line.empty() || line[0] == '#')
                continue;
            const std::string name = line.substr(0, line.find(':'));
            int r, g, b;
            QCOMPARE(std::sscanf(line.c_str() + name.size() + 1, "%d,%d,%d", &r, &g, &b), 3);
            valueOfColour[std::uint32_t(r << 16 | g << 8 | b)] =
                name == "background" ? 255 : classOfName.at(name);
        }
        QCOMPARE(int(valueOfColour.size()), 4); // background + three classes, distinct colours
        std::istringstream list(zipEntry(z, "ImageSets/Segmentation/default.txt"));
        int listed = 0;
        for (std::string id; std::getline(list, id); ++listed) {
            QVERIFY(names.count("SegmentationClass/" + id + ".png"));
            const cv::Mat cls = decodeImage(zipEntry(z, "SegmentationClass/" + id + ".png"));
            const cv::Mat obj = decodeImage(zipEntry(z, "SegmentationObject/" + id + ".png"));
            cv::Mat rebuilt(cls.size(), CV_8UC1);
            std::map<std::uint32_t, int> classOfInstance;
            for (int y = 0; y < cls.rows; ++y)
                for (int x = 0; x < cls.cols; ++x) {
                    const cv::Vec3b c = cls.at<cv::Vec3b>(y, x);
                    rebuilt.at<std::uint8_t>(y, x) =
                        std::uint8_t(valueOfColour.at(std::uint32_t(c[2] << 16 | c[1] << 8 | c[0])));
                    // An instance never spans two classes.
                    const cv::Vec3b o = obj.at<cv::Vec3b>(y, x);
                    const std::uint32_t key = std::uint32_t(o[2] << 16 | o[1] << 8 | o[0]);
                    const auto seen = classOfInstance.emplace(key, rebuilt.at<std::uint8_t>(y, x));
                    QCOMPARE(seen.first->second, int(rebuilt.at<std::uint8_t>(y, x)));
                }
            QVERIFY2(primaps::testing::sameMat(rebuilt, labels.at(id)), id.c_str());
        }
        QCOMPARE(listed, 6);
        zip_discard(z);
    }

    void labelStudioDecodesToTheLabels()
    {
        const json tasks = readJson(QDir(out).filePath("labelstudio_all.json"));
        std::ifstream xmlIn(QDir(out).filePath("labelstudio_config.xml").toStdString());
        const std::string xml((std::istreambuf_iterator<char>(xmlIn)), {});
        for (const auto& [name, value] : classOfName)
            QVERIFY(xml.find("<Label value=\"" + name + "\"") != std::string::npos);
        QCOMPARE(int(tasks.size()), 6);
        for (const json& t : tasks) {
            const std::string id = t["data"]["primaps"]["item"].get<std::string>();
            const cv::Mat& expected = labels.at(id);
            cv::Mat rebuilt(expected.size(), CV_8UC1, cv::Scalar(255));
            for (const json& r : t["predictions"][0]["result"]) {
                QCOMPARE(r["type"].get<std::string>(), std::string("brushlabels"));
                const std::vector<int> rgba = decodeBrush(r["value"]["rle"].get<std::vector<int>>());
                QCOMPARE(int(rgba.size()), expected.rows * expected.cols * 4);
                const int v = classOfName.at(r["value"]["brushlabels"][0].get<std::string>());
                for (int k = 0; k < expected.rows * expected.cols; ++k)
                    if (rgba[std::size_t(4 * k + 3)])
                        rebuilt.at<std::uint8_t>(k / expected.cols, k % expected.cols) = std::uint8_t(v);
            }
            QVERIFY2(primaps::testing::sameMat(rebuilt, expected), id.c_str());
        }
    }

    void paletteLabelsShowTheClassColours()
    {
        const QString pal = path("palette export");
        const Run r = runCli(QStringList{"export", "--run", run, "--out", pal, "--palette", "-q"} +
                             data);
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        const json manifest = readJson(QDir(pal).filePath("manifest.json"));
        std::map<int, cv::Vec3b> colour;
        for (const json& c : manifest["classes"])
            colour[c["value"].get<int>()] = cv::Vec3b(c["colour"][2].get<std::uint8_t>(),
                                                      c["colour"][1].get<std::uint8_t>(),
                                                      c["colour"][0].get<std::uint8_t>());
        colour[255] = cv::Vec3b(0, 0, 0);
        for (const auto& [id, values] : labels) {
            const QString file = QDir(pal).filePath("labels/" + QString::fromStdString(id) + ".png");
            // OpenCV expands the palette: the picture is the class colours.
            const cv::Mat bgr = cv::imread(file.toStdString(), cv::IMREAD_COLOR);
            for (int y = 0; y < values.rows; ++y)
                for (int x = 0; x < values.cols; ++x)
                    QCOMPARE(bgr.at<cv::Vec3b>(y, x), colour.at(values.at<std::uint8_t>(y, x)));
            // The PNG is colour type 3 (indexed): byte 25 of the IHDR.
            std::ifstream in(file.toStdString(), std::ios::binary);
            char header[26];
            in.read(header, 26);
            QCOMPARE(int(header[25]), 3);
        }
    }

    // ---- import: no change, a known edit, unknown labels ----------------------

    void unchangedImportsReportZero_data()
    {
        QTest::addColumn<QString>("format");
        QTest::addColumn<QString>("file");
        QTest::newRow("coco") << "coco" << "coco_all.json";
        QTest::newRow("cvat") << "cvat" << "cvat_all.zip";
        QTest::newRow("labelstudio") << "labelstudio" << "accepted.json";
        QTest::newRow("png") << "png" << ".";
    }

    void unchangedImportsReportZero()
    {
        QFETCH(QString, format);
        QFETCH(QString, file);
        // Label Studio: the annotator accepted every prediction as it was.
        json tasks = readJson(QDir(out).filePath("labelstudio_all.json"));
        for (json& t : tasks)
            t["annotations"] = json::array({{{"result", t["predictions"][0]["result"]}}});
        writeText(path("accepted.json"), tasks.dump());
        const QString input = file == "accepted.json" ? path(file) : QDir(out).filePath(file);
        const Run r = runCli({"import", "--format", format, input, "--run", run, "--json", "-q"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err + r.out));
        const json report = json::parse(r.out.toStdString());
        QCOMPARE(report["changed_pixels"].get<long>(), 0L);
        QCOMPARE(int(report["images"].size()), 6);
        QCOMPARE(report["stored"].get<int>(), 0);
        for (const json& c : report["classes"])
            if (!c["iou"].is_null())
                QCOMPARE(c["iou"].get<double>(), 1.0);
        QVERIFY(!QDir(QDir(run).filePath("corrections")).exists() ||
                QDir(QDir(run).filePath("corrections")).isEmpty());
    }

    void labelStudioTasksFoundByTheirImageUrl()
    {
        // Tasks re-created in Label Studio lose our data.primaps: the image URL
        // (percent-encoded) names the image, and --export the export.
        json tasks = readJson(QDir(out).filePath("labelstudio_all.json"));
        for (json& t : tasks) {
            std::string url = t["data"]["image"].get<std::string>();
            for (std::size_t p; (p = url.find(' ')) != std::string::npos;)
                url.replace(p, 1, "%20");
            t["data"] = {{"image", url}};
            t["annotations"] = json::array({{{"result", t["predictions"][0]["result"]}}});
        }
        writeText(path("urls.json"), tasks.dump());
        const Run r = runCli({"import", "--format", "labelstudio", path("urls.json"), "--run", run,
                              "--export", out, "--json", "-q"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err + r.out));
        const json report = json::parse(r.out.toStdString());
        QCOMPARE(int(report["images"].size()), 6);
        QCOMPARE(report["changed_pixels"].get<long>(), 0L);
    }

    void knownEditIsReportedAndStoredExactly()
    {
        // An export at the run's crop, so that the stored correction is the edit itself.
        const QString prepared = path("prepared export");
        const Run ex = runCli(QStringList{"export", "--run", run, "--out", prepared, "--size",
                                          "prepared", "--format", "coco", "-q"} + data);
        QVERIFY2(ex.exitCode == 0, qPrintable(ex.err));
        const json manifest = readJson(QDir(prepared).filePath("manifest.json"));
        const std::string id = manifest["images"][0]["id"].get<std::string>();
        const cv::Mat before = readGrey(QDir(prepared).filePath(
            QString::fromStdString(manifest["images"][0]["labels"].get<std::string>())));
        // Paint a 7 x 5 block with a class it does not have and erase a 3 x 2
        // block to ignore.
        const int painted = (before.at<std::uint8_t>(14, 13) + 1) % 3;
        std::string paintedName;
        for (const auto& [name, value] : classOfName)
            if (value == painted)
                paintedName = name;
        cv::Mat after = before.clone();
        after(cv::Rect(10, 12, 7, 5)).setTo(painted);
        after(cv::Rect(40, 40, 3, 2)).setTo(255);
        const long expected = long(cv::countNonZero(before != after));
        QVERIFY(expected > 0);
        const long boxBefore = cv::countNonZero(before == painted);
        const long boxAfter = cv::countNonZero(after == painted);
        const long boxChanged = cv::countNonZero((before == painted) != (after == painted));
        QVERIFY(boxChanged > 0);
        // The corrected COCO file: the image's annotations rewritten from `after`.
        json coco = readJson(QDir(prepared).filePath("coco_all.json"));
        json kept = json::array();
        for (const json& a : coco["annotations"])
            if (a["image_id"].get<int>() != 1)
                kept.push_back(a);
        for (const json& c : coco["categories"]) {
            const cv::Mat mask = after == classOfName.at(c["name"].get<std::string>());
            if (cv::countNonZero(mask) == 0)
                continue;
            kept.push_back({{"id", 9000 + c["id"].get<int>()},
                            {"image_id", 1},
                            {"category_id", c["id"]},
                            {"segmentation",
                             {{"size", {after.rows, after.cols}},
                              {"counts", ix::cocoRunLengths(mask)}}}, // uncompressed form
                            {"iscrowd", 0}});
        }
        coco["annotations"] = kept;
        QCOMPARE(coco["images"][0]["primaps_item"].get<std::string>(), id);
        writeText(path("corrected coco.json"), coco.dump());
        const Run r = runCli({"import", "--format", "coco", path("corrected coco.json"), "--run",
                              run, "--json", "-q"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err + r.out));
        const json report = json::parse(r.out.toStdString());
        QCOMPARE(report["changed_pixels"].get<long>(), expected);
        QCOMPARE(report["stored"].get<int>(), 1);
        const json* boxEntry = nullptr;
        for (const json& im : report["images"])
            if (im["id"].get<std::string>() == id)
                for (const json& c : im["classes"])
                    if (c["name"].get<std::string>() == paintedName)
                        boxEntry = &c;
        QVERIFY2(boxEntry, qPrintable(r.out));
        const json& box = *boxEntry;
        QCOMPARE(box["changed_pixels"].get<long>(), boxChanged);
        QCOMPARE(box["pseudo_label_pixels"].get<long>(), boxBefore);
        QCOMPARE(box["corrected_pixels"].get<long>(), boxAfter);
        const long inter = cv::countNonZero((before == painted) & (after == painted));
        const long uni = cv::countNonZero((before == painted) | (after == painted));
        QCOMPARE(box["iou"].get<double>(), double(inter) / double(uni));
        for (const json& im : report["images"])
            QCOMPARE(im["changed_pixels"].get<long>(), im["id"].get<std::string>() == id ? expected : 0L);

        // `primaps export` applies the stored correction: the labels are `after`.
        const QString again = path("after correction");
        const Run ex2 = runCli(QStringList{"export", "--run", run, "--out", again, "--size",
                                           "prepared", "-q"} + data);
        QVERIFY2(ex2.exitCode == 0, qPrintable(ex2.err));
        QVERIFY(primaps::testing::sameMat(
            readGrey(QDir(again).filePath("labels/" + QString::fromStdString(id) + ".png")), after));

        // Importing the same file again: nothing new to store.
        const Run r2 = runCli({"import", "--format", "coco", path("corrected coco.json"), "--run",
                               run, "--json", "-q"});
        QCOMPARE(json::parse(r2.out.toStdString())["unchanged"].get<int>(), 6);
        QVERIFY(QDir(QDir(run).filePath("corrections")).removeRecursively());
    }

    void unknownLabelNamesAreReportedNotGuessed()
    {
        json tasks = readJson(QDir(out).filePath("labelstudio_all.json"));
        json& first = tasks[0];
        json result = first["predictions"][0]["result"];
        // The annotator painted with a label the run does not have ("Box", not "box").
        const cv::Mat& shape = labels.at(first["data"]["primaps"]["item"].get<std::string>());
        cv::Mat mask(shape.size(), CV_8UC1, cv::Scalar(0));
        mask(cv::Rect(0, 0, 4, 3)).setTo(1);
        result.push_back({{"type", "brushlabels"},
                          {"original_width", shape.cols},
                          {"original_height", shape.rows},
                          {"value", {{"format", "rle"}, {"rle", ix::brushRleFromMask(mask)},
                                     {"brushlabels", {"Box"}}}}});
        first["annotations"] = json::array({{{"result", result}}});
        writeText(path("unknown.json"), json::array({first}).dump());
        const Run r = runCli({"import", "--format", "labelstudio", path("unknown.json"), "--run",
                              run, "--json", "-q"});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("unknown label 'Box' (12 pixel(s) in 1 image(s))"), qPrintable(r.err));
        const json report = json::parse(r.out.toStdString());
        QCOMPARE(report["changed_pixels"].get<long>(), 0L); // left as they were
        QCOMPARE(report["unknown_labels"][0]["name"].get<std::string>(), std::string("Box"));
        QCOMPARE(report["unknown_labels"][0]["pixels"].get<long>(), 12L);
    }

    void pngFolderEditAtTheImageSize()
    {
        // The export's labels copied and edited as an annotator would in an
        // image editor: values are the export's class values.
        const QString edited = path("edited labels");
        QVERIFY(QDir().mkpath(edited));
        const std::string id = labels.begin()->first;
        cv::Mat after = labels.begin()->second.clone();
        after(cv::Rect(20, 10, 9, 6)).setTo((after.at<std::uint8_t>(12, 24) + 1) % 3);
        const long expected = long(cv::countNonZero(after != labels.begin()->second));
        QVERIFY(cv::imwrite(QDir(edited).filePath(QString::fromStdString(id) + ".png").toStdString(),
                            after));
        const Run r = runCli({"import", "--format", "png", edited, "--run", run, "--export", out,
                              "--json", "-q"});
        QVERIFY2(r.exitCode == 0, qPrintable(r.err + r.out));
        const json report = json::parse(r.out.toStdString());
        QCOMPARE(report["changed_pixels"].get<long>(), expected);
        QCOMPARE(int(report["images"].size()), 1);
        QCOMPARE(report["stored"].get<int>(), 1);
        // Stored at the run's crop (64 x 64 here), where the edit covers crop pixels.
        const cv::Mat stored = cv::imread(
            QDir(run).filePath("corrections/" + QString::fromStdString(id) + ".png").toStdString(),
            cv::IMREAD_UNCHANGED);
        QCOMPARE(stored.cols, 64);
        QCOMPARE(stored.rows, 64);
        QVERIFY(cv::countNonZero(stored != 255) > 0);
        QVERIFY(QDir(QDir(run).filePath("corrections")).removeRecursively());
    }

    void anotherRunsExportIsRefused()
    {
        const Run r = runCli({"import", "--format", "coco", QDir(out).filePath("coco_all.json"),
                              "--run", ds, "-q"});
        QCOMPARE(r.exitCode, 2);
        QVERIFY2(r.err.contains("was exported from the run"), qPrintable(r.err));
    }

    void damagedAnnotationsAreReportedAndTheRestImported()
    {
        json coco = readJson(QDir(out).filePath("coco_all.json"));
        coco["annotations"][0]["segmentation"]["counts"] = "0~~"; // not COCO's alphabet
        writeText(path("damaged.json"), coco.dump());
        const Run r = runCli({"import", "--format", "coco", path("damaged.json"), "--run", run,
                              "--json", "--dry-run", "-q"});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("annotation 1:"), qPrintable(r.err));
        const json report = json::parse(r.out.toStdString());
        QCOMPARE(int(report["images"].size()), 6);
        QCOMPARE(int(report["problems"].size()), 1);
    }

    void existingFilesAreKeptWithoutOverwrite()
    {
        const QString coco = QDir(out).filePath("coco_all.json");
        std::ifstream in(coco.toStdString(), std::ios::binary);
        const std::string bytes((std::istreambuf_iterator<char>(in)), {});
        const Run r = runCli(QStringList{"export", "--run", run, "--out", out, "--format", "coco"} +
                             data);
        QVERIFY2(r.exitCode == 0, qPrintable(r.err));
        QVERIFY2(r.out.contains("kept: '"), qPrintable(r.out));
        std::ifstream again(coco.toStdString(), std::ios::binary);
        QCOMPARE(std::string((std::istreambuf_iterator<char>(again)), {}), bytes);
    }

    void interruptedExportLeavesThePreviousState()
    {
        // A split with an unreadable image never completes: the formats, which
        // hold the whole split, are not written, and nothing half-written remains.
        const QString broken = path("broken set");
        QVERIFY(QDir().mkpath(broken + "/images"));
        QVERIFY(QDir().mkpath(broken + "/labels"));
        for (int i = 0; i < 6; ++i) {
            const QString name = QString("bild %1.png").arg(i);
            QVERIFY(QFile::copy(QDir(ds).filePath("images/" + name), broken + "/images/" + name));
            QVERIFY(QFile::copy(QDir(ds).filePath("labels/" + name), broken + "/labels/" + name));
        }
        QVERIFY(QFile::copy(QDir(ds).filePath("classes.txt"), broken + "/classes.txt"));
        QFile damaged(broken + "/images/bild 3.png");
        QVERIFY(damaged.open(QIODevice::WriteOnly | QIODevice::Truncate));
        damaged.write("not a picture");
        damaged.close();
        const QString target = path("partial export");
        const Run r = runCli({"export", "--run", run, "--out", target, "--format", "coco,cvat",
                              "--dataset", "folder", "--root", broken, "--match",
                              QDir(out).filePath("match.json"), "-q"});
        QCOMPARE(r.exitCode, 1);
        QVERIFY(!QFileInfo::exists(QDir(target).filePath("coco_all.json")));
        QVERIFY(!QFileInfo::exists(QDir(target).filePath("cvat_all.zip")));
        QDirIterator it(target, QDir::Files | QDir::Hidden, QDirIterator::Subdirectories);
        while (it.hasNext())
            QVERIFY2(!it.next().contains(".tmp"), qPrintable(it.filePath()));
    }
};

QTEST_GUILESS_MAIN(TestCliInterchange)
#include "tst_cli_interchange.moc"
