// SPDX-License-Identifier: MIT
// The studio's demo tools, offscreen, on generated images: Ctrl+click on a
// patch shows its cosine similarity to every patch of the image (canvas heat
// map) and of the other loaded images (tinted thumbnails), equal to a cosine
// similarity computed here; the Features dock's PCA-RGB fitted across all
// images; the Playback dock laying its frames over the canvas.
// With PRIMAPS_SHOT_DIR set (run under xvfb-run), screenshots() saves the
// window with both tools in use at the screen's size.
#include "backbones/backbone.h"
#include "explore/canvasimagelayer.h"
#include "explore/canvaswidget.h"
#include "explore/featureindex.h"
#include "decompose/featurepca.h"
#include "explore/featureviewwidget.h"
#include "image/imageio.h"
#include "explore/imagelistwidget.h"
#include "mainwindow.h"
#include "decompose/patchsimilarity.h"
#include "explore/playbackcontroller.h"
#include "playbackpanel.h"
#include "explore/playbackwidget.h"
#include "image/preprocess.h"
#include "similaritycontroller.h"
#include "testsupport.h"

#include <opencv2/imgcodecs.hpp>
#include <QDockWidget>
#include <QListWidget>
#include <QScreen>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <random>

using namespace primaps;

namespace {

constexpr int kTimeoutMs = 120000;

// Flat regions in noisy colours; `variant` moves them so the images differ.
QString writeScene(const QString& path, int variant)
{
    std::mt19937 rng(unsigned(variant) + 7);
    std::normal_distribution<float> noise(0.0f, 6.0f);
    const cv::Vec3f colours[3] = {{40, 40, 200}, {60, 170, 50}, {200, 120, 40}}; // BGR
    cv::Mat img(120, 160, CV_8UC3);
    for (int y = 0; y < img.rows; ++y)
        for (int x = 0; x < img.cols; ++x) {
            const int region = x < 40 + 25 * variant ? 0 : (y < 50 + 10 * variant ? 1 : 2);
            for (int k = 0; k < 3; ++k)
                img.at<cv::Vec3b>(y, x)[k] = cv::saturate_cast<uchar>(colours[region][k] + noise(rng));
        }
    cv::imwrite(path.toStdString(), img);
    return path;
}

// The cosine similarity written out, independent of core's implementation.
std::vector<double> cosine(const FeatureMap& f, const std::vector<float>& q)
{
    std::vector<double> out(f.positions());
    for (std::size_t p = 0; p < f.positions(); ++p) {
        double dot = 0, a = 0, b = 0;
        for (int c = 0; c < f.channels; ++c) {
            const double v = f.channel(c)[p];
            dot += q[std::size_t(c)] * v;
            a += double(q[std::size_t(c)]) * q[std::size_t(c)];
            b += v * v;
        }
        out[p] = a > 0 && b > 0 ? dot / std::sqrt(a * b) : 0.0;
    }
    return out;
}

// The features of `path` as the decomposition prepares them for the filterbank.
FeatureMap filterbankFeatures(const QString& path)
{
    auto backbone = createBackbone("filterbank");
    PreprocessParams pre;
    pre.patchSize = backbone->patchSize();
    pre.shorterSide = backbone->recommendedResize();
    return backbone->extract(prepareImage(loadImageRgb8(path.toStdString()), pre).rgb);
}

bool waitFinal(MainWindow& window)
{
    return QTest::qWaitFor([&] {
        return !window.isBusy() && window.currentResult().ok() && !window.currentResult().preview;
    }, kTimeoutMs);
}

// Returns the photo point the click lands on: the widget position is whole
// pixels, so at a zoom below 1 it differs from `photoPoint` by up to 1/zoom.
QPointF ctrlClick(MainWindow& window, const QPointF& photoPoint)
{
    CanvasWidget* canvas = window.canvas();
    const QPoint pos = canvas->mapFromScene(photoPoint);
    QTest::mouseClick(canvas->viewport(), Qt::LeftButton, Qt::ControlModifier, pos);
    return canvas->mapToScene(pos);
}

struct Session
{
    QTemporaryDir dir;
    QStringList paths;
    MainWindow window;

