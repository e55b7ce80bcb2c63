// SPDX-License-Identifier: MIT
// The native DINO / DINOv2 ViTs against reference outputs (tests/data/vit, made by
// make_fixtures.py with python3-torch), architecture detection, load errors, the model
// catalogue and the backbone registry.
#include "backbones/backbone.h"
#include "backbones/checkpoint.h"
#include "backbones/checkpoint_p.h"
#include "support/error.h"
#include "backbones/modelcatalog.h"
#include "support/npy.h"
#include "image/preprocess.h"
#include "backbones/attentionkernel_p.h"
#include "backbones/softmaxrows_p.h"
#include "backbones/vit.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <cmath>
#include <cstring>
#include <random>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <opencv2/core.hpp>
#include <tuple>
#include <QTemporaryDir>
#include <QtTest>
#include "testsupport.h" // last: Qt's `slots` macro breaks LibTorch headers

using namespace primaps;

namespace {

const std::string kVitData = PRIMAPS_TEST_DATA_DIR "/vit/";

/// The fixture image: value(y, x, c) = (37 y + 11 x + 101 c + 13 ((x y) mod 7)) mod 256.

VitOptions tinyOptions()
{
    VitOptions options;
    options.numHeads = 2; // the tiny fixtures have 16-d tokens in two 8-d heads
    return options;
}

/// A state dict read from `path` and then changed by `edit` (key, tensor pairs in order).
StateDict edited(const std::string& path,
                 const std::function<void(std::vector<std::pair<std::string, at::Tensor>>&)>& edit)
{
    StateDict sd = readStateDict(path);
    auto entries = sd.impl().tensors;
    edit(entries);
    sd.impl().tensors.clear();
    sd.impl().index.clear();
    for (auto& [name, tensor] : entries)
        sd.impl().add(name, tensor);
    return sd;
}

float maxAbsDifference(const FeatureMap& a, const std::vector<float>& b)
{
    float worst = 0.0f;
    for (std::size_t i = 0; i < b.size(); ++i)
        worst = std::max(worst, std::fabs(a.values[i] - b[i]));
    return worst;
}

/// A DINO (or, with LayerScale, DINOv2) ViT with 64-d heads and random weights in the
/// official layout: 128-d tokens in two heads, two blocks, 8-pixel patches, a 4 x 4
/// pre-training grid. The released models' head size, which the tiny fixtures (8-d
/// heads) do not have.
StateDict randomVitWith64dHeads(bool dinov2)
{
    at::manual_seed(dinov2 ? 12 : 11);
    const std::int64_t d = 128, hidden = 512, p = 8, grid = 4;
    StateDict sd;
    auto& impl = sd.impl();
    impl.source = dinov2 ? "random DINOv2 ViT, 64-d heads" : "random DINO ViT, 64-d heads";
    auto add = [&](const std::string& name, at::IntArrayRef shape, double std, double mean = 0.0) {
        impl.add(name, at::randn(shape) * std + mean);
    };
    add("cls_token", {1, 1, d}, 0.5);
    add("pos_embed", {1, 1 + grid * grid, d}, 0.5);
    add("patch_embed.proj.weight", {d, 3, p, p}, 0.1);
    add("patch_embed.proj.bias", {d}, 0.1);
    if (dinov2)
        add("mask_token", {1, d}, 0.02);
    for (int i = 0; i < 2; ++i) {
        const std::string b = "blocks." + std::to_string(i) + ".";
        add(b + "norm1.weight", {d}, 0.1, 1.0);
        add(b + "norm1.bias", {d}, 0.1);
        add(b + "attn.qkv.weight", {3 * d, d}, 0.15);
        add(b + "attn.qkv.bias", {3 * d}, 0.1);
        add(b + "attn.proj.weight", {d, d}, 0.1);
        add(b + "attn.proj.bias", {d}, 0.1);
        add(b + "norm2.weight", {d}, 0.1, 1.0);
        add(b + "norm2.bias", {d}, 0.1);
        add(b + "mlp.fc1.weight", {hidden, d}, 0.1);
        add(b + "mlp.fc1.bias", {hidden}, 0.1);
        add(b + "mlp.fc2.weight", {d, hidden}, 0.05);
        add(b + "mlp.fc2.bias", {d}, 0.1);
        if (dinov2) {
            add(b + "ls1.gamma", {d}, 0.3, 1.0);
            add(b + "ls2.gamma", {d}, 0.3, 1.0);
        }
    }
    add("norm.weight", {d}, 0.1, 1.0);
    add("norm.bias", {d}, 0.1);
    return sd;
}

} // namespace

class TestVit : public QObject
{
    Q_OBJECT

