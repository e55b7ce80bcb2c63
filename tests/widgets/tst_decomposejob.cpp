// SPDX-License-Identifier: MIT
// DecomposeJob, the Explore view's worker: its threading contract (only the newest
// request is delivered), errors naming the file, the feature cache and its
// invalidation, the CRF flag, the processing budget's note and the preview
// delivered before the CRF of a big photo.

#include "annotate/labeleditor.h"
#include "explore/canvaswidget.h"
#include "explore/decomposejob.h"
#include "explore/explorepictures.h"
#include "explore/legendwidget.h"
#include "image/imageio.h"
#include "labels/corrections.h"
#include "pipeline/pipeline.h"
#include "support/error.h"
#include "widgettestsupport.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <atomic>
#include <QElapsedTimer>
#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>

using namespace primaps;

namespace {

using primaps::testing::randomMat;
using primaps::testing::sameMat;
using primaps::testing::waitForDecomposeResult;

const QString kSample = QStringLiteral(PRIMAPS_SAMPLES_DIR "/chelsea.jpg");
const QString kOtherSample = QStringLiteral(PRIMAPS_SAMPLES_DIR "/coffee.jpg");
constexpr int kJobTimeoutMs = 120000;

// Submits `request` and waits for its result.
DecomposeResult runJob(DecomposeJob& job, const DecomposeRequest& request)
{
    QSignalSpy finished(&job, &DecomposeJob::finished);
    const quint64 generation = job.submit(request);
    const DecomposeResult result = waitForDecomposeResult(finished, 1, kJobTimeoutMs);
    return result.generation == generation ? result : DecomposeResult();
}

} // namespace

class TestDecomposeJob : public QObject
{
    Q_OBJECT

private slots:
    void decomposeJobDeliversResult();
    void decomposeJobReportsErrorNamingFile();
    void decomposeJobNotesTheProcessingBudget();
    void decomposeJobDeliversOnlyNewest();
    void decomposeJobReusesFeatures();
    void decomposeJobCrfFlag();
    void decomposeJobNoticesChangedFile();
    void decomposeJobPreviewsThenRefinesBigPhoto();
    void restoredLabelsComeReadyFromTheWorker();
};

void TestDecomposeJob::decomposeJobDeliversResult()
{
    DecomposeJob job;
    QSignalSpy finished(&job, &DecomposeJob::finished);
    QSignalSpy busy(&job, &DecomposeJob::busyChanged);
    DecomposeRequest request;
    request.path = kSample;
    const quint64 generation = job.submit(request);
    QVERIFY(job.isBusy());
    const DecomposeResult result = waitForDecomposeResult(finished, 1);
    QVERIFY(!job.isBusy());
    QCOMPARE(busy.count(), 2);
    QCOMPARE(result.generation, generation);
    QVERIFY2(result.ok(), qPrintable(result.error));
    QCOMPARE(result.photo.size(), QSize(451, 300));
    QCOMPARE(result.image.cols, 451);
    QVERIFY(result.threshold > 0.0f);
    QCOMPARE(result.threshold, result.recommendedThreshold);
    QVERIFY(!result.decomposition->trace.iterations.empty());

    // An explicit threshold is used as given, and the image comes from the cache.
    request.threshold = 0.8f;
    job.submit(request);
    const DecomposeResult second = waitForDecomposeResult(finished, 2);
    QVERIFY(second.ok());
    QCOMPARE(second.threshold, 0.8f);
    QCOMPARE(second.decomposition->trace.params.threshold, 0.8f);
    QCOMPARE(second.loadMs, 0.0);
}

void TestDecomposeJob::decomposeJobReportsErrorNamingFile()
{
    QTemporaryDir dir;
    const QString bad = dir.filePath(QStringLiteral("broken-image.png"));
    {
        QFile file(bad);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write("\x89PNG\r\n\x1a\n truncated");
    }
    DecomposeJob job;
    QSignalSpy finished(&job, &DecomposeJob::finished);
    DecomposeRequest request;
    request.path = bad;
    job.submit(request);
    const DecomposeResult result = waitForDecomposeResult(finished, 1, 60000);
    QVERIFY(!result.ok());
    QVERIFY(!result.decomposition);
    QVERIFY2(result.error.contains(QStringLiteral("broken-image.png")), qPrintable(result.error));

    request.path = kSample;
    request.backbone = QStringLiteral("no-such-backbone");
    job.submit(request);
    const DecomposeResult unknown = waitForDecomposeResult(finished, 2, 60000);
    QVERIFY(!unknown.ok());
    QVERIFY2(unknown.error.contains(QStringLiteral("no-such-backbone")), qPrintable(unknown.error));
    QVERIFY2(unknown.error.contains(QStringLiteral("chelsea.jpg")), qPrintable(unknown.error));
}

