// SPDX-License-Identifier: MIT
#include "runs/runreview.h"

#include "backbones/backbone.h"
#include "dataset/featurecache.h"
#include "pipeline/pipeline.h"
#include "runs/evaluationreport.h"
#include "runs/matchedits.h"
#include "support/atomicfile.h"
#include "support/error.h"
#include "support/jsontext_p.h"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

namespace primaps {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// Pixels per cluster of a CV_32S cluster map; ids outside [0, clusters) are not counted.
std::vector<std::int64_t> clusterHistogram(const cv::Mat& clusters, int k)
{
    std::vector<std::int64_t> h(std::size_t(k), 0);
    for (int y = 0; y < clusters.rows; ++y) {
        const std::int32_t* row = clusters.ptr<std::int32_t>(y);
        for (int x = 0; x < clusters.cols; ++x)
            if (row[x] >= 0 && row[x] < k)
                ++h[std::size_t(row[x])];
    }
    return h;
}

ImageCounts countPrediction(const std::string& id, const cv::Mat& clusters, const cv::Mat& labels,
                            int k, int classes)
{
    ImageCounts c;
    c.id = id;
    c.confusion = ConfusionMatrix(std::max(1, k), std::max(1, classes));
    c.labelled = !labels.empty() && classes > 0;
    if (c.labelled)
        c.confusion.add(clusters, labels);
    c.clusterPixels = clusterHistogram(clusters, k);
    return c;
}

// The E-step of one image: theta_M's clusters voted per mask (EmFit's rule: the
// mode, ties to the lowest cluster; 0 and 255 are not masks).
void voteMasks(ImageReview& r, int k)
{
    std::map<int, MaskVote> votes;
    for (int y = 0; y < r.masks.rows; ++y) {
        const std::uint8_t* m = r.masks.ptr<std::uint8_t>(y);
        const std::int32_t* p = r.thetaMClusters.ptr<std::int32_t>(y);
        for (int x = 0; x < r.masks.cols; ++x) {
            if (m[x] == 0 || m[x] == 255)
                continue;
            MaskVote& v = votes[m[x]];
            if (v.votes.empty()) {
                v.mask = m[x];
                v.votes.assign(std::size_t(k), 0);
            }
            ++v.pixels;
            ++v.votes[std::size_t(p[x])];
        }
    }
    std::vector<int> clusterOfMask(256, -1);
    for (auto& [id, v] : votes) {
        const auto best = std::max_element(v.votes.begin(), v.votes.end());
        v.cluster = int(best - v.votes.begin());
        std::int64_t second = -1;
        for (int c = 0; c < k; ++c)
            if (c != v.cluster && v.votes[std::size_t(c)] > 0 &&
                v.votes[std::size_t(c)] > second) {
                second = v.votes[std::size_t(c)];
                v.runnerUp = c;
            }
        v.margin = *best - (v.runnerUp >= 0 ? second : 0);
        clusterOfMask[std::size_t(id)] = v.cluster;
        r.votes.push_back(v);
    }
    r.pseudoLabel = cv::Mat(r.masks.size(), CV_32SC1);
    for (int y = 0; y < r.masks.rows; ++y) {
        const std::uint8_t* m = r.masks.ptr<std::uint8_t>(y);
        std::int32_t* out = r.pseudoLabel.ptr<std::int32_t>(y);
        for (int x = 0; x < r.masks.cols; ++x)
            out[x] = clusterOfMask[m[x]];
    }
}

std::string splitName(const std::string& split)
{
    return split.empty() ? "all" : split;
}

} // namespace

double MaskVote::winnerShare() const
{
    return pixels > 0 && cluster >= 0 ? double(votes[std::size_t(cluster)]) / double(pixels) : 0.0;
}

const MaskVote* ImageReview::voteOf(int maskId) const
{
    for (const MaskVote& v : votes)
        if (v.mask == maskId)
            return &v;
    return nullptr;
}

