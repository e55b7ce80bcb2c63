// SPDX-License-Identifier: MIT
// PriMaPs-EM and the k-means baseline, step by step (docs/ALGORITHM.md, "PriMaPs-EM");
// checkpoints and the job are in emfitstate.cpp. The gradients are written out
// by hand instead of going through autograd: the model is linear (weight-normalised
// 1x1 prototypes), so the chain rule is short, memory stays bounded per image, and
// the whole state (Adam moments included) is plain arrays that checkpoint exactly.
#include "em/emfit.h"
#include "em/emfit_p.h"
#include "em/emfitimpl_p.h"
#include "em/emgradient_p.h"

#include "support/blasthreads_p.h"
#include "support/error.h"
#include "support/runtime.h"
#include "support/workerteam_p.h"

#include <algorithm>
#include <optional>
#include <ATen/ATen.h>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <numeric>

namespace primaps {

std::vector<std::uint32_t> detail::permutation(std::size_t n, Rng& rng)
{
    std::vector<std::uint32_t> order(n);
    std::iota(order.begin(), order.end(), 0u);
    for (std::size_t i = n; i > 1; --i)
        std::swap(order[i - 1], order[std::size_t(rng.below(i))]);
    return order;
}

namespace {

// A view of float data as a tensor; the owner must outlive it and nobody writes.
at::Tensor view(const std::vector<float>& values, at::IntArrayRef shape)
{
    return at::from_blob(const_cast<float*>(values.data()), shape, at::kFloat);
}

at::Tensor featureMatrix(const FeatureMap& f)
{
    return view(f.values, {f.channels, std::int64_t(f.positions())});
}

at::Tensor weightTensor(const Prototypes& p)
{
    const at::Tensor v = view(p.direction, {p.classes, p.dim});
    const at::Tensor g = view(p.gain, {p.classes, 1});
    return g * v / v.norm(2, {1}, true);
}

std::vector<float> toVector(const at::Tensor& t)
{
    const at::Tensor c = t.contiguous().to(at::kFloat);
    return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

at::Tensor upsample(const at::Tensor& lowRes, int height, int width)
{
    if (lowRes.size(2) == height && lowRes.size(3) == width)
        return lowRes;
    return at::upsample_bilinear2d(lowRes, {height, width}, false, c10::nullopt, c10::nullopt);
}

} // namespace

std::vector<float> Prototypes::weights() const
{
    return toVector(weightTensor(*this));
}

std::vector<float> clusterLogits(const FeatureMap& features, const Prototypes& prototypes,
                                 cv::Size size)
{
    if (features.channels != prototypes.dim || prototypes.classes < 1)
        throw Error("features have " + std::to_string(features.channels) +
                    " channels but the prototypes " + std::to_string(prototypes.dim));
    const at::Tensor low = weightTensor(prototypes)
                               .mm(featureMatrix(features))
                               .view({1, prototypes.classes, features.height, features.width});
    return toVector(upsample(low, size.height, size.width));
}

cv::Mat predictClusters(const FeatureMap& features, const Prototypes& prototypes, cv::Size size)
{
    if (features.channels != prototypes.dim || prototypes.classes < 1)
        throw Error("features have " + std::to_string(features.channels) +
                    " channels but the prototypes " + std::to_string(prototypes.dim));
    const at::Tensor low = weightTensor(prototypes)
                               .mm(featureMatrix(features))
                               .view({1, prototypes.classes, features.height, features.width});
    const at::Tensor labels =
        upsample(low, size.height, size.width).argmax(1).to(at::kInt).contiguous();
    cv::Mat out(size, CV_32SC1);
    std::copy(labels.data_ptr<int>(), labels.data_ptr<int>() + labels.numel(), out.ptr<int>());
    return out;
}

FeatureMap averageWithFlipped(const FeatureMap& features, const FeatureMap& flipped)
{
    if (features.channels != flipped.channels || features.height != flipped.height ||
        features.width != flipped.width)
        throw Error("flip averaging: the two feature maps differ in shape");
    FeatureMap out(features.channels, features.height, features.width);
    for (int c = 0; c < features.channels; ++c)
        for (int y = 0; y < features.height; ++y)
            for (int x = 0; x < features.width; ++x)
                out.at(c, y, x) =
                    0.5f * (features.at(c, y, x) + flipped.at(c, y, features.width - 1 - x));
    return out;
}

FeatureMap EmDataSource::studentFeatures(std::size_t, std::uint64_t) const
{
    throw Error("this data source has no augmented (student) features");
}

const char* toString(EmMethod method)
{
    return method == EmMethod::KMeans ? "kmeans" : "primaps-em";
}

EmMethod emMethodFromString(const std::string& name)
{
    if (name == "primaps-em")
        return EmMethod::PrimapsEm;
    if (name == "kmeans")
        return EmMethod::KMeans;
    throw Error("unknown fit method '" + name + "' (known: primaps-em, kmeans)");
}

const char* toString(EmProtocol protocol)
{
    return protocol == EmProtocol::Paper ? "paper" : "robust";
}

float defaultLearningRate(EmProtocol protocol)
{
    return protocol == EmProtocol::Paper ? 5e-3f : 1e-3f;
}

float defaultWhitenRidge(EmProtocol protocol, const std::string& backbone)
{
    // Measured on the current filter bank ("filterbank", version 2) only.
    return protocol == EmProtocol::Robust && backbone == "filterbank" ? 0.3f : 0.0f;
}

EmProtocol emProtocolFromString(const std::string& name)
{
    if (name == "paper")
        return EmProtocol::Paper;
    if (name == "robust")
        return EmProtocol::Robust;
    throw Error("unknown fit protocol '" + name + "' (known: robust, paper)");
}

const char* toString(EmPhase phase)
{
    switch (phase) {
    case EmPhase::Pca:
        return "pca";
    case EmPhase::KMeans:
        return "k-means";
    case EmPhase::Em:
        return "em";
    case EmPhase::Done:
        return "done";
    }
    return "done";
}

std::string EmInitProgress::describe() const
{
    const std::string current =
        std::to_string(std::min(done + 1, total)) + " of " + std::to_string(total);
    if (task == "k-means restarts")
        return "PCA initialisation: k-means restart " + current;
    if (task == "texture words")
        return "PCA initialisation: texture words, run " + current;
    if (task == "texture groups")
        return "PCA initialisation: texture groups, restart " + current;
    if (task == "trial EM")
        return "PCA initialisation: trial EM step " + std::to_string(done) + " of " +
               std::to_string(total);
    return "PCA initialisation: " + std::to_string(done) + " of " + std::to_string(total) +
           " images" + (task == "images" ? std::string() : " (" + task + ")");
}

namespace {

// How the restart was chosen among the k-means restarts.
std::string restartChoice(const EmInitChoice& c)
{
    auto fixed = [](double v, const char* format) {
        char text[32];
        std::snprintf(text, sizeof text, format, v);
        return std::string(text);
    };
    auto percent = [&](double v) { return fixed(100 * v, "%.1f %%"); };
    auto t = [&](double v) {
        return std::isinf(v) ? std::string("infinite (every image differs alike)")
                             : fixed(v, "%.2f");
    };
    const std::string line = "initialisation: k-means restart " + std::to_string(c.chosen) +
                             " of " + std::to_string(c.restarts);
    if (c.rule == "mask contrast")
        return line + ", chosen by mask contrast: " + percent(c.sharedPairs) +
               " of the mask-pair weight of an image in one cluster against " +
               percent(c.sharedPairsByObjective) + " for restart " + std::to_string(c.byObjective) +
               " (best k-means objective); paired t " + t(c.evidence) + ", needed " +
               t(c.threshold) + ", over " + std::to_string(c.images) + " images";
    const std::string best = line + ", the best k-means objective";
    if (std::isnan(c.sharedPairs))
        return best;
    if (c.images < 2 || c.threshold <= 0)
        return best + " (mask pairs counted in " + std::to_string(c.images) +
               " image(s): too few to compare restarts)";
    if (c.fewest == c.chosen)
        return best + ", and the least mask-pair weight in one cluster (" + percent(c.sharedPairs) +
               ")";
    return best + " (" + percent(c.sharedPairs) +
           " of the mask-pair weight in one cluster; restart " + std::to_string(c.fewest) +
           " has " + percent(c.sharedPairsFewest) + ", not clearly fewer: paired t " +
           t(c.evidence) + ", needed " + t(c.threshold) + ")";
}

} // namespace

std::string EmInitChoice::describe() const
{
    if (restarts <= 0)
        return {};
    const std::string line = restartChoice(*this);
    if (textureWords <= 0)
        return line;
    auto objective = [](double v) {
        char text[32];
        std::snprintf(text, sizeof text, "%.4f", v);
        return std::string(text);
    };
    return line + "; a " + std::to_string(trialEpochs) +
           "-epoch trial EM from it ends at k-means objective " + objective(trialObjective) +
           ", from the masks grouped by texture (" + std::to_string(textureWords) + " words) at " +
           objective(trialObjectiveTexture) + ": " +
           (fromTexture ? "the fit starts from the texture groups"
                        : "the fit starts from restart " + std::to_string(chosen));
}

EmStepInfo EmFit::Impl::pcaStep(const EmInitMonitor& monitor)
{
    auto tick = [&monitor](const char* task) -> detail::InitTick {
        if (!monitor)
            return {};
        return [&monitor, task](int done, int total) {
            if (!monitor(EmInitProgress{task, done, total}))
                throw detail::InitStopped{};
        };
    };
    const std::vector<std::uint32_t> sample = permutation(imageCount, rng);
    const std::size_t count =
        std::min<std::size_t>(sample.size(), std::size_t(std::max(1, params.pcaImages)));
    if (params.protocol == EmProtocol::Robust) {
        const int dim = checkedFeatures(sample[0], false).channels;
        if (params.classes > dim)
            throw Error("cannot fit " + std::to_string(params.classes) + " prototypes to " +
                        std::to_string(dim) + "-dimensional features");
        if (whitens())
            estimateWhitening(tick("whitening"));
        const std::vector<std::uint32_t> images(sample.begin(),
                                                sample.begin() + std::ptrdiff_t(count));
        at::Tensor positions;
        std::vector<detail::KMeansStart> starts = detail::sphericalKMeansStarts(
            source(), images, params.classes, kInitPositions, kInitRestarts, rng,
            tick("k-means sample"), tick("k-means restarts"), &positions);
        // The baseline keeps the restart k-means itself prefers; PriMaPs-EM the
        // one that keeps each image's masks apart when the masks say so clearly
        // (docs/em-quality.md, "Session 12").
        const std::vector<std::uint32_t> contrastImages(
            images.begin(), images.begin() + std::ptrdiff_t(std::min<std::size_t>(
                                                 images.size(), std::size_t(kContrastImages))));
        std::optional<detail::MaskPairCounts> counts;
        if (params.method == EmMethod::PrimapsEm)
            counts = detail::countSharedMaskPairs(source(), contrastImages, starts,
                                                  tick("mask contrast"));
        EmInitChoice choice = detail::chooseStart(starts, counts ? &*counts : nullptr);
        Prototypes start = std::move(starts[std::size_t(choice.chosen - 1)].prototypes);
        if (params.method == EmMethod::PrimapsEm && emEpochs() > 0)
            tryTextureStart(contrastImages, std::move(positions), choice, start, tick);
        initChoice = std::move(choice);
        thetaR = std::move(start);
        thetaM = thetaR;
        enterKMeans();
        return EmStepInfo{};
    }
    at::Tensor gram, sum;
    std::int64_t n = 0;
    int dim = 0;
    const detail::InitTick pooled = tick("images");
    for (std::size_t i = 0; i < count; ++i) {
        if (pooled)
            pooled(int(i), int(count));
        const FeatureMap f = checkedFeatures(sample[i], false);
        if (i == 0) {
            dim = f.channels;
            if (params.classes > dim)
                throw Error("cannot fit " + std::to_string(params.classes) + " prototypes to " +
                            std::to_string(dim) + "-dimensional features");
            gram = at::zeros({dim, dim}, at::kDouble);
            sum = at::zeros({dim}, at::kDouble);
        } else if (f.channels != dim) {
            throw Error("image " + std::to_string(sample[i]) + ": features have " +
                        std::to_string(f.channels) + " channels, the others " +
                        std::to_string(dim));
        }
        const at::Tensor x = featureMatrix(f);
        gram += x.mm(x.t()).to(at::kDouble);
        sum += x.sum(1).to(at::kDouble);
        n += std::int64_t(f.positions());
    }
    if (pooled)
        pooled(int(count), int(count));
    if (n < 2)
        throw Error("PCA initialisation needs at least two feature positions");
    const at::Tensor mean = sum / double(n);
    const at::Tensor cov =
        (gram - double(n) * mean.unsqueeze(1).mm(mean.unsqueeze(0))) / double(n - 1);
    const auto [values, vectors] = at::linalg_eigh(cov);
    (void)values;
    // Columns are in ascending eigenvalue order; the top K, largest first. Each
    // direction's sign is arbitrary: fix it so that its largest component is
    // positive, which makes the initialisation reproducible.
    const int k = params.classes;
    Prototypes p;
    p.classes = k;
    p.dim = dim;
    p.gain.assign(std::size_t(k), 1.0f);
    p.direction.resize(std::size_t(k) * std::size_t(dim));
    const at::Tensor top =
        vectors.index_select(1, at::arange(dim - 1, dim - 1 - k, -1, at::kLong)).t().contiguous();
    const double* t = top.data_ptr<double>();
    for (int r = 0; r < k; ++r) {
        const double* row = t + std::size_t(r) * std::size_t(dim);
        int arg = 0;
        for (int c = 1; c < dim; ++c)
            if (std::abs(row[c]) > std::abs(row[arg]))
                arg = c;
        const double sign = row[arg] < 0 ? -1.0 : 1.0;
        for (int c = 0; c < dim; ++c)
            p.direction[std::size_t(r) * std::size_t(dim) + std::size_t(c)] = float(sign * row[c]);
    }
    thetaR = p;
    thetaM = p;
    enterKMeans();
    EmStepInfo info;
    info.phase = EmPhase::Pca;
    return info;
}

EmStepInfo EmFit::Impl::kmeansStep()
{
    const int k = thetaR.classes;
    const int dim = thetaR.dim;
    const at::Tensor v = view(thetaR.direction, {k, dim});
    const at::Tensor norms = v.norm(2, {1}, true);
    const at::Tensor unit = v / norms;
    at::Tensor assigned = at::zeros({k, dim}, at::kFloat);
    double scoreSum = 0;
    std::int64_t positions = 0;
    for (std::uint32_t index : batch()) {
        const FeatureMap f = checkedFeatures(index, false);
        const at::Tensor x = featureMatrix(f);
        const at::Tensor xn = x / x.norm(2, {0}, true).clamp_min(1e-12);
        const at::Tensor scores = unit.mm(xn);
        const auto [best, arg] = scores.max(0);
        scoreSum += best.sum().to(at::kDouble).item<double>();
        const at::Tensor onehot = at::zeros_like(scores).scatter_(0, arg.unsqueeze(0), 1.0);
        assigned += onehot.mm(xn.t());
        positions += std::int64_t(f.positions());
    }
    // loss = -mean_p max_k <u_k, x_p>; dL/du = -assigned / n; through u = v / |v|.
    const at::Tensor gradUnit = -assigned / double(positions);
    const at::Tensor radial = (gradUnit * unit).sum(1, true);
    const at::Tensor gradV = (gradUnit - radial * unit) / norms;
    adamDirection.update(thetaR.direction, toVector(gradV), params.learningRate);
    thetaM = thetaR;

    EmStepInfo info;
    info.phase = EmPhase::KMeans;
    info.epoch = epoch;
    info.loss = -scoreSum / double(positions);
    return info;
}

double EmFit::Impl::emaUpdate()
{
    // The reference's EMA (update_after_step 0, update_every 1, inv_gamma 1,
    // power 1): the first two updates copy theta_R, then the decay ramps up as
    // s / (s + 1) for the s-th update (0-based) and is capped at emaDecay.
    const std::int64_t s = emaCalls++;
    const float beta = params.emaDecay;
    if (s <= 1) {
        thetaM = thetaR;
        return 0.0;
    }
    double decay = beta;
    if (beta != 0.0f && beta != 1.0f)
        decay = std::min(double(beta), 1.0 - 1.0 / double(s + 1));
    const float d = float(decay);
    for (std::size_t i = 0; i < thetaM.gain.size(); ++i)
        thetaM.gain[i] += (1.0f - d) * (thetaR.gain[i] - thetaM.gain[i]);
    for (std::size_t i = 0; i < thetaM.direction.size(); ++i)
        thetaM.direction[i] += (1.0f - d) * (thetaR.direction[i] - thetaM.direction[i]);
    return decay;
}

void EmFit::Impl::imageTerms(EmBatchImage& item, const at::Tensor& weightsM,
                              const at::Tensor& weightsR) const
{
    const int k = thetaR.classes;
    const FeatureMap& teacher = item.teacher.empty() ? item.input : item.teacher;
    const cv::Mat& masks = item.masks;
    const int lh = masks.rows, lw = masks.cols;

    // E-step: theta_M's prediction at label resolution, each mask's mode.
    const at::Tensor lowM = weightsM.mm(featureMatrix(teacher)).contiguous();
    std::vector<std::int32_t> labels(std::size_t(lh) * std::size_t(lw));
    detail::argmaxAtLabelResolution(lowM.data_ptr<float>(), k, teacher.height, teacher.width, lh,
                                    lw, labels.data());
    std::vector<std::int64_t> histogram(std::size_t(256) * std::size_t(k), 0);
    for (int y = 0; y < lh; ++y) {
        const std::uint8_t* row = masks.ptr<std::uint8_t>(y);
        const std::int32_t* pred = labels.data() + std::size_t(y) * std::size_t(lw);
        for (int x = 0; x < lw; ++x)
            if (row[x] != 0 && row[x] != 255)
                ++histogram[std::size_t(row[x]) * std::size_t(k) + std::size_t(pred[x])];
    }
    std::vector<int> mode(256, -1);
    for (int m = 1; m < 255; ++m) {
        const auto first = histogram.begin() + std::ptrdiff_t(std::size_t(m) * std::size_t(k));
        const auto best = std::max_element(first, first + k); // ties: lowest class
        if (*best <= 0)
            continue;
        if (params.protocol == EmProtocol::Robust &&
            double(*best) <
                kMinVoteShare * double(std::accumulate(first, first + k, std::int64_t(0))))
            continue;
        mode[std::size_t(m)] = int(best - first);
    }
    if (params.protocol == EmProtocol::Robust)
        item.summaries = detail::summariseMasks(teacher, masks, mode);
    // The pseudo-labels replace the prediction in place.
    item.labelled = 0;
    for (int y = 0; y < lh; ++y) {
        const std::uint8_t* row = masks.ptr<std::uint8_t>(y);
        std::int32_t* target = labels.data() + std::size_t(y) * std::size_t(lw);
        for (int x = 0; x < lw; ++x) {
            target[x] = mode[row[x]];
            item.labelled += target[x] >= 0;
        }
    }
    item.teacher = FeatureMap(); // theta_R's features stay for pass 2

    // theta_R on the (possibly augmented) features: its logits at the feature
    // resolution, one row of K per position; the upsampling, softmax and loss
    // terms run per label pixel (emgradient.cpp).
    const at::Tensor lowLogits = featureMatrix(item.input).t().mm(weightsR.t()).contiguous();
    detail::accumulateEmImage(lowLogits.data_ptr<float>(), k, item.input.height, item.input.width,
                              labels.data(), lh, lw, item.terms);
}

detail::WorkerTeam& EmFit::Impl::team()
{
    if (!workers)
        workers = std::make_unique<detail::WorkerTeam>(std::max(1, computeThreads()),
                                                       detail::serialAtenOpsOnThisThread);
    return *workers;
}

EmStepInfo EmFit::Impl::emStep()
{
    const int k = thetaR.classes;
    const int dim = thetaR.dim;
    const at::Tensor weightsM = weightTensor(thetaM);
    const at::Tensor weightsR = weightTensor(thetaR);
    const bool student = params.studentAugmentation;
    // OpenBLAS on the calling thread for the whole step: the team splits pass 1's
    // images, and pass 2's products are too small to hand over; otherwise its
    // worker spins after each of them, into the next step's pass 1.
    const detail::SingleThreadedBlas blasPerThread;

    // Pass 1: E-step and theta_R's probabilities per image. The focal weights need
    // the batch's mean confidence per class before any gradient can be formed.
    // The data source is read on this thread (EmDataSource's contract), then the
    // images are shared among the team; each image's arithmetic runs on one thread
    // whichever it is, and its results are added up in the batch's order below,
    // so the step's numbers do not depend on the threads.
    std::vector<EmBatchImage> items;
    for (std::uint32_t index : batch()) {
        EmBatchImage item;
        item.index = index;
        FeatureMap f = checkedFeatures(index, false);
        item.masks = data.masks(index);
        if (item.masks.type() != CV_8UC1 || item.masks.empty())
            throw Error("image " + std::to_string(index) + ": masks must be a CV_8UC1 map");
        if (student) {
            item.teacher = std::move(f);
            item.input = checkedFeatures(index, true);
            if (item.input.height != item.teacher.height || item.input.width != item.teacher.width)
                throw Error("image " + std::to_string(index) +
                            ": student features differ in size");
        } else {
            item.input = std::move(f);
        }
        items.push_back(std::move(item));
    }
    {
        std::atomic<std::size_t> next{0};
        team().run([&](int) {
            for (std::size_t i = next++; i < items.size(); i = next++)
                imageTerms(items[i], weightsM, weightsR);
        });
    }
    at::Tensor confidence = at::zeros({k}, at::kDouble);
    at::Tensor nllPerClass = at::zeros({k}, at::kDouble);
    std::int64_t pixels = 0, labelled = 0;
    std::vector<detail::MaskSummary> batchMasks; // robust protocol: re-seeding candidates
    for (EmBatchImage& item : items) {
        for (detail::MaskSummary& m : item.summaries) {
            pseudoPixels[std::size_t(m.cluster)] += m.pixels;
            batchMasks.push_back(std::move(m));
        }
        confidence += at::from_blob(item.terms.confidence.data(), {k}, at::kDouble);
        nllPerClass += at::from_blob(item.terms.nll.data(), {k}, at::kDouble);
        pixels += std::int64_t(item.masks.rows) * item.masks.cols;
        labelled += item.labelled;
    }

    // Focal class weights from the batch's mean confidence (not differentiated, as
    // in the reference); the loss is a mean over all pixels, ignored ones count 0.
    const at::Tensor focal =
        (1.0 - confidence / double(pixels)).pow(params.focalGamma).to(at::kFloat);
    const double loss = (focal.to(at::kDouble) * nllPerClass).sum().item<double>() / double(pixels);

    // Pass 2: dL/dlogits = w_y (p - onehot(y)) / N at labelled pixels, back through
    // the upsampling (its adjoint, already taken per pseudo-label in pass 1) and
    // the 1x1 projection.
    at::Tensor gradW = at::zeros({k, dim}, at::kFloat);
    const std::vector<float> focalWeights = toVector(focal);
    for (EmBatchImage& item : items) {
        at::Tensor gradLow = at::empty({item.terms.positions, k}, at::kFloat); // pixel-major
        detail::emLowResolutionGradient(item.terms, focalWeights.data(), double(pixels),
                                        gradLow.data_ptr<float>());
        gradW.addmm_(gradLow.t(), featureMatrix(item.input).t());
        item.terms = detail::EmImageTerms(); // free as we go
    }

    // Through W = g v / |v|.
    const at::Tensor v = view(thetaR.direction, {k, dim});
    const at::Tensor norms = v.norm(2, {1}, true);
    const at::Tensor unit = v / norms;
    const at::Tensor g = view(thetaR.gain, {k, 1});
    const at::Tensor gradGain = (gradW * unit).sum(1, true);
    const at::Tensor gradV = g / norms * (gradW - gradGain * unit);
    const std::vector<float> gradGainVec = toVector(gradGain);
    const std::vector<float> gradVVec = toVector(gradV);
    adamGain.update(thetaR.gain, gradGainVec, params.learningRate);
    adamDirection.update(thetaR.direction, gradVVec, params.learningRate);

    EmStepInfo info;
    info.phase = EmPhase::Em;
    info.epoch = epoch;
    info.loss = loss;
    info.labelledFraction = pixels > 0 ? double(labelled) / double(pixels) : 0.0;
    ++emSteps;
    if (params.emaEvery > 0 && emSteps % params.emaEvery == 0)
        info.emaDecay = emaUpdate();
    if (params.protocol == EmProtocol::Robust && emSteps % kReseedEvery == 0) {
        reseeds += std::int64_t(detail::reseedDeadPrototypes(
                                    thetaR, thetaM, adamDirection.m, adamDirection.v, adamGain.m,
                                    adamGain.v, pseudoPixels, batchMasks, kStarvedShare / k)
                                    .size());
        std::fill(pseudoPixels.begin(), pseudoPixels.end(), 0.0);
    }
    return info;
}

EmFit::EmFit(const EmDataSource& data, const EmParams& params)
    : d(std::make_unique<Impl>(data, params))
{
    if (params.classes < 1 || params.classes > 254)
        throw Error("the number of classes must be in 1..254");
    if (params.epochs < 0 || params.initEpochs < 0)
        throw Error("epochs must not be negative");
    if (params.batchSize < 1)
        throw Error("the batch size must be at least 1");
    if (!(params.learningRate > 0) || !(params.emaDecay >= 0 && params.emaDecay <= 1) ||
        !(params.focalGamma >= 0))
        throw Error("learning rate must be > 0, EMA decay in [0, 1], focal gamma >= 0");
    if (!(params.whitenRidge >= 0) || !std::isfinite(params.whitenRidge))
        throw Error("the whitening ridge must be a finite number >= 0");
    d->imageCount = data.size();
    if (d->imageCount == 0)
        throw Error("the fit has no images");
    if (params.studentAugmentation && !data.hasStudentFeatures())
        throw Error("student augmentation needs augmented features, which this data lacks");
    d->rng.state = params.seed;
}

EmFit::~EmFit() = default;

const EmParams& EmFit::params() const
{
    return d->params;
}
bool EmFit::done() const
{
    return d->phase == EmPhase::Done;
}
EmPhase EmFit::phase() const
{
    return d->phase;
}
int EmFit::epoch() const
{
    return d->epoch;
}
std::int64_t EmFit::stepsDone() const
{
    return d->stepsDone;
}
int EmFit::stepsPerEpoch() const
{
    return d->stepsPerEpoch();
}
const Prototypes& EmFit::thetaM() const
{
    return d->rawSpace(d->thetaM, d->foldedM);
}
const Prototypes& EmFit::thetaR() const
{
    return d->rawSpace(d->thetaR, d->foldedR);
}
std::int64_t EmFit::reseeds() const
{
    return d->reseeds;
}
const EmInitChoice& EmFit::initChoice() const
{
    return d->initChoice;
}
const std::vector<EmStepInfo>& EmFit::history() const
{
    return d->history;
}

std::int64_t EmFit::totalSteps() const
{
    return 1 + std::int64_t(d->stepsPerEpoch()) * (d->kmeansEpochs() + d->emEpochs());
}

std::int64_t EmFit::phaseEndStep() const
{
    switch (d->phase) {
    case EmPhase::Pca:
        return 1;
    case EmPhase::KMeans:
        return 1 + std::int64_t(d->stepsPerEpoch()) * d->kmeansEpochs();
    case EmPhase::Em:
    case EmPhase::Done:
        break;
    }
    return totalSteps();
}

EmStepInfo EmFit::step()
{
    return *step(EmInitMonitor{});
}

std::optional<EmStepInfo> EmFit::step(const EmInitMonitor& monitor)
{
    EmStepInfo info;
    switch (d->phase) {
    case EmPhase::Done:
        throw Error("the fit is finished; step() must not be called again");
    case EmPhase::Pca: {
        // Stopped, the fit is as before: the generator the initialisation drew
        // from and the whitening it estimated go back, nothing else has moved.
        const Rng before = d->rng;
        try {
            info = d->pcaStep(monitor);
        } catch (const detail::InitStopped&) {
            d->rng = before;
            d->whitened.reset();
            return std::nullopt;
        }
        break;
    }
    case EmPhase::KMeans:
    case EmPhase::Em: {
        // LibTorch's elementwise steps on this thread while OpenBLAS keeps its own
        // pool: otherwise libgomp's workers spin between the short parallel regions
        // of every image (62 % of an epoch's samples under perf on the shared
        // 2-core machine; docs/performance.md).
        if (d->phase == EmPhase::Em)
            d->team(); // sized by the intra-op threads, before the scope below lowers them
        const detail::SerialAtenOps serial(detail::blasHasOwnThreadPool());
        info = d->batchStep();
        break;
    }
    }
    info.step = ++d->stepsDone;
    d->history.push_back(info);
    return info;
}

} // namespace primaps
