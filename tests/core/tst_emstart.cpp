// SPDX-License-Identifier: MIT
// Which k-means restart robust PriMaPs-EM starts from (core/em/emmaskcontrast.cpp):
// the share of an image's mask pairs that a partition puts into one cluster,
// against hand-computed cases, and the choice it makes between starts.
#include "em/emfit.h"
#include "em/emfit_p.h"
#include "em/emsampling_p.h"
#include "support/error.h"

#include <array>
#include <cmath>
#include <functional>
#include <memory>
#include <numeric>
#include <optional>
#include <QtTest>
#include <random>

using namespace primaps;
using primaps::detail::KMeansStart;
using primaps::detail::Rng;

namespace {

constexpr int kDim = 4;

// Images of one row of feature cells (1 x cells) whose masks are given per
// cell at the same resolution; each cell's feature is a basis vector.
struct Image
{
    std::vector<int> basis; ///< per cell: which axis its feature points along
    std::vector<int> mask;  ///< per cell: mask id (0 = unassigned)
};

class TinyData : public EmDataSource
{
public:
    explicit TinyData(std::vector<Image> images) : images_(std::move(images)) {}
    std::size_t size() const override { return images_.size(); }
    FeatureMap features(std::size_t index) const override
    {
        const Image& im = images_[index];
        FeatureMap f;
        f.channels = kDim;
        f.height = 1;
        f.width = int(im.basis.size());
        f.values.assign(std::size_t(kDim) * im.basis.size(), 0.0f);
        for (std::size_t c = 0; c < im.basis.size(); ++c)
            f.values[std::size_t(im.basis[c]) * im.basis.size() + c] = 1.0f;
        return f;
    }
    cv::Mat masks(std::size_t index) const override
    {
        const Image& im = images_[index];
        cv::Mat m(1, int(im.mask.size()), CV_8UC1);
        for (std::size_t c = 0; c < im.mask.size(); ++c)
            m.at<std::uint8_t>(0, int(c)) = std::uint8_t(im.mask[c]);
        return m;
    }

private:
    std::vector<Image> images_;
};

// A start whose prototype j points along the unit sum of `axes[j]`.
KMeansStart start(const std::vector<std::vector<int>>& axes, double objective)
{
    KMeansStart s;
    s.meanBestCosine = objective;
    s.prototypes.classes = int(axes.size());
    s.prototypes.dim = kDim;
    s.prototypes.gain.assign(axes.size(), 1.0f);
    s.prototypes.direction.assign(axes.size() * kDim, 0.0f);
    for (std::size_t j = 0; j < axes.size(); ++j)
        for (int a : axes[j])
            s.prototypes.direction[j * kDim + std::size_t(a)] =
                float(1.0 / std::sqrt(double(axes[j].size())));
    return s;
}

// Scenes of 8 x 8 feature cells in 8 dimensions where k-means and the masks
// disagree. Textures A = e0 and B (60 degrees from A) always appear together,
// side by side, as two masks; texture C mixes two modes C1 = e2 and C2 (72
// degrees from C1) cell by cell, alone in its image. With as many C cells as A
// and B cells together, merging A and B and splitting C into its modes scores
// the higher k-means objective (0.93 against 0.90); keeping A and B apart is
// what the masks say.
class SceneData : public EmDataSource
{
public:
    explicit SceneData(int images) : size_(std::size_t(images)) {}
    std::size_t size() const override { return size_; }
    FeatureMap features(std::size_t index) const override
    {
        std::mt19937 rng(std::uint32_t(1000 + index));
        std::normal_distribution<float> noise(0.0f, 0.03f);
        FeatureMap f;
        f.channels = 8;
        f.height = f.width = 8;
        f.values.assign(8 * 64, 0.0f);
        for (int y = 0; y < 8; ++y)
            for (int x = 0; x < 8; ++x) {
                float v[8] = {};
                switch (texture(index, y, x)) {
                case 'A': v[0] = 1; break;
                case 'B': v[0] = 0.5f; v[1] = 0.866f; break;
                case '1': v[2] = 1; break;
                default: v[2] = 0.309f; v[3] = 0.951f; break; // C2
                }
                for (int c = 0; c < 8; ++c)
                    f.values[std::size_t(c) * 64 + std::size_t(y) * 8 + std::size_t(x)] =
                        v[c] + noise(rng);
            }
        return f;
    }
    cv::Mat masks(std::size_t index) const override
    {
        cv::Mat m(8, 8, CV_8UC1);
        for (int y = 0; y < 8; ++y)
            for (int x = 0; x < 8; ++x)
                m.at<std::uint8_t>(y, x) = index % 2 == 0 && x >= 4 ? 2 : 1;
        return m;
    }
    // Even images: A | B, two masks. Odd images: C alone, one mask, its modes C1
    // and C2 in a checkerboard (mirrored left and right in every other one).
    static char texture(std::size_t index, int y, int x)
    {
        if (index % 2 == 0)
            return (x < 4) == (index % 4 == 0) ? 'A' : 'B';
        return (x + y) % 2 ? '1' : '2';
    }

private:
    std::size_t size_;
};

// The prototype of highest cosine to `x` (dim values).
int nearestPrototype(const Prototypes& p, const float* x)
{
    int best = 0;
    double bestCos = -2;
    for (int k = 0; k < p.classes; ++k) {
        double dot = 0, norm = 0;
        for (int c = 0; c < p.dim; ++c) {
            const double w = p.direction[std::size_t(k * p.dim + c)];
            dot += w * x[c];
            norm += w * w;
        }
        if (dot / std::sqrt(norm) > bestCos) {
            bestCos = dot / std::sqrt(norm);
            best = k;
        }
    }
    return best;
}

// The cluster each of A, B, C1 and C2 falls into under unit prototypes.
std::vector<int> clustersOf(const Prototypes& p)
{
    const float probes[4][8] = {{1, 0, 0, 0, 0, 0, 0, 0},
                                {0.5f, 0.866f, 0, 0, 0, 0, 0, 0},
                                {0, 0, 1, 0, 0, 0, 0, 0},
                                {0, 0, 0.309f, 0.951f, 0, 0, 0, 0}};
    std::vector<int> out;
    for (const auto& probe : probes)
        out.push_back(nearestPrototype(p, probe));
    return out;
}

// Scenes of 8 x 8 cells in 4 dimensions, one texture and one mask per image;
// each cell shows one of four modes (plus noise), as `modeOf(image, cell)` says.
class ModeScenes : public EmDataSource
{
public:
    using Modes = std::array<std::array<float, 4>, 4>;
    ModeScenes(int images, Modes modes, std::function<int(std::size_t, int)> modeOf)
        : size_(std::size_t(images)), modes_(modes), modeOf_(std::move(modeOf))
    {
    }
    std::size_t size() const override { return size_; }
    FeatureMap features(std::size_t index) const override
    {
        std::mt19937 rng(std::uint32_t(2000 + index));
        std::normal_distribution<float> noise(0.0f, 0.03f);
        FeatureMap f;
        f.channels = 4;
        f.height = f.width = 8;
        f.values.assign(4 * 64, 0.0f);
        for (int cell = 0; cell < 64; ++cell) {
            const auto& v = modes_[std::size_t(modeOf_(index, cell))];
            for (int c = 0; c < 4; ++c)
                f.values[std::size_t(c) * 64 + std::size_t(cell)] = v[std::size_t(c)] + noise(rng);
        }
        return f;
    }
    cv::Mat masks(std::size_t index) const override
    {
        if (!splitMasks)
            return cv::Mat(8, 8, CV_8UC1, cv::Scalar(1));
        // Labels at twice the feature grid: the left half mask 7, the right
        // half mask 3 (or the other way round in odd images), the first column
        // unassigned (0) and the last row ignored (255).
        cv::Mat m(16, 16, CV_8UC1);
        for (int y = 0; y < 16; ++y)
            for (int x = 0; x < 16; ++x)
                m.at<std::uint8_t>(y, x) = y == 15                       ? 255
                                           : x == 0                      ? 0
                                           : (x < 8) == (index % 2 == 0) ? 7
                                                                         : 3;
        return m;
    }
    bool splitMasks = false;
    /// The cluster each mode falls into under `p`.
    std::vector<int> modeClusters(const Prototypes& p) const
    {
        std::vector<int> out;
        for (const auto& mode : modes_)
            out.push_back(nearestPrototype(p, mode.data()));
        return out;
    }

private:
    std::size_t size_;
    Modes modes_;
    std::function<int(std::size_t, int)> modeOf_;
};

int checkerboard(int cell)
{
    return (cell + cell / 8) % 2;
}

// Two textures: C mixes the modes C1 = e0 and C2 = e1 cell by cell, D the modes
// D1 = 0.8 e0 + 0.6 e2 and D2 = 0.8 e1 + 0.6 e3 (even images C, odd D). Each of
// C's modes is nearer to one of D's (cosine 0.8) than to its own other mode
// (0), so k-means on positions with two clusters pairs C1 with D1 and C2 with
// D2; the word histograms of the masks tell C from D.
ModeScenes mixtures(int images)
{
    return ModeScenes(
        images, {{{1, 0, 0, 0}, {0, 1, 0, 0}, {0.8f, 0, 0.6f, 0}, {0, 0.8f, 0, 0.6f}}},
        [](std::size_t index, int cell) { return 2 * int(index % 2) + checkerboard(cell); });
}

// Three textures: C mixes C1 = e0 and C2 = e1 cell by cell; D = e2 and E
// (cosine 0.9 to D) are one mode each. k-means with three clusters keeps C1
// and C2 apart and merges D and E; no image holds two textures, so no mask
// pair says otherwise.
ModeScenes threeTextures()
{
    return ModeScenes(48, {{{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0.9f, 0.436f}}},
                      [](std::size_t index, int cell) {
                          return index % 3 == 0 ? checkerboard(cell) : 1 + int(index % 3);
                      });
}

// A robust PriMaPs-EM fit of threeTextures(): 6 steps per epoch, 48 epochs, so
// trials of 6 epochs.
EmParams threeTexturesFit()
{
    EmParams p;
    p.protocol = EmProtocol::Robust;
    p.classes = 3;
    p.epochs = 48;
    p.initEpochs = 1;
    p.batchSize = 8;
    p.seed = 5;
    return p;
}

// Every feature position of `images` as unit rows, as the initialisation samples them.
at::Tensor unitPositions(const EmDataSource& data, int images)
{
    std::vector<at::Tensor> rows;
    for (int i = 0; i < images; ++i) {
        const FeatureMap f = data.features(std::size_t(i));
        rows.push_back(at::from_blob(const_cast<float*>(f.values.data()),
                                     {f.channels, std::int64_t(f.positions())}, at::kFloat)
                           .t()
                           .clone());
    }
    return primaps::detail::unitRows(at::cat(rows, 0));
}

} // namespace