    QTemporaryDir dir;

private slots:
    void matchesReferenceOutputs_data()
    {
        QTest::addColumn<QString>("model");
        QTest::addColumn<int>("height");
        QTest::addColumn<int>("width");
        // Native grid (no interpolation), non-square and square non-native sizes.
        QTest::newRow("dino 32x32 native") << "dino_tiny" << 32 << 32;
        QTest::newRow("dino 24x56") << "dino_tiny" << 24 << 56;
        QTest::newRow("dino 48x48") << "dino_tiny" << 48 << 48;
        QTest::newRow("dinov2 70x70 native") << "dinov2_tiny" << 70 << 70;
        QTest::newRow("dinov2 42x98") << "dinov2_tiny" << 42 << 98;
        QTest::newRow("dinov2 56x56") << "dinov2_tiny" << 56 << 56;
    }

    void matchesReferenceOutputs()
    {
        QFETCH(QString, model);
        QFETCH(int, height);
        QFETCH(int, width);
        const std::string name = model.toStdString();
        VisionTransformer vit(readStateDict(kVitData + name + ".pth"), tinyOptions());
        const NpyArray expected = readNpy(kVitData + name + "_" + std::to_string(height) + "x" +
                                          std::to_string(width) + ".npy");
        const int p = vit.config().patchSize;
        QCOMPARE(expected.shape, (std::vector<std::int64_t>{16, height / p, width / p}));

        const FeatureMap features =
            vit.features(imagenetNormalize(testing::patternedImage(height, width)), height, width);
        QCOMPARE(features.channels, 16);
        QCOMPARE(features.height, height / p);
        QCOMPARE(features.width, width / p);
        const float error = maxAbsDifference(features, expected.toFloat32());
        qInfo("%s %dx%d: max abs error %.3g", name.c_str(), height, width, double(error));
        QVERIFY2(error <= 1e-4f, qPrintable(QString("max abs error %1").arg(double(error))));

        // The interpolated positional embeddings are cached per grid; a second call at
        // the same size and one after another size must give identical numbers.
        const FeatureMap again =
            vit.features(imagenetNormalize(testing::patternedImage(height, width)), height, width);
        QCOMPARE(again.values, features.values);
    }

    // The threads of VitThreading::RowParallel split every block by token rows (here
    // 22 and 22 tokens over 3 threads, uneven shares): the same numbers as the
    // single-threaded steps, and within the reference tolerance.
    void rowParallelMatchesSerial()
    {
        const int previousThreads = at::get_num_threads();
        for (const auto& [name, height, width] :
             {std::tuple<std::string, int, int>{"dino_tiny", 24, 56}, {"dinov2_tiny", 42, 98}}) {
            const std::vector<float> image =
                imagenetNormalize(testing::patternedImage(height, width));
            at::set_num_threads(3);
            VitOptions rowOptions = tinyOptions();
            rowOptions.threading = VitThreading::RowParallel;
            VisionTransformer rows(readStateDict(kVitData + name + ".pth"), rowOptions);
            const FeatureMap parallel = rows.features(image, height, width);
            const FeatureMap parallelAgain = rows.features(image, height, width);
            at::set_num_threads(1);
            VitOptions serialOptions = tinyOptions();
            serialOptions.threading = VitThreading::SerialElementwise;
            VisionTransformer serial(readStateDict(kVitData + name + ".pth"), serialOptions);
            const FeatureMap reference = serial.features(image, height, width);
            at::set_num_threads(previousThreads);

            const NpyArray expected = readNpy(kVitData + name + "_" + std::to_string(height) +
                                              "x" + std::to_string(width) + ".npy");
            const float error = maxAbsDifference(parallel, expected.toFloat32());
            const float fromSerial = maxAbsDifference(parallel, reference.values);
            qInfo("%s %dx%d, 3 row threads: max abs error %.3g, %.3g from serial", name.c_str(),
                  height, width, double(error), double(fromSerial));
            QVERIFY(error <= 1e-4f);
            QVERIFY(fromSerial <= 1e-6f);
            QCOMPARE(parallelAgain.values, parallel.values);
        }
    }

    // Long token sequences are attended in chunks of query rows (a bounded logits
    // buffer): here 5 and 7 rows of 22 and 22 + 1 tokens at a time, single-threaded
    // and over 3 row threads. Every row's softmax is its own, so the numbers are
    // those of the whole-sequence attention.
    void chunkedAttentionMatchesWhole()
    {
        const int previousThreads = at::get_num_threads();
        for (const auto& [name, height, width] :
             {std::tuple<std::string, int, int>{"dino_tiny", 24, 56}, {"dinov2_tiny", 42, 98}}) {
            const std::vector<float> image =
                imagenetNormalize(testing::patternedImage(height, width));
            const int p = name == "dino_tiny" ? 8 : 14;
            const std::size_t tokens = std::size_t(height / p) * std::size_t(width / p) + 1;
            for (const auto& [threads, threading] :
                 {std::pair<int, VitThreading>{1, VitThreading::SerialElementwise},
                  {3, VitThreading::RowParallel}}) {
                at::set_num_threads(threads);
                VitOptions whole = tinyOptions();
                whole.threading = threading;
                VisionTransformer reference(readStateDict(kVitData + name + ".pth"), whole);
                const FeatureMap expected = reference.features(image, height, width);
                for (const std::size_t rows : {std::size_t(5), std::size_t(7)}) {
                    VitOptions chunked = whole;
                    chunked.attentionChunkBytes = rows * tokens * sizeof(float);
                    VisionTransformer vit(readStateDict(kVitData + name + ".pth"), chunked);
                    const FeatureMap features = vit.features(image, height, width);
                    const float difference = maxAbsDifference(features, expected.values);
                    qInfo("%s %dx%d, %d thread(s), %zu query rows at a time: %.3g from whole",
                          name.c_str(), height, width, threads, rows, double(difference));
                    QVERIFY(difference <= 1e-6f);
                }
            }
            at::set_num_threads(previousThreads);
        }
    }