// A thin image the processing budget shrinks: the result says so in its
// warning (the message banner), naming the file, on every re-run too.

void TestDecomposeJob::decomposeJobNotesTheProcessingBudget()
{
    // Restored however the test ends: the other tests need the default budget.
    struct Restore
    {
        PixelBudget saved = pixelBudget();
        ~Restore() { setPixelBudget(saved); }
    } restore;
    PixelBudget small = restore.saved;
    small.maxProcessingPixels = 64 * 1024;
    setPixelBudget(small);
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("strip.png"));
    QVERIFY(cv::imwrite(path.toStdString(), randomMat(10, 500, CV_8UC3, 7)));
    DecomposeJob job;
    DecomposeRequest request;
    request.path = path;
    request.crf = false;
    const DecomposeResult first = runJob(job, request);
    QVERIFY2(first.ok(), qPrintable(first.error));
    QVERIFY2(first.warning.startsWith(QStringLiteral("strip.png: processed at")) &&
                 first.warning.contains(QStringLiteral("instead of 16000x320")),
             qPrintable(first.warning));
    QVERIFY(first.decomposition->prepared.rgb.total() <= std::size_t(small.maxProcessingPixels));
    request.threshold = 0.6f; // the cached features: the same note, once
    const DecomposeResult again = runJob(job, request);
    QVERIFY(again.ok());
    QCOMPARE(again.warning, first.warning);
    setPixelBudget(restore.saved);
    // Within the budget: no note.
    request.path = kSample;
    const DecomposeResult photo = runJob(job, request);
    QVERIFY(photo.ok());
    QVERIFY2(photo.warning.isEmpty(), qPrintable(photo.warning));
}

void TestDecomposeJob::decomposeJobDeliversOnlyNewest()
{
    DecomposeJob job;
    QSignalSpy finished(&job, &DecomposeJob::finished);
    DecomposeRequest request;
    request.path = kSample;
    quint64 last = 0;
    for (float tau : {0.3f, 0.5f, 0.7f, 0.9f}) {
        request.threshold = tau;
        last = job.submit(request);
    }
    QCOMPARE(last, quint64(4));
    QTRY_VERIFY_WITH_TIMEOUT(!job.isBusy(), 120000);
    // Let any straggler arrive before counting.
    QTest::qWait(200);
    QCOMPARE(finished.count(), 1);
    const DecomposeResult result = finished.at(0).at(0).value<DecomposeResult>();
    QCOMPARE(result.generation, last);
    QCOMPARE(result.threshold, 0.9f);
}

