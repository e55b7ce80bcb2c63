// SPDX-License-Identifier: MIT
#include "support/error.h"
#include "backbones/filterbank.h"
#include "backbones/filterbank_p.h"
#include "decompose/primaps.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <memory>
#include <numeric>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <QtTest>
#include <string>
#include <thread>
#include <vector>

using primaps::Backbone;
using primaps::FeatureMap;
using primaps::FilterBankBackbone;
using primaps::FilterBankV1Backbone;

namespace {

// ---- synthetic fixtures -------------------------------------------------------------------

enum class Texture
{
    Flat,
    Stripes,
    Checker,
    FineNoise,
    Blobs,
    Dots
};
constexpr Texture kTextures[] = {Texture::Flat,      Texture::Stripes, Texture::Checker,
                                 Texture::FineNoise, Texture::Blobs,   Texture::Dots};

/// A zero-mean luminance pattern with values roughly in [-1, 1]. Parameters that are not
/// fixed by the kind (period, orientation, noise) are drawn from `rng`.
cv::Mat renderTexture(Texture kind, cv::Size size, cv::RNG& rng)
{
    cv::Mat t(size, CV_32F, cv::Scalar(0));
    switch (kind) {
    case Texture::Flat:
        break;
    case Texture::Stripes: {
        const double period = rng.uniform(4.0, 7.0);
        const double angle = rng.uniform(0.0, CV_PI);
        const double cx = std::cos(angle) / period, cy = std::sin(angle) / period;
        for (int y = 0; y < size.height; ++y)
            for (int x = 0; x < size.width; ++x)
                t.at<float>(y, x) = float(std::sin(2.0 * CV_PI * (x * cx + y * cy)));
        break;
    }
    case Texture::Checker: {
        const int cell = rng.uniform(3, 6);
        for (int y = 0; y < size.height; ++y)
            for (int x = 0; x < size.width; ++x)
                t.at<float>(y, x) = ((x / cell + y / cell) % 2) ? 1.0f : -1.0f;
        break;
    }
    case Texture::FineNoise:
        rng.fill(t, cv::RNG::NORMAL, 0.0, 0.6);
        break;
    case Texture::Blobs: {
        cv::Mat noise(size, CV_32F);
        rng.fill(noise, cv::RNG::NORMAL, 0.0, 1.0);
        cv::GaussianBlur(noise, t, cv::Size(), 6.0, 6.0, cv::BORDER_REFLECT_101);
        cv::Scalar mean, sd;
        cv::meanStdDev(t, mean, sd);
        t = (t - mean[0]) / (2.0 * sd[0]);
        break;
    }
    case Texture::Dots: {
        const int spacing = rng.uniform(6, 10);
        t.setTo(-0.3);
        for (int y = spacing / 2; y < size.height; y += spacing)
            for (int x = spacing / 2; x < size.width; x += spacing)
                cv::circle(t, cv::Point(x, y), 1, cv::Scalar(1.0), cv::FILLED);
        break;
    }
    }
    return t;
}

/// An 8-bit RGB image whose pixels of region r (labels CV_32S) get colour colours[r]
/// modulated in lightness by textures[r] and by `shading` (CV_32F, grey levels, may be
/// empty), plus mild sensor noise.
cv::Mat composeImage(const cv::Mat& labels, const std::vector<cv::Vec3f>& colours,
                     const std::vector<cv::Mat>& textures, double amplitude, const cv::Mat& shading,
                     cv::RNG& rng)
{
    cv::Mat noise(labels.size(), CV_32F);
    rng.fill(noise, cv::RNG::NORMAL, 0.0, 3.0);
    if (!shading.empty())
        noise += shading;
    cv::Mat rgb(labels.size(), CV_8UC3);
    for (int y = 0; y < labels.rows; ++y) {
        for (int x = 0; x < labels.cols; ++x) {
            const int r = labels.at<int>(y, x);
            const float offset =
                float(amplitude) * textures[r].at<float>(y, x) + noise.at<float>(y, x);
            cv::Vec3b& px = rgb.at<cv::Vec3b>(y, x);
            for (int c = 0; c < 3; ++c)
                px[c] = cv::saturate_cast<uchar>(colours[r][c] + offset);
        }
    }
    return rgb;
}

/// Majority ground-truth region of each 8x8 patch (CV_32S, rows/8 x cols/8).
cv::Mat labelsAtPatches(const cv::Mat& labels, int regions)
{
    const int p = FilterBankBackbone::kPatchSize;
    cv::Mat grid(labels.rows / p, labels.cols / p, CV_32S);
    std::vector<int> votes(regions);
    for (int py = 0; py < grid.rows; ++py) {
        for (int px = 0; px < grid.cols; ++px) {
            std::fill(votes.begin(), votes.end(), 0);
            for (int dy = 0; dy < p; ++dy)
                for (int dx = 0; dx < p; ++dx)
                    ++votes[labels.at<int>(py * p + dy, px * p + dx)];
            grid.at<int>(py, px) =
                int(std::max_element(votes.begin(), votes.end()) - votes.begin());
        }
    }
    return grid;
}

struct Scene
{
    cv::Mat rgb;   ///< CV_8UC3
    cv::Mat truth; ///< CV_32S at patch resolution, 0..regions-1
    int regions = 0;
};

/// Voronoi regions, each with its own texture and a distinct colour: a stand-in for
/// "stuff" segments that a colour/texture backbone should be able to tell apart.
Scene voronoiScene(cv::Size size, int regions, cv::RNG& rng)
{
    std::vector<cv::Point2f> seeds(regions);
    // Keep seeds apart so that no region shrinks to a sliver of patches.
    const float minDistance = 0.35f * float(std::min(size.width, size.height));
    for (int r = 0; r < regions; ++r) {
        for (int attempt = 0; attempt < 1000; ++attempt) {
            seeds[r] = {rng.uniform(0.f, float(size.width)), rng.uniform(0.f, float(size.height))};
            bool apart = true;
            for (int q = 0; q < r; ++q)
                apart = apart && cv::norm(seeds[r] - seeds[q]) >= minDistance;
            if (apart)
                break;
        }
    }
    cv::Mat labels(size, CV_32S);
    for (int y = 0; y < size.height; ++y) {
        for (int x = 0; x < size.width; ++x) {
            int best = 0;
            float bestDistance = 1e30f;
            for (int r = 0; r < regions; ++r) {
                const float dx = seeds[r].x - x, dy = seeds[r].y - y;
                if (dx * dx + dy * dy < bestDistance) {
                    bestDistance = dx * dx + dy * dy;
                    best = r;
                }
            }
            labels.at<int>(y, x) = best;
        }
    }

    std::vector<int> kinds(std::size(kTextures));
    std::iota(kinds.begin(), kinds.end(), 0);
    std::vector<cv::Mat> textures;
    std::vector<cv::Vec3f> colours;
    const double hueStart = rng.uniform(0.0, 360.0);
    for (int r = 0; r < regions; ++r) {
        const int pick = rng.uniform(r, int(kinds.size()));
        std::swap(kinds[r], kinds[pick]);
        textures.push_back(renderTexture(kTextures[kinds[r]], size, rng));
        // Hues spread around the circle, moderate saturation: distinct but not trivially
        // separable by one colour channel.
        cv::Mat hsv(1, 1, CV_32FC3,
                    cv::Scalar(std::fmod(hueStart + 360.0 * r / regions, 360.0),
                               rng.uniform(0.25, 0.6), rng.uniform(0.45, 0.8)));
        cv::Mat rgb;
        cv::cvtColor(hsv, rgb, cv::COLOR_HSV2RGB);
        colours.push_back(rgb.at<cv::Vec3f>(0, 0) * 255.0f);
    }
    Scene scene;
    // Photographed regions are not uniformly lit; a slow illumination field across the
    // image gives a too-high threshold the chance to split a region, as it would there.
    cv::Mat field(size, CV_32F), shading;
    rng.fill(field, cv::RNG::NORMAL, 0.0, 1.0);
    cv::GaussianBlur(field, shading, cv::Size(), 40.0, 40.0, cv::BORDER_REFLECT_101);
    cv::Scalar fieldMean, fieldSd;
    cv::meanStdDev(shading, fieldMean, fieldSd);
    shading = (shading - fieldMean[0]) * (12.0 / fieldSd[0]);
    scene.rgb = composeImage(labels, colours, textures, 45.0, shading, rng);
    scene.truth = labelsAtPatches(labels, regions);
    scene.regions = regions;
    return scene;
}

cv::Mat randomImage(cv::Size size, std::uint64_t seed)
{
    cv::RNG rng(seed);
    cv::Mat rgb(size, CV_8UC3);
    rng.fill(rgb, cv::RNG::UNIFORM, 0, 256);
    return rgb;
}

/// The two versions: the tests that hold for any filter bank run on both.
std::vector<std::unique_ptr<Backbone>> bothVersions()
{
    std::vector<std::unique_ptr<Backbone>> out;
    out.push_back(std::make_unique<FilterBankV1Backbone>());
    out.push_back(std::make_unique<FilterBankBackbone>());
    return out;
}

/// Two regions side by side, both a checkerboard of the same two colours (with sensor
/// noise); only the cell size differs: `fine` pixels on the left, `coarse` on the right.
/// Cells are aligned to the 8x8 patches, so a patch alone looks the same in both.
Scene contextOnlyScene(int fine, int coarse, cv::RNG& rng)
{
    const cv::Size size(512, 320);
    cv::Mat labels(size, CV_32S, cv::Scalar(0));
    labels.colRange(size.width / 2, size.width).setTo(1);
    const cv::Vec3b colours[2] = {{170, 70, 60}, {60, 120, 170}};
    cv::Mat noise(size, CV_32FC3);
    rng.fill(noise, cv::RNG::NORMAL, 0.0, 4.0);
    Scene scene;
    scene.rgb.create(size, CV_8UC3);
    for (int y = 0; y < size.height; ++y)
        for (int x = 0; x < size.width; ++x) {
            const int cell = labels.at<int>(y, x) == 0 ? fine : coarse;
            const cv::Vec3b c = colours[(x / cell + y / cell) % 2];
            const cv::Vec3f n = noise.at<cv::Vec3f>(y, x);
            for (int k = 0; k < 3; ++k)
                scene.rgb.at<cv::Vec3b>(y, x)[k] = cv::saturate_cast<uchar>(c[k] + n[k]);
        }
    scene.truth = labelsAtPatches(labels, 2);
    scene.regions = 2;
    return scene;
}

double cosine(const FeatureMap& f, int i, int j)
{
    double dot = 0.0, ni = 0.0, nj = 0.0;
    const std::size_t n = f.positions();
    for (int c = 0; c < f.channels; ++c) {
        const double a = f.values[c * n + i], b = f.values[c * n + j];
        dot += a * b;
        ni += a * a;
        nj += b * b;
    }
    return dot / std::sqrt(ni * nj + 1e-12);
}

/// How well features separate the regions of `truth` (CV_32S at patch resolution,
/// two regions): the mean cosine within and across regions, and the accuracy of the
/// nearest centroid (cosine) with the centroids of the true regions.
struct Separation
{
    double within = 0.0, across = 0.0, accuracy = 0.0;
};

Separation separation(const FeatureMap& f, const cv::Mat& truth)
{
    Separation out;
    const int n = int(f.positions());
    long withinCount = 0, acrossCount = 0;
    for (int i = 0; i < n; ++i) {
        for (int j = i + 1; j < n; ++j) {
            const double s = cosine(f, i, j);
            if (truth.at<int>(i) == truth.at<int>(j)) {
                out.within += s;
                ++withinCount;
            } else {
                out.across += s;
                ++acrossCount;
            }
        }
    }
    out.within /= withinCount;
    out.across /= acrossCount;

    std::vector<std::vector<double>> centroid(2, std::vector<double>(f.channels, 0.0));
    for (int i = 0; i < n; ++i)
        for (int c = 0; c < f.channels; ++c)
            centroid[truth.at<int>(i)][c] += f.channel(c)[i];
    int correct = 0;
    for (int i = 0; i < n; ++i) {
        double score[2];
        for (int g = 0; g < 2; ++g) {
            double dot = 0.0, norm = 0.0;
            for (int c = 0; c < f.channels; ++c) {
                dot += centroid[g][c] * f.channel(c)[i];
                norm += centroid[g][c] * centroid[g][c];
            }
            score[g] = dot / std::sqrt(norm);
        }
        correct += (score[1] > score[0] ? 1 : 0) == truth.at<int>(i);
    }
    out.accuracy = double(correct) / n;
    return out;
}

// ---- segmentation scoring -----------------------------------------------------------------

struct SegmentationScore
{
    double miou = 0.0;     ///< mean IoU over ground-truth regions after one-to-one matching
    double purity = 0.0;   ///< fraction of masked patches in their mask's majority region
    double coverage = 0.0; ///< fraction of patches assigned to some mask
    int masks = 0;         ///< non-empty masks
};

/// Scores a mask map (CV_8U, 0 = background) against ground truth (CV_32S). Masks and
/// regions are matched one to one so as to maximise the summed IoU; an unmatched region
/// scores 0. Unlike purity, this punishes splitting a region into many small masks just as
/// much as merging two regions into one, so neither a too-high nor a too-low threshold
/// can win.
SegmentationScore scoreMasks(const cv::Mat& masks, const cv::Mat& truth, int regions)
{
    int maxId = 0;
    for (auto it = masks.begin<uchar>(); it != masks.end<uchar>(); ++it)
        maxId = std::max(maxId, int(*it));
    std::vector<std::vector<int>> overlap(maxId + 1, std::vector<int>(regions, 0));
    std::vector<int> maskSize(maxId + 1, 0), regionSize(regions, 0);
    for (int y = 0; y < truth.rows; ++y) {
        for (int x = 0; x < truth.cols; ++x) {
            const int m = masks.at<uchar>(y, x), g = truth.at<int>(y, x);
            ++overlap[m][g];
            ++maskSize[m];
            ++regionSize[g];
        }
    }

    SegmentationScore score;
    int masked = 0, pure = 0;
    for (int m = 1; m <= maxId; ++m) {
        if (maskSize[m] == 0)
            continue;
        ++score.masks;
        masked += maskSize[m];
        pure += *std::max_element(overlap[m].begin(), overlap[m].end());
    }
    score.coverage = double(masked) / double(truth.total());
    score.purity = masked > 0 ? double(pure) / masked : 0.0;

    // Best one-to-one matching by dynamic programming over subsets of regions (regions
    // are few, masks may be many).
    const int subsets = 1 << regions;
    std::vector<double> best(subsets, -1.0);
    best[0] = 0.0;
    for (int m = 1; m <= maxId; ++m) {
        if (maskSize[m] == 0)
            continue;
        std::vector<double> next = best;
        for (int s = 0; s < subsets; ++s) {
            if (best[s] < 0.0)
                continue;
            for (int g = 0; g < regions; ++g) {
                if (s & (1 << g))
                    continue;
                const double iou =
                    double(overlap[m][g]) / double(maskSize[m] + regionSize[g] - overlap[m][g]);
                next[s | (1 << g)] = std::max(next[s | (1 << g)], best[s] + iou);
            }
        }
        best = next;
    }
    score.miou = *std::max_element(best.begin(), best.end()) / regions;
    return score;
}

} // namespace