    // The attention's softmax kernel: its exponential within 2 ULP of the exact value
    // on [-87.3, 0] (the range x - max lives in), 0 below; whole rows within a few ULP
    // of a softmax in double, on lengths that hit the 16- and 8-lane loops and the tail;
    // with AVX-512F, its 16-lane rows the same bit for bit as the 8-lane ones.
    void softmaxKernelIsAccurate()
    {
        if (!primaps::detail::softmaxRowsVectorised())
            QSKIP("no AVX2 and FMA: LibTorch's softmax runs");
        auto ulps = [](float a, float b) {
            std::int32_t ia, ib;
            std::memcpy(&ia, &a, sizeof a);
            std::memcpy(&ib, &b, sizeof b);
            return std::abs(ia - ib);
        };
        int worst = 0;
        for (float x = -87.3f; x <= 0.0f; x = std::nextafter(x + 1e-4f * std::abs(x), 1.0f)) {
            const float exact = float(std::exp(double(x)));
            worst = std::max(worst, ulps(primaps::detail::softmaxExp(x), exact));
        }
        qInfo("exponential: at most %d ULP from exp()", worst);
        QVERIFY(worst <= 2);
        QCOMPARE(primaps::detail::softmaxExp(-90.0f), 0.0f);
        QCOMPARE(primaps::detail::softmaxExp(0.0f), 1.0f);

        std::mt19937 rng(3);
        std::normal_distribution<float> normal(0.0f, 1.0f);
        for (const int cols : {1, 7, 8, 9, 15, 16, 17, 23, 24, 31, 32, 33, 40, 1601}) {
            const int rows = 5, stride = cols + 3; // a gap between rows stays untouched
            std::vector<float> values(std::size_t(rows) * stride, 42.0f);
            for (int r = 0; r < rows; ++r)
                for (int i = 0; i < cols; ++i)
                    values[std::size_t(r) * stride + i] = normal(rng) * float(4 * r + 1);
            const std::vector<float> input = values;
            primaps::detail::softmaxRows(values.data(), rows, cols, stride);
            // 16 lanes (AVX-512F) and 8: the same numbers bit for bit.
            std::vector<float> narrow = input;
            primaps::detail::softmaxRows(narrow.data(), rows, cols, stride,
                                         /*allowAvx512=*/false);
            QVERIFY2(std::memcmp(narrow.data(), values.data(), values.size() * sizeof(float)) == 0,
                     qPrintable(QString("%1 columns: 16 and 8 lanes differ").arg(cols)));
            for (int r = 0; r < rows; ++r) {
                const float* in = input.data() + std::size_t(r) * stride;
                const float* out = values.data() + std::size_t(r) * stride;
                // x - max is a float subtraction in every softmax (LibTorch's too).
                const float top = *std::max_element(in, in + cols);
                double total = 0;
                for (int i = 0; i < cols; ++i)
                    total += std::exp(double(in[i] - top));
                for (int i = 0; i < cols; ++i) {
                    const double exact = std::exp(double(in[i] - top)) / total;
                    QVERIFY2(std::abs(out[i] - exact) <= 1e-6 * exact + 1e-37,
                             qPrintable(QString("%1 columns, row %2, column %3: %4 vs %5")
                                            .arg(cols).arg(r).arg(i).arg(double(out[i])).arg(exact)));
                }
                for (int i = cols; i < stride; ++i)
                    QCOMPARE(out[i], 42.0f);
            }
        }
    }

