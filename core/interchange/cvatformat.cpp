// SPDX-License-Identifier: MIT
// CVAT's "Segmentation mask 1.1" (Pascal VOC's segmentation layout, as CVAT
// imports and exports it): labelmap.txt ("name:r,g,b:parts:actions", black is
// the background), SegmentationClass/<image>.png in the label colours,
// SegmentationObject/<image>.png with one colour per instance (here: per
// connected component of a class), ImageSets/Segmentation/default.txt. Zipped
// with libzip into a temporary file that is renamed over the target.
#include "interchange/interchange.h"
#include "image/pngchunks.h"

#include "support/error.h"
#include "support/runtime.h"

#include <filesystem>
#include <map>
#include <memory>
#include <opencv2/imgcodecs.hpp>
#include <random>
#include <sstream>
#include <zip.h>

namespace primaps::interchange {

namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kMaxEntryBytes = 512ull << 20;

std::uint32_t rgbKey(std::uint8_t r, std::uint8_t g, std::uint8_t b)
{
    return std::uint32_t(r) << 16 | std::uint32_t(g) << 8 | b;
}

// Pascal VOC's instance colours: the bits of the index spread over the high
// bits of R, G and B (index 0 is black). A bijection over 24-bit indices.
cv::Vec3b instanceColour(int index)
{
    int r = 0, g = 0, b = 0, c = index;
    for (int j = 0; j < 8; ++j) {
        r |= ((c >> 0) & 1) << (7 - j);
        g |= ((c >> 1) & 1) << (7 - j);
        b |= ((c >> 2) & 1) << (7 - j);
        c >>= 3;
    }
    return cv::Vec3b(std::uint8_t(r), std::uint8_t(g), std::uint8_t(b));
}

std::string encodePng(const cv::Mat& bgr, const std::string& what)
{
    std::vector<std::uint8_t> bytes;
    if (!cv::imencode(".png", bgr, bytes))
        throw Error("cannot encode " + what);
    return std::string(bytes.begin(), bytes.end());
}

class ZipWriter
{
public:
    explicit ZipWriter(const std::string& path) : path_(path)
    {
        int error = 0;
        zip_ = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
        if (!zip_) {
            zip_error_t e;
            zip_error_init_with_code(&e, error);
            const std::string why = zip_error_strerror(&e);
            zip_error_fini(&e);
            throw Error("cannot create '" + path + "': " + why);
        }
    }
    ~ZipWriter()
    {
        if (zip_)
            zip_discard(zip_);
    }
    void add(const std::string& name, const std::string& bytes)
    {
        void* copy = std::malloc(bytes.size() ? bytes.size() : 1);
        if (!copy)
            throw Error("out of memory while zipping '" + path_ + "'");
        std::memcpy(copy, bytes.data(), bytes.size());
        zip_source_t* source = zip_source_buffer(zip_, copy, bytes.size(), 1);
        if (!source) {
            std::free(copy);
            throw Error("cannot add '" + name + "' to '" + path_ + "': " + zip_strerror(zip_));
        }
        if (zip_file_add(zip_, name.c_str(), source, ZIP_FL_ENC_UTF_8 | ZIP_FL_OVERWRITE) < 0) {
            zip_source_free(source);
            throw Error("cannot add '" + name + "' to '" + path_ + "': " + zip_strerror(zip_));
        }
    }
    void close()
    {
        if (zip_close(zip_) < 0) {
            const std::string why = zip_strerror(zip_);
            zip_discard(zip_);
            zip_ = nullptr;
            throw Error("cannot write '" + path_ + "': " + why);
        }
        zip_ = nullptr;
    }

private:
    std::string path_;
    zip_t* zip_ = nullptr;
};

std::string readEntry(zip_t* zip, zip_int64_t index, const std::string& name,
                      const std::string& path)
{
    zip_stat_t st;
    if (zip_stat_index(zip, zip_uint64_t(index), 0, &st) < 0 || !(st.valid & ZIP_STAT_SIZE))
        throw Error("'" + path + "': cannot read the entry '" + name + "'");
    if (st.size > kMaxEntryBytes)
        throw Error("'" + path + "': the entry '" + name + "' is larger than 512 MB");
    std::unique_ptr<zip_file_t, int (*)(zip_file_t*)> file(
        zip_fopen_index(zip, zip_uint64_t(index), 0), zip_fclose);
    if (!file)
        throw Error("'" + path + "': cannot open the entry '" + name + "': " + zip_strerror(zip));
    std::string bytes(std::size_t(st.size), '\0');
    if (zip_fread(file.get(), bytes.data(), st.size) != zip_int64_t(st.size))
        throw Error("'" + path + "': the entry '" + name + "' is damaged");
    return bytes;
}

} // namespace