class TestFilterBank : public QObject
{
    Q_OBJECT

private slots:
    // Must stay the first function: it needs the process's first Lab conversion.
    void firstUseFromManyThreadsAgrees();
    void describesItself();
    void outputShape_data();
    void outputShape();
    void deterministic();
    void chromaOnlyAtTheScalesAskedFor();
    void regionOfInterestIsIsolated();
    void channelsStandardised();
    void groupsCarryTheirShares();
    void constantImageGivesZeros();
    void separatesTwoTextures();
    void separatesByContextOnly();
    void rejectsBadInput_data();
    void rejectsBadInput();
    void recommendedThresholdIsNearBest_data();
    void recommendedThresholdIsNearBest();
};

void TestFilterBank::firstUseFromManyThreadsAgrees()
{
    // OpenCV builds its Lab lookup tables lazily without a lock; the filter bank
    // builds them once before its first conversion (filterbank.cpp). Here four
    // threads make the process's first conversion at the same moment, as the
    // studio's review and class-count jobs do. Without that guard the tables are
    // built twice, written concurrently, and one set is lost: LeakSanitizer fails
    // this executable in the sanitizer build (packaging/test.sh --sanitizers).
    // Every thread must also get the features a later single-threaded call gets.
    const cv::Mat rgb = randomImage({64, 48}, 5);
    constexpr int kThreads = 4;
    std::vector<FeatureMap> results(kThreads);
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            FilterBankBackbone backbone;
            ready.fetch_add(1);
            while (ready.load() < kThreads)
                std::this_thread::yield();
            results[std::size_t(t)] = backbone.extract(rgb);
        });
    for (std::thread& thread : threads)
        thread.join();
    const FeatureMap expected = FilterBankBackbone().extract(rgb);
    for (const FeatureMap& f : results) {
        QCOMPARE(f.values.size(), expected.values.size());
        QVERIFY(std::memcmp(f.values.data(), expected.values.data(),
                            f.values.size() * sizeof(float)) == 0);
    }
}