    // The features with the kernel's softmax and with LibTorch's: the same within 1e-6,
    // both within the reference tolerance (the test above checks the default).
    void vectorSoftmaxMatchesLibTorchSoftmax()
    {
        for (const auto& [name, height, width] :
             {std::tuple<std::string, int, int>{"dino_tiny", 48, 48}, {"dinov2_tiny", 70, 70}}) {
            const std::vector<float> image =
                imagenetNormalize(testing::patternedImage(height, width));
            VitOptions libtorch = tinyOptions();
            libtorch.vectorSoftmax = false;
            const FeatureMap expected = VisionTransformer(readStateDict(kVitData + name + ".pth"),
                                                          libtorch)
                                            .features(image, height, width);
            const FeatureMap features = VisionTransformer(readStateDict(kVitData + name + ".pth"),
                                                          tinyOptions())
                                            .features(image, height, width);
            const NpyArray reference = readNpy(kVitData + name + "_" + std::to_string(height) +
                                               "x" + std::to_string(width) + ".npy");
            const float fromLibTorch = maxAbsDifference(features, expected.values);
            const float error = maxAbsDifference(features, reference.toFloat32());
            qInfo("%s %dx%d: %.3g from LibTorch's softmax, max abs error %.3g", name.c_str(),
                  height, width, double(fromLibTorch), double(error));
            QVERIFY(fromLibTorch <= 1e-6f);
            QVERIFY(error <= 1e-4f);
        }
    }

    // The attention kernels against sums in double, with strided inputs and outputs
    // (the gaps after each output row stay untouched), on key counts that hit the full
    // panels of 32 and the zero-padded last one, and row counts that hit the full
    // register tiles (12 rows for q.k^T, 6 for attn.v) and every shorter tail. Each value
    // is within the rounding bound of its ordered FMA sum, (terms + 1) 2^-24 sum |terms|,
    // and within twice that of LibTorch's (BLAS) product.
    void attentionKernelsMatchSumsInDouble()
    {
        if (!primaps::detail::attentionKernelsAvailable())
            QSKIP("no AVX-512F: the BLAS computes the attention's products");
        const double u = std::ldexp(1.0, -24);
        std::mt19937 rng(5);
        std::normal_distribution<float> normal(0.0f, 1.0f);
        double worstLogits = 0, worstValues = 0;
        for (const int n : {1, 5, 31, 32, 33, 70, 1601}) {
            for (const int rows : {1, 5, 6, 7, 12, 13, 31}) {
                const int ld = 3 * 64 + 5; // q, k, v side by side, as in the qkv buffer
                std::vector<float> qkv(std::size_t(std::max(n, rows)) * ld);
                for (float& value : qkv)
                    value = normal(rng) * 2.0f;
                const float* q = qkv.data();
                const float* k = qkv.data() + 64;
                const float* v = qkv.data() + 128;
                std::vector<float> keys(std::size_t(primaps::detail::packedKeysSize(n)), 0.0f);
                // In two ranges, as two row threads do.
                primaps::detail::packKeys(k, ld, 0, n / 3, keys.data());
                primaps::detail::packKeys(k, ld, n / 3, n - n / 3, keys.data());
                const int ldl = n + 3;
                std::vector<float> logits(std::size_t(rows) * ldl, 42.0f);
                std::vector<float> maxima(static_cast<std::size_t>(rows));
                primaps::detail::attentionLogits(q, ld, keys.data(), n, rows, 0.125f,
                                                 logits.data(), ldl, maxima.data());
                std::vector<float> unfused(logits.size(), 42.0f);
                primaps::detail::attentionLogits(q, ld, keys.data(), n, rows, 0.125f,
                                                 unfused.data(), ldl);
                QCOMPARE(unfused, logits);
                for (int r = 0; r < rows; ++r)
                    QCOMPARE(maxima[std::size_t(r)],
                             *std::max_element(logits.begin() + std::ptrdiff_t(r) * ldl,
                                               logits.begin() + std::ptrdiff_t(r) * ldl + n));
                at::Tensor all = at::from_blob(qkv.data(), {std::max(n, rows), ld},
                                               at::TensorOptions().dtype(at::kFloat));
                at::Tensor blas = at::empty({rows, n});
                at::addmm_out(blas, blas, all.narrow(0, 0, rows).narrow(1, 0, 64),
                              all.narrow(0, 0, n).narrow(1, 64, 64).t(), 0.0, 0.125);
                for (int r = 0; r < rows; ++r) {
                    for (int j = 0; j < n; ++j) {
                        double exact = 0, magnitude = 0;
                        for (int d = 0; d < 64; ++d) {
                            exact += double(q[r * ld + d]) * k[j * ld + d];
                            magnitude += std::abs(double(q[r * ld + d]) * k[j * ld + d]);
                        }
                        const double bound = 65 * u * 0.125 * magnitude + 1e-30;
                        const float out = logits[std::size_t(r) * ldl + j];
                        worstLogits = std::max(worstLogits, std::abs(out - 0.125 * exact) / bound);
                        QVERIFY2(std::abs(out - 0.125 * exact) <= bound &&
                                     std::abs(out - blas[r][j].item<float>()) <= 2 * bound,
                                 qPrintable(QString("logits, %1 keys, %2 rows: [%3][%4] %5 vs %6")
                                                .arg(n).arg(rows).arg(r).arg(j)
                                                .arg(double(out)).arg(0.125 * exact)));
                    }
                    for (int j = n; j < ldl; ++j)
                        QCOMPARE(logits[std::size_t(r) * ldl + j], 42.0f);
                }

                // The fused softmax (exponentials, then attn.v divided by their sums) on a
                // copy: the same exponentials and sums as softmaxRows() before its scaling.
                std::vector<float> exponentials = logits, sums(static_cast<std::size_t>(rows));
                if (primaps::detail::softmaxRowsWide())
                    primaps::detail::expRows(exponentials.data(), rows, n, ldl, maxima.data(),
                                             sums.data());
                // attn.v on probabilities (a softmax of the logits, as in the ViT).
                primaps::detail::softmaxRows(logits.data(), rows, n, ldl);
                if (primaps::detail::softmaxRowsWide()) {
                    std::vector<float> scales(static_cast<std::size_t>(rows));
                    for (int r = 0; r < rows; ++r) {
                        const float inverse = 1.0f / sums[std::size_t(r)];
                        scales[std::size_t(r)] = inverse;
                        for (int j = 0; j < n; ++j)
                            QCOMPARE(exponentials[std::size_t(r) * ldl + j] * inverse,
                                     logits[std::size_t(r) * ldl + j]);
                    }
                    std::vector<float> fused(static_cast<std::size_t>(rows) * 64);
                    primaps::detail::attentionValues(exponentials.data(), ldl, v, ld, n, rows,
                                                     fused.data(), 64, scales.data());
                    for (int r = 0; r < rows; ++r)
                        for (int c = 0; c < 64; ++c) {
                            double exact = 0, magnitude = 0;
                            for (int j = 0; j < n; ++j) {
                                const double term =
                                    double(logits[std::size_t(r) * ldl + j]) * v[j * ld + c];
                                exact += term;
                                magnitude += std::abs(term);
                            }
                            // One more rounding (the scaling) on top of the unfused sum's,
                            // which sums the rounded probabilities.
                            QVERIFY(std::abs(fused[std::size_t(r) * 64 + c] - exact) <=
                                    (n + 3) * u * magnitude + 1e-30);
                        }
                }
                const int ldo = 64 + 7;
                std::vector<float> out(std::size_t(rows) * ldo, 42.0f);
                primaps::detail::attentionValues(logits.data(), ldl, v, ld, n, rows, out.data(),
                                                 ldo);
                at::Tensor p = at::from_blob(logits.data(), {rows, n}, {ldl, 1},
                                             at::TensorOptions().dtype(at::kFloat));
                const at::Tensor blasOut = at::mm(p, all.narrow(0, 0, n).narrow(1, 128, 64));
                for (int r = 0; r < rows; ++r) {
                    for (int c = 0; c < 64; ++c) {
                        double exact = 0, magnitude = 0;
                        for (int j = 0; j < n; ++j) {
                            exact += double(logits[std::size_t(r) * ldl + j]) * v[j * ld + c];
                            magnitude +=
                                std::abs(double(logits[std::size_t(r) * ldl + j]) * v[j * ld + c]);
                        }
                        const double bound = (n + 1) * u * magnitude + 1e-30;
                        const float value = out[std::size_t(r) * ldo + c];
                        worstValues = std::max(worstValues, std::abs(value - exact) / bound);
                        QVERIFY2(std::abs(value - exact) <= bound &&
                                     std::abs(value - blasOut[r][c].item<float>()) <= 2 * bound,
                                 qPrintable(QString("attn.v, %1 keys, %2 rows: [%3][%4] %5 vs %6")
                                                .arg(n).arg(rows).arg(r).arg(c)
                                                .arg(double(value)).arg(exact)));
                    }
                    for (int c = 64; c < ldo; ++c)
                        QCOMPARE(out[std::size_t(r) * ldo + c], 42.0f);
                }
            }
        }
        qInfo("worst error over its rounding bound: q.k^T %.3g, attn.v %.3g", worstLogits,
              worstValues);
    }

