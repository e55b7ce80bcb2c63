// SPDX-License-Identifier: MIT
// The TorchScript backbone: modules defined and saved by the test itself, the tiny DINO
// ViT exported by models/export_torchscript.py (tests/data/vit), and contract violations.
// LibTorch first: Qt's `slots` keyword macro breaks torch/script.h.
// clang-format off
#include <torch/script.h>
// clang-format on

#include "support/error.h"
#include "support/npy.h"
#include "image/preprocess.h"
#include "backbones/torchscriptbackbone.h"

#include <ATen/ATen.h>
#include <cmath>
#include <fstream>
#include <opencv2/core.hpp>
#include <QTemporaryDir>
#include "testsupport.h" // after LibTorch: Qt's `slots` macro breaks its headers
#include <QtTest>

using namespace primaps;

namespace {

const std::string kVitData = PRIMAPS_TEST_DATA_DIR "/vit/";

} // namespace

class TestTorchScript : public QObject
{
    Q_OBJECT

    QTemporaryDir dir;

    /// Saves a module with a 5 x 3 x k x k convolution weight and the given forward().
    std::string saveModule(const char* name, const std::string& forward, int kernel = 8,
                           int declaredPatch = 0)
    {
        torch::jit::Module module(name);
        at::manual_seed(7);
        module.register_parameter("weight", at::randn({5, 3, kernel, kernel}), false);
        if (declaredPatch > 0)
            module.register_attribute("patch_size", c10::IntType::get(), declaredPatch);
        module.define(forward);
        const std::string path = dir.filePath(QString(name) + ".pt").toStdString();
        module.save(path);
        return path;
    }

private slots:
    void runsADefinedModule()
    {
        const std::string path = saveModule("conv8", R"(
def forward(self, x):
    return torch.conv2d(x, self.weight, None, [8, 8])
)",
                                            8, 8);
        TorchScriptBackbone backbone(path);
        QCOMPARE(backbone.name(), std::string("torchscript"));
        QCOMPARE(backbone.patchSize(), 8);
        QCOMPARE(backbone.dim(), 5);
        QCOMPARE(backbone.recommendedResize(), 320);
        QCOMPARE(backbone.recommendedThreshold(), 0.4f);

        const cv::Mat rgb = testing::patternedImage(24, 40);
        const FeatureMap features = backbone.extract(rgb);
        QCOMPARE(features.channels, 5);
        QCOMPARE(features.height, 3);
        QCOMPARE(features.width, 5);
        // The same convolution computed here.
        std::vector<float> normalized = imagenetNormalize(rgb);
        at::manual_seed(7);
        const at::Tensor weight = at::randn({5, 3, 8, 8});
        const at::Tensor expected =
            at::conv2d(at::from_blob(normalized.data(), {1, 3, 24, 40}), weight, {}, {8, 8})[0]
                .contiguous();
        const float* e = expected.data_ptr<float>();
        for (std::size_t i = 0; i < features.values.size(); ++i)
            QVERIFY(std::fabs(features.values[i] - e[i]) < 1e-5f);
    }

    void infersThePatchSize()
    {
        const std::string path = saveModule("conv16", R"(
def forward(self, x):
    return torch.conv2d(x, self.weight, None, [16, 16])
)",
                                            16);
        TorchScriptBackbone backbone(path);
        QCOMPARE(backbone.patchSize(), 16);
        QCOMPARE(backbone.extract(testing::patternedImage(32, 48)).width, 3);
    }

    void refusesContractViolations()
    {
        // Rank 3 (tokens instead of a grid).
        const std::string rank3 = saveModule("rank3", R"(
def forward(self, x):
    return torch.conv2d(x, self.weight, None, [8, 8]).flatten(2)
)");
        const std::string message = testing::errorOf([&] { TorchScriptBackbone b(rank3); });
        QVERIFY2(message.find("shape [1, 5, 784]") != std::string::npos, message.c_str());
        QVERIFY2(message.find("1 x C x h x w") != std::string::npos, message.c_str());
        QVERIFY2(message.find("rank3.pt") != std::string::npos, message.c_str());

        const std::string tuple = saveModule("tuple", R"(
def forward(self, x):
    return (x, x)
)");
        EXPECT_ERROR_CONTAINING(TorchScriptBackbone(tuple), std::string("returns a Tuple"));

        const std::string nonGrid = saveModule("nongrid", R"(
def forward(self, x):
    return x[:, :, 0:3, 0:5]
)");
        EXPECT_ERROR_CONTAINING(TorchScriptBackbone(nonGrid), std::string("no patch grid"));

        const std::string declared = saveModule("declared", R"(
def forward(self, x):
    return torch.conv2d(x, self.weight, None, [8, 8])
)",
                                                8, 14);
        EXPECT_ERROR_CONTAINING(TorchScriptBackbone(declared),
                                std::string("declares patch_size 14"));

        const std::string throws = saveModule("throws", R"(
def forward(self, x):
    return torch.conv2d(x, self.weight, None, [8, 8]).view(7, -1, 3, 3)
)");
        EXPECT_ERROR_CONTAINING(TorchScriptBackbone(throws), std::string("forward() failed"));

        // Passes the probe (224 -> 28 x 28) but ignores the image size.
        const std::string fixed = saveModule("fixed", R"(
def forward(self, x):
    return torch.zeros([1, 5, 28, 28])
)");
        TorchScriptBackbone backbone(fixed);
        EXPECT_ERROR_CONTAINING(backbone.extract(testing::patternedImage(32, 32)),
                                std::string("returns [1, 5, 28, 28] for a [1, 3, 32, 32] input; "
                                            "expected [1, 5, 4, 4]"));
        EXPECT_ERROR_CONTAINING(backbone.extract(testing::patternedImage(30, 32)),
                                std::string("multiples of 8"));
    }

    void refusesOtherFiles()
    {
        EXPECT_ERROR_CONTAINING(TorchScriptBackbone(""), std::string("--weights"));
        EXPECT_ERROR_CONTAINING(TorchScriptBackbone(dir.filePath("absent.pt").toStdString()),
                                std::string("cannot open"));
        EXPECT_ERROR_CONTAINING(TorchScriptBackbone(kVitData + "dino_tiny.pth"),
                                std::string("a state dict (torch.save), not a TorchScript module"));
        const std::string text = dir.filePath("text.pt").toStdString();
        std::ofstream(text) << "not a module";
        EXPECT_ERROR_CONTAINING(TorchScriptBackbone(text),
                                std::string("not a loadable TorchScript module"));
    }
};

QTEST_GUILESS_MAIN(TestTorchScript)
#include "tst_torchscript.moc"
