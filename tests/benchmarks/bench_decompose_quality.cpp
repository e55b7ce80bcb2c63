// SPDX-License-Identifier: MIT
// How coherent single-image decompositions are, per backbone and threshold: the
// label maps `primaps decompose` writes (default pipeline: resize 320, PriMaPs, dense
// CRF), scored against the exact ground truth of the real-photograph mosaics of
// bench_em_quality, and the fragmentation of the bundled samples. Seconds per
// backbone, not the minutes of a fit: the tool the filter bank's design and its
// threshold were chosen with (docs/filterbank.md).
//
//   bench_decompose_quality [--sets 6,12] [--split val|train|all] [--images 120]
//       [--backbones "filterbank-v1;filterbank"] [--thresholds 0.4,0.5,0.6,0.7]
//       [--no-crf] [--samples DIR] [--work DIR] [--threads N]
//
// Per class set, backbone and threshold it prints the pixel-weighted purity of the
// label map's ids (the share of the assigned pixels whose id's majority class is
// theirs), the unassigned share (pixels left at id 0) and the ids per image; per
// sample the ids and the unassigned share. A backbone is a registry name or
// "v2:KEY=VALUE,..." for a variant of the filter bank's design, with the keys
// colour, texture, local (weights), sigmas and ctx (lists separated by '/'),
// compress and chroma (0 or 1), e.g. "v2:sigmas=1/2,ctx=1/1".
#include "backbones/backbone.h"
#include "support/error.h"
#include "backbones/filterbank.h"
#include "image/imageio.h"
#include "photomosaic.h"
#include "pipeline/pipeline.h"
#include "support/runtime.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <opencv2/imgcodecs.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace primaps;

namespace {

std::vector<std::string> splitList(const std::string& text, char separator)
{
    std::vector<std::string> out;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, separator))
        if (!item.empty())
            out.push_back(item);
    return out;
}

std::vector<double> numbers(const std::string& text, char separator)
{
    std::vector<double> out;
    for (const std::string& item : splitList(text, separator))
        out.push_back(std::stod(item));
    return out;
}

std::unique_ptr<Backbone> makeBackbone(const std::string& spec)
{
    if (spec.rfind("v2:", 0) != 0)
        return createBackbone(spec);
    FilterBankDesign d;
    for (const std::string& setting : splitList(spec.substr(3), ',')) {
        const std::size_t eq = setting.find('=');
        if (eq == std::string::npos)
            throw Error("design setting '" + setting + "' is not KEY=VALUE");
        const std::string key = setting.substr(0, eq), value = setting.substr(eq + 1);
        if (key == "colour")
            d.colourWeight = std::stod(value);
        else if (key == "texture")
            d.textureWeight = std::stod(value);
        else if (key == "local")
            d.localWeight = std::stod(value);
        else if (key == "sigmas")
            d.contextSigmas = numbers(value, '/');
        else if (key == "ctx")
            d.contextWeights = numbers(value, '/');
        else if (key == "compress")
            d.compressTexture = value == "1";
        else if (key == "chroma")
            d.chromaticity = value == "1";
        else
            throw Error("unknown design key '" + key + "'");
    }
    return std::make_unique<FilterBankBackbone>(d);
}

/// Sums over images of one (backbone, threshold).
struct Score
{
    double assigned = 0, pure = 0, pixels = 0, ids = 0;
    int images = 0;
    double featureMs = 0;

    void add(const cv::Mat& ids8, const cv::Mat& truth)
    {
        // counts[id][class]
        std::map<int, std::map<int, double>> counts;
        for (int y = 0; y < ids8.rows; ++y)
            for (int x = 0; x < ids8.cols; ++x) {
                const int id = ids8.at<std::uint8_t>(y, x);
                const int cls = truth.at<std::uint8_t>(y, x);
                if (cls == 255)
                    continue;
                pixels += 1;
                if (id != 0)
                    counts[id][cls] += 1;
            }
        for (const auto& [id, perClass] : counts) {
            double total = 0, best = 0;
            for (const auto& [cls, n] : perClass) {
                total += n;
                best = std::max(best, n);
            }
            assigned += total;
            pure += best;
        }
        ids += double(counts.size());
        ++images;
    }
};