    // A ViT with the released models' 64-d heads, with the attention kernels (and the
    // softmax fused into them) and with the BLAS: the same features within 1e-6 of the
    // largest for both families (DINO scales the logits, DINOv2 the queries), on token
    // counts with a partial key panel and one (651) above OpenBLAS's blocking of the
    // inner dimension. Three row threads give the single thread's numbers bit for bit,
    // as do 5 query rows at a time instead of 48.
    void vectorAttentionMatchesBlas()
    {
        if (!primaps::detail::attentionKernelsAvailable())
            QSKIP("no AVX-512F: the BLAS computes the attention's products");
        const int previousThreads = at::get_num_threads();
        for (const bool dinov2 : {false, true}) {
            const StateDict weights = randomVitWith64dHeads(dinov2);
            for (const auto& [height, width] : {std::pair<int, int>{64, 56}, {40, 104}, {200, 208}}) {
                const std::vector<float> image =
                    imagenetNormalize(testing::patternedImage(height, width));
                at::set_num_threads(1);
                VitOptions blasOptions;
                blasOptions.vectorAttention = false;
                const FeatureMap expected =
                    VisionTransformer(weights, blasOptions).features(image, height, width);
                const FeatureMap serial =
                    VisionTransformer(weights, VitOptions()).features(image, height, width);
                // A logits buffer of 5 query rows (instead of the kernels' 48): the same.
                VitOptions chunked;
                chunked.attentionChunkBytes =
                    5 * (std::size_t(height / 8) * std::size_t(width / 8) + 1) * sizeof(float);
                QCOMPARE(VisionTransformer(weights, chunked).features(image, height, width).values,
                         serial.values);
                at::set_num_threads(3);
                VitOptions rowOptions;
                rowOptions.threading = VitThreading::RowParallel;
                const FeatureMap parallel =
                    VisionTransformer(weights, rowOptions).features(image, height, width);
                at::set_num_threads(previousThreads);
                float largest = 0.0f;
                for (const float value : expected.values)
                    largest = std::max(largest, std::abs(value));
                const float difference = maxAbsDifference(serial, expected.values);
                qInfo("%s %dx%d: %.3g from the BLAS's products (features up to %.3g)",
                      dinov2 ? "DINOv2" : "DINO", height, width, double(difference),
                      double(largest));
                QVERIFY(largest > 0.5f);
                // 1e-6 of the largest feature: a few roundings of it (these features reach
                // 4.7, where a float's step is 4.8e-7).
                QVERIFY(difference <= 1e-6f * std::max(1.0f, largest));
                QCOMPARE(parallel.values, serial.values);
            }
        }
    }