std::vector<std::string> writeCvat(const InterchangeSet& set, std::vector<std::string>& kept)
{
    std::vector<std::string> written;
    const fs::path target = fs::path(set.outDir) / ("cvat_" + set.split + ".zip");
    std::error_code ec;
    if (!set.overwrite && fs::exists(target, ec)) {
        kept.push_back(target.string());
        return written;
    }
    const std::vector<cv::Vec3b> colours = distinctColours(set.classes);
    std::map<int, cv::Vec3b> colourOfValue;
    std::ostringstream labelmap;
    labelmap << "# label:color_rgb:parts:actions\nbackground:0,0,0::\n";
    for (std::size_t i = 0; i < set.classes.size(); ++i) {
        colourOfValue[set.classes[i].value] = colours[i];
        labelmap << set.classes[i].name << ":" << int(colours[i][0]) << "," << int(colours[i][1])
                 << "," << int(colours[i][2]) << "::\n";
    }
    // Beside the target, so that the rename stays on one file system.
    std::random_device random;
    const fs::path temporary =
        target.parent_path() / ("." + target.filename().string() + ".tmp" +
                                std::to_string(random() % 1000000));
    try {
        ZipWriter zip(temporary.string());
        zip.add("labelmap.txt", labelmap.str());
        std::string list;
        for (const InterchangeImage& image : set.images) {
            const cv::Mat values = readLabelValues(image.labelsPath);
            int count = 0;
            const cv::Mat components = componentsPerValue(values, set.ignoreValue, &count);
            cv::Mat classBgr(values.size(), CV_8UC3), objectBgr(values.size(), CV_8UC3);
            for (int y = 0; y < values.rows; ++y)
                for (int x = 0; x < values.cols; ++x) {
                    const auto c = colourOfValue.find(values.at<std::uint8_t>(y, x));
                    const cv::Vec3b rgb = c == colourOfValue.end() ? cv::Vec3b(0, 0, 0) : c->second;
                    classBgr.at<cv::Vec3b>(y, x) = cv::Vec3b(rgb[2], rgb[1], rgb[0]);
                    const cv::Vec3b o = instanceColour(components.at<std::int32_t>(y, x));
                    objectBgr.at<cv::Vec3b>(y, x) = cv::Vec3b(o[2], o[1], o[0]);
                }
            zip.add("SegmentationClass/" + image.id + ".png", encodePng(classBgr, image.id));
            zip.add("SegmentationObject/" + image.id + ".png", encodePng(objectBgr, image.id));
            list += image.id + "\n";
        }
        zip.add("ImageSets/Segmentation/default.txt", list);
        zip.add("primaps_provenance.json", set.provenanceJson + "\n");
        zip.close();
        fs::rename(temporary, target);
    } catch (...) {
        fs::remove(temporary, ec);
        throw;
    }
    written.push_back(target.string());
    return written;
}

