// SPDX-License-Identifier: MIT
// PriMaPs-EM on real photographs: mosaics of texture photographs shipped by
// Debian (python3-skimage's data, gimp-data's patterns) with exact ground truth,
// fitted and evaluated exactly as `primaps fit` / `primaps eval` do, per class
// set, method, protocol and seed. Prints Acc, mIoU, per-class IoU, the pixel
// share of every cluster and the wall time of each stage, then a summary table.
// A plain executable, not a ctest: a full run takes tens of minutes.
//
//   bench_em_quality [--sets 6,12] [--seeds 0,1,2] [--methods kmeans,primaps-em]
//                    [--protocols paper,robust] [--epochs 50] [--init-epochs 2]
//                    [--images 120] [--crf] [--clusters N] [--work DIR]
//                    [--threads N] [--export DIR] [--whiten-ridge R] [--draw N]
// --export writes the first fit's cached training data as .npy files for
// replay_reference_em.py (the reference's update rules in Python). --draw N (N > 0)
// makes other mosaics of the same photographs (another layout and crop of every
// image), to check that a result is not one draw's luck; draw 0 is the table's.
#include "emquality.h"
#include "support/error.h"
#include "photomosaic.h"
#include "support/runtime.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace primaps;

namespace {

std::vector<std::string> splitList(const std::string& text)
{
    std::vector<std::string> out;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ','))
        if (!item.empty())
            out.push_back(item);
    return out;
}

std::string percentList(const std::vector<double>& values, double scale)
{
    std::string text = "[";
    char buffer[32];
    for (std::size_t i = 0; i < values.size(); ++i) {
        std::snprintf(buffer, sizeof buffer, "%s%.1f", i ? " " : "", values[i] * scale);
        text += std::isnan(values[i]) ? std::string(i ? " n/a" : "n/a") : std::string(buffer);
    }
    return text + "]";
}

struct Range
{
    double lo = 1e300, hi = -1e300;
    void add(double v)
    {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
    }
    std::string text(int digits = 1) const
    {
        char buffer[64];
        if (lo > hi)
            return "-";
        std::snprintf(buffer, sizeof buffer, "%.*f–%.*f", digits, lo, digits, hi);
        return buffer;
    }
};

struct Summary
{
    Range acc, miou, accCrf, miouCrf, smallest;
};

} // namespace

