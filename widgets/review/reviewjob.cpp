// SPDX-License-Identifier: MIT
#include "review/reviewjob.h"

#include "common/fitoverlapnote.h"
#include "common/threadpriority.h"
#include "runs/fitrun.h"
#include "support/error.h"

#include <QCoreApplication>
#include <QDir>
#include <QtConcurrent/QtConcurrentRun>

namespace primaps {

void ReviewOpenResult::addProblems(const Dataset& dataset)
{
    for (const DatasetProblem& p : dataset.problems()) {
        problems << QString::fromStdString(p.path + ": " + p.message);
        // Core words each kind so (dataset.cpp); a new kind counts as "other".
        if (p.message.rfind("image missing", 0) == 0)
            ++missingImages;
        else if (p.message.rfind("label missing", 0) == 0)
            ++missingLabels;
        else
            ++otherProblems;
    }
}

QString ReviewOpenResult::problemSummary() const
{
    // The first problem of a kind names its file: "PATH: what".
    const auto firstOf = [this](const char* prefix) {
        for (const QString& p : problems) {
            const int colon = p.lastIndexOf(QStringLiteral(": "));
            if (colon >= 0 && p.mid(colon + 2).startsWith(QLatin1String(prefix)))
                return QDir::toNativeSeparators(p.left(colon));
        }
        return QString();
    };
    QStringList parts;
    if (missingImages > 0)
        parts << ReviewJob::tr("%n listed image(s) are missing and were left out (the first: %1)",
                             nullptr, missingImages)
                     .arg(firstOf("image missing"));
    if (missingLabels > 0)
        parts << ReviewJob::tr("%n label file(s) are missing; those images are shown without "
                             "ground truth (the first: %1)",
                             nullptr, missingLabels)
                     .arg(firstOf("label missing"));
    if (otherProblems > 0) {
        QString other;
        for (const QString& p : problems)
            if (!p.contains(QLatin1String(": image missing")) &&
                !p.contains(QLatin1String(": label missing"))) {
                other = p;
                break;
            }
        parts << ReviewJob::tr("%n other file problem(s) (the first: %1)", nullptr, otherProblems)
                     .arg(other);
    }
    return parts.join(QStringLiteral("; "));
}

namespace {

// Paging back and forth between neighbouring images should not recompute them;
// each review holds a few prepared-size layers, so a handful is cheap.
constexpr std::size_t kCachedReviews = 8;

} // namespace

struct ReviewJob::ReviewOutcome
{
    int index = -1;
    ReviewPrediction prediction;
    std::shared_ptr<const ImageReview> review;
    QString error;
};

struct ReviewJob::CountsOutcome
{
    std::shared_ptr<const SplitCounts> counts;
    QString error;
};

ReviewJob::ReviewJob(QObject* parent) : QObject(parent)
{
    qRegisterMetaType<primaps::ReviewOpenResult>();
    qRegisterMetaType<std::shared_ptr<const primaps::ImageReview>>();
    qRegisterMetaType<std::shared_ptr<const primaps::SplitCounts>>();
    m_reviewPool.setMaxThreadCount(1);
    m_countsPool.setMaxThreadCount(1);
    connect(&m_reviewWatcher, &QFutureWatcherBase::finished, this, &ReviewJob::onReviewDone);
    connect(&m_countsWatcher, &QFutureWatcherBase::finished, this, &ReviewJob::onCountsDone);
}

ReviewJob::~ReviewJob()
{
    cancelCounts();
    m_reviewPool.waitForDone();
    m_countsPool.waitForDone();
}

void ReviewJob::open(const QString& runDir, const DatasetOptions& datasetOptions)
{
    cancelCounts();
    m_cache.clear();
    m_hasPending = false;
    m_opening = true;
    const quint64 generation = ++m_openGeneration;
    const std::string dir = runDir.toStdString();
    DatasetOptions options = datasetOptions;
    m_openWatcher.setFuture(QtConcurrent::run(&m_reviewPool, [this, generation, dir, options] {
        lowerThisThreadPriority();
        ReviewOpenResult result;
        std::shared_ptr<RunReview> review, countReview;
        try {
            DatasetOptions o = options;
            const FitRunFolder folder = readFitRunFolder(dir);
            if (o.root.empty()) { // the run's dataset, on the split asked for or Evaluate's
                o = folder.dataset;
                o.split = options.split.empty() ? runEvaluationSplit(folder) : options.split;
            }
            auto dataset = std::make_shared<const Dataset>(Dataset::open(o));
            result.fitNote = fitOverlapNote(folder.dataset, *dataset);
            // Two reviews, two backbones: one for the image on screen, one for
            // the split's counts, so neither waits for the other.
            review = std::make_shared<RunReview>(dir, *dataset);
            countReview = std::make_shared<RunReview>(dir, *dataset);
            result.dataset = dataset;
            result.runDir = QString::fromStdString(dir);
            result.clusters = review->clusters();
            result.classes = review->classes();
            result.backbone = QString::fromStdString(review->backboneName());
            result.addProblems(*dataset);
        } catch (const std::exception& e) {
            result.error = QString::fromStdString(e.what());
        }
        QMetaObject::invokeMethod(
            this,
            [this, generation, result, review, countReview] {
                if (generation != m_openGeneration)
                    return;
                m_opening = false;
                if (result.error.isEmpty()) {
                    m_review = review;
                    m_countReview = countReview;
                    m_dataset = result.dataset;
                    m_runDir = result.runDir;
                }
                emit opened(result);
            },
            Qt::QueuedConnection);
    }));
}

void ReviewJob::openDataset(const DatasetOptions& datasetOptions)
{
    cancelCounts();
    m_cache.clear();
    m_hasPending = false;
    m_opening = true;
    const quint64 generation = ++m_openGeneration;
    m_openWatcher.setFuture(QtConcurrent::run(&m_reviewPool, [this, generation, datasetOptions] {
        lowerThisThreadPriority();
        ReviewOpenResult result;
        try {
            auto dataset = std::make_shared<const Dataset>(Dataset::open(datasetOptions));
            result.dataset = dataset;
            result.classes = dataset->classCount();
            result.addProblems(*dataset);
        } catch (const std::exception& e) {
            result.error = QString::fromStdString(e.what());
        }
        QMetaObject::invokeMethod(
            this,
            [this, generation, result] {
                if (generation != m_openGeneration)
                    return;
                m_opening = false;
                if (result.error.isEmpty()) {
                    m_review.reset();
                    m_countReview.reset();
                    m_dataset = result.dataset;
                    m_runDir.clear();
                }
                emit opened(result);
            },
            Qt::QueuedConnection);
    }));
}

void ReviewJob::requestReview(int index, const ReviewPrediction& prediction)
{
    for (std::size_t i = 0; i < m_cache.size(); ++i) {
        const auto& r = m_cache[i];
        if (int(r->index) == index && r->predictionKind == prediction) {
            auto hit = r;
            m_cache.erase(m_cache.begin() + std::ptrdiff_t(i));
            m_cache.push_front(hit);
            m_hasPending = false;
            emit reviewed(index, hit, QString());
            return;
        }
    }
    m_pending = {index, prediction};
    m_hasPending = true;
    if (!m_reviewWatcher.isRunning())
        startNextReview();
}

void ReviewJob::startNextReview()
{
    if (!m_hasPending)
        return;
    m_hasPending = false;
    // Named copies, not a structured binding: C++17 cannot capture bindings in a
    // lambda (GCC accepts it, clang, which the sanitizer build uses, refuses).
    const int index = m_pending.first;
    const ReviewPrediction prediction = m_pending.second;
    std::shared_ptr<RunReview> review = m_review;
    std::shared_ptr<const Dataset> dataset = m_dataset;
    m_reviewWatcher.setFuture(
        QtConcurrent::run(&m_reviewPool, [review, dataset, index, prediction] {
            lowerThisThreadPriority();
            auto out = std::make_shared<ReviewOutcome>();
            out->index = index;
            out->prediction = prediction;
            try {
                if (review) {
                    out->review = std::make_shared<const ImageReview>(
                        review->review(std::size_t(index), prediction));
                } else if (dataset) {
                    // A dataset without a run: the photo and its ground truth.
                    const DatasetSample sample = dataset->load(std::size_t(index));
                    auto r = std::make_shared<ImageReview>();
                    r->index = std::size_t(index);
                    r->id = dataset->items()[std::size_t(index)].id;
                    r->photo = sample.rgb;
                    r->original = sample.rgb;
                    r->groundTruth = sample.labels;
                    out->review = r;
                }
            } catch (const std::exception& e) {
                out->error = QString::fromStdString(e.what());
            }
            return out;
        }));
}

void ReviewJob::onReviewDone()
{
    const std::shared_ptr<ReviewOutcome> out = m_reviewWatcher.result();
    const bool superseded = m_hasPending;
    if (out->review && out->review->photo.cols > 0) {
        m_cache.push_front(out->review);
        while (m_cache.size() > kCachedReviews)
            m_cache.pop_back();
    }
    if (!superseded)
        emit reviewed(out->index, out->review, out->error);
    startNextReview();
}

void ReviewJob::startCounts(const ReviewPrediction& prediction)
{
    if (!m_countReview) {
        emit countsFinished(nullptr, tr("No run is open: per-image metrics need a fitted run."));
        return;
    }
    cancelCounts();
    m_countsWatcher.waitForFinished();
    m_countsControl = std::make_shared<JobControl>();
    std::shared_ptr<JobControl> control = m_countsControl;
    control->setProgressCallback([this](const JobProgress& p) {
        const double fraction = p.fraction;
        const QString message = QString::fromStdString(p.message);
        QMetaObject::invokeMethod(
            this, [this, fraction, message] { emit countsProgress(fraction, message); },
            Qt::QueuedConnection);
    });
    std::shared_ptr<RunReview> review = m_countReview;
    m_countsWatcher.setFuture(QtConcurrent::run(&m_countsPool, [review, prediction, control] {
        lowerThisThreadPriority();
        auto out = std::make_shared<CountsOutcome>();
        try {
            if (std::optional<SplitCounts> stored = loadSplitCounts(*review, prediction);
                stored && stored->images.size() + stored->failures.size() >=
                              review->dataset().size()) {
                out->counts = std::make_shared<const SplitCounts>(std::move(*stored));
                return out;
            }
            ReviewCountsJob job(*review, prediction);
            const JobState state = runJob(job, *control);
            if (state == JobState::Failed)
                out->error = QString::fromStdString(control->error());
            else
                out->counts = std::make_shared<const SplitCounts>(job.counts());
        } catch (const std::exception& e) {
            out->error = QString::fromStdString(e.what());
        }
        return out;
    }));
}

void ReviewJob::cancelCounts()
{
    if (m_countsControl)
        m_countsControl->cancel();
}

void ReviewJob::onCountsDone()
{
    const std::shared_ptr<CountsOutcome> out = m_countsWatcher.result();
    if (m_countsControl && m_countsControl->isCanceled() && !out->counts)
        return;
    emit countsFinished(out->counts, out->error);
}

void ReviewJob::waitIdle()
{
    for (;;) {
        m_openWatcher.waitForFinished();
        m_reviewWatcher.waitForFinished();
        m_countsWatcher.waitForFinished();
        QCoreApplication::processEvents();
        if (!m_openWatcher.isRunning() && !m_reviewWatcher.isRunning() &&
            !m_countsWatcher.isRunning() && !m_hasPending && !m_opening)
            break;
    }
}

} // namespace primaps