    bool open()
    {
        for (int i = 0; i < 3; ++i)
            paths << writeScene(dir.filePath(QString("scene%1.png").arg(i)), i);
        window.setPersistSettings(false);
        window.show();
        window.openInitial({dir.path()});
        return waitFinal(window) &&
               QTest::qWaitFor([&] { return !window.imageList()->isLoading(); }, kTimeoutMs);
    }
};

} // namespace

class TestStudioSimilarity : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("PriMaPs"));
        QCoreApplication::setApplicationName(QStringLiteral("PriMaPs Studio Test"));
    }

    void ctrlClickShowsCosineSimilarity()
    {
        Session s;
        QVERIFY(s.open());
        SimilarityController* sim = s.window.similarityController();
        QSignalSpy shown(sim, &SimilarityController::similarityShown);
        QSignalSpy tinted(sim, &SimilarityController::thumbnailsTinted);
        const DecomposeResult& r = s.window.currentResult();
        const ImageDecomposition& d = *r.decomposition;

        const QPointF point = ctrlClick(s.window, QPointF(20.5, 90.5)); // region 0, first scene
        QVERIFY(shown.wait(kTimeoutMs));
        const cv::Point2d g = imageToGrid({point.x(), point.y()}, d.prepared, d.features.height,
                                          d.features.width);
        const QPoint cell(int(g.x), int(g.y));
        QCOMPARE(sim->queryCell(), cell);
        QVERIFY(sim->layer()->isShown());
        QCOMPARE(sim->layer()->image().width() * r.photo.height(),
                 sim->layer()->image().height() * r.photo.width());

        std::vector<float> query(std::size_t(d.features.channels));
        for (int c = 0; c < d.features.channels; ++c)
            query[std::size_t(c)] = d.features.at(c, cell.y(), cell.x());
        const std::vector<double> expected = cosine(d.features, query);
        const std::vector<float>& got = sim->currentSimilarity();
        QCOMPARE(got.size(), expected.size());
        for (std::size_t p = 0; p < got.size(); ++p)
            QVERIFY2(std::abs(got[p] - expected[p]) < 1e-5,
                     qPrintable(QString("patch %1: %2 vs %3").arg(p).arg(got[p]).arg(expected[p])));
        QCOMPARE(got[std::size_t(cell.y() * d.features.width + cell.x())], 1.0f);

        // The other images: their thumbnails tinted, their maps the same cosine.
        QVERIFY(QTest::qWaitFor([&] { return sim->tintedThumbnails() == 3; }, kTimeoutMs));
        for (const QString& other : {s.paths[1], s.paths[2]}) {
            const std::vector<float> map = sim->similarityFor(other);
            const std::vector<double> want = cosine(filterbankFeatures(other), query);
            QCOMPARE(map.size(), want.size());
            for (std::size_t p = 0; p < map.size(); ++p)
                QVERIFY(std::abs(map[p] - want[p]) < 1e-5);
        }
        QVERIFY(!tinted.isEmpty());
        const QIcon tintedIcon = s.window.imageList()->listWidget()->item(1)->icon();

        // The same patch again takes it all away, thumbnails as they were.
        ctrlClick(s.window, point);
        QVERIFY(!sim->layer()->isShown());
        QCOMPARE(sim->tintedThumbnails(), 0);
        QVERIFY(s.window.imageList()->listWidget()->item(1)->icon().cacheKey() != tintedIcon.cacheKey());
        // A click without Ctrl is the canvas's (a pan), not a query.
        QTest::mouseClick(s.window.canvas()->viewport(), Qt::LeftButton, Qt::NoModifier,
                          s.window.canvas()->mapFromScene(point));
        QCOMPARE(sim->queryCell(), QPoint(-1, -1));
    }

    void pcaAcrossImagesSharesOneBasis()
    {
        Session s;
        QVERIFY(s.open());
        FeatureViewWidget* view = s.window.featureView();
        QSignalSpy applied(s.window.similarityController(), &SimilarityController::pcaBasisApplied);
        view->setPcaAcrossImages(true);
        QVERIFY(QTest::qWaitFor([&] {
            return view->pcaBasis() && s.window.similarityController()->featureIndex()->extractions() >= 2 &&
                   !s.window.similarityController()->isBusy() && view->hasResult() && !view->isBusy();
        }, kTimeoutMs));
        // The basis is the joint PCA of the three images' features.
        const FeatureMap a = s.window.currentResult().decomposition->features;
        const FeatureMap b = filterbankFeatures(s.paths[1]);
        const FeatureMap c = filterbankFeatures(s.paths[2]);
        const FeaturePca want = computeJointFeaturePca({&a, &b, &c});
        const std::shared_ptr<const FeaturePca> basis = view->pcaBasis();
        QCOMPARE(basis->components, want.components);
        for (std::size_t i = 0; i < want.mean.size(); ++i)
            QVERIFY(std::abs(basis->mean[i] - want.mean[i]) < 1e-4f * (1 + std::abs(want.mean[i])));
        // The dock shows this image projected onto it, with the shared colour scale.
        QVERIFY(view->pca());
        QCOMPARE(view->pca()->low, basis->low);
        QCOMPARE(view->pca()->high, basis->high);
        const FeaturePca own = computeFeaturePca(a);
        QVERIFY(view->pca()->low != own.low);
        view->setPcaAcrossImages(false);
        QVERIFY(!view->pcaBasis());
    }

    void playbackLaysItsFramesOverTheCanvas()
    {
        Session s;
        QVERIFY(s.open());
        PlaybackPanel* panel = s.window.playbackPanel();
        PlaybackWidget* w = panel->widget();
        QVERIFY(QTest::qWaitFor([&] { return w->isReady(); }, kTimeoutMs));
        QCOMPARE(w->controller()->frameCount(),
                 int(s.window.currentResult().decomposition->trace.iterations.size()) + 1);
        QVERIFY(!panel->layer()->isShown());
        w->setActive(true);
        w->controller()->stepForward();
        QVERIFY(QTest::qWaitFor([&] { return panel->layer()->isShown(); }, kTimeoutMs));
        QVERIFY(panel->dock()->isVisible());
        QVERIFY(w->caption().startsWith("Step 2 of"));
        w->setActive(false);
        QVERIFY(!panel->layer()->isShown());
        // Another image ends the playback and prepares the new one's.
        w->setActive(true);
        s.window.imageList()->setCurrentRow(1);
        QVERIFY(!w->isActive());
        QVERIFY(waitFinal(s.window));
        QVERIFY(QTest::qWaitFor([&] { return w->isReady(); }, kTimeoutMs));
    }

    void screenshots()
    {
        const QString shots = qEnvironmentVariable("PRIMAPS_SHOT_DIR");
        if (shots.isEmpty())
            QSKIP("set PRIMAPS_SHOT_DIR (under xvfb-run) to save screenshots");
        Session s;
        s.window.setGeometry(s.window.screen()->availableGeometry());
        s.window.showMaximized();
        QVERIFY(s.open());
        const QString size = QString("%1x%2").arg(s.window.screen()->size().width()).arg(
            s.window.screen()->size().height());
        PlaybackWidget* w = s.window.playbackPanel()->widget();
        QVERIFY(QTest::qWaitFor([&] { return w->isReady(); }, kTimeoutMs));
        w->setActive(true);
        w->controller()->setCurrentFrame(1);
        QVERIFY(QTest::qWaitFor([&] { return s.window.playbackPanel()->layer()->isShown(); }, kTimeoutMs));
        QTest::qWait(300);
        QVERIFY(s.window.grab().save(shots + "/playback-" + size + ".png"));
        w->setShowsDirection(true);
        QTest::qWait(800);
        QVERIFY(s.window.grab().save(shots + "/direction-" + size + ".png"));
        w->setActive(false);
        ctrlClick(s.window, QPointF(20.5, 90.5));
        QVERIFY(QTest::qWaitFor([&] { return s.window.similarityController()->tintedThumbnails() == 3; },
                                kTimeoutMs));
        QTest::qWait(300);
        QVERIFY(s.window.grab().save(shots + "/similarity-" + size + ".png"));
    }
};

QTEST_MAIN(TestStudioSimilarity)
#include "tst_studio_similarity.moc"