    void detectsArchitecture()
    {
        const VitConfig dino =
            detectVitConfig(readStateDict(kVitData + "dino_tiny.pth"), tinyOptions());
        QCOMPARE(dino.family, VitFamily::Dino);
        QCOMPARE(dino.patchSize, 8);
        QCOMPARE(dino.embedDim, 16);
        QCOMPARE(dino.depth, 2);
        QCOMPARE(dino.numHeads, 2);
        QCOMPARE(dino.mlpHidden, 64);
        QCOMPARE(dino.posGrid, 4);
        QVERIFY(!dino.layerScale);
        QCOMPARE(dino.registryName(), std::string()); // not a catalogued size
        QCOMPARE(dino.description(), std::string("DINO ViT-custom/8 (16-d, 2 blocks, 2 heads)"));

        const VitConfig v2 =
            detectVitConfig(readStateDict(kVitData + "dinov2_tiny.pth"), tinyOptions());
        QCOMPARE(v2.family, VitFamily::Dinov2);
        QCOMPARE(v2.patchSize, 14);
        QCOMPARE(v2.posGrid, 5);
        QVERIFY(v2.layerScale);

        // The catalogued architectures map to their registry names.
        VitConfig c;
        c.family = VitFamily::Dino;
        c.patchSize = 8;
        c.embedDim = 384;
        c.depth = 12;
        c.numHeads = 6;
        c.mlpHidden = 1536;
        QCOMPARE(c.registryName(), std::string("dino_vits8"));
        c.embedDim = 768, c.numHeads = 12, c.mlpHidden = 3072, c.patchSize = 16;
        QCOMPARE(c.registryName(), std::string("dino_vitb16"));
        c.family = VitFamily::Dinov2, c.layerScale = true, c.patchSize = 14;
        QCOMPARE(c.registryName(), std::string("dinov2_vitb14"));
        QCOMPARE(c.description(), std::string("DINOv2 ViT-B/14 (768-d, 12 blocks, 12 heads)"));
        c.patchSize = 16;
        QCOMPARE(c.registryName(), std::string());
    }

    void loadsChunkedDinov2Blocks()
    {
        // DINOv2 training checkpoints (block_chunks > 0) name blocks blocks.<chunk>.<i>.
        const std::string path = kVitData + "dinov2_tiny.pth";
        const StateDict chunked = edited(path, [](auto& entries) {
            for (auto& entry : entries) {
                if (entry.first.rfind("blocks.0.", 0) == 0)
                    entry.first = "blocks.0.0." + entry.first.substr(9);
                else if (entry.first.rfind("blocks.1.", 0) == 0)
                    entry.first = "blocks.1.1." + entry.first.substr(9);
            }
        });
        QVERIFY(chunked.contains("blocks.1.1.ls2.gamma"));
        VisionTransformer a(chunked, tinyOptions());
        VisionTransformer b(readStateDict(path), tinyOptions());
        const std::vector<float> image = imagenetNormalize(testing::patternedImage(42, 98));
        QCOMPARE(a.features(image, 42, 98).values, b.features(image, 42, 98).values);
    }