void TestDecomposeJob::decomposeJobReusesFeatures()
{
    DecomposeJob job;
    QCOMPARE(job.featureExtractions(), 0);
    DecomposeRequest request;
    request.path = kSample;
    request.crf = false;
    request.threshold = 0.3f;
    const DecomposeResult first = runJob(job, request);
    QVERIFY2(first.ok(), qPrintable(first.error));
    QVERIFY(!first.featuresReused);
    QVERIFY(first.loadMs > 0.0);
    QCOMPARE(job.featureExtractions(), 1);

    // Several threshold changes: PriMaPs runs each time, the backbone once.
    std::vector<DecomposeResult> results;
    for (float tau : {0.5f, 0.7f, 0.45f, 0.3f}) {
        request.threshold = tau;
        results.push_back(runJob(job, request));
        const DecomposeResult& r = results.back();
        QVERIFY2(r.ok(), qPrintable(r.error));
        QVERIFY(r.featuresReused);
        QCOMPARE(r.loadMs, 0.0);
        QCOMPARE(r.threshold, tau);
        QCOMPARE(r.decomposition->trace.params.threshold, tau);
        QCOMPARE(r.photo.cacheKey(), first.photo.cacheKey()); // not converted again
    }
    QCOMPARE(job.featureExtractions(), 1);
    QVERIFY(results[0].decomposition->trace.iterations.size() !=
                results[1].decomposition->trace.iterations.size() ||
            !sameMat(results[0].decomposition->labels, results[1].decomposition->labels));

    // Reused features give exactly what a fresh extraction gave.
    const ImageDecomposition& again = *results.back().decomposition;
    QVERIFY(sameMat(again.labels, first.decomposition->labels));
    QCOMPARE(again.trace.iterations.size(), first.decomposition->trace.iterations.size());
    // Delivered results are never changed afterwards.
    QCOMPARE(first.decomposition->trace.params.threshold, 0.3f);
    QCOMPARE(results[1].decomposition->trace.params.threshold, 0.7f);

    // The recommended threshold (0) reuses them too.
    request.threshold = 0.0f;
    const DecomposeResult recommended = runJob(job, request);
    QVERIFY(recommended.ok());
    QCOMPARE(recommended.threshold, recommended.recommendedThreshold);
    QCOMPARE(job.featureExtractions(), 1);

    // Another image is extracted; going back to the first one is not.
    request.path = kOtherSample;
    const DecomposeResult other = runJob(job, request);
    QVERIFY(other.ok());
    QVERIFY(!other.featuresReused);
    QCOMPARE(other.image.cols, 600);
    QCOMPARE(job.featureExtractions(), 2);
    request.path = kSample;
    const DecomposeResult back = runJob(job, request);
    QVERIFY(back.ok());
    QVERIFY(back.featuresReused);
    QCOMPARE(back.image.cols, 451);
    QCOMPARE(job.featureExtractions(), 2);
}

void TestDecomposeJob::decomposeJobCrfFlag()
{
    DecomposeJob job;
    DecomposeRequest request;
    request.path = kSample;
    request.threshold = 0.5f;
    request.crf = true; // the default
    const DecomposeResult withCrf = runJob(job, request);
    QVERIFY2(withCrf.ok(), qPrintable(withCrf.error));
    const ImageDecomposition& a = *withCrf.decomposition;
    QVERIFY(a.crfApplied);
    QVERIFY(a.timings.crf > 0.0);
    QCOMPARE(a.labelsBeforeCrf.size(), a.labels.size());
    // The CRF moves boundaries: the two maps differ somewhere.
    QVERIFY(!sameMat(a.labels, a.labelsBeforeCrf));

    request.crf = false;
    const DecomposeResult without = runJob(job, request);
    QVERIFY(without.ok());
    const ImageDecomposition& b = *without.decomposition;
    QVERIFY(!b.crfApplied);
    QCOMPARE(b.timings.crf, 0.0);
    QVERIFY(sameMat(b.labels, b.labelsBeforeCrf));
    // The map without the CRF is the CRF's input of the same threshold.
    QVERIFY(sameMat(b.labels, a.labelsBeforeCrf));

    request.crf = true;
    const DecomposeResult again = runJob(job, request);
    QVERIFY(again.ok());
    QVERIFY(again.decomposition->crfApplied);
    QVERIFY(sameMat(again.decomposition->labels, a.labels));
    QCOMPARE(job.featureExtractions(), 1);
}

void TestDecomposeJob::decomposeJobNoticesChangedFile()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("changing.png"));
    QVERIFY(cv::imwrite(path.toStdString(), cv::imread(kSample.toStdString())));

    DecomposeJob job;
    DecomposeRequest request;
    request.path = path;
    request.crf = false;
    const DecomposeResult first = runJob(job, request);
    QVERIFY2(first.ok(), qPrintable(first.error));
    QCOMPARE(first.image.cols, 451);

    // New pixels under the same name: the cached features must not be used.
    QVERIFY(cv::imwrite(path.toStdString(), cv::imread(kOtherSample.toStdString())));
    const DecomposeResult second = runJob(job, request);
    QVERIFY2(second.ok(), qPrintable(second.error));
    QVERIFY(!second.featuresReused);
    QCOMPARE(second.image.cols, 600);
    QCOMPARE(job.featureExtractions(), 2);

    // A file that is gone is an error, not a stale cached result.
    QVERIFY(QFile::remove(path));
    const DecomposeResult gone = runJob(job, request);
    QVERIFY(!gone.ok());
    QVERIFY2(gone.error.contains(QStringLiteral("changing.png")), qPrintable(gone.error));
}