void TestFilterBank::describesItself()
{
    FilterBankV1Backbone v1;
    QCOMPARE(v1.name(), std::string("filterbank-v1"));
    QCOMPARE(v1.patchSize(), 8);
    QCOMPARE(v1.dim(), 50);
    QCOMPARE(v1.recommendedResize(), 320);
    QCOMPARE(v1.recommendedThreshold(), 0.6f);

    FilterBankBackbone v2;
    QCOMPARE(v2.name(), std::string("filterbank"));
    QCOMPARE(FilterBankBackbone::kVersion, 2);
    QCOMPARE(v2.patchSize(), 8);
    // The local descriptor (8 colour + 35 texture channels) and four context scales.
    QCOMPARE(v2.colourDim(), 8);
    QCOMPARE(v2.localDim(), 43);
    QCOMPARE(v2.dim(), 5 * 43);
    QCOMPARE(v2.recommendedResize(), 320);
    QVERIFY(v2.recommendedThreshold() > 0.0f && v2.recommendedThreshold() < 1.0f);
    QCOMPARE(primaps::createBackbone("filterbank")->dim(), v2.dim());
    QCOMPARE(primaps::createBackbone("filterbank-v1")->dim(), v1.dim());
    QVERIFY_THROWS_EXCEPTION(primaps::Error, FilterBankBackbone(primaps::FilterBankDesign{
                                                 1.5, 1.0, 0.5, {1.0, 2.0}, {1.0}, true, true}));
}