class TestEmStart : public QObject
{
    Q_OBJECT

private slots:
    void sharedPairsAreWeighedByTheSmallerMask()
    {
        // Image 0: masks of 3, 2 and 1 cells along axes 0, 1, 2. Image 1: two
        // masks of 2 cells along axes 2 and 3, and an unassigned cell. Image 2:
        // one mask only, so no pair.
        const TinyData data({{{0, 0, 0, 1, 1, 2}, {1, 1, 1, 2, 2, 3}},
                             {{2, 2, 3, 3, 0}, {1, 1, 2, 2, 0}},
                             {{0, 1, 2, 3}, {4, 4, 4, 4}}});
        // Pair weights: image 0: (1,2) 2, (1,3) 1, (2,3) 1; image 1: (1,2) 2.
        // Start "classes": every axis its own prototype: no pair shares.
        // Start "merged": axes 0 and 1 share a prototype, 2 and 3 have their
        // own: only image 0's pair (1,2) shares a cluster. Start "one": a
        // single cluster, so every pair shares it.
        // (Every start has four prototypes, repeated where it has fewer
        // distinct ones; a tie goes to the first.)
        const std::vector<KMeansStart> starts{
            start({{0}, {1}, {2}, {3}}, 0.9), start({{0, 1}, {2}, {3}, {3}}, 0.8),
            start({{0, 1, 2, 3}, {0, 1, 2, 3}, {0, 1, 2, 3}, {0, 1, 2, 3}}, 0.7)};
        const primaps::detail::MaskPairCounts counts =
            primaps::detail::countSharedMaskPairs(data, {0, 1, 2}, starts);
        QCOMPARE(counts.pairWeight, (std::vector<double>{4, 2}));
        QCOMPARE(counts.shared.size(), std::size_t(3));
        QCOMPARE(counts.shared[0], (std::vector<double>{0, 0}));
        QCOMPARE(counts.shared[1], (std::vector<double>{2, 0}));
        QCOMPARE(counts.shared[2], (std::vector<double>{4, 2}));
        QCOMPARE(counts.share(0), 0.0);
        QCOMPARE(counts.share(1), 2.0 / 6.0);
        QCOMPARE(counts.share(2), 1.0);
    }