ImageMetrics scoreImage(const ImageCounts& counts, const std::vector<int>& clusterToClass)
{
    const EvaluationResult r = scoreMatch(counts.confusion, clusterToClass);
    ImageMetrics m;
    m.pixels = r.pixels;
    m.accuracy = r.accuracy;
    m.meanIoU = r.meanIoU;
    m.classIoU = r.classIoU;
    m.classShare.assign(std::size_t(r.classes), 0.0);
    std::int64_t all = 0;
    for (std::int64_t v : counts.clusterPixels)
        all += v;
    for (std::size_t c = 0; c < counts.clusterPixels.size() && c < clusterToClass.size(); ++c) {
        const int cls = clusterToClass[c];
        if (cls >= 0 && cls < r.classes && all > 0)
            m.classShare[std::size_t(cls)] += 100.0 * double(counts.clusterPixels[c]) / double(all);
    }
    return m;
}

cv::Mat errorMap(const cv::Mat& predictedClasses, const cv::Mat& truth, int classes)
{
    const int type = predictedClasses.type();
    if (type != CV_8UC1 && type != CV_32SC1)
        throw Error("errorMap: predicted classes must be CV_8U or CV_32S");
    cv::Mat out(predictedClasses.size(), CV_8UC1, cv::Scalar(ErrorNoTruth));
    if (truth.empty())
        return out;
    if (truth.type() != CV_8UC1 || truth.size() != predictedClasses.size())
        throw Error("errorMap: the ground truth must be CV_8U of the prediction's size");
    for (int y = 0; y < out.rows; ++y) {
        const std::uint8_t* t = truth.ptr<std::uint8_t>(y);
        std::uint8_t* o = out.ptr<std::uint8_t>(y);
        for (int x = 0; x < out.cols; ++x) {
            if (t[x] >= classes)
                continue;
            const int p = type == CV_8UC1 ? int(predictedClasses.ptr<std::uint8_t>(y)[x])
                                          : predictedClasses.ptr<std::int32_t>(y)[x];
            o[x] = p < 0 || p >= classes ? ErrorUnpredicted
                                         : (p == int(t[x]) ? ErrorCorrect : ErrorWrong);
        }
    }
    return out;
}

struct RunReview::Impl
{
    Dataset dataset;
    FittedRun run; // theta_M, backbone, run.json
    Prototypes thetaR;
    std::string thetaRPath;
    FeatureSettings fitSettings; // the fit's features: not flip-averaged
    PrimapsParams primaps;
    std::optional<FeatureCache> evalCache, fitCache;
    std::optional<MaskCache> maskCache;

    const Prototypes& prototypes(const std::string& theta) const
    {
        if (theta == "m")
            return run.prototypes;
        if (theta == "r")
            return thetaR;
        throw Error("theta must be m or r, not '" + theta + "'");
    }

    ItemPrediction predict(std::size_t index, const ReviewPrediction& p)
    {
        if (index >= dataset.size())
            throw Error("item " + std::to_string(index) + " is not in the dataset (" +
                        std::to_string(dataset.size()) + " items)");
        return predictItem(dataset, index, *run.backbone, *evalCache, run.settings,
                           prototypes(p.theta), p.crf);
    }

    // The features the fit saw for this item, from the fit's cache or computed
    // (and stored) as FeatureJob computes them.
    FeatureMap fitFeatures(const DatasetItem& item, const PreparedImage& prepared)
    {
        if (fitCache->contains(item.id))
            return fitCache->read(item.id);
        FeatureMap f = run.backbone->extract(prepared.rgb);
        fitCache->write(item.id, f);
        roundToHalf(f.values);
        return f;
    }
};

