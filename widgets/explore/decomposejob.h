// SPDX-License-Identifier: MIT
#pragma once

#include "pipeline/pipeline.h"

#include <functional>
#include <memory>
#include <QImage>
#include <QMetaType>
#include <QObject>
#include <QString>

class QThread;

namespace primaps {

struct ExplorePictures;

/// One image to decompose and how.
struct DecomposeRequest
{
    QString path; ///< image file
    QString backbone = QStringLiteral("filterbank");
    float threshold = 0.0f; ///< PriMaPs tau; <= 0 means the backbone's recommendation
    /// Refine the masks with the dense CRF (step 5). Off is the fast path used
    /// while the threshold slider is dragged.
    bool crf = true;
    /// The studio runs the CRF at the photo's resolution up to this many pixels
    /// (PipelineParams::crfMaxPixels; 0 = at the processing resolution, as the
    /// CLI and the reference do). 640 x 480: sharper masks on big photos, while
    /// a CRF over 40 masks stays around a second on two cores.
    int crfMaxPixels = kStudioCrfMaxPixels;
    /// The saved label corrections of this image applied to a decomposition's
    /// labels at the original size (LabelEditor::restorerFor()), or empty when
    /// there are none to ask. Made on the GUI thread with what it needs copied in;
    /// the worker runs it for the final result (not the preview) and hands the
    /// labels over in ExplorePictures::restoredLabels, so that reading and applying
    /// a correction map costs the GUI thread nothing. It may throw; the message
    /// becomes one line of the result's warning.
    std::function<cv::Mat(const cv::Mat& base)> restoreLabels;

    static constexpr int kStudioCrfMaxPixels = 640 * 480;
};

/// What a finished request produced: on success `decomposition` is set and
/// `error` is empty; on failure `error` holds one line for the user that names
/// the file. Nothing in it is modified after delivery, so it may be kept and read
/// on any thread (the image's pixels are shared with the worker's cache, read-only).
struct DecomposeResult
{
    quint64 generation = 0;
    DecomposeRequest request;
    QString error;
    /// Set on success when the image was only partly decoded (a truncated file),
    /// or processed smaller than asked to stay within the processing budget
    /// (PreparedImage::budgetNote()): a line each, naming the file, for the
    /// message banner.
    QString warning;
    std::shared_ptr<const ImageDecomposition> decomposition;
    cv::Mat image; ///< the loaded image, CV_8UC3 RGB at its original size
    QImage photo;  ///< the same pixels as a QImage (RGB32: a pixmap needs no conversion)
    QString backboneName;
    float threshold = 0.0f;            ///< tau that was used
    float recommendedThreshold = 0.0f; ///< the backbone's recommendation
    double loadMs = 0.0;               ///< reading and decoding the file (0 when cached)
    /// The features came from an earlier request for the same image and
    /// backbone; decomposition->timings.features is then that earlier time.
    bool featuresReused = false;
    /// The masks before the CRF, delivered by DecomposeJob::preview() while the
    /// CRF of the same request runs; finished() follows with the refined masks.
    bool preview = false;
    /// What the Explore views show of `decomposition`, drawn by the worker
    /// (explorepictures.h): the GUI thread only hands it to its widgets. Set
    /// with `decomposition`.
    std::shared_ptr<const ExplorePictures> pictures;

    bool ok() const { return error.isEmpty() && decomposition != nullptr; }
};

class DecomposeWorker;

/// Runs decomposeImage() on a worker thread of its own.
///
/// Threading contract: create, call and destroy it on the GUI thread. submit()
/// never blocks. Requests coalesce: a new request supersedes every older one;
/// one that is already running cannot be interrupted (core has no cancellation
/// point), but its result is dropped, so finished() only ever reports the newest
/// request. Results arrive through a queued signal on the GUI thread. The worker
/// keeps one instance of each backbone it was asked for (backbones are not
/// thread-safe, and this thread is their only user) and the last decomposition
/// of the few most recently used image + backbone pairs: a request for one of
/// them (another threshold, the CRF on or off) re-runs PriMaPs and step 5 on
/// those features with redecompose() instead of reading the file and
/// extracting features again, which is what makes the threshold slider live.
/// A request with the CRF first delivers its masks without it (preview()), then
/// runs the CRF on the lattices kept with the image's decomposition (built once
/// per image and CRF resolution) and delivers finished().
/// The destructor drops queued requests and waits for a running one to end.
class DecomposeJob : public QObject
{
    Q_OBJECT

public:
    explicit DecomposeJob(QObject* parent = nullptr);
    ~DecomposeJob() override;

    /// Queues `request` and returns its generation (increasing from 1).
    quint64 submit(const DecomposeRequest& request);
    /// True from submit() until the newest request's result has been delivered.
    bool isBusy() const { return m_delivered < m_generation; }
    quint64 latestGeneration() const { return m_generation; }
    /// How many times the worker has run a backbone (decomposeImage()) since
    /// construction; requests served from cached features do not count.
    int featureExtractions() const;

signals:
    void busyChanged(bool busy);
    /// The newest request asked for the CRF: its masks before the CRF are ready
    /// (result.preview is true) and the CRF runs now. Not emitted for a request
    /// that was superseded meanwhile.
    void preview(const primaps::DecomposeResult& result);
    /// The newest request is done, successfully or not (see DecomposeResult::ok()).
    void finished(const primaps::DecomposeResult& result);

private:
    void onWorkerResult(const primaps::DecomposeResult& result);
    void onWorkerPreview(const primaps::DecomposeResult& result);

    QThread* m_thread = nullptr;
    DecomposeWorker* m_worker = nullptr;
    quint64 m_generation = 0;
    quint64 m_delivered = 0;
};

} // namespace primaps

Q_DECLARE_METATYPE(primaps::DecomposeResult)