AnnotationSet readCvat(const std::string& path)
{
    int error = 0;
    // Shared by the images' decoders, which read their entries one at a time.
    std::shared_ptr<zip_t> zip(zip_open(path.c_str(), ZIP_RDONLY, &error), zip_discard);
    if (!zip)
        throw Error("'" + path + "': not a readable zip file");
    AnnotationSet set;
    const zip_int64_t labelmapIndex = zip_name_locate(zip.get(), "labelmap.txt", 0);
    if (labelmapIndex < 0)
        throw Error("'" + path + "': no labelmap.txt; export the task as 'Segmentation mask 1.1'");
    auto labelOfColour = std::make_shared<std::map<std::uint32_t, int>>();
    std::istringstream labelmap(readEntry(zip.get(), labelmapIndex, "labelmap.txt", path));
    for (std::string line; std::getline(labelmap, line);) {
        if (!line.empty() && line.back() == '\r')
            line.pop_back();
        if (line.empty() || line[0] == '#')
            continue;
        const std::size_t colon = line.find(':');
        const std::string name = line.substr(0, colon);
        int r = -1, g = -1, b = -1;
        if (colon == std::string::npos ||
            std::sscanf(line.c_str() + colon + 1, "%d,%d,%d", &r, &g, &b) != 3 || r < 0 ||
            r > 255 || g < 0 || g > 255 || b < 0 || b > 255) {
            set.problems.emplace_back(path, "labelmap.txt: unreadable line '" + line + "'");
            continue;
        }
        const std::uint32_t key = rgbKey(std::uint8_t(r), std::uint8_t(g), std::uint8_t(b));
        if (name == "background" || key == 0) {
            (*labelOfColour)[key] = -1;
            continue;
        }
        (*labelOfColour)[key] = int(set.labels.size());
        set.labels.push_back(name);
    }
    const zip_int64_t provenance = zip_name_locate(zip.get(), "primaps_provenance.json", 0);
    if (provenance >= 0)
        set.provenanceJson = readEntry(zip.get(), provenance, "primaps_provenance.json", path);
    const std::string prefix = "SegmentationClass/";
    const zip_int64_t entries = zip_get_num_entries(zip.get(), 0);
    for (zip_int64_t i = 0; i < entries; ++i) {
        const char* raw = zip_get_name(zip.get(), zip_uint64_t(i), ZIP_FL_ENC_GUESS);
        const std::string name = raw ? raw : "";
        if (name.rfind(prefix, 0) != 0 || name.size() <= prefix.size() + 4 ||
            name.compare(name.size() - 4, 4, ".png") != 0)
            continue;
        set.images.push_back(
            {name.substr(prefix.size(), name.size() - prefix.size() - 4),
             [zip, i, name, path, labelOfColour](std::vector<std::string>& labels,
                                                 std::vector<std::string>&) {
                 const std::string bytes = readEntry(zip.get(), i, name, path);
                 if (bytes.empty()) // OpenCV asserts (throws) on an empty buffer
                     throw Error("'" + path + "': '" + name + "' is empty");
                 // libpng allocates a chunk's claimed length before reading it
                 // (image/pngchunks.h): refuse a claim the entry cannot hold.
                 if (const auto overrun = findPngChunkOverrun(bytes);
                     overrun && overrun->allocatesClaim())
                     throw Error("'" + path + "': '" + name +
                                 "' is a broken PNG: " + overrun->describe());
                 cv::Mat bgr;
                 try {
                     bgr = cv::imdecode(std::vector<std::uint8_t>(bytes.begin(), bytes.end()),
                                        cv::IMREAD_COLOR);
                 } catch (const cv::Exception&) {
                     // bgr was never assigned, so it is still empty: the entry is
                     // reported below like any other undecodable one.
                 }
                 if (bgr.empty())
                     throw Error("'" + path + "': '" + name + "' is not a readable image");
                 cv::Mat map(bgr.size(), CV_32S, cv::Scalar(-1));
                 for (int y = 0; y < bgr.rows; ++y)
                     for (int x = 0; x < bgr.cols; ++x) {
                         const cv::Vec3b p = bgr.at<cv::Vec3b>(y, x);
                         const std::uint32_t key = rgbKey(p[2], p[1], p[0]);
                         auto found = labelOfColour->find(key);
                         if (found == labelOfColour->end()) {
                             // A colour labelmap.txt does not name: reported, never guessed.
                             char text[48];
                             std::snprintf(text, sizeof text, "colour %d,%d,%d", p[2], p[1], p[0]);
                             (*labelOfColour)[key] = int(labels.size());
                             labels.push_back(text);
                             found = labelOfColour->find(key);
                         }
                         map.at<std::int32_t>(y, x) = found->second;
                     }
                 return map;
             }});
    }
    return set;
}

} // namespace primaps::interchange