RunReview::RunReview(const std::string& runDir, Dataset dataset, const std::string& weights,
                     const std::string& cache)
    : d(std::make_unique<Impl>())
{
    d->dataset = std::move(dataset);
    d->run = openFittedRun(runDir, "m", weights, cache);
    d->thetaRPath = runFilePath(runDir, "theta_r.json");
    try {
        d->thetaR = prototypesFromJson(readFile(d->thetaRPath));
    } catch (const Error& e) {
        throw Error("'" + d->thetaRPath + "': " + e.what());
    }
    if (d->thetaR.classes != d->run.prototypes.classes || d->thetaR.dim != d->run.prototypes.dim)
        throw Error("'" + d->thetaRPath + "' does not have theta_M's shape");
    d->fitSettings.resolution = d->run.settings.resolution;
    const FitRunSettings& s = d->run.folder.settings;
    d->primaps.threshold =
        s.threshold > 0.0f ? s.threshold : d->run.backbone->recommendedThreshold();
    const std::string name = d->run.backbone->name();
    d->evalCache.emplace(d->run.cacheDir,
                         featureCacheKey(d->dataset, name, d->run.weights, d->run.settings));
    const CacheKey fitKey = featureCacheKey(d->dataset, name, d->run.weights, d->fitSettings);
    d->fitCache.emplace(d->run.cacheDir, fitKey);
    d->maskCache.emplace(d->run.cacheDir, maskCacheKey(fitKey, d->primaps, s.maskCrf));
}

RunReview::~RunReview() = default;

const std::string& RunReview::runDir() const { return d->run.dir; }
const Dataset& RunReview::dataset() const { return d->dataset; }
const Prototypes& RunReview::thetaM() const { return d->run.prototypes; }
const Prototypes& RunReview::thetaR() const { return d->thetaR; }
int RunReview::clusters() const { return d->run.prototypes.classes; }
int RunReview::classes() const { return d->dataset.classCount(); }
int RunReview::resolution() const { return d->run.settings.resolution; }
std::string RunReview::backboneName() const { return d->run.backbone->name(); }

std::string RunReview::prototypesDigest(const std::string& theta) const
{
    d->prototypes(theta); // checks the name
    return hashFile(theta == "m" ? d->run.thetaPath : d->thetaRPath);
}

ImageReview RunReview::review(std::size_t index, const ReviewPrediction& prediction)
{
    ItemPrediction p = d->predict(index, prediction);
    const DatasetItem& item = d->dataset.items()[index];
    const int k = clusters();
    ImageReview r;
    r.index = index;
    r.id = item.id;
    r.photo = p.prepared.rgb;
    r.original = p.original;
    r.groundTruth = p.labels;
    r.predictionKind = prediction;
    r.prediction = p.clusters;
    r.counts = countPrediction(item.id, p.clusters, p.labels, k, classes());

    const FeatureMap features = d->fitFeatures(item, p.prepared);
    if (d->maskCache->contains(item.id)) {
        r.masks = d->maskCache->read(item.id);
        r.masksFromCache = true;
    } else {
        // Decomposed as MaskJob decomposes: the fit's features, the run's
        // threshold and mask CRF; stored so the fit and later reviews agree.
        ImageDecomposition dec;
        dec.features = features;
        dec.prepared = p.prepared;
        redecompose(dec, d->primaps, d->run.folder.settings.maskCrf);
        r.masks = dec.labels;
        d->maskCache->write(item.id, r.masks);
    }
    if (r.masks.size() != r.photo.size())
        throw Error("'" + d->maskCache->entryPath(item.id) + "': the masks are " +
                    std::to_string(r.masks.cols) + "x" + std::to_string(r.masks.rows) +
                    ", the prepared image " + std::to_string(r.photo.cols) + "x" +
                    std::to_string(r.photo.rows));
    r.thetaMClusters = predictClusters(features, d->run.prototypes, r.masks.size());
    voteMasks(r, k);
    return r;
}

ImageCounts RunReview::counts(std::size_t index, const ReviewPrediction& prediction)
{
    const ItemPrediction p = d->predict(index, prediction);
    return countPrediction(d->dataset.items()[index].id, p.clusters, p.labels, clusters(),
                           classes());
}

ConfusionMatrix SplitCounts::total() const
{
    ConfusionMatrix m(std::max(1, clusters), std::max(1, classes));
    for (const ImageCounts& i : images)
        if (i.labelled)
            m.merge(i.confusion);
    return m;
}

const ImageCounts* SplitCounts::find(const std::string& id) const
{
    for (const ImageCounts& i : images)
        if (i.id == id)
            return &i;
    return nullptr;
}

