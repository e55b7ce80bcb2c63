// SPDX-License-Identifier: MIT
#include "photomosaic.h"

#include "support/atomicfile.h"
#include "support/error.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>

namespace primaps::bench {

namespace {

std::uint32_t bigEndian(const unsigned char* p)
{
    return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) |
           std::uint32_t(p[3]);
}

// GIMP's pattern file: a big-endian header (header size, version, width, height,
// bytes per pixel, "GPAT", name) followed by the raw pixels.
cv::Mat readGimpPattern(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
    if (bytes.size() < 24 || bytes.compare(20, 4, "GPAT") != 0)
        throw Error("'" + path + "': not a GIMP pattern");
    const std::uint32_t header = bigEndian(b), width = bigEndian(b + 8), height = bigEndian(b + 12),
                        depth = bigEndian(b + 16);
    if (width == 0 || height == 0 || width > 8192 || height > 8192 || depth < 1 || depth > 4 ||
        bytes.size() < std::size_t(header) + std::size_t(width) * height * depth)
        throw Error("'" + path + "': truncated or malformed GIMP pattern");
    const cv::Mat raw(int(height), int(width), CV_8UC(int(depth)),
                      const_cast<unsigned char*>(b + header));
    cv::Mat rgb;
    switch (depth) {
    case 1: cv::cvtColor(raw, rgb, cv::COLOR_GRAY2RGB); break;
    case 2: {
        cv::Mat grey;
        cv::extractChannel(raw, grey, 0);
        cv::cvtColor(grey, rgb, cv::COLOR_GRAY2RGB);
        break;
    }
    case 3: rgb = raw.clone(); break;
    default: cv::cvtColor(raw, rgb, cv::COLOR_RGBA2RGB); break;
    }
    return rgb;
}

void writePng(const std::string& path, const cv::Mat& image)
{
    std::vector<unsigned char> png;
    if (!cv::imencode(".png", image, png))
        throw Error("cannot encode '" + path + "'");
    writeFileAtomic(path, std::string(png.begin(), png.end()));
}

} // namespace

cv::Mat readPhotograph(const std::string& path)
{
    if (std::filesystem::path(path).extension() == ".pat")
        return readGimpPattern(path);
    const cv::Mat bgr = cv::imread(path, cv::IMREAD_COLOR);
    if (bgr.empty())
        throw Error("'" + path + "': cannot be read as an image");
    cv::Mat rgb;
    cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
    return rgb;
}