    void refusesWrongWeights()
    {
        const std::string path = kVitData + "dino_tiny.pth";
        auto without = [&](const std::string& key) {
            return edited(path, [&](auto& entries) {
                entries.erase(std::remove_if(entries.begin(), entries.end(),
                                             [&](const auto& e) { return e.first == key; }),
                              entries.end());
            });
        };
        auto with = [&](const std::string& key, at::Tensor tensor) {
            return edited(path, [&](auto& entries) {
                bool replaced = false;
                for (auto& e : entries)
                    if (e.first == key)
                        e.second = tensor, replaced = true;
                if (!replaced)
                    entries.emplace_back(key, tensor);
            });
        };

        EXPECT_ERROR_CONTAINING(VisionTransformer(without("blocks.1.mlp.fc2.bias"), tinyOptions()),
                                std::string("missing key 'blocks.1.mlp.fc2.bias'"));
        EXPECT_ERROR_CONTAINING(VisionTransformer(without("pos_embed"), tinyOptions()),
                                std::string("missing key 'pos_embed'"));
        EXPECT_ERROR_CONTAINING(VisionTransformer(without("blocks.0.norm1.weight"), tinyOptions()),
                                std::string("missing key 'blocks.0.norm1.weight'"));
        EXPECT_ERROR_CONTAINING(
            VisionTransformer(with("blocks.0.attn.qkv.weight", at::zeros({48, 15})), tinyOptions()),
            std::string("'blocks.0.attn.qkv.weight' has shape [48, 15], expected [48, 16]"));
        EXPECT_ERROR_CONTAINING(
            VisionTransformer(with("blocks.0.attn.q_norm.weight", at::zeros({16})), tinyOptions()),
            std::string("unexpected key 'blocks.0.attn.q_norm.weight'"));
        EXPECT_ERROR_CONTAINING(
            VisionTransformer(with("register_tokens", at::zeros({1, 4, 16})), tinyOptions()),
            std::string("register tokens"));
        EXPECT_ERROR_CONTAINING(
            VisionTransformer(with("pos_embed", at::zeros({1, 16, 16})), tinyOptions()),
            std::string("pos_embed has shape [1, 16, 16]"));
        EXPECT_ERROR_CONTAINING(
            VisionTransformer(with("blocks.3.norm1.weight", at::zeros({16})), tinyOptions()),
            std::string("block 2 of 4 is missing"));
        // Heads cannot be inferred for 16-d tokens; released models all have 64-d heads.
        EXPECT_ERROR_CONTAINING(VisionTransformer(readStateDict(path)),
                                std::string("cannot infer the number of attention heads"));
        // Some other network altogether.
        EXPECT_ERROR_CONTAINING(
            VisionTransformer(readStateDict(PRIMAPS_TEST_DATA_DIR "/checkpoint/ordered.pth")),
            std::string("not a DINO/DINOv2 ViT backbone"));
        // A head from a full training checkpoint is ignored, not an error.
        VisionTransformer headed(with("head.last_layer.weight_g", at::ones({3, 1})), tinyOptions());
        QCOMPARE(headed.config().embedDim, 16);
        // Bad image sizes.
        VisionTransformer vit(readStateDict(path), tinyOptions());
        EXPECT_ERROR_CONTAINING(vit.features(std::vector<float>(3 * 30 * 32), 30, 32),
                                std::string("multiples of the patch size 8"));
        EXPECT_ERROR_CONTAINING(vit.features(std::vector<float>(5), 32, 32),
                                std::string("expected 3 x 32 x 32 values"));
    }

    void countsFlops()
    {
        VisionTransformer vit(readStateDict(kVitData + "dino_tiny.pth"), tinyOptions());
        // 16 patches + CLS, 16-d, 64 hidden, 2 blocks, 8x8 patches.
        const double n = 17, d = 16;
        const double block =
            2 * n * 48 * d + 2 * 2 * n * n * d + 2 * n * d * d + 2 * 2 * n * 64 * d;
        QCOMPARE(vit.flops(32, 32), 2 * 16 * d * 192 + 2 * block);
    }

    // ---- catalogue and registry ----