    void clearEvidenceFromTheMasksOverrulesTheObjective()
    {
        const std::vector<KMeansStart> starts{start({{0, 1}, {2}, {3}}, 0.95),
                                              start({{0}, {1}, {2, 3}}, 0.90)};
        // Masks along axes 0 and 1 share images; 2 and 3 never do. Start 0
        // merges the pair of each image (weights 2 and 1 in turn), start 1 none.
        const Image two{{0, 0, 1, 1}, {1, 1, 2, 2}}, one{{0, 1, 1, 1}, {1, 2, 2, 2}};
        const TinyData data({two, one, two, one, two, one,
                             {{2, 2, 2, 2}, {1, 1, 1, 1}}, {{3, 3, 3, 3}, {1, 1, 1, 1}}});
        const primaps::detail::MaskPairCounts counts =
            primaps::detail::countSharedMaskPairs(data, {0, 1, 2, 3, 4, 5, 6, 7}, starts);
        QCOMPARE(counts.pairWeight.size(), std::size_t(6)); // one-mask images have no pair
        QCOMPARE(counts.share(0), 1.0);
        QCOMPARE(counts.share(1), 0.0);
        // Differences 2, 1, 2, 1, 2, 1: t = 9 / sqrt(6 * 0.3) = 6.71 against
        // Student's one-sided 1 % quantile with 5 degrees of freedom, 3.365.
        // (Restarts are numbered from 1 in the choice, as run.json shows them.)
        const EmInitChoice choice = primaps::detail::chooseStart(starts, &counts);
        QCOMPARE(choice.chosen, 2);
        QCOMPARE(choice.byObjective, 1);
        QCOMPARE(choice.fewest, 2);
        QCOMPARE(choice.rule, std::string("mask contrast"));
        QCOMPARE(choice.sharedPairs, 0.0);
        QCOMPARE(choice.sharedPairsByObjective, 1.0);
        QCOMPARE(choice.images, 6);
        QVERIFY(std::abs(choice.evidence - 9.0 / std::sqrt(1.8)) < 1e-9);
        QVERIFY(std::abs(choice.threshold - 3.3649) < 1e-3);
        // Without counts (the baseline) the objective decides.
        const EmInitChoice baseline = primaps::detail::chooseStart(starts, nullptr);
        QCOMPARE(baseline.chosen, 1);
        QCOMPARE(baseline.rule, std::string("objective"));
        QVERIFY(std::isnan(baseline.sharedPairs)); // nothing counted

        // The same differences on two images only (t = 3) are not enough: with
        // one degree of freedom the 1 % quantile is 31.8.
        const primaps::detail::MaskPairCounts few =
            primaps::detail::countSharedMaskPairs(data, {0, 1}, starts);
        const EmInitChoice cautious = primaps::detail::chooseStart(starts, &few);
        QCOMPARE(cautious.chosen, 1);
        QVERIFY(std::abs(cautious.evidence - 3.0) < 1e-12);
        QVERIFY(std::abs(cautious.threshold - 31.8205) < 1e-3);
    }