void writeMosaicDataset(const std::vector<MosaicClass>& classes, const MosaicSpec& spec,
                        const std::string& root)
{
    const int k = int(classes.size());
    if (k < 2 || k > 254)
        throw Error("a mosaic needs 2..254 classes");
    if (spec.images < 2 || spec.size < 16 || spec.minRegions < 1 ||
        spec.maxRegions < spec.minRegions)
        throw Error("invalid mosaic specification");
    namespace fs = std::filesystem;
    fs::create_directories(fs::path(root) / "images");
    fs::create_directories(fs::path(root) / "labels");

    // Sources at the size they are cut from: small patterns enlarged, then tiled
    // (with mirrored copies, so the tiles join without seams) to cover an image.
    std::vector<cv::Mat> sources;
    for (const MosaicClass& c : classes) {
        if (c.rgb.empty() || c.rgb.type() != CV_8UC3)
            throw Error("class '" + c.name + "': no RGB photograph");
        cv::Mat s = c.rgb;
        if (std::min(s.cols, s.rows) < spec.size && spec.tileScale > 1)
            cv::resize(s, s, cv::Size(), spec.tileScale, spec.tileScale, cv::INTER_CUBIC);
        cv::Mat flipped, row, tiled;
        cv::flip(s, flipped, 1);
        cv::hconcat(s, flipped, row);
        cv::Mat rowFlipped;
        cv::flip(row, rowFlipped, 0);
        cv::vconcat(row, rowFlipped, tiled);
        const int nx = (spec.size * 2) / tiled.cols + 1, ny = (spec.size * 2) / tiled.rows + 1;
        cv::repeat(tiled, ny, nx, s);
        sources.push_back(s);
    }

    std::mt19937_64 rng(spec.seed);
    auto below = [&](int n) { return int(rng() % std::uint64_t(n)); };
    std::vector<int> deck;
    auto deal = [&] {
        if (deck.empty()) {
            for (int c = 0; c < k; ++c)
                deck.push_back(c);
            std::shuffle(deck.begin(), deck.end(), rng);
        }
        const int c = deck.back();
        deck.pop_back();
        return c;
    };

    std::string train, val;
    std::string names;
    for (const MosaicClass& c : classes)
        names += c.name + "\n";
    const int valEvery = spec.valShare > 0 ? std::max(2, int(1.0 / spec.valShare + 0.5)) : 0;
    const int n = spec.size;
    for (int i = 0; i < spec.images; ++i) {
        const int regions = spec.minRegions + below(spec.maxRegions - spec.minRegions + 1);
        std::vector<cv::Point> seeds;
        std::vector<int> regionClass;
        std::vector<cv::Point> offsets;
        std::vector<bool> mirror;
        for (int r = 0; r < regions; ++r) {
            seeds.emplace_back(below(n), below(n));
            regionClass.push_back(deal());
            const cv::Mat& s = sources[std::size_t(regionClass.back())];
            offsets.emplace_back(below(s.cols - n + 1), below(s.rows - n + 1));
            mirror.push_back(below(2) == 1);
        }
        cv::Mat image(n, n, CV_8UC3), labels(n, n, CV_8UC1);
        for (int y = 0; y < n; ++y)
            for (int x = 0; x < n; ++x) {
                int best = 0;
                long long bestDistance = -1;
                for (int r = 0; r < regions; ++r) {
                    const long long dx = x - seeds[std::size_t(r)].x,
                                    dy = y - seeds[std::size_t(r)].y;
                    const long long d = dx * dx + dy * dy;
                    if (bestDistance < 0 || d < bestDistance) {
                        bestDistance = d;
                        best = r;
                    }
                }
                const int cls = regionClass[std::size_t(best)];
                const cv::Mat& s = sources[std::size_t(cls)];
                const int sx = mirror[std::size_t(best)] ? n - 1 - x : x;
                image.at<cv::Vec3b>(y, x) = s.at<cv::Vec3b>(offsets[std::size_t(best)].y + y,
                                                             offsets[std::size_t(best)].x + sx);
                labels.at<std::uint8_t>(y, x) = std::uint8_t(cls);
            }
        char id[32];
        std::snprintf(id, sizeof id, "m%04d", i);
        cv::Mat bgr;
        cv::cvtColor(image, bgr, cv::COLOR_RGB2BGR);
        writePng((fs::path(root) / "images" / (std::string(id) + ".png")).string(), bgr);
        writePng((fs::path(root) / "labels" / (std::string(id) + ".png")).string(), labels);
        ((valEvery > 0 && i % valEvery == valEvery - 1) ? val : train) += std::string(id) + "\n";
    }
    writeFileAtomic((fs::path(root) / "classes.txt").string(), names);
    writeFileAtomic((fs::path(root) / "train.txt").string(), train);
    writeFileAtomic((fs::path(root) / "val.txt").string(), val);
}

std::vector<PhotoClassSet> benchmarkClassSets()
{
    const std::string s = "/usr/lib/python3/dist-packages/skimage/data/";
    const std::string g = "/usr/share/gimp/2.0/patterns/";
    return {
        {"6",
         {{"brick", s + "brick.png"},
          {"grass", s + "grass.png"},
          {"gravel", s + "gravel.png"},
          {"leaves", g + "Plant/leaves.pat"},
          {"bark", g + "Wood/bark.pat"},
          {"coffee-beans", g + "Food/java.pat"}}},
        {"12",
         {{"leather", g + "Animal/leather.pat"},
          {"leopard", g + "Animal/leopard.pat"},
          {"burlap", g + "Fabric/burlap.pat"},
          {"crinkle-paper", g + "Paper/crinklepaper.pat"},
          {"granite", g + "Stone/granite1.pat"},
          {"pink-marble", g + "Stone/pink_marble.pat"},
          {"rock", g + "Stone/rock.pat"},
          {"slate", g + "Stone/slate.pat"},
          {"pool", g + "Water/pool.pat"},
          {"corkboard", g + "Wood/corkboard.pat"},
          {"pine", g + "Wood/pine.pat"},
          {"sky", g + "Sky/sky.pat"}}},
    };
}

std::vector<MosaicClass> loadClassSet(const PhotoClassSet& set)
{
    std::vector<MosaicClass> classes;
    for (const auto& [name, file] : set.classes) {
        if (!std::filesystem::exists(file))
            throw Error("the source photograph '" + file +
                        "' is missing. Install the benchmark's data (Debian packages "
                        "python3-skimage and gimp-data) with\n  bash "
                        "tests/benchmarks/install-data.sh");
        classes.push_back({name, readPhotograph(file)});
    }
    return classes;
}

} // namespace primaps::bench