void TestDecomposeJob::decomposeJobPreviewsThenRefinesBigPhoto()
{
    // A 3-megapixel photo: the features at 320 short side, the CRF at the
    // studio's resolution, the masks before it delivered first.
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("big.jpg"));
    cv::Mat big;
    cv::resize(cv::imread(kOtherSample.toStdString()), big, cv::Size(2000, 1500), 0, 0,
               cv::INTER_CUBIC);
    QVERIFY(cv::imwrite(path.toStdString(), big));

    DecomposeJob job;
    QSignalSpy previews(&job, &DecomposeJob::preview);
    DecomposeRequest request;
    request.path = path;
    QCOMPARE(request.crfMaxPixels, DecomposeRequest::kStudioCrfMaxPixels);
    const DecomposeResult refined = runJob(job, request);
    QVERIFY2(refined.ok(), qPrintable(refined.error));
    QVERIFY(!refined.preview);
    QCOMPARE(previews.count(), 1);
    const DecomposeResult preview = previews.first().at(0).value<DecomposeResult>();
    QVERIFY(preview.preview);
    QCOMPARE(preview.generation, refined.generation);
    QVERIFY(!preview.decomposition->crfApplied);

    const ImageDecomposition& d = *refined.decomposition;
    QVERIFY(d.crfApplied);
    QVERIFY(d.crfSize.area() <= DecomposeRequest::kStudioCrfMaxPixels);
    QVERIFY(d.crfSize.area() > 2 * d.prepared.rgb.size().area());
    QCOMPARE(d.fineLabels.size(), d.crfSize);
    // The preview is the CRF's input at the processing resolution.
    QVERIFY(sameMat(preview.decomposition->labels, d.labelsBeforeCrf));
    QCOMPARE(d.labelsAtOriginalSize().size(), big.size());

    // The canvas shows the finer maps over the whole photo.
    CanvasWidget canvas;
    canvas.setDecomposition(refined.photo, d);
    QVERIFY(sameMat(canvas.labels(), d.fineLabels));
    QVERIFY(sameMat(canvas.beforeLabels(), d.fineLabelsBeforeCrf));

    // Another threshold on the same photo: the lattices are not built again.
    request.threshold = 0.45f;
    const DecomposeResult next = runJob(job, request);
    QVERIFY2(next.ok(), qPrintable(next.error));
    QVERIFY(next.featuresReused);
    QVERIFY(next.decomposition->crfApplied);
    QCOMPARE(next.decomposition->crfImage.get(), d.crfImage.get());
    qInfo("CRF at %dx%d: %.0f ms with the lattices built, %.0f ms with them kept",
          d.crfSize.width, d.crfSize.height, d.timings.crf, next.decomposition->timings.crf);

    // The CLI's choice: the processing resolution.
    request.crfMaxPixels = 0;
    const DecomposeResult reference = runJob(job, request);
    QVERIFY(reference.ok());
    QCOMPARE(reference.decomposition->crfSize, reference.decomposition->prepared.rgb.size());
    QVERIFY(reference.decomposition->fineLabels.empty());
}