    void weakOrNoEvidenceKeepsTheObjectivesStart()
    {
        const std::vector<KMeansStart> starts{start({{0, 1}, {2}, {3}}, 0.95),
                                              start({{0}, {1}, {2, 3}}, 0.90)};
        // Start 0 merges the pairs of images 0 and 1 (weights 2 and 1), start 1
        // that of image 2 (weight 2): start 1 shares less (2 against 3), but
        // the differences 2, 1, -2 give t = 1 / sqrt(3 * 13 / 3) = 0.28.
        const TinyData weak({{{0, 0, 1, 1}, {1, 1, 2, 2}},
                             {{0, 1, 1, 1}, {1, 2, 2, 2}},
                             {{2, 2, 3, 3}, {1, 1, 2, 2}}});
        const primaps::detail::MaskPairCounts counts =
            primaps::detail::countSharedMaskPairs(weak, {0, 1, 2}, starts);
        QVERIFY(counts.share(1) < counts.share(0));
        EmInitChoice choice = primaps::detail::chooseStart(starts, &counts);
        QCOMPARE(choice.chosen, 1);
        QCOMPARE(choice.fewest, 2);
        QCOMPARE(choice.rule, std::string("objective"));
        QVERIFY(std::abs(choice.evidence - 1.0 / std::sqrt(13.0)) < 1e-12);
        // Images with one mask each: nothing to count, the objective decides.
        const TinyData single({{{0, 0, 1, 1}, {1, 1, 1, 1}}, {{2, 3, 3, 0}, {1, 1, 1, 0}}});
        const std::vector<KMeansStart> flipped{start({{0}, {1}, {2, 3}}, 0.5),
                                               start({{0, 1}, {2}, {3}}, 0.6)};
        const primaps::detail::MaskPairCounts none =
            primaps::detail::countSharedMaskPairs(single, {0, 1}, flipped);
        QVERIFY(none.pairWeight.empty() && std::isnan(none.share(0)));
        choice = primaps::detail::chooseStart(flipped, &none);
        QCOMPARE(choice.chosen, 2);
        QCOMPARE(choice.threshold, 0.0); // nothing was compared
    }