bool SplitCounts::matches(const RunReview& review, const ReviewPrediction& p) const
{
    return split == review.dataset().split() &&
           datasetFingerprint == review.dataset().fingerprint() && prediction == p &&
           prototypesDigest == review.prototypesDigest(p.theta) &&
           resolution == review.resolution() && clusters == review.clusters() &&
           classes == std::max(1, review.classes());
}

std::string splitCountsPath(const std::string& runDir, const std::string& split,
                            const ReviewPrediction& prediction)
{
    return (fs::path(runDir) / "review" /
            ("counts-" + splitName(split) + "-theta_" + prediction.theta +
             (prediction.crf ? "-crf" : "") + ".json"))
        .string();
}

std::string splitCountsToJson(const SplitCounts& c)
{
    json images = json::array();
    for (const ImageCounts& i : c.images) {
        // Sparse: [flat index, count] pairs of the non-zero cells.
        json confusion = json::array(), pixels = json::array();
        const std::vector<std::int64_t>& counts = i.confusion.counts();
        for (std::size_t j = 0; j < counts.size(); ++j)
            if (counts[j] != 0)
                confusion.push_back({j, counts[j]});
        for (std::size_t j = 0; j < i.clusterPixels.size(); ++j)
            if (i.clusterPixels[j] != 0)
                pixels.push_back({j, i.clusterPixels[j]});
        images.push_back(
            {{"id", i.id}, {"labelled", i.labelled}, {"confusion", confusion}, {"pixels", pixels}});
    }
    json failures = json::array();
    for (const DatasetProblem& f : c.failures)
        failures.push_back({{"path", f.path}, {"message", f.message}});
    const json o = {{"format", "primaps-review-counts"},
                    {"version", 1},
                    {"split", c.split},
                    {"dataset_fingerprint", c.datasetFingerprint},
                    {"theta", c.prediction.theta},
                    {"crf", c.prediction.crf},
                    {"prototypes_digest", c.prototypesDigest},
                    {"resolution", c.resolution},
                    {"clusters", c.clusters},
                    {"classes", c.classes},
                    {"images", images},
                    {"failures", failures}};
    return o.dump() + "\n";
}

SplitCounts parseSplitCounts(const std::string& text, const std::string& source)
{
    const std::string file = "'" + source + "'";
    SplitCounts c;
    try {
        const json o = json::parse(text);
        if (o.at("format").get<std::string>() != "primaps-review-counts")
            throw Error("field 'format' is not 'primaps-review-counts'");
        if (jsonInt(o.at("version"), "field 'version'") != 1)
            throw Error("field 'version' must be 1");
        c.split = o.at("split").get<std::string>();
        c.datasetFingerprint = o.at("dataset_fingerprint").get<std::string>();
        c.prediction.theta = o.at("theta").get<std::string>();
        c.prediction.crf = o.at("crf").get<bool>();
        c.prototypesDigest = o.at("prototypes_digest").get<std::string>();
        c.resolution = jsonInt(o.at("resolution"), "field 'resolution'");
        c.clusters = jsonInt(o.at("clusters"), "field 'clusters'");
        c.classes = jsonInt(o.at("classes"), "field 'classes'");
        // Bounded, so that a damaged file cannot make every image allocate gigabytes.
        if (c.clusters < 1 || c.classes < 1 || c.clusters > 4096 || c.classes > 4096 ||
            std::int64_t(c.clusters) * c.classes > (std::int64_t(1) << 20))
            throw Error("fields 'clusters' and 'classes' must be in [1, 4096] with at most "
                        "2^20 cells");
        const std::size_t cells = std::size_t(c.clusters) * std::size_t(c.classes);
        for (const json& e : o.at("images")) {
            ImageCounts i;
            i.id = e.at("id").get<std::string>();
            i.labelled = e.at("labelled").get<bool>();
            std::vector<std::int64_t> counts(cells, 0);
            const std::string image = "image '" + i.id + "': ";
            for (const json& cell : e.at("confusion")) {
                const std::size_t j = std::size_t(jsonInteger(
                    cell.at(0), image + "a confusion cell's index", 0, std::int64_t(cells) - 1));
                counts[j] = jsonInteger(cell.at(1), image + "a confusion cell's count", 0,
                                        std::numeric_limits<std::int64_t>::max());
            }
            i.confusion = ConfusionMatrix(c.clusters, c.classes);
            i.confusion.setCounts(counts);
            i.clusterPixels.assign(std::size_t(c.clusters), 0);
            for (const json& cell : e.at("pixels")) {
                const std::size_t j = std::size_t(
                    jsonInteger(cell.at(0), image + "a pixel count's cluster", 0, c.clusters - 1));
                i.clusterPixels[j] = jsonInteger(cell.at(1), image + "a pixel count", 0,
                                                 std::numeric_limits<std::int64_t>::max());
            }
            c.images.push_back(std::move(i));
        }
        for (const json& f : o.at("failures"))
            c.failures.push_back({f.at("path").get<std::string>(), f.at("message").get<std::string>()});
    } catch (const Error& e) {
        throw Error(file + ": " + e.what());
    } catch (const std::exception& e) {
        throw Error(file + ": not review counts (" + e.what() + ")");
    }
    return c;
}