void TestFilterBank::outputShape_data()
{
    QTest::addColumn<int>("width");
    QTest::addColumn<int>("height");
    QTest::newRow("single patch") << 8 << 8;
    QTest::newRow("wide") << 96 << 40;
    QTest::newRow("tall") << 48 << 136;
    QTest::newRow("320x240") << 320 << 240;
}

void TestFilterBank::outputShape()
{
    QFETCH(int, width);
    QFETCH(int, height);
    for (const auto& fb : bothVersions()) {
        const FeatureMap f = fb->extract(randomImage({width, height}, 7));
        QCOMPARE(f.channels, fb->dim());
        QCOMPARE(f.height, height / 8);
        QCOMPARE(f.width, width / 8);
        QCOMPARE(f.values.size(), std::size_t(f.channels) * f.height * f.width);
        for (float v : f.values)
            QVERIFY2(std::isfinite(v), fb->name().c_str());
    }
}

void TestFilterBank::deterministic()
{
    cv::RNG rng(11);
    const cv::Mat rgb = voronoiScene({160, 120}, 4, rng).rgb;
    const auto first = bothVersions(), second = bothVersions();
    for (std::size_t k = 0; k < first.size(); ++k) {
        const FeatureMap a = first[k]->extract(rgb);
        const FeatureMap b = first[k]->extract(rgb);
        const FeatureMap c = second[k]->extract(rgb);
        QCOMPARE(a.values.size(), b.values.size());
        QVERIFY(std::memcmp(a.values.data(), b.values.data(), a.values.size() * sizeof(float)) == 0);
        QVERIFY(std::memcmp(a.values.data(), c.values.data(), a.values.size() * sizeof(float)) == 0);
    }
}