    void theThresholdIsStudentsOneSidedOnePercentLevel()
    {
        // Student's t quantiles against the tables (one-sided tail, dof).
        QVERIFY(std::abs(primaps::detail::studentQuantile(0.05, 1) - 6.3138) < 1e-3);
        QVERIFY(std::abs(primaps::detail::studentQuantile(0.05, 10) - 1.8125) < 1e-3);
        QVERIFY(std::abs(primaps::detail::studentQuantile(0.025, 30) - 2.0423) < 1e-3);
        QVERIFY(std::abs(primaps::detail::studentQuantile(0.05, 100000) - 1.6449) < 1e-3);
        QVERIFY_THROWS_EXCEPTION(Error, primaps::detail::studentQuantile(0.6, 5));
        QVERIFY_THROWS_EXCEPTION(Error, primaps::detail::studentQuantile(0.05, 0));
        // Sixteen restarts over 80 images: the one-sided 1 % level with 79
        // degrees of freedom, t = 2.374, whatever the number of restarts.
        std::vector<KMeansStart> starts;
        for (int i = 0; i < 16; ++i)
            starts.push_back(start({{0}, {1}, {2, 3}}, 0.1 * i));
        const TinyData data(std::vector<Image>(80, Image{{0, 1}, {1, 2}}));
        std::vector<std::uint32_t> all(80);
        for (std::uint32_t i = 0; i < 80; ++i)
            all[i] = i;
        const primaps::detail::MaskPairCounts counts =
            primaps::detail::countSharedMaskPairs(data, all, starts);
        const EmInitChoice choice = primaps::detail::chooseStart(starts, &counts);
        QCOMPARE(choice.chosen, 16); // equal counts: the highest objective
        QVERIFY(std::abs(choice.threshold - 2.3745) < 1e-3);
    }