struct Options
{
    std::vector<std::string> backbones;
    std::vector<float> thresholds;
    bool crf = true;
};

/// Decomposes `rgb` at the first threshold, then re-thresholds the same features.
std::vector<cv::Mat> labelMaps(const cv::Mat& rgb, Backbone& backbone, const Options& o,
                               double* featureMs)
{
    PipelineParams params;
    params.useRecommendedThreshold = false;
    params.primaps.threshold = o.thresholds.front();
    params.crf = o.crf;
    ImageDecomposition d = decomposeImage(rgb, backbone, params);
    *featureMs += d.timings.features;
    std::vector<cv::Mat> maps{d.labelsAtOriginalSize()};
    for (std::size_t t = 1; t < o.thresholds.size(); ++t) {
        PrimapsParams p = params.primaps;
        p.threshold = o.thresholds[t];
        redecompose(d, p, o.crf);
        maps.push_back(d.labelsAtOriginalSize());
    }
    return maps;
}

void runSet(const bench::PhotoClassSet& set, const std::string& split, int images,
            const fs::path& workRoot, const Options& o)
{
    const fs::path data = workRoot / ("set" + set.name + "_" + std::to_string(images)) / "data";
    if (!fs::exists(data / "val.txt")) {
        bench::MosaicSpec spec;
        spec.images = images;
        spec.seed = 2024; // bench_em_quality's mosaics
        bench::writeMosaicDataset(bench::loadClassSet(set), spec, data.string());
    }
    std::vector<std::string> ids;
    for (const std::string& part : split == "all" ? std::vector<std::string>{"train", "val"}
                                                  : std::vector<std::string>{split}) {
        std::ifstream list(data / (part + ".txt"));
        if (!list)
            throw Error("cannot read " + (data / (part + ".txt")).string());
        for (std::string line; std::getline(list, line);)
            if (!line.empty())
                ids.push_back(line);
    }
    std::printf("# class set %s: %zu images (%s) of %s\n", set.name.c_str(), ids.size(),
                split.c_str(), data.string().c_str());
    std::printf("| backbone | tau | purity %% | unassigned %% | ids per image | features ms |\n"
                "|---|---|---|---|---|---|\n");
    for (const std::string& spec : o.backbones) {
        std::unique_ptr<Backbone> backbone = makeBackbone(spec);
        std::vector<Score> scores(o.thresholds.size());
        double featureMs = 0;
        for (const std::string& id : ids) {
            fs::path imagePath = data / "images" / (id + ".png");
            if (!fs::exists(imagePath))
                imagePath = data / "images" / id;
            const cv::Mat rgb = loadImageRgb8(imagePath.string());
            fs::path labelPath = data / "labels" / (fs::path(id).stem().string() + ".png");
            const cv::Mat truth = cv::imread(labelPath.string(), cv::IMREAD_UNCHANGED);
            if (truth.empty() || truth.size() != rgb.size() || truth.type() != CV_8U)
                throw Error("no usable label map " + labelPath.string());
            const std::vector<cv::Mat> maps = labelMaps(rgb, *backbone, o, &featureMs);
            for (std::size_t t = 0; t < maps.size(); ++t)
                scores[t].add(maps[t], truth);
        }
        for (std::size_t t = 0; t < o.thresholds.size(); ++t) {
            const Score& s = scores[t];
            std::printf("| %s | %.2f | %.1f | %.1f | %.1f | %.1f |\n", spec.c_str(),
                        double(o.thresholds[t]), 100.0 * s.pure / std::max(1.0, s.assigned),
                        100.0 * (1.0 - s.assigned / std::max(1.0, s.pixels)),
                        s.ids / std::max(1, s.images),
                        featureMs / std::max<std::size_t>(1, ids.size()));
        }
        std::fflush(stdout);
    }
}