void TestFilterBank::chromaOnlyAtTheScalesAskedFor()
{
    // Version 2 asks for the smoothed a and b at two scales only: every other
    // response keeps its bits, and the chroma of the other scales is 0 (was computed
    // and dropped).
    const cv::Mat rgb = randomImage({96, 64}, 9);
    const FeatureMap all = primaps::filterBankResponses(rgb);
    const unsigned asked = 1u << 2 | 1u << 4;
    const FeatureMap some = primaps::filterBankResponses(rgb, asked);
    QCOMPARE(some.values.size(), all.values.size());
    const int scales = int(FilterBankV1Backbone::kScales.size());
    int zeroed = 0;
    for (int c = 0; c < all.channels; ++c) {
        const int filter = c / scales, scale = c % scales;
        const bool skipped = (filter == 1 || filter == 2) && !(asked >> scale & 1u);
        const std::size_t n = all.positions();
        if (skipped) {
            QVERIFY(std::all_of(some.channel(c), some.channel(c) + n,
                                [](float v) { return v == 0.0f; }));
            QVERIFY(std::any_of(all.channel(c), all.channel(c) + n,
                                [](float v) { return v != 0.0f; }));
            ++zeroed;
        } else {
            QVERIFY2(std::memcmp(some.channel(c), all.channel(c), n * sizeof(float)) == 0,
                     qPrintable(QString("channel %1").arg(c)));
        }
    }
    QCOMPARE(zeroed, 6);
}

