// SPDX-License-Identifier: MIT
// Writes a small labelled folder dataset of generated street scenes, for the
// screenshot gallery (scripts/studio-gallery.sh) and for trying the studio's
// Review, Fit, Evaluate and Annotate perspectives without a downloaded dataset:
//
//   make_scene_dataset OUT_DIR [COUNT] [SEED]
//
// OUT_DIR/images/sceneNN.png (320 x 240 RGB), OUT_DIR/labels/sceneNN.png (class
// ids 0..4, exactly the drawn regions) and OUT_DIR/classes.txt (sky, building,
// vegetation, road, car). Every picture has sky, a skyline, trees, a road and
// one or two cars, in colours and positions drawn from SEED; the labels and the
// picture come from the same shapes, so the ground truth is exact. Refuses to
// write into a folder that already has images/ (exit code 1); 2 for bad arguments.

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace {

enum SceneClass : int
{
    Sky,
    Building,
    Vegetation,
    Road,
    Car,
    ClassCount
};
const char* const kClassNames[ClassCount] = {"sky", "building", "vegetation", "road", "car"};

constexpr int kWidth = 320, kHeight = 240;

struct Scene
{
    cv::Mat bgr = cv::Mat(kHeight, kWidth, CV_8UC3);
    cv::Mat labels = cv::Mat(kHeight, kWidth, CV_8UC1);

    // Fills the polygon in the picture with `colour` and in the labels with `cls`.
    void fill(const std::vector<cv::Point>& polygon, const cv::Scalar& colour, SceneClass cls)
    {
        const std::vector<std::vector<cv::Point>> polygons{polygon};
        cv::fillPoly(bgr, polygons, colour, cv::LINE_8);
        cv::fillPoly(labels, polygons, cv::Scalar(cls), cv::LINE_8);
    }
    void rect(const cv::Rect& r, const cv::Scalar& colour, SceneClass cls)
    {
        cv::rectangle(bgr, r, colour, cv::FILLED, cv::LINE_8);
        cv::rectangle(labels, r, cv::Scalar(cls), cv::FILLED, cv::LINE_8);
    }
    void disc(cv::Point centre, int radius, const cv::Scalar& colour, SceneClass cls)
    {
        cv::circle(bgr, centre, radius, colour, cv::FILLED, cv::LINE_8);
        cv::circle(labels, centre, radius, cv::Scalar(cls), cv::FILLED, cv::LINE_8);
    }
};

Scene makeScene(std::mt19937& rng)
{
    auto uniform = [&rng](int lo, int hi) {
        return std::uniform_int_distribution<int>(lo, hi)(rng);
    };
    Scene s;
    const int horizon = uniform(100, 130);

    // Sky: a vertical gradient from deep to pale blue.
    for (int y = 0; y < kHeight; ++y) {
        const double t = double(y) / horizon;
        s.bgr.row(y).setTo(cv::Scalar(235 - 25 * t, 170 + 40 * t, 90 + 80 * t));
    }
    s.labels.setTo(cv::Scalar(Sky));

    // Skyline: houses with a grid of windows.
    for (int x = uniform(-20, 10); x < kWidth;) {
        const int w = uniform(40, 80), h = uniform(35, 80);
        const cv::Scalar wall(uniform(90, 150), uniform(100, 160), uniform(120, 190));
        s.rect({x, horizon - h, w, h + 10}, wall, Building);
        for (int wy = horizon - h + 8; wy + 8 < horizon; wy += 16)
            for (int wx = x + 6; wx + 8 < x + w; wx += 14)
                s.rect({wx, wy, 7, 8}, cv::Scalar(70, 60, 50), Building);
        x += w + uniform(0, 25);
    }

    // Road: a trapezoid to the bottom edge, with a dashed centre line (still road).
    const int vanish = uniform(120, 200);
    s.fill({{0, kHeight},
            {0, horizon + 25},
            {vanish - 30, horizon + 5},
            {vanish + 30, horizon + 5},
            {kWidth, horizon + 25},
            {kWidth, kHeight}},
           cv::Scalar(95, 95, 100), Road);
    for (int y = horizon + 15; y < kHeight; y += 22)
        s.rect({vanish - 2 + (y - horizon) / 12, y, 4, 10}, cv::Scalar(210, 215, 220), Road);

    // Trees along the road: trunks and round crowns.
    for (int i = 0, trees = uniform(2, 4); i < trees; ++i) {
        const int x = uniform(10, kWidth - 10), base = horizon + uniform(20, 40);
        const int r = uniform(14, 26);
        s.rect({x - 3, base - 2 * r, 6, 2 * r}, cv::Scalar(30, 60, 90), Vegetation);
        s.disc({x, base - 2 * r}, r, cv::Scalar(40, uniform(110, 150), 40), Vegetation);
        s.disc({x + r / 2, base - 2 * r - r / 2}, r * 2 / 3, cv::Scalar(50, 150, 60), Vegetation);
    }

    // Cars: a body, a cabin with windows, two wheels.
    for (int i = 0, cars = uniform(1, 2); i < cars; ++i) {
        const int w = uniform(70, 100), h = w * 3 / 10;
        const int x = uniform(0, kWidth - w), y = uniform(horizon + 45, kHeight - h - 15);
        const cv::Scalar paint[] = {{40, 40, 200}, {190, 90, 30}, {40, 200, 230}, {230, 230, 235}};
        const cv::Scalar colour = paint[uniform(0, 3)];
        s.rect({x, y, w, h}, colour, Car);
        s.fill({{x + w / 5, y},
                {x + w / 3, y - h * 2 / 3},
                {x + w * 3 / 4, y - h * 2 / 3},
                {x + w * 9 / 10, y}},
               colour, Car);
        s.fill({{x + w / 4 + 4, y - 2},
                {x + w / 3 + 3, y - h / 2},
                {x + w * 7 / 10, y - h / 2},
                {x + w * 4 / 5, y - 2}},
               cv::Scalar(120, 80, 60), Car);
        s.disc({x + w / 5, y + h}, h / 3, cv::Scalar(25, 25, 25), Car);
        s.disc({x + w * 4 / 5, y + h}, h / 3, cv::Scalar(25, 25, 25), Car);
    }

    // Sensor noise, so that no region is a flat colour.
    cv::Mat noise(s.bgr.size(), CV_16SC3);
    cv::randn(noise, 0, 9);
    cv::Mat wide;
    s.bgr.convertTo(wide, CV_16SC3);
    wide += noise;
    wide.convertTo(s.bgr, CV_8UC3);
    return s;
}

int usage()
{
    std::fprintf(stderr, "usage: make_scene_dataset OUT_DIR [COUNT (1-500, default 16)] [SEED]\n");
    return 2;
}

} // namespace

