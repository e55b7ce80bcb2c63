// SPDX-License-Identifier: MIT
// A folder dataset's label PNG through Dataset::open() and load() (decoding, the
// single-channel check, the size check against its image, the class mapping) and
// prepareLabels() for the evaluation crop.
//
// Input: one byte for the class count and the resize, then the label file. The image
// beside it is written here at the label's size, so the mapping is reached.
#include "dataset/dataset.h"
#include "support/error.h"
#include "fuzz_support.h"
#include "image/preprocess.h"

#include <opencv2/imgcodecs.hpp>

#include <cstdint>
#include <vector>

using namespace primaps;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 1)
        return 0;
    const std::string_view label(reinterpret_cast<const char*>(data + 1), size - 1);
    const std::string root = fuzz::scratchDir() + "/dataset";
    fuzz::writeScratch("dataset/labels/a.png", label);

    // The image: the label's size when it decodes (bounded), else 3 x 2.
    cv::Size imageSize(3, 2);
    try {
        const std::vector<std::uint8_t> bytes(label.begin(), label.end());
        const cv::Mat decoded = cv::imdecode(bytes, cv::IMREAD_UNCHANGED);
        if (!decoded.empty() && decoded.total() <= 1u << 20)
            imageSize = decoded.size();
    } catch (const cv::Exception&) {
    }
    static cv::Size written;
    if (imageSize != written) {
        std::vector<std::uint8_t> png;
        cv::imencode(".png", cv::Mat(imageSize, CV_8UC3, cv::Scalar(10, 20, 30)), png);
        fuzz::writeScratch("dataset/images/a.png",
                           {reinterpret_cast<const char*>(png.data()), png.size()});
        written = imageSize;
    }

    DatasetOptions options;
    options.kind = DatasetKind::Folder;
    options.root = root;
    options.classes = 1 + data[0] % 32;
    try {
        const Dataset dataset = Dataset::open(options);
        const DatasetSample sample = dataset.load(0);
        if (!sample.labels.empty()) {
            PreprocessParams params;
            params.shorterSide = 16 + data[0] % 24;
            params.fit = FitMode::CenterCropSquare;
            const PreparedImage prepared = prepareImage(sample.rgb, params);
            (void)prepareLabels(sample.labels, prepared);
        }
    } catch (const Error& e) {
        fuzz::rejected(e);
    }
    return 0;
}