// A 12-megapixel photo with saved corrections, restored as the studio restores
// them: the label editor's restorer is made on the GUI thread, the worker runs
// it for the final result (not the preview) and the restored map arrives in the
// result's pictures, so showing the result reads no file and applies nothing.
void TestDecomposeJob::restoredLabelsComeReadyFromTheWorker()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("big.jpg"));
    const cv::Size size(4000, 3000);
    cv::Mat big;
    cv::resize(cv::imread(kOtherSample.toStdString()), big, size, 0, 0, cv::INTER_CUBIC);
    QVERIFY(cv::imwrite(path.toStdString(), big));

    // The saved edit: a band of the photo corrected to mask 5, the rest as predicted.
    const CorrectionStore store(dir.filePath(QStringLiteral("corrections")).toStdString());
    cv::Mat correction(size, CV_8UC1, cv::Scalar(CorrectionNone));
    correction(cv::Rect(500, 400, 2000, 1200)).setTo(5);
    store.write("big", correction);

    QThread* const gui = QThread::currentThread();
    std::atomic<int> guiRuns{0}, workerRuns{0};
    std::atomic<qint64> restoreNs{0};
    const auto restoreHook = [&, store](const QString&) -> LabelEditor::LabelRestorer {
        return [&, store](const cv::Mat& base) {
            QElapsedTimer clock;
            clock.start();
            ++(QThread::currentThread() == gui ? guiRuns : workerRuns);
            cv::Mat labels = base.clone();
            applyCorrection(labels, store.read("big"), CorrectionIgnore, 255, store.path("big"));
            restoreNs += clock.nsecsElapsed();
            return labels;
        };
    };

    CanvasWidget canvas;
    LegendWidget legend;
    QWidget window;
    LabelEditor editor(&canvas, &legend, &window);
    editor.setRestoreHook(restoreHook);
    editor.setCurrentImage(path);

    DecomposeJob job;
    QSignalSpy previews(&job, &DecomposeJob::preview);
    DecomposeRequest request;
    request.path = path;
    request.restoreLabels = editor.restorerFor(path);
    QVERIFY(request.restoreLabels);
    const DecomposeResult result = runJob(job, request);
    QVERIFY2(result.ok(), qPrintable(result.error));
    QCOMPARE(previews.count(), 1);
    const DecomposeResult preview = previews.first().at(0).value<DecomposeResult>();
    QVERIFY(preview.pictures && !preview.pictures->restoreAsked);

    // Restored once, on the worker, into the result.
    QCOMPARE(workerRuns.load(), 1);
    QCOMPARE(guiRuns.load(), 0);
    QVERIFY(result.pictures && result.pictures->restoreAsked);
    cv::Mat expected = result.pictures->labelsAtOriginalSize.clone();
    QCOMPARE(expected.size(), size);
    applyCorrection(expected, correction, CorrectionIgnore, 255);
    QVERIFY(!sameMat(expected, result.pictures->labelsAtOriginalSize));
    QVERIFY(sameMat(result.pictures->restoredLabels, expected));

    // The GUI thread takes the map as it is: a corrected document, even outside
    // the editing mode, without running the restorer.
    QElapsedTimer clock;
    clock.start();
    QVERIFY(editor.showResult(result));
    const double showMs = double(clock.nsecsElapsed()) / 1e6;
    QCOMPARE(guiRuns.load(), 0);
    QCOMPARE(workerRuns.load(), 1);
    QVERIFY(sameMat(editor.labels(path), expected));
    QVERIFY(sameMat(editor.baseLabels(path), result.pictures->labelsAtOriginalSize));
    // The document asked: the image's next requests carry no restorer.
    QVERIFY(!editor.restorerFor(path));

    // A result the worker did not restore for is restored by the editor itself,
    // on the GUI thread: the counters above would have seen that.
    CanvasWidget otherCanvas;
    LegendWidget otherLegend;
    LabelEditor other(&otherCanvas, &otherLegend, &window);
    other.setRestoreHook(restoreHook);
    other.setCurrentImage(path);
    DecomposeResult unrestored = result;
    unrestored.pictures.reset();
    const qint64 workerNs = restoreNs.load();
    clock.restart();
    QVERIFY(other.showResult(unrestored));
    const double showUnrestoredMs = double(clock.nsecsElapsed()) / 1e6;
    QCOMPARE(guiRuns.load(), 1);
    qInfo("12 MP: restoring took %.1f ms on the worker, %.1f ms on the GUI thread; "
          "showResult() %.1f ms with the worker's map, %.1f ms restoring itself",
          double(workerNs) / 1e6, double(restoreNs.load() - workerNs) / 1e6, showMs,
          showUnrestoredMs);
    QVERIFY(sameMat(other.labels(path), expected));

    // A restorer that fails: the result still comes, its warning names the file.
    DecomposeRequest failing;
    failing.path = path;
    failing.crf = false;
    failing.restoreLabels = [](const cv::Mat&) -> cv::Mat {
        throw Error("corrections/big.png: not a single-channel 8-bit PNG");
    };
    const DecomposeResult failed = runJob(job, failing);
    QVERIFY2(failed.ok(), qPrintable(failed.error));
    QVERIFY(failed.pictures->restoreAsked && failed.pictures->restoredLabels.empty());
    QVERIFY2(failed.warning.contains(QStringLiteral("corrections/big.png: not a single-channel")),
             qPrintable(failed.warning));
}

QTEST_MAIN(TestDecomposeJob)
#include "tst_decomposejob.moc"