void TestFilterBank::regionOfInterestIsIsolated()
{
    // A view into a larger image must give the features of the view alone: the pixels
    // around it are not part of the input (OpenCV filters would otherwise read them).
    const cv::Mat big = randomImage({160, 120}, 5);
    const cv::Mat view = big(cv::Rect(24, 16, 96, 64));
    for (const auto& fb : bothVersions()) {
        const FeatureMap a = fb->extract(view);
        const FeatureMap b = fb->extract(view.clone());
        QCOMPARE(a.values.size(), b.values.size());
        QVERIFY(std::memcmp(a.values.data(), b.values.data(), a.values.size() * sizeof(float)) == 0);
    }
}

void TestFilterBank::channelsStandardised()
{
    // A photograph exercises every filter; no channel of it may be constant.
    cv::Mat bgr = cv::imread(PRIMAPS_SAMPLES_DIR "/astronaut.jpg", cv::IMREAD_COLOR);
    QVERIFY2(!bgr.empty(), "cannot read the astronaut sample");
    cv::Mat rgb;
    cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
    cv::resize(rgb, rgb, {320, 240}, 0, 0, cv::INTER_AREA);

    FilterBankV1Backbone fb;
    const FeatureMap f = fb.extract(rgb);
    const std::size_t n = f.positions();
    for (int c = 0; c < f.channels; ++c) {
        double sum = 0.0, squares = 0.0;
        for (std::size_t i = 0; i < n; ++i)
            sum += f.channel(c)[i];
        const double mean = sum / n;
        for (std::size_t i = 0; i < n; ++i)
            squares += (f.channel(c)[i] - mean) * (f.channel(c)[i] - mean);
        const double sd = std::sqrt(squares / n);
        QVERIFY2(std::abs(mean) < 1e-4, qPrintable(QString("channel %1 mean %2").arg(c).arg(mean)));
        QVERIFY2(std::abs(sd - 1.0) < 1e-3,
                 qPrintable(QString("channel %1 std %2").arg(c).arg(sd)));
    }
}

void TestFilterBank::groupsCarryTheirShares()
{
    // Version 2: in every block (the local descriptor, then each context scale) the
    // colour and the texture group each hold the variance their weight gives them,
    // however many channels they have.
    cv::Mat bgr = cv::imread(PRIMAPS_SAMPLES_DIR "/astronaut.jpg", cv::IMREAD_COLOR);
    QVERIFY2(!bgr.empty(), "cannot read the astronaut sample");
    cv::Mat rgb;
    cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
    cv::resize(rgb, rgb, {320, 240}, 0, 0, cv::INTER_AREA);

    primaps::FilterBankDesign design;
    design.colourWeight = 2.0;
    design.localWeight = 0.5;
    design.contextSigmas = {1.0, 2.0, 4.0};
    design.contextWeights = {1.0, 3.0, 1.0};
    FilterBankBackbone fb(design);
    const FeatureMap f = fb.extract(rgb);
    const std::size_t n = f.positions();
    const int local = fb.localDim(), colour = fb.colourDim();
    auto variance = [&](int c) {
        double sum = 0.0, squares = 0.0;
        for (std::size_t i = 0; i < n; ++i)
            sum += f.channel(c)[i];
        for (std::size_t i = 0; i < n; ++i)
            squares += std::pow(f.channel(c)[i] - sum / n, 2);
        return squares / n;
    };
    const double blockWeight[] = {0.5, 1.0, 3.0, 1.0};
    for (int block = 0; block < 4; ++block) {
        double colourVar = 0.0, textureVar = 0.0;
        for (int c = 0; c < local; ++c)
            (c < colour ? colourVar : textureVar) += variance(block * local + c);
        const double w2 = blockWeight[block] * blockWeight[block];
        QVERIFY2(std::abs(colourVar - 4.0 * w2) < 1e-3 * w2,
                 qPrintable(QString("block %1 colour variance %2").arg(block).arg(colourVar)));
        QVERIFY2(std::abs(textureVar - w2) < 1e-3 * w2,
                 qPrintable(QString("block %1 texture variance %2").arg(block).arg(textureVar)));
    }
}