    void primapsEmStartsWhereTheMasksPointAndTheBaselineWhereKMeansDoes()
    {
        // The whole initialisation of a fit (EmFit's first step) on the scenes
        // above: the baseline takes k-means' favourite (A and B merged, C cut in
        // two), PriMaPs-EM the restart that keeps the masks A | B apart.
        const SceneData data(48);
        auto params = [](EmMethod method) {
            EmParams p;
            p.method = method;
            p.protocol = EmProtocol::Robust;
            p.classes = 3;
            p.epochs = 1;
            p.initEpochs = 1;
            p.batchSize = 8;
            p.seed = 3;
            return p;
        };
        auto start = [&](EmMethod method) {
            auto fit = std::make_unique<EmFit>(data, params(method));
            fit->step(); // the initialisation
            return fit;
        };
        const auto baseline = start(EmMethod::KMeans);
        const std::vector<int> kmeans = clustersOf(baseline->thetaR());
        QCOMPARE(baseline->initChoice().rule, std::string("objective"));
        QVERIFY(std::isnan(baseline->initChoice().sharedPairs));
        QCOMPARE(kmeans[0], kmeans[1]); // A and B merged
        QVERIFY(kmeans[2] != kmeans[3]); // C cut in two

        const auto primaps = start(EmMethod::PrimapsEm);
        const EmInitChoice& choice = primaps->initChoice();
        QCOMPARE(choice.restarts, 16);
        QCOMPARE(choice.rule, std::string("mask contrast"));
        QVERIFY2(choice.sharedPairs < 0.05 && choice.sharedPairsByObjective > 0.3,
                 qPrintable(QString("%1 %2").arg(choice.sharedPairs).arg(choice.sharedPairsByObjective)));
        const std::vector<int> em = clustersOf(primaps->thetaR());
        QVERIFY(em[0] != em[1]); // A and B apart
        QCOMPARE(em[2], em[3]);  // C whole
        QVERIFY(em[2] != em[0] && em[2] != em[1]);
        QVERIFY2(QString::fromStdString(choice.describe())
                     .startsWith(QString("initialisation: k-means restart %1 of 16, chosen by "
                                         "mask contrast: ")
                                     .arg(choice.chosen)),
                 choice.describe().c_str());
        // A's and B's masks always differ by the same amount: no spread, an
        // infinite t, which the checkpoint keeps (JSON has no infinity).
        QVERIFY(std::isinf(choice.evidence));
        // Then the texture start: here the masks' restart already keeps C whole,
        // the texture groups are the same partition, and the two trials end
        // alike. An eighth of the fit's one epoch rounds up to one trial epoch,
        // 6 steps here; trials take at least 12 steps, so two epochs.
        QCOMPARE(choice.textureWords, 96);
        QCOMPARE(choice.trialEpochs, 2);
        qInfo("trial objectives: restart %.6f, texture %.6f", choice.trialObjective,
              choice.trialObjectiveTexture);
        QVERIFY(std::abs(choice.trialObjective - choice.trialObjectiveTexture) < 0.01);
        QCOMPARE(choice.fromTexture, choice.trialObjectiveTexture > choice.trialObjective);
        EmFit resumed(data, params(EmMethod::PrimapsEm));
        resumed.restoreState(primaps->saveState());
        const EmInitChoice& back = resumed.initChoice();
        QCOMPARE(back.rule, choice.rule);
        QCOMPARE(back.chosen, choice.chosen);
        QCOMPARE(back.fewest, choice.fewest);
        QCOMPARE(back.images, choice.images);
        QVERIFY(std::isinf(back.evidence));
        QCOMPARE(back.describe(), choice.describe());
        QCOMPARE(back.textureWords, 96);
        QCOMPARE(back.trialEpochs, choice.trialEpochs);
        QCOMPARE(back.trialObjective, choice.trialObjective);
        QCOMPARE(back.trialObjectiveTexture, choice.trialObjectiveTexture);
        QCOMPARE(back.fromTexture, choice.fromTexture);
        QVERIFY2(choice.describe().find("infinite") != std::string::npos, choice.describe().c_str());
        // The baseline's line names no mask counts.
        QCOMPARE(baseline->initChoice().describe(),
                 "initialisation: k-means restart " +
                     std::to_string(baseline->initChoice().chosen) +
                     " of 16, the best k-means objective");
    }

