// SPDX-License-Identifier: MIT
// Step-through playback: PlaybackController's stepping state (step, back,
// play to the end, restart, speed) and PlaybackWidget on a real decomposition
// (frames rendered off the GUI thread, the canvas picture per frame, export).
#include "backbones/backbone.h"
#include "pipeline/pipeline.h"
#include "pipeline/playback.h"
#include "explore/playbackcontroller.h"
#include "explore/playbackwidget.h"
#include "testsupport.h"

#include <gif_lib.h>
#include <QElapsedTimer>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

using namespace primaps;

namespace {

std::shared_ptr<const ImageDecomposition> decomposition()
{
    static const std::shared_ptr<const ImageDecomposition> d = [] {
        auto backbone = createBackbone("filterbank");
        PipelineParams params;
        params.crf = false;
        return std::make_shared<const ImageDecomposition>(
            decomposeImage(primaps::testing::patternedImage(96, 128), *backbone, params));
    }();
    return d;
}

} // namespace

class TestPlayback : public QObject
{
    Q_OBJECT

private slots:
    void steppingState()
    {
        PlaybackController c;
        QCOMPARE(c.currentFrame(), -1);
        c.stepForward(); // nothing to step through
        QCOMPARE(c.currentFrame(), -1);
        QSignalSpy changed(&c, &PlaybackController::currentFrameChanged);
        c.setFrameCount(4);
        QCOMPARE(c.currentFrame(), 0);
        QCOMPARE(changed.count(), 1);
        c.stepBack(); // stays on the first
        QCOMPARE(c.currentFrame(), 0);
        QCOMPARE(changed.count(), 1);
        for (int i = 0; i < 5; ++i)
            c.stepForward();
        QCOMPARE(c.currentFrame(), 3); // stays on the last
        QVERIFY(c.atEnd());
        QCOMPARE(changed.count(), 4);
        c.stepBack();
        QCOMPARE(c.currentFrame(), 2);
        c.setCurrentFrame(99);
        QCOMPARE(c.currentFrame(), 3);
        c.setCurrentFrame(-5);
        QCOMPARE(c.currentFrame(), 0);
    }

    void playsToTheEndAndRestarts()
    {
        PlaybackController c;
        c.setFrameCount(4);
        c.setSpeed(100.0); // clamped
        QCOMPARE(c.speed(), PlaybackController::kMaxSpeed);
        c.setSpeed(0.0);
        QCOMPARE(c.speed(), PlaybackController::kMinSpeed);
        c.setSpeed(8.0);
        QSignalSpy playing(&c, &PlaybackController::playingChanged);
        QElapsedTimer clock;
        clock.start();
        c.play();
        QVERIFY(c.isPlaying());
        QTRY_VERIFY_WITH_TIMEOUT(!c.isPlaying(), 5000);
        QCOMPARE(c.currentFrame(), 3);
        // Three steps at 8 per second: about 375 ms, never faster than the speed says.
        QVERIFY2(clock.elapsed() >= 360, qPrintable(QString::number(clock.elapsed())));
        QCOMPARE(playing.count(), 2);
        c.play(); // at the end: from the first frame again
        QCOMPARE(c.currentFrame(), 0);
        QVERIFY(c.isPlaying());
        c.stepForward(); // stepping pauses
        QVERIFY(!c.isPlaying());
        QCOMPARE(c.currentFrame(), 1);
        c.play();
        c.setFrameCount(2); // new frames: paused on the first
        QVERIFY(!c.isPlaying());
        QCOMPARE(c.currentFrame(), 0);
        c.setFrameCount(1);
        c.play(); // a single frame does not play
        QVERIFY(!c.isPlaying());
    }

    void widgetRendersFramesForTheCanvas()
    {
        PlaybackWidget w;
        QSignalSpy ready(&w, &PlaybackWidget::readyChanged);
        w.setDecomposition(decomposition(), "pattern.png");
        QTRY_VERIFY_WITH_TIMEOUT(w.isReady(), 20000);
        const int frames = int(decomposition()->trace.iterations.size()) + 1;
        QCOMPARE(w.controller()->frameCount(), frames);
        QVERIFY(!w.isActive());

        QSignalSpy frameReady(&w, &PlaybackWidget::frameReady);
        w.setActive(true);
        QVERIFY(frameReady.wait(10000));
        QCOMPARE(frameReady.last().at(1).toInt(), 0);
        const QImage first = frameReady.last().at(0).value<QImage>();
        // The photo's aspect (128 x 96), for laying over it.
        QCOMPARE(first.width() * 96, first.height() * 128);
        QVERIFY(w.caption().startsWith("Step 1 of"));

        w.controller()->stepForward();
        QTRY_VERIFY_WITH_TIMEOUT(!frameReady.isEmpty() && frameReady.last().at(1).toInt() == 1, 10000);
        QVERIFY(frameReady.last().at(0).value<QImage>() != first);
        w.controller()->setCurrentFrame(frames - 1);
        QTRY_VERIFY_WITH_TIMEOUT(frameReady.last().at(1).toInt() == frames - 1, 10000);
        QVERIFY(w.caption().startsWith("Label map"));

        QSignalSpy active(&w, &PlaybackWidget::activeChanged);
        w.setActive(false);
        QCOMPARE(active.count(), 1);
        QVERIFY(w.currentImage().isNull());
        // A new decomposition ends nothing twice and prepares its own frames.
        w.setDecomposition(decomposition(), "again.png");
        QVERIFY(!w.isReady());
        QTRY_VERIFY_WITH_TIMEOUT(w.isReady(), 20000);
    }

    void widgetExportsTheAnimation()
    {
        QTemporaryDir dir;
        PlaybackWidget w;
        QVERIFY(!w.exportAnimation(dir.filePath("none.gif"))); // nothing to export yet
        w.setDecomposition(decomposition(), "pattern.png");
        QTRY_VERIFY_WITH_TIMEOUT(w.isReady(), 20000);
        QSignalSpy finished(&w, &PlaybackWidget::exportFinished);
        const QString path = dir.filePath("steps.gif");
        QVERIFY(w.exportAnimation(path));
        QVERIFY(w.isExporting());
        QVERIFY(finished.wait(60000));
        QVERIFY2(finished.last().at(1).toString().isEmpty(), qPrintable(finished.last().at(1).toString()));
        int error = 0;
        GifFileType* gif = DGifOpenFileName(path.toLocal8Bit().constData(), &error);
        QVERIFY(gif);
        QCOMPARE(DGifSlurp(gif), GIF_OK);
        QCOMPARE(gif->ImageCount, w.controller()->frameCount());
        DGifCloseFile(gif, &error);
        qInfo("%s", qPrintable(finished.last().at(2).toString()));
    }
};

QTEST_MAIN(TestPlayback)
#include "tst_playback.moc"