    void catalogueListsTheSixBackbones()
    {
        const std::vector<ModelInfo>& models = modelCatalog();
        QCOMPARE(models.size(), std::size_t(6));
        const std::vector<std::string> names = {"dino_vits8",  "dino_vitb8",    "dino_vits16",
                                                "dino_vitb16", "dinov2_vits14", "dinov2_vitb14"};
        for (const std::string& name : names) {
            const ModelInfo* m = findModel(name);
            QVERIFY2(m, name.c_str());
            QVERIFY(m->url.rfind("https://dl.fbaipublicfiles.com/dino", 0) == 0);
            QVERIFY(m->url.size() > m->fileName.size() &&
                    m->url.compare(m->url.size() - m->fileName.size(), std::string::npos,
                                   m->fileName) == 0);
            QCOMPARE(m->resize, m->patchSize == 14 ? 322 : 320);
            QCOMPARE(m->heads * 64, m->dim);
            QVERIFY(m->plausibleSize(m->expectedSize));
            QVERIFY(!m->plausibleSize(m->expectedSize / 2));
            // About 4 bytes per parameter plus a little container overhead.
            QVERIFY(m->expectedSize > 4 * m->parameters &&
                    m->expectedSize < 4 * m->parameters + 200000);
        }
        QCOMPARE(findModel("dino_vits8")->fileName, std::string("dino_deitsmall8_pretrain.pth"));
        QVERIFY(!findModel("filterbank"));

        const std::vector<std::string> available = availableBackbones();
        QCOMPARE(available.front(), std::string("filterbank"));
        for (const std::string& name : names)
            QVERIFY(std::find(available.begin(), available.end(), name) != available.end());
        QCOMPARE(available.back(), std::string("torchscript"));

        EXPECT_ERROR_CONTAINING(parseModelCatalog("{", "x.json"), std::string("not valid JSON"));
        EXPECT_ERROR_CONTAINING(parseModelCatalog(R"({"models": [{"name": "a"}]})", "x.json"),
                                std::string("entry 'a' is malformed"));
        const std::string entry = R"({"models": [{"name": "a", "family": "dino", )"
                                  R"("architecture": "vit_small", "patch_size": 8, "dim": 384, )"
                                  R"("url": "https://example.org/a.pth", )";
        EXPECT_ERROR_CONTAINING(parseModelCatalog(entry + R"("threshold": 1e300}]})", "x.json"),
                                std::string("entry 'a' is malformed (field 'threshold' is not a "
                                            "number in (0, 1])"));
        EXPECT_ERROR_CONTAINING(
            parseModelCatalog(entry + R"("size_tolerance": "1%"}]})", "x.json"),
            std::string("entry 'a' is malformed (field 'size_tolerance' is not a number in [0, 1])"));
        QCOMPARE(parseModelCatalog(entry + R"("threshold": 0.3}]})", "x.json").at(0).threshold,
                 0.3f);
    }

    void findsWeightsOrSaysWhereToGetThem()
    {
        const QByteArray models = dir.filePath("models").toUtf8();
        QDir().mkpath(QString::fromUtf8(models));
        qputenv("PRIMAPS_MODELS_DIR", models);
        qputenv("XDG_DATA_HOME", dir.filePath("data").toUtf8());
        qputenv("TORCH_HOME", dir.filePath("torch").toUtf8());

        const std::vector<std::string> dirs = modelSearchDirectories();
        QCOMPARE(dirs.size(), std::size_t(3));
        QCOMPARE(dirs[0], models.toStdString());
        QCOMPARE(dirs[1], dir.filePath("data").toStdString() + "/PriMaPs/PriMaPs Studio/models");
        QCOMPARE(dirs[2], dir.filePath("torch").toStdString() + "/hub/checkpoints");

        // Nothing there: the error gives the official address and the option.
        BackboneOptions none;
        const std::string message = testing::errorOf([&] { createBackbone("dino_vits8", none); });
        QVERIFY2(message.find("https://dl.fbaipublicfiles.com/dino/dino_deitsmall8_pretrain/"
                              "dino_deitsmall8_pretrain.pth") != std::string::npos,
                 message.c_str());
        QVERIFY2(message.find("--weights") != std::string::npos, message.c_str());
        QVERIFY2(message.find(models.toStdString()) != std::string::npos, message.c_str());

        BackboneOptions missing;
        missing.weightsPath = dir.filePath("nope.pth").toStdString();
        EXPECT_ERROR_CONTAINING(createBackbone("dinov2_vitb14", missing),
                                std::string("does not exist"));
        EXPECT_ERROR_CONTAINING(createBackbone("torchscript", none), std::string("--weights"));

        // A file with the catalogued name in a search folder is found; this one holds the
        // tiny ViT, so loading then names what it really is.
        const std::string target = models.toStdString() + "/dino_deitsmall8_pretrain.pth";
        QVERIFY(QFile::copy(QString::fromStdString(kVitData + "dino_tiny.pth"),
                            QString::fromStdString(target)));
        QCOMPARE(findModelFile(*findModel("dino_vits8")), target);
        QCOMPARE(resolveModelWeights("dino_vits8", ""), target);
        const std::string wrong = testing::errorOf([&] { createBackbone("dino_vits8", none); });
        QVERIFY2(wrong.find(target) != std::string::npos, wrong.c_str());
        QVERIFY2(wrong.find("holds a DINO ViT with 16-d tokens, 2 blocks and 8x8 patches, not "
                            "dino_vits8 (DINO ViT-S/8: 384-d, 12 blocks, 8x8 patches)") !=
                     std::string::npos,
                 wrong.c_str());
        qunsetenv("PRIMAPS_MODELS_DIR");
    }
};

QTEST_GUILESS_MAIN(TestVit)
#include "tst_vit.moc"