    void textureGroupsKeepAMixtureOfModesTogether()
    {
        const ModeScenes data = mixtures(24);
        const at::Tensor positions = unitPositions(data, 24);
        std::vector<std::uint32_t> images(24);
        std::iota(images.begin(), images.end(), 0u);
        // k-means on the positions pairs the modes across the textures ...
        Rng rng{7};
        const std::vector<KMeansStart> restarts =
            primaps::detail::sphericalKMeans(positions, {}, 2, 8, rng);
        for (const KMeansStart& r : restarts) {
            const std::vector<int> m = data.modeClusters(r.prototypes);
            QVERIFY(m[0] != m[1] && m[0] == m[2] && m[1] == m[3]);
        }
        // ... the word histograms of the masks group them by texture, with one
        // mask per image or two (label maps at twice the feature grid, with
        // unassigned and ignored pixels).
        for (const bool split : {false, true}) {
            ModeScenes scenes = data;
            scenes.splitMasks = split;
            std::vector<std::pair<std::string, int>> ticks; // task, total
            const std::optional<primaps::detail::TextureStart> texture =
                primaps::detail::textureGroupStart(
                    scenes, images, positions, 2, 8, rng, [&](const char* task) {
                        return [&ticks, task](int, int total) {
                            if (ticks.empty() || ticks.back().first != task)
                                ticks.emplace_back(task, total);
                        };
                    });
            QVERIFY(texture.has_value());
            QCOMPARE(ticks, (std::vector<std::pair<std::string, int>>{{"texture words", 4},
                                                                      {"texture histograms", 24},
                                                                      {"texture groups", 16},
                                                                      {"texture prototypes", 24}}));
            QCOMPARE(texture->words, 8);
            const Prototypes& p = texture->prototypes;
            QCOMPARE(p.classes, 2);
            QCOMPARE(p.dim, 4);
            QCOMPARE(p.gain, (std::vector<float>{1.0f, 1.0f}));
            const std::vector<int> m = data.modeClusters(p);
            QVERIFY2(m[0] == m[1] && m[2] == m[3] && m[0] != m[2],
                     qPrintable(QString("%1 %2 %3 %4").arg(m[0]).arg(m[1]).arg(m[2]).arg(m[3])));
            // Each prototype is its texture's mean unit feature: C's halfway
            // between C1 and C2, D's between D1 and D2.
            const int c = m[0], d = m[2];
            QVERIFY(std::abs(p.direction[std::size_t(4 * c)] - 0.707f) < 0.02f);
            QVERIFY(std::abs(p.direction[std::size_t(4 * c + 1)] - 0.707f) < 0.02f);
            QVERIFY(std::abs(p.direction[std::size_t(4 * d + 2)] - 0.424f) < 0.02f);
        }
        // More words than positions: one word per position.
        const std::optional<primaps::detail::TextureStart> few =
            primaps::detail::textureGroupStart(data, images, positions.slice(0, 0, 5), 2, 96, rng);
        QVERIFY(few.has_value());
        QCOMPARE(few->words, 5);
        // Fewer masks than prototypes: nothing to group.
        QVERIFY(
            !primaps::detail::textureGroupStart(data, {0, 1}, positions, 3, 8, rng).has_value());
        // Features that do not match the positions are named.
        const at::Tensor wide = at::zeros({10, 5}, at::kFloat);
        QVERIFY_THROWS_EXCEPTION(Error,
                                 primaps::detail::textureGroupStart(data, images, wide, 2, 4, rng));
    }

    void weightedRowsCountThatManyTimes()
    {
        // One cluster of e0 (weight 3) and e1 (weight 1): its centre is the
        // normalised weighted sum, (3, 1) / sqrt(10); without weights (1, 1) / sqrt(2).
        const at::Tensor rows = at::eye(2, at::kFloat);
        Rng rng{1};
        const KMeansStart weighted =
            primaps::detail::sphericalKMeans(rows, at::tensor({3.0f, 1.0f}), 1, 1, rng)[0];
        QVERIFY(std::abs(weighted.prototypes.direction[0] - 3.0f / std::sqrt(10.0f)) < 1e-6f);
        QVERIFY(std::abs(weighted.prototypes.direction[1] - 1.0f / std::sqrt(10.0f)) < 1e-6f);
        // The objective is the weighted mean best cosine: (3 * 3 + 1 * 1) / sqrt(10) / 4.
        QVERIFY(std::abs(weighted.meanBestCosine - 10.0 / std::sqrt(10.0) / 4.0) < 1e-6);
        const KMeansStart plain = primaps::detail::sphericalKMeans(rows, {}, 1, 1, rng)[0];
        QVERIFY(std::abs(plain.prototypes.direction[0] - 1.0f / std::sqrt(2.0f)) < 1e-6f);
        // The seeding draws by weight: a row of weight 0 is never a first centre.
        for (int seed = 0; seed < 20; ++seed) {
            Rng r{std::uint64_t(seed)};
            const at::Tensor three = at::eye(3, at::kFloat);
            const KMeansStart s =
                primaps::detail::sphericalKMeans(three, at::tensor({0.0f, 1.0f, 1.0f}), 2, 1, r)[0];
            for (int k = 0; k < 2; ++k)
                QCOMPARE(s.prototypes.direction[std::size_t(3 * k)], 0.0f); // never e0
        }
    }