void TestFilterBank::constantImageGivesZeros()
{
    for (const auto& fb : bothVersions()) {
        const FeatureMap f = fb->extract(cv::Mat(64, 80, CV_8UC3, cv::Scalar(200, 40, 90)));
        QCOMPARE(f.channels, fb->dim());
        for (float v : f.values)
            QCOMPARE(v, 0.0f);
    }
}

void TestFilterBank::separatesTwoTextures()
{
    // Left: fine stripes; right: smooth blobs. Same mean colour, so only texture (and
    // the blobs' slow lightness changes) tells them apart.
    const cv::Size size(256, 160);
    cv::RNG rng(2024);
    cv::Mat labels(size, CV_32S, cv::Scalar(0));
    labels.colRange(size.width / 2, size.width).setTo(1);
    cv::Mat stripes(size, CV_32F);
    for (int y = 0; y < size.height; ++y)
        for (int x = 0; x < size.width; ++x)
            stripes.at<float>(y, x) = float(std::sin(2.0 * CV_PI * (x + 0.5 * y) / 5.0));
    const std::vector<cv::Mat> textures{stripes, renderTexture(Texture::Blobs, size, rng)};
    const std::vector<cv::Vec3f> colours(2, cv::Vec3f(140, 120, 100));
    const cv::Mat rgb = composeImage(labels, colours, textures, 50.0, cv::Mat(), rng);
    const cv::Mat truth = labelsAtPatches(labels, 2);

    for (const auto& fb : bothVersions()) {
        const Separation s = separation(fb->extract(rgb), truth);
        qInfo("%s: mean cosine within regions %.3f, across %.3f; nearest-centroid accuracy %.4f",
              fb->name().c_str(), s.within, s.across, s.accuracy);
        QVERIFY(s.within > s.across + 0.5);
        QVERIFY(s.accuracy >= 0.98);
    }
}

void TestFilterBank::separatesByContextOnly()
{
    // The same two colours on both sides, in checkerboards of 32- and 128-pixel cells
    // aligned to the patches: a patch by itself looks alike on both sides (the cells
    // are wider than version 1's largest filters), its surroundings do not. Version 2's
    // features tell the sides apart, version 1's do not.
    cv::RNG rng(77);
    const Scene scene = contextOnlyScene(32, 128, rng);
    double accuracy[2] = {0.0, 0.0};
    const auto versions = bothVersions();
    for (int k = 0; k < 2; ++k) {
        const Separation s = separation(versions[k]->extract(scene.rgb), scene.truth);
        accuracy[k] = s.accuracy;
        qInfo("%s: mean cosine within the sides %.3f, across %.3f; nearest-centroid accuracy %.3f",
              versions[k]->name().c_str(), s.within, s.across, s.accuracy);
    }
    QVERIFY2(accuracy[1] >= 0.93, "version 2 does not tell the sides apart");
    QVERIFY2(accuracy[0] <= 0.8, "version 1 tells the sides apart: the scene does not need context");
}

void TestFilterBank::rejectsBadInput_data()
{
    QTest::addColumn<int>("rows");
    QTest::addColumn<int>("cols");
    QTest::addColumn<int>("type");
    QTest::newRow("empty") << 0 << 0 << int(CV_8UC3);
    QTest::newRow("grey") << 64 << 64 << int(CV_8UC1);
    QTest::newRow("rgba") << 64 << 64 << int(CV_8UC4);
    QTest::newRow("float rgb") << 64 << 64 << int(CV_32FC3);
    QTest::newRow("16-bit rgb") << 64 << 64 << int(CV_16UC3);
    QTest::newRow("rows not multiple of 8") << 100 << 64 << int(CV_8UC3);
    QTest::newRow("cols not multiple of 8") << 64 << 100 << int(CV_8UC3);
    QTest::newRow("smaller than a patch") << 4 << 4 << int(CV_8UC3);
}