void runSamples(const fs::path& folder, const Options& o)
{
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(folder))
        if (entry.path().extension() == ".jpg" || entry.path().extension() == ".png")
            files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    std::printf("# samples in %s: ids in the label map / unassigned %%\n| backbone | tau |",
                folder.string().c_str());
    for (const fs::path& f : files)
        std::printf(" %s |", f.stem().string().c_str());
    std::printf("\n|---|---|%s\n", std::string(files.size() * 4, '-').c_str());
    for (const std::string& spec : o.backbones) {
        std::unique_ptr<Backbone> backbone = makeBackbone(spec);
        std::vector<std::vector<std::string>> cells(o.thresholds.size());
        double featureMs = 0;
        for (const fs::path& f : files) {
            const std::vector<cv::Mat> maps =
                labelMaps(loadImageRgb8(f.string()), *backbone, o, &featureMs);
            for (std::size_t t = 0; t < maps.size(); ++t) {
                std::vector<std::size_t> counts(256, 0);
                for (auto it = maps[t].begin<std::uint8_t>(); it != maps[t].end<std::uint8_t>(); ++it)
                    ++counts[*it];
                int kept = 0;
                for (std::size_t id = 1; id < counts.size(); ++id)
                    kept += counts[id] > 0;
                char cell[64];
                std::snprintf(cell, sizeof cell, "%d / %.1f", kept,
                              100.0 * double(counts[0]) / double(maps[t].total()));
                cells[t].push_back(cell);
            }
        }
        for (std::size_t t = 0; t < o.thresholds.size(); ++t) {
            std::printf("| %s | %.2f |", spec.c_str(), double(o.thresholds[t]));
            for (const std::string& c : cells[t])
                std::printf(" %s |", c.c_str());
            std::printf("\n");
        }
        std::fflush(stdout);
    }
}

} // namespace

int main(int argc, char** argv)
{
    std::map<std::string, std::string> args = {
        {"sets", "6,12"}, {"split", "val"}, {"images", "120"},
        {"backbones", "filterbank-v1;filterbank"}, {"thresholds", "0.4,0.5,0.6,0.7"},
        {"samples", ""}, {"work", (fs::temp_directory_path() / "primaps-em-quality").string()},
        {"threads", "0"}};
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string key = argv[i];
        if (key == "--no-crf") {
            o.crf = false;
            continue;
        }
        if (key.rfind("--", 0) != 0 || !args.count(key.substr(2)) || i + 1 >= argc) {
            std::fprintf(stderr,
                         "usage: %s [--sets 6,12] [--split val|train|all] [--images 120]\n"
                         "  [--backbones \"filterbank-v1;filterbank;v2:KEY=VALUE,...\"]\n"
                         "  [--thresholds 0.4,0.5,0.6,0.7] [--no-crf] [--samples DIR]\n"
                         "  [--work DIR] [--threads N]\n",
                         argv[0]);
            return key == "--help" ? 0 : 2;
        }
        args[key.substr(2)] = argv[++i];
    }
    try {
        configureThreads(std::atoi(args["threads"].c_str()));
        o.backbones = splitList(args["backbones"], ';');
        for (double t : numbers(args["thresholds"], ','))
            o.thresholds.push_back(float(t));
        if (o.backbones.empty() || o.thresholds.empty())
            throw Error("need at least one backbone and one threshold");
        if (!args["samples"].empty())
            runSamples(args["samples"], o);
        const std::vector<bench::PhotoClassSet> sets = bench::benchmarkClassSets();
        for (const std::string& name : splitList(args["sets"], ',')) {
            auto set = std::find_if(sets.begin(), sets.end(),
                                    [&](const bench::PhotoClassSet& s) { return s.name == name; });
            if (set == sets.end())
                throw Error("unknown class set '" + name + "' (known: 6, 12)");
            runSet(*set, args["split"], std::atoi(args["images"].c_str()), args["work"], o);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_decompose_quality: %s\n", e.what());
        return 1;
    }
    return 0;
}
