// SPDX-License-Identifier: MIT
// fuzz_make_seeds OUT_DIR: writes a small seed corpus per fuzz target into
// OUT_DIR/<target>/, made with the same writers the project (or its users' tools) use,
// so nothing binary needs to be committed. Deterministic: the same files every run.
#include "backbones/checkpoint.h"
#include "em/emfit.h"
#include "evaluation/evaluation.h"
#include "runs/evaluationreport.h"
#include "backbones/filterbank.h"
#include "fuzz_support.h"
#include "interchange/indexedpng.h"
#include "interchange/interchange.h"
#include "interchange/rle.h"
#include "support/npy.h"
#include "runs/project.h"

#include <caffe2/serialize/inline_container.h>
#include <matio.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace primaps;

namespace {

fs::path outDir;

std::string readFile(const fs::path& path)
{
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

void seed(const std::string& target, const std::string& name, const std::string& bytes)
{
    const fs::path dir = outDir / target;
    fs::create_directories(dir);
    std::ofstream(dir / name, std::ios::binary | std::ios::trunc) << bytes;
}

std::string encode(const std::string& ext, const cv::Mat& image,
                   const std::vector<int>& params = {})
{
    std::vector<std::uint8_t> bytes;
    cv::imencode(ext, image, bytes, params);
    return std::string(bytes.begin(), bytes.end());
}

cv::Mat gradient(int rows, int cols, int type)
{
    cv::Mat m(rows, cols, type);
    const int channels = m.channels();
    const double top = CV_MAT_DEPTH(type) == CV_16U ? 65535 : 255;
    for (int y = 0; y < rows; ++y)
        for (int x = 0; x < cols; ++x)
            for (int c = 0; c < channels; ++c) {
                const double v = top * ((x * 3 + y * 5 + c * 7) % 17) / 16.0;
                if (CV_MAT_DEPTH(type) == CV_16U)
                    m.ptr<std::uint16_t>(y)[x * channels + c] = std::uint16_t(v);
                else
                    m.ptr<std::uint8_t>(y)[x * channels + c] = std::uint8_t(v);
            }
    return m;
}

// ---- checkpoint: the committed torch.save fixtures, raw and as parts ----
void checkpointSeeds(const fs::path& fixtures)
{
    for (const auto& entry : fs::directory_iterator(fixtures)) {
        if (entry.path().extension() != ".pth")
            continue;
        const std::string stem = entry.path().stem().string();
        const std::string bytes = readFile(entry.path());
        seed("checkpoint", stem + "_raw", std::string(1, '\x01') + bytes);
        try {
            caffe2::serialize::PyTorchStreamReader reader(entry.path().string());
            std::vector<std::string> parts;
            auto [pickle, pickleSize] = reader.getRecord("data.pkl");
            parts.emplace_back(static_cast<const char*>(pickle.get()), pickleSize);
            for (int key = 0; reader.hasRecord("data/" + std::to_string(key)); ++key) {
                auto [storage, n] = reader.getRecord("data/" + std::to_string(key));
                parts.emplace_back(static_cast<const char*>(storage.get()), n);
            }
            for (char mode : {'\x00', '\x02', '\x06'})
                seed("checkpoint", stem + "_packed" + std::to_string(int(mode)),
                     std::string(1, mode) + fuzz::joinParts(parts));
        } catch (const std::exception&) {
            // legacy.pth is not a zip archive; its raw seed is enough.
        }
    }
}

// ---- npy: our writer, plus headers of other dtypes, orders and versions ----
std::string npyHeader(int version, const std::string& dict)
{
    const std::size_t lengthBytes = version == 1 ? 2 : 4;
    std::string header = dict;
    while ((10 + lengthBytes - 2 + header.size() + 1) % 64 != 0)
        header += ' ';
    header += '\n';
    std::string out = "\x93NUMPY";
    out += char(version);
    out += '\0';
    for (std::size_t i = 0; i < lengthBytes; ++i)
        out += char((header.size() >> (8 * i)) & 0xff);
    return out + header;
}

void npySeeds()
{
    const std::string scratch = fuzz::scratchDir() + "/seed.npy";
    std::vector<float> values(2 * 3 * 4);
    for (std::size_t i = 0; i < values.size(); ++i)
        values[i] = 0.25f * float(i) - 2;
    writeNpy(scratch, {2, 3, 4}, values.data());
    seed("npy", "float32_chw", readFile(scratch));
    writeNpy(scratch, {1, 2, 3, 4}, values.data());
    seed("npy", "float32_nchw", readFile(scratch));
    const std::vector<std::uint8_t> bytes = {0, 1, 2, 3, 254, 255};
    writeNpy(scratch, {2, 3}, bytes.data());
    seed("npy", "uint8", readFile(scratch));
    std::string f8(8 * 6, '\0');
    for (int i = 0; i < 6; ++i)
        reinterpret_cast<double*>(f8.data())[i] = i * 0.5;
    seed("npy", "float64_fortran",
         npyHeader(1, "{'descr': '<f8', 'fortran_order': True, 'shape': (1, 2, 3), }") + f8);
    seed("npy", "int16_big_endian_v2",
         npyHeader(2, "{'descr': '>i2', 'fortran_order': False, 'shape': (3,), }") +
             std::string("\x00\x01\xff\xfe\x7f\x00", 6));
    seed("npy", "float16_v3",
         npyHeader(3, "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 1, 1), }") +
             std::string("\x00\x3c\x00\xc0", 4));
    seed("npy", "bool_scalar",
         npyHeader(1, "{'descr': '|b1', 'fortran_order': False, 'shape': (), }") + "\x01");
}

// ---- images: every format loadImageRgb8() is offered, with parameter bytes ----
void imageSeeds()
{
    const cv::Mat bgr = gradient(21, 34, CV_8UC3);
    const std::vector<std::pair<std::string, std::string>> files = {
        {"png", encode(".png", bgr)},
        {"png_grey", encode(".png", gradient(17, 9, CV_8UC1))},
        {"png_rgba", encode(".png", gradient(9, 17, CV_8UC4))},
        {"png_16bit", encode(".png", gradient(12, 12, CV_16UC3))},
        {"jpeg", encode(".jpg", bgr, {cv::IMWRITE_JPEG_QUALITY, 50})},
        {"jpeg_progressive", encode(".jpg", bgr, {cv::IMWRITE_JPEG_PROGRESSIVE, 1})},
        {"bmp", encode(".bmp", bgr)},
        {"tiff", encode(".tiff", bgr)},
        {"tiff_16bit", encode(".tiff", gradient(8, 8, CV_16UC1))},
        {"webp", encode(".webp", bgr)},
        {"ppm", encode(".ppm", bgr)},
        {"pgm", encode(".pgm", gradient(5, 7, CV_8UC1))},
    };
    for (const auto& [name, bytes] : files) {
        seed("image", name, std::string("\x11\x00", 2) + bytes);
        seed("image", name + "_crop14", std::string("\x29\x05", 2) + bytes);
    }
}

// ---- label PNGs: ids in and out of range, wrong channel counts and depths ----
void labelSeeds()
{
    cv::Mat ids(10, 13, CV_8UC1);
    for (int y = 0; y < ids.rows; ++y)
        for (int x = 0; x < ids.cols; ++x)
            ids.at<std::uint8_t>(y, x) = std::uint8_t((x + y) % 5 == 4 ? 255 : (x * y) % 7);
    seed("labelpng", "ids", std::string(1, '\x05') + encode(".png", ids));
    seed("labelpng", "ids_16bit",
         std::string(1, '\x05') + encode(".png", gradient(6, 6, CV_16UC1)));
    seed("labelpng", "colour", std::string(1, '\x02') + encode(".png", gradient(6, 6, CV_8UC3)));
    seed("labelpng", "bmp", std::string(1, '\x1b') + encode(".bmp", ids));
}

// ---- .mat: Potsdam-3's layout (img H x W x 4, gt H x W) in each MAT version ----
void matSeeds()
{
    const std::string scratch = fuzz::scratchDir() + "/seed.mat";
    struct Version
    {
        const char* name;
        mat_ft version;
        matio_compression compression;
    };
    for (const Version& v : {Version{"v5", MAT_FT_MAT5, MAT_COMPRESSION_NONE},
                             Version{"v5_zlib", MAT_FT_MAT5, MAT_COMPRESSION_ZLIB},
                             Version{"v73", MAT_FT_MAT73, MAT_COMPRESSION_NONE},
                             Version{"v4", MAT_FT_MAT4, MAT_COMPRESSION_NONE}}) {
        fs::remove(scratch);
        mat_t* mat = Mat_CreateVer(scratch.c_str(), nullptr, v.version);
        if (!mat)
            continue; // matio built without this version (v7.3 needs HDF5)
        std::vector<std::uint8_t> img(5 * 4 * 4);
        for (std::size_t i = 0; i < img.size(); ++i)
            img[i] = std::uint8_t(i * 13);
        std::vector<double> gt(5 * 4);
        for (std::size_t i = 0; i < gt.size(); ++i)
            gt[i] = double(i % 6);
        std::size_t imgDims[3] = {5, 4, 4};
        std::size_t gtDims[2] = {5, 4};
        // v4 files hold only doubles.
        const bool v4 = v.version == MAT_FT_MAT4;
        std::vector<double> imgDouble(img.begin(), img.end());
        matvar_t* a =
            v4 ? Mat_VarCreate("img", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, imgDims, imgDouble.data(), 0)
               : Mat_VarCreate("img", MAT_C_UINT8, MAT_T_UINT8, 3, imgDims, img.data(), 0);
        matvar_t* b = Mat_VarCreate("gt", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, gtDims, gt.data(), 0);
        Mat_VarWrite(mat, a, v.compression);
        Mat_VarWrite(mat, b, v.compression);
        Mat_VarFree(a);
        Mat_VarFree(b);
        Mat_Close(mat);
        seed("mat", v.name, readFile(scratch));
    }
}

// ---- run folder: a real tiny fit's state and prototypes, run.json, eval JSON ----
void runFolderSeeds()
{
    const fuzz::TinyEmData data;
    EmFit fit(data, fuzz::tinyEmParams());
    std::string firstState;
    while (!fit.done()) {
        fit.step();
        if (firstState.empty() && fit.phase() == EmPhase::Em)
            firstState = fit.saveState();
    }
    const std::string finalState = fit.saveState();

    nlohmann::json run = {{"format", "primaps-run"},
                          {"version", 1},
                          {"dataset", "folder"},
                          {"root", "data"},
                          {"split", ""},
                          {"classes", 2},
                          {"class_names", {"a", "b"}},
                          {"backbone", "filterbank"},
                          {"weights", ""},
                          {"resolution", 64},
                          {"threshold", 0.4},
                          {"mask_crf", false},
                          {"cache", "cache"},
                          {"method", "primaps-em"},
                          {"epochs", 2},
                          {"init_epochs", 1},
                          {"batch_size", 2},
                          {"seed", "0"},
                          {"learning_rate", 0.005},
                          {"ema_decay", 0.98},
                          {"ema_every", 1},
                          {"pca_images", 3},
                          {"student_augmentation", false},
                          {"student_views", 0},
                          {"checkpoint_every", 50},
                          {"val_split", ""},
                          {"val_every", 0},
                          {"images", 3},
                          {"complete", true},
                          {"steps", fit.stepsDone()}};
    // theta_m for the run's backbone, so openFittedRun() gets past its dimension check.
    Prototypes theta = fit.thetaM();
    Prototypes wide;
    wide.classes = 2;
    wide.dim = FilterBankV1Backbone().dim(); // run.json names no version: v1
    wide.direction.assign(std::size_t(wide.classes * wide.dim), 0.5f);
    wide.gain = {1.0f, 2.0f};

    ConfusionMatrix confusion(2, 2);
    const std::int32_t predictions[] = {0, 0, 1, 1, 1};
    const std::uint8_t labels[] = {0, 1, 1, 1, 0};
    confusion.add(predictions, labels, 5);
    const std::string eval = evaluationToJson(evaluate(confusion), {"a", "b"}, confusion);
    const std::string metrics = "step,val_acc,val_miou\n2,50,40\n4,60,45\n";

    seed("runfolder", "complete",
         fuzz::joinParts({run.dump(4), finalState, prototypesToJson(wide), metrics, eval}));
    run["complete"] = false;
    seed("runfolder", "midway",
         fuzz::joinParts({run.dump(), firstState, prototypesToJson(theta), metrics}));
    seed("runfolder", "eval_only", fuzz::joinParts({"", "", "", "", eval}));
}

// ---- corrected annotations: each format written by the export's own writers ----
void annotationSeeds()
{
    namespace ix = primaps::interchange;
    const cv::Mat values = (cv::Mat_<std::uint8_t>(3, 4) << 0, 0, 1, 1, 0, 2, 2, 1, 255, 2, 0, 0);
    const fs::path dir = fs::path(fuzz::scratchDir()) / "annotation-seeds";
    fs::create_directories(dir / "labels");
    const std::vector<cv::Vec3b> palette = {{200, 0, 0}, {0, 200, 0}, {0, 0, 200}};
    const std::string png = ix::encodeIndexedPng(values, palette, "{}");
    std::ofstream(dir / "labels" / "a.png", std::ios::binary) << png;
    ix::InterchangeSet set;
    set.outDir = dir.string();
    set.split = "seed";
    set.classes = {{0, 0, "road", palette[0]}, {1, 1, "sky", palette[1]}, {2, 2, "car", palette[2]}};
    set.images = {{"a", "/images/a.png", "images/a.png", (dir / "labels" / "a.png").string()}};
    set.provenanceJson = R"({"export_folder": "/nowhere"})";
    set.overwrite = true;
    std::vector<std::string> kept;
    ix::writeCoco(set, kept);
    ix::writeCvat(set, kept);
    ix::writeLabelStudio(set, kept);
    seed("annotations", "coco", std::string(1, '\x00') + readFile((dir / "coco_seed.json").string()));
    // Label Studio reads annotations: the predictions, as an annotator accepted them.
    nlohmann::json tasks = nlohmann::json::parse(readFile((dir / "labelstudio_seed.json").string()));
    for (nlohmann::json& t : tasks)
        t["annotations"] = nlohmann::json::array({{{"result", t["predictions"][0]["result"]}}});
    seed("annotations", "labelstudio", std::string(1, '\x01') + tasks.dump());
    seed("annotations", "cvat", std::string(1, '\x02') + readFile((dir / "cvat_seed.zip").string()));
    seed("annotations", "palette_png", std::string(1, '\x03') + png);
    // COCO's uncompressed run lists and polygons.
    nlohmann::json coco = nlohmann::json::parse(readFile((dir / "coco_seed.json").string()));
    coco["annotations"][0]["segmentation"]["counts"] =
        ix::parseCocoRleString(coco["annotations"][0]["segmentation"]["counts"].get<std::string>());
    coco["annotations"][1]["segmentation"] = {{0, 0, 3, 0, 3, 2}};
    seed("annotations", "coco_runs_polygon", std::string(1, '\x00') + coco.dump());
}

// ---- project files: loose images, a dataset with edits, an autosave ----
void projectSeeds()
{
    // Paths inside the (fuzz scratch) project folder are stored relative to it,
    // others absolute: the seeds have both.
    const std::string here = (fs::current_path() / "p/project.primaps").string();
    const std::string folder = fs::path(here).parent_path().string();
    Project loose;
    loose.images = {folder + "/images/a.png", "/data/elsewhere/b.jpg"};
    loose.backbone = "filterbank";
    loose.correctionsDir = folder + "/project.corrections";
    seed("project", "loose_images", projectToJson(loose, here));

    Project review;
    review.hasDataset = true;
    review.dataset.kind = DatasetKind::Folder;
    review.dataset.root = folder + "/data";
    review.dataset.split = "val";
    review.dataset.classes = 3;
    review.runDir = folder + "/runs/fit";
    review.backbone = "dino_vits8";
    review.checkpoint = "/opt/weights/dino_deitsmall8_pretrain.pth";
    review.checkpointSha256 = std::string(64, 'c');
    review.parameters.resolution = 320;
    review.parameters.threshold = 0.35f;
    review.parameters.maskCrf = false;
    review.parameters.theta = "m";
    review.parameters.predictionCrf = true;
    review.classes = defaultClassTable({"ground", "ball", "box"});
    review.classes.classes[1].colour = cv::Vec3b(10, 20, 30);
    review.matchEdits.overrides[4] = 2;
    review.matchEdits.merges[5] = 4;
    review.matchEdits.ignored.insert(6);
    review.correctionsDir = folder + "/runs/fit/corrections";
    review.currentImage = "im3";
    seed("project", "dataset_review", projectToJson(review, here));

    // An autosave is a project file with more fields: written, read back as text.
    const fs::path autosave = outDir / "autosave.tmp";
    writeAutosave(autosave.string(), review, here);
    seed("project", "autosave", readFile(autosave));
    fs::remove(autosave);
}

} // namespace

int main(int argc, char** argv)
{
    if (argc != 2) {
        std::cerr << "usage: fuzz_make_seeds OUT_DIR\n";
        return 2;
    }
    outDir = argv[1];
    try {
        checkpointSeeds(PRIMAPS_TEST_DATA_DIR "/checkpoint");
        npySeeds();
        imageSeeds();
        labelSeeds();
        matSeeds();
        runFolderSeeds();
        annotationSeeds();
        projectSeeds();
    } catch (const std::exception& e) {
        std::cerr << "fuzz_make_seeds: " << e.what() << "\n";
        return 1;
    }
    std::cout << "seeds written to " << outDir.string() << "\n";
    return 0;
}