std::optional<SplitCounts> loadSplitCounts(const RunReview& review,
                                           const ReviewPrediction& prediction)
{
    const std::string path =
        splitCountsPath(review.runDir(), review.dataset().split(), prediction);
    std::error_code ec;
    if (!fs::is_regular_file(path, ec))
        return std::nullopt;
    try {
        SplitCounts c = parseSplitCounts(readFile(path), path);
        if (c.matches(review, prediction))
            return c;
    } catch (const Error&) {
        // A damaged file is recounted (and replaced) by the next ReviewCountsJob.
    }
    return std::nullopt;
}

ReviewCountsJob::ReviewCountsJob(RunReview& review, ReviewPrediction prediction)
    : review_(review), prediction_(std::move(prediction))
{
}

std::string ReviewCountsJob::path() const
{
    return splitCountsPath(review_.runDir(), review_.dataset().split(), prediction_);
}

void ReviewCountsJob::run(JobControl& control)
{
    const Dataset& dataset = review_.dataset();
    std::map<std::string, ImageCounts> done;
    if (std::optional<SplitCounts> stored = loadSplitCounts(review_, prediction_))
        for (ImageCounts& i : stored->images)
            done.emplace(i.id, std::move(i));
    counts_ = {};
    counts_.split = dataset.split();
    counts_.datasetFingerprint = dataset.fingerprint();
    counts_.prediction = prediction_;
    counts_.prototypesDigest = review_.prototypesDigest(prediction_.theta);
    counts_.resolution = review_.resolution();
    counts_.clusters = review_.clusters();
    counts_.classes = std::max(1, review_.classes());
    const std::string file = path();
    std::error_code ec;
    fs::create_directories(fs::path(file).parent_path(), ec);
    if (ec)
        throw Error("cannot create the folder of '" + file + "': " + ec.message());

    auto save = [&] {
        counts_.images.clear();
        for (const DatasetItem& item : dataset.items()) {
            const auto it = done.find(item.id);
            if (it != done.end())
                counts_.images.push_back(it->second);
        }
        counts_.failures = report_.failures;
        writeFileAtomic(file, splitCountsToJson(counts_));
    };
    std::size_t sinceSave = 0;
    forEachShardItem(dataset, Shard{}, report_, control, "review",
                     [&](std::size_t i, const DatasetItem& item) {
                         if (done.count(item.id)) {
                             ++report_.reused;
                             return;
                         }
                         try {
                             done[item.id] = review_.counts(i, prediction_);
                             ++report_.computed;
                         } catch (const std::exception& e) {
                             recordFailure(report_, false, item.imagePath, e.what());
                         }
                         if (++sinceSave >= 50) {
                             save();
                             sinceSave = 0;
                         }
                     });
    save();
}

} // namespace primaps