void TestFilterBank::rejectsBadInput()
{
    QFETCH(int, rows);
    QFETCH(int, cols);
    QFETCH(int, type);
    const cv::Mat image = rows > 0 ? cv::Mat(rows, cols, type, cv::Scalar::all(1)) : cv::Mat();
    for (const auto& fb : bothVersions()) {
        try {
            fb->extract(image);
            QFAIL("extract() accepted the image");
        } catch (const primaps::Error& e) {
            QVERIFY2(std::string(e.what()).find(fb->name() + ":") == 0, e.what());
        }
    }
}

void TestFilterBank::recommendedThresholdIsNearBest_data()
{
    QTest::addColumn<int>("version");
    QTest::newRow("v1") << 1;
    QTest::newRow("v2") << 2;
}

void TestFilterBank::recommendedThresholdIsNearBest()
{
    // Version 1's threshold was chosen here; version 2's on real photographs
    // (bench_decompose_quality), so for it this sweep is a floor, not the choice.
    QFETCH(int, version);
    // Ground-truth scenes: 3-5 Voronoi regions with distinct textures and colours at the
    // recommended 320x320. Each threshold is scored by the mean over scenes of the mIoU
    // after one-to-one matching of masks to regions (see scoreMasks()).
    constexpr int kSceneCount = 36;
    std::vector<Scene> scenes;
    cv::RNG rng(4242);
    for (int i = 0; i < kSceneCount; ++i)
        scenes.push_back(voronoiScene({320, 320}, 3 + i % 3, rng));

    std::unique_ptr<Backbone> fb = std::move(bothVersions()[std::size_t(version - 1)]);
    std::vector<FeatureMap> features;
    for (const Scene& scene : scenes)
        features.push_back(fb->extract(scene.rgb));

    std::vector<float> thresholds;
    for (int i = 0; i <= 12; ++i)
        thresholds.push_back(0.2f + 0.05f * i);
    const float recommended = fb->recommendedThreshold();
    const bool onGrid = std::any_of(thresholds.begin(), thresholds.end(),
                                    [&](float t) { return std::abs(t - recommended) < 1e-4f; });
    if (!onGrid)
        thresholds.push_back(recommended);

    qInfo("  tau   mIoU  purity coverage masks");
    double bestScore = -1.0, recommendedScore = -1.0;
    float bestThreshold = 0.0f;
    for (float t : thresholds) {
        SegmentationScore mean;
        for (std::size_t i = 0; i < scenes.size(); ++i) {
            primaps::PrimapsParams params;
            params.threshold = t;
            const primaps::PrimapsTrace trace = primaps::decompose(features[i], params);
            const primaps::MaskStack stack = primaps::buildMaskStack(trace);
            const cv::Mat labels = primaps::labelsAtGrid(stack);
            QCOMPARE(labels.type(), CV_8U);
            QCOMPARE(labels.size(), scenes[i].truth.size());
            const SegmentationScore s = scoreMasks(labels, scenes[i].truth, scenes[i].regions);
            mean.miou += s.miou / kSceneCount;
            mean.purity += s.purity / kSceneCount;
            mean.coverage += s.coverage / kSceneCount;
            mean.masks += s.masks;
        }
        qInfo("  %.2f  %.3f  %.3f  %.3f    %.1f", t, mean.miou, mean.purity, mean.coverage,
              double(mean.masks) / kSceneCount);
        if (mean.miou > bestScore) {
            bestScore = mean.miou;
            bestThreshold = t;
        }
        if (std::abs(t - recommended) < 1e-4f)
            recommendedScore = mean.miou;
    }
    qInfo("best tau %.2f (mIoU %.3f); recommended tau %.2f (mIoU %.3f)", bestThreshold, bestScore,
          recommended, recommendedScore);
    // Version 2 blurs the scenes' clean boundaries a little (best mIoU 0.785 against
    // 0.824); a broken extractor would be far below either floor.
    if (version == 1)
        QVERIFY(recommendedScore >= bestScore - 0.02);
    QVERIFY(recommendedScore >= (version == 1 ? 0.75 : 0.70));
}

QTEST_APPLESS_MAIN(TestFilterBank)
#include "tst_filterbank.moc"