    void theTextureStartWinsWhenItsTrialEndsHigher()
    {
        const ModeScenes data = threeTextures();
        EmParams p = threeTexturesFit();
        EmFit fit(data, p);
        std::vector<std::string> tasks;
        fit.step([&](const EmInitProgress& progress) {
            if (tasks.empty() || tasks.back() != progress.task)
                tasks.push_back(progress.task);
            return true;
        });
        // No image holds two masks: the restart is k-means' favourite, which
        // merges D and E and cuts C in two; the trial from it loses C's masks
        // (split votes) and re-seeds starved prototypes from D's and E's masks;
        // the trial from the texture groups keeps C, D and E.
        const EmInitChoice& choice = fit.initChoice();
        QCOMPARE(choice.rule, std::string("objective"));
        QCOMPARE(choice.trialEpochs, 6);
        QVERIFY2(choice.fromTexture && choice.trialObjectiveTexture > choice.trialObjective + 0.1,
                 choice.describe().c_str());
        QVERIFY2(QString::fromStdString(choice.describe())
                     .endsWith(QString("from the masks grouped by texture (96 words) at %1: "
                                       "the fit starts from the texture groups")
                                   .arg(choice.trialObjectiveTexture, 0, 'f', 4)),
                 choice.describe().c_str());
        QCOMPARE(tasks,
                 (std::vector<std::string>{"k-means sample", "k-means restarts", "mask contrast",
                                           "texture words", "texture histograms", "texture groups",
                                           "texture prototypes", "trial EM"}));
        QCOMPARE(EmInitProgress({"trial EM", 3, 72}).describe(),
                 std::string("PCA initialisation: trial EM step 3 of 72"));
        // The fit starts from the texture groups: the cells of C's two modes in
        // one cluster, D's and E's in one each.
        const Prototypes& start = fit.thetaR();
        auto clusterOf = [&](std::size_t image, int cell) {
            const FeatureMap f = data.features(image);
            float x[4];
            for (int c = 0; c < 4; ++c)
                x[c] = f.values[std::size_t(c) * 64 + std::size_t(cell)];
            return nearestPrototype(start, x);
        };
        QCOMPARE(clusterOf(0, 0), clusterOf(0, 1));  // C1 and C2 together
        QVERIFY(clusterOf(1, 0) != clusterOf(2, 0)); // D and E apart
        QVERIFY(clusterOf(0, 0) != clusterOf(1, 0) && clusterOf(0, 0) != clusterOf(2, 0));
        // The baseline never builds it.
        p.method = EmMethod::KMeans;
        EmFit baseline(data, p);
        baseline.step();
        QCOMPARE(baseline.initChoice().textureWords, 0);
        QVERIFY(baseline.initChoice().describe().find("texture") == std::string::npos);
    }

    void stoppingInTheTextureStartOrTheTrialLeavesTheFitAsBefore()
    {
        const ModeScenes data = threeTextures();
        EmParams p = threeTexturesFit();
        p.whitenRidge = 0.3f;
        EmFit uninterrupted(data, p);
        uninterrupted.step();
        for (const char* where : {"texture histograms", "texture groups", "trial EM"}) {
            EmFit fit(data, p);
            const std::string before = fit.saveState();
            int seen = 0;
            const std::optional<EmStepInfo> stopped = fit.step(
                [&](const EmInitProgress& at) { return !(at.task == where && ++seen == 3); });
            QVERIFY2(!stopped.has_value(), where);
            QCOMPARE(fit.saveState(), before);
            fit.step();
            QCOMPARE(fit.saveState(), uninterrupted.saveState());
        }
    }

    void progressReachesEveryImageAndMismatchedFeaturesAreNamed()
    {
        const TinyData data({{{0, 1}, {1, 2}}, {{2, 3}, {1, 2}}, {{0, 3}, {1, 2}}});
        std::vector<int> ticks;
        primaps::detail::countSharedMaskPairs(data, {0, 1, 2}, {start({{0}, {1}, {2}, {3}}, 0.0)},
                                              [&](int done, int total) {
                                                  QCOMPARE(total, 3);
                                                  ticks.push_back(done);
                                              });
        QCOMPARE(ticks, (std::vector<int>{0, 1, 2, 3}));
        KMeansStart wide = start({{0}, {1}}, 0.0);
        wide.prototypes.dim = 5;
        wide.prototypes.direction.resize(10, 0.0f);
        QVERIFY_THROWS_EXCEPTION(Error, primaps::detail::countSharedMaskPairs(data, {0}, {wide}));
    }
};

QTEST_GUILESS_MAIN(TestEmStart)
#include "tst_emstart.moc"
