// SPDX-License-Identifier: MIT
#pragma once

#include "dataset/dataset.h"
#include "support/job.h"
#include "runs/runreview.h"

#include <deque>
#include <memory>
#include <QFutureWatcher>
#include <QObject>
#include <QString>
#include <QThreadPool>
#include <utility>

namespace primaps {

/// What opening a run for review produced.
struct ReviewOpenResult
{
    QString error; ///< empty on success
    std::shared_ptr<const Dataset> dataset;
    QString runDir;
    int clusters = 0;
    int classes = 0;
    QString backbone;
    QStringList problems; ///< files the dataset lists but lacks, one "PATH: what" each
    /// The problems by kind (core's Dataset::problems()): listed images that are
    /// missing (left out), label files that are missing (their images are used
    /// without labels), and the rest (e.g. two images of one name, one skipped).
    int missingImages = 0;
    int missingLabels = 0;
    int otherProblems = 0;
    /// What the problems mean for the review, with counts and the first file of
    /// each kind, for the window's banner ("" without problems).
    QString problemSummary() const;
    void addProblems(const Dataset& dataset);
    /// Set when the split holds images the run was fitted on (fitOverlapNote()).
    QString fitNote;
};

/// The background side of reviewing a run: opening it, the layers of one image
/// at a time (newest request wins), and the counts of the whole split.
///
/// Threading contract: create, call and destroy on the GUI thread; nothing here
/// blocks it. The per-image reviews run on a private one-thread pool with one
/// core RunReview; the split's counts on a second pool with a second RunReview
/// (a backbone is not thread-safe, and counting 500 images must not hold up the
/// image on screen). Results come back through queued signals. The last few
/// reviews are cached, so paging back and forth is instant. The destructor
/// cancels the counts and waits for both pools.
class ReviewJob : public QObject
{
    Q_OBJECT

public:
    explicit ReviewJob(QObject* parent = nullptr);
    ~ReviewJob() override;

    /// Opens `runDir` for `dataset` (empty root: the run's own dataset, on
    /// dataset.split when given, else on the split Evaluate scores,
    /// runEvaluationSplit()). Cancels everything of
    /// a previous run. opened() reports the outcome.
    void open(const QString& runDir, const DatasetOptions& dataset);
    /// Opens a dataset without a run (photos and ground truth only).
    void openDataset(const DatasetOptions& dataset);
    bool hasRun() const { return m_review != nullptr; }
    bool isOpening() const { return m_opening; }
    std::shared_ptr<const Dataset> dataset() const { return m_dataset; }
    QString runDir() const { return m_runDir; }

    /// Asks for the layers of item `index` with `prediction`; supersedes any
    /// older request not yet started. reviewed() delivers it (from the cache
    /// at once when it is there).
    void requestReview(int index, const ReviewPrediction& prediction);
    bool isReviewing() const { return m_reviewWatcher.isRunning(); }
    /// The review on display must be re-made (e.g. the prototypes changed): forgets the cache.
    void clearCache() { m_cache.clear(); }

    /// Loads the split's stored counts or counts the split in the background
    /// (resuming stored ones). countsFinished() delivers them; progress on the way.
    void startCounts(const ReviewPrediction& prediction);
    void cancelCounts();
    bool isCounting() const { return m_countsWatcher.isRunning(); }

    /// Blocks (tests, screenshots) until no open, review or count is running.
    void waitIdle();

signals:
    void opened(const primaps::ReviewOpenResult& result);
    /// `review` is null and `error` says why when the image could not be reviewed.
    void reviewed(int index, std::shared_ptr<const primaps::ImageReview> review,
                  const QString& error);
    void countsProgress(double fraction, const QString& message);
    /// `counts` is null when counting failed (error) or there is no run.
    void countsFinished(std::shared_ptr<const primaps::SplitCounts> counts, const QString& error);

private:
    struct ReviewOutcome;
    struct CountsOutcome;
    void startNextReview();
    void onReviewDone();
    void onCountsDone();

    std::shared_ptr<RunReview> m_review;      ///< interactive (review pool)
    std::shared_ptr<RunReview> m_countReview; ///< split counts (counts pool)
    std::shared_ptr<const Dataset> m_dataset;
    QString m_runDir;
    bool m_opening = false;
    quint64 m_openGeneration = 0;

    QThreadPool m_reviewPool;
    QThreadPool m_countsPool;
    QFutureWatcher<std::shared_ptr<ReviewOutcome>> m_reviewWatcher;
    QFutureWatcher<std::shared_ptr<CountsOutcome>> m_countsWatcher;
    QFutureWatcher<void> m_openWatcher;
    bool m_hasPending = false;
    std::pair<int, ReviewPrediction> m_pending;
    std::shared_ptr<JobControl> m_countsControl;
    /// Most recent first: (index, theta, crf) -> review.
    std::deque<std::shared_ptr<const ImageReview>> m_cache;
};

} // namespace primaps

Q_DECLARE_METATYPE(primaps::ReviewOpenResult)