int main(int argc, char** argv)
{
    std::map<std::string, std::string> args = {
        {"sets", "6,12"},        {"seeds", "0,1,2"},   {"methods", "kmeans,primaps-em"},
        {"protocols", "paper,robust"}, {"epochs", "50"}, {"init-epochs", "2"},
        {"images", "120"},       {"crf", "0"},         {"clusters", "0"},
        {"work", (fs::temp_directory_path() / "primaps-em-quality").string()},
        {"threads", "0"}, {"export", ""}, {"whiten-ridge", ""}, {"draw", "0"}};
    for (int i = 1; i < argc; ++i) {
        std::string key = argv[i];
        if (key == "--help" || key.rfind("--", 0) != 0) {
            std::printf("usage: %s [--sets 6,12] [--seeds 0,1,2] [--methods kmeans,primaps-em]\n"
                        "  [--protocols paper,robust] [--epochs 50] [--init-epochs 2]\n"
                        "  [--images 120] [--crf] [--clusters N] [--work DIR] [--threads N]\n"
                        "  [--export DIR] [--whiten-ridge R] [--draw N]\n",
                        argv[0]);
            return key == "--help" ? 0 : 2;
        }
        key = key.substr(2);
        if (key == "crf") {
            args["crf"] = "1";
            continue;
        }
        if (!args.count(key) || i + 1 >= argc) {
            std::fprintf(stderr, "bench_em_quality: unknown option or missing value: %s\n", argv[i]);
            return 2;
        }
        args[key] = argv[++i];
    }
    configureThreads(std::atoi(args["threads"].c_str()));

    const bool crf = args["crf"] == "1";
    std::map<std::string, Summary> summaries;
    std::vector<std::string> order;
    try {
        for (const std::string& setName : splitList(args["sets"])) {
            const bench::PhotoClassSet* set = nullptr;
            const std::vector<bench::PhotoClassSet> sets = bench::benchmarkClassSets();
            for (const bench::PhotoClassSet& s : sets)
                if (s.name == setName)
                    set = &s;
            if (!set)
                throw Error("unknown class set '" + setName + "' (known: 6, 12)");
            const std::vector<bench::MosaicClass> classes = bench::loadClassSet(*set);
            bench::MosaicSpec spec;
            spec.images = std::atoi(args["images"].c_str());
            const int draw = std::atoi(args["draw"].c_str());
            spec.seed = 2024 + std::uint64_t(std::max(draw, 0));
            const fs::path work =
                fs::path(args["work"]) / ("set" + set->name + "_" + args["images"] +
                                          (draw > 0 ? "_draw" + std::to_string(draw) : ""));
            // val.txt is written last: its presence means a complete dataset.
            if (!fs::exists(work / "data" / "val.txt"))
                bench::writeMosaicDataset(classes, spec, (work / "data").string());
            std::printf("# class set %s: %zu classes, %d images (2/3 train, 1/3 val), %s\n",
                        set->name.c_str(), classes.size(), spec.images,
                        (work / "data").string().c_str());
            bool exported = false;
            for (const std::string& method : splitList(args["methods"]))
                for (const std::string& protocol : splitList(args["protocols"]))
                    for (const std::string& seed : splitList(args["seeds"])) {
                        EmParams em;
                        em.method = emMethodFromString(method);
                        em.protocol = emProtocolFromString(protocol);
                        em.learningRate = defaultLearningRate(em.protocol);
                        // The fit command's default unless asked: runQuality fits "filterbank".
                        em.whitenRidge = args["whiten-ridge"].empty()
                                             ? defaultWhitenRidge(em.protocol, "filterbank")
                                             : float(std::atof(args["whiten-ridge"].c_str()));
                        em.seed = std::uint64_t(std::atoll(seed.c_str()));
                        em.epochs = std::atoi(args["epochs"].c_str());
                        em.initEpochs = std::atoi(args["init-epochs"].c_str());
                        em.classes = std::atoi(args["clusters"].c_str());
                        const std::string tag = "set" + set->name + " " + method + " " + protocol;
                        const fs::path run = work / ("run_" + method + "_" + protocol + "_" + seed);
                        const bench::QualityResult r = bench::runQuality(
                            (work / "data").string(), (work / "cache").string(), run.string(),
                            em, crf);
                        std::printf("%s seed %s: Acc %.1f mIoU %.1f", tag.c_str(), seed.c_str(),
                                    r.accuracy, r.meanIoU);
                        if (crf)
                            std::printf(" | CRF Acc %.1f mIoU %.1f", r.accuracyCrf, r.meanIoUCrf);
                        std::printf("\n  class IoU %s\n  cluster share %% %s (smallest %.2f %%)\n",
                                    percentList(r.classIoU, 1).c_str(),
                                    percentList(r.clusterShare, 100).c_str(),
                                    100 * r.smallestShare());
                        std::printf("  seconds:");
                        for (const auto& [stage, s] : r.seconds)
                            std::printf(" %s %.1f", stage.c_str(), s);
                        std::printf("\n");
                        std::fflush(stdout);
                        if (!args["export"].empty() && !exported) {
                            const fs::path out = fs::path(args["export"]) / ("set" + set->name);
                            fs::create_directories(out);
                            bench::exportFitData((work / "data").string(),
                                                 (work / "cache").string(), out.string());
                            std::printf("  exported the caches to %s\n", out.string().c_str());
                            exported = true;
                        }
                        if (!summaries.count(tag))
                            order.push_back(tag);
                        Summary& sum = summaries[tag];
                        sum.acc.add(r.accuracy);
                        sum.miou.add(r.meanIoU);
                        if (crf) {
                            sum.accCrf.add(r.accuracyCrf);
                            sum.miouCrf.add(r.meanIoUCrf);
                        }
                        sum.smallest.add(100 * r.smallestShare());
                    }
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_em_quality: %s\n", e.what());
        return 1;
    }
    std::printf("\n| class set, method, protocol | Acc / mIoU | with CRF | smallest cluster %% |\n"
                "|---|---|---|---|\n");
    for (const std::string& tag : order) {
        const Summary& s = summaries[tag];
        std::printf("| %s | %s / %s | %s / %s | %s |\n", tag.c_str(), s.acc.text().c_str(),
                    s.miou.text().c_str(), s.accCrf.text().c_str(), s.miouCrf.text().c_str(),
                    s.smallest.text(2).c_str());
    }
    return 0;
}
