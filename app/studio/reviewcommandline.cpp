// SPDX-License-Identifier: MIT
#include "reviewcommandline.h"

#include "dataset/dataset.h"
#include "review/datasetbrowserwidget.h"
#include "mainwindow.h"
#include "reviewcontroller.h"

#include <cstdio>
#include <memory>
#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QScreen>
#include <QTimer>

namespace primaps {

namespace {

// Long enough for a run to open, its split to be counted and one image to be
// reviewed on a slow machine; a screenshot run must end whatever happens.
constexpr int kReviewScreenshotTimeoutMs = 600000;
// Lets the docks settle and the last paint happen before the window is grabbed.
constexpr int kSettleMs = 500;

void fail(const QString& message)
{
    std::fprintf(stderr, "primaps-studio: %s\n", qPrintable(message));
    QApplication::exit(1);
}

} // namespace

QList<QCommandLineOption> reviewOptions()
{
    return {
        {QStringLiteral("run"),
         QStringLiteral("Review the fitted run in RUN_DIR on its validation split (or on "
                        "--dataset/--root/--split)."),
         QStringLiteral("RUN_DIR")},
        {QStringLiteral("dataset"),
         QStringLiteral("Dataset layout: folder, cityscapes, cocostuff27, potsdam3. Without "
                        "--run: page through its images and ground truth."),
         QStringLiteral("KIND")},
        {QStringLiteral("root"), QStringLiteral("The dataset's root folder."),
         QStringLiteral("DIR")},
        {QStringLiteral("split"), QStringLiteral("The dataset split (default: the one Evaluate scores, the run's validation split or a folder's val.txt)."),
         QStringLiteral("SPLIT")},
        {QStringLiteral("image"),
         QStringLiteral("Show this image: its file stem or its path relative to the dataset "
                        "root."),
         QStringLiteral("NAME")},
        {QStringLiteral("layer"),
         QStringLiteral("Layer to show: photo, gt, masks, pseudo, prediction, errors."),
         QStringLiteral("LAYER")},
        {QStringLiteral("theta"),
         QStringLiteral("Prototypes of the prediction and error layers: r (theta_R, default) "
                        "or m (theta_M)."),
         QStringLiteral("m|r")},
        {QStringLiteral("crf"),
         QStringLiteral("Refine the prediction with the dense CRF (review mode).")},
        {QStringLiteral("inspect-mask"),
         QStringLiteral("Show the vote of PriMaPs mask ID of the image, as a click on it in the "
                        "pseudo-label layer does."),
         QStringLiteral("ID")},
    };
}

bool wantsReview(const QCommandLineParser& parser)
{
    return parser.isSet(QStringLiteral("run")) || parser.isSet(QStringLiteral("dataset")) ||
           parser.isSet(QStringLiteral("root"));
}

int startReviewFromCommandLine(MainWindow& window, const QCommandLineParser& parser,
                               const QString& screenshotPath)
{
    ReviewController* review = window.reviewController();
    if (!screenshotPath.isEmpty()) {
        // What a user of this screen sees: the window fits it.
        if (const QScreen* screen = window.screen())
            window.resize(window.size().boundedTo(screen->availableGeometry().size()));
    }
    const QString runDir = parser.value(QStringLiteral("run"));
    DatasetOptions options;
    if (parser.isSet(QStringLiteral("root"))) {
        options.root = QDir(parser.value(QStringLiteral("root"))).absolutePath().toStdString();
        options.split = parser.value(QStringLiteral("split")).toStdString();
        try {
            options.kind = datasetKindFromString(
                parser.isSet(QStringLiteral("dataset"))
                    ? parser.value(QStringLiteral("dataset")).toStdString()
                    : std::string("folder"));
        } catch (const std::exception& e) {
            std::fprintf(stderr, "primaps-studio: --dataset: %s\n", e.what());
            return 2;
        }
    } else if (parser.isSet(QStringLiteral("dataset"))) {
        std::fprintf(stderr, "primaps-studio: --dataset needs --root DIR\n");
        return 2;
    } else if (runDir.isEmpty()) {
        std::fprintf(stderr, "primaps-studio: --split needs --run or --root\n");
        return 2;
    } else {
        // The run's own dataset, another split of it (e.g. the fit's images).
        options.split = parser.value(QStringLiteral("split")).toStdString();
    }
    ReviewController::Layer layer = ReviewController::Layer::PseudoLabel;
    if (parser.isSet(QStringLiteral("layer")) &&
        !ReviewController::layerFromName(parser.value(QStringLiteral("layer")), &layer)) {
        std::fprintf(stderr,
                     "primaps-studio: --layer must be photo, gt, masks, pseudo, prediction or "
                     "errors, not '%s'\n",
                     qPrintable(parser.value(QStringLiteral("layer"))));
        return 2;
    }
    const QString theta = parser.value(QStringLiteral("theta")).isEmpty()
                              ? QStringLiteral("r")
                              : parser.value(QStringLiteral("theta"));
    if (theta != QLatin1String("m") && theta != QLatin1String("r")) {
        std::fprintf(stderr, "primaps-studio: --theta must be m or r, not '%s'\n",
                     qPrintable(theta));
        return 2;
    }
    if (runDir.isEmpty() && !parser.isSet(QStringLiteral("layer")))
        layer = ReviewController::Layer::GroundTruth;
    review->setLayer(layer);
    review->setPrediction(theta, parser.isSet(QStringLiteral("crf")));

    const QString image = parser.value(QStringLiteral("image"));
    const bool shoot = !screenshotPath.isEmpty();
    // Screenshot state: the layer is on the canvas, and (with a run) the split's
    // metrics are known, so the picture shows the image's Acc and mIoU.
    struct Shot
    {
        bool layerShown = false;
        bool metricsKnown = false;
        bool taken = false;
    };
    auto shot = std::make_shared<Shot>();
    shot->metricsKnown = runDir.isEmpty();
    auto maybeShoot = [&window, shot, screenshotPath] {
        if (!shot->layerShown || !shot->metricsKnown || shot->taken)
            return;
        shot->taken = true;
        QTimer::singleShot(kSettleMs, &window, [&window, screenshotPath] {
            if (!window.grab().save(screenshotPath)) {
                fail(QStringLiteral("cannot write '%1'").arg(QDir::toNativeSeparators(screenshotPath)));
                return;
            }
            std::printf("primaps-studio: saved %s\n",
                        qPrintable(QDir::toNativeSeparators(screenshotPath)));
            QApplication::exit(0);
        });
    };
    QObject::connect(review, &ReviewController::opened, &window,
                     [review, image, shoot](bool ok, const QString& error) {
                         if (!ok) {
                             if (shoot)
                                 fail(QStringLiteral("cannot open: %1").arg(error));
                             return;
                         }
                         if (!image.isEmpty() && !review->selectImage(image)) {
                             const QString message =
                                 QStringLiteral("no image '%1' in the split").arg(image);
                             if (shoot)
                                 fail(message);
                             else
                                 std::fprintf(stderr, "primaps-studio: %s\n", qPrintable(message));
                         }
                     });
    if (shoot) {
        QObject::connect(review, &ReviewController::layerShown, &window,
                         [shot, maybeShoot, review, image](bool ok, const QString& error) {
                             if (!ok) {
                                 fail(error);
                                 return;
                             }
                             // The first image of the split is shown before --image is chosen.
                             if (!image.isEmpty() && review->currentReview() &&
                                 review->currentIndex() != review->browser()->model()->findRow(image))
                                 return;
                             shot->layerShown = true;
                             maybeShoot();
                         });
        QObject::connect(review, &ReviewController::metricsReady, &window, [shot, maybeShoot] {
            shot->metricsKnown = true;
            maybeShoot();
        });
        QTimer::singleShot(kReviewScreenshotTimeoutMs, &window, [] {
            fail(QStringLiteral("the review did not finish within %1 s; no screenshot")
                     .arg(kReviewScreenshotTimeoutMs / 1000));
        });
    }
    if (parser.isSet(QStringLiteral("inspect-mask"))) {
        // Once the chosen image and the class match are both there.
        const int mask = parser.value(QStringLiteral("inspect-mask")).toInt();
        auto done = std::make_shared<bool>(false);
        auto inspect = [review, mask, image, done] {
            const auto r = review->currentReview();
            if (*done || !r || review->clusterToClass().empty() ||
                (!image.isEmpty() && review->currentIndex() != review->browser()->model()->findRow(image)))
                return;
            *done = true;
            for (int y = 0; y < r->masks.rows; ++y)
                for (int x = 0; x < r->masks.cols; ++x)
                    if (r->masks.at<std::uint8_t>(y, x) == mask) {
                        review->inspectMask(QPoint(x, y));
                        return;
                    }
            std::fprintf(stderr, "primaps-studio: the image has no mask %d\n", mask);
        };
        QObject::connect(review, &ReviewController::layerShown, &window, inspect);
        QObject::connect(review, &ReviewController::metricsReady, &window, inspect);
    }
    if (runDir.isEmpty())
        review->openDataset(options);
    else
        review->openRun(QDir(runDir).absolutePath(), options);
    return -1;
}

} // namespace primaps