int main(int argc, char* argv[])
{
    if (argc < 2 || argc > 4)
        return usage();
    namespace fs = std::filesystem;
    const fs::path out = argv[1];
    char* end = nullptr;
    const long count = argc > 2 ? std::strtol(argv[2], &end, 10) : 16;
    if (argc > 2 && (*end != '\0' || count < 1 || count > 500))
        return usage();
    const unsigned long seed = argc > 3 ? std::strtoul(argv[3], &end, 10) : 1;
    if (argc > 3 && *end != '\0')
        return usage();
    if (fs::exists(out / "images")) {
        std::fprintf(stderr,
                     "make_scene_dataset: '%s' already holds a dataset (images/); not "
                     "overwriting it\n",
                     (out / "images").c_str());
        return 1;
    }
    std::error_code error;
    fs::create_directories(out / "images", error);
    fs::create_directories(out / "labels", error);
    if (error) {
        std::fprintf(stderr, "make_scene_dataset: cannot create '%s': %s\n", out.c_str(),
                     error.message().c_str());
        return 1;
    }
    std::mt19937 rng{std::uint32_t(seed)};
    cv::setRNGSeed(int(seed));
    for (long i = 0; i < count; ++i) {
        const Scene scene = makeScene(rng);
        char stem[32];
        std::snprintf(stem, sizeof stem, "scene%02ld.png", i + 1);
        if (!cv::imwrite((out / "images" / stem).string(), scene.bgr) ||
            !cv::imwrite((out / "labels" / stem).string(), scene.labels)) {
            std::fprintf(stderr, "make_scene_dataset: cannot write '%s'\n",
                         (out / "images" / stem).c_str());
            return 1;
        }
    }
    std::ofstream classes(out / "classes.txt");
    for (const char* name : kClassNames)
        classes << name << '\n';
    if (!classes.flush()) {
        std::fprintf(stderr, "make_scene_dataset: cannot write '%s'\n",
                     (out / "classes.txt").c_str());
        return 1;
    }
    std::printf("make_scene_dataset: %ld scenes in %s\n", count, out.c_str());
    return 0;
}
