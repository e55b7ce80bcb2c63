// SPDX-License-Identifier: MIT
// An image as `decompose` and the studio take it: loadImageRgb8() (OpenCV's decoders,
// EXIF orientation, 16-bit and float scaling), prepareImage() with every fit mode,
// imagenetNormalize() and labelsToOriginal().
//
// Input: two parameter bytes (shorter side, patch size and fit mode), then the file.
#include "support/error.h"
#include "fuzz_support.h"
#include "image/imageio.h"
#include "image/preprocess.h"

#include <cstdint>

using namespace primaps;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 2)
        return 0;
    PreprocessParams params;
    params.shorterSide = data[0] % 4 == 0 ? 0 : 8 + data[0] / 2; // 0 keeps the size
    static const int patches[] = {8, 14, 16, 1};
    params.patchSize = patches[data[1] & 3];
    params.fit = FitMode((data[1] >> 2) % 3);
    const std::string path =
        fuzz::writeScratch("image", {reinterpret_cast<const char*>(data + 2), size - 2});
    try {
        const cv::Mat rgb = loadImageRgb8(path);
        // Until the pixel budget lands in preprocess, keep the resize this harness asks
        // for bounded, so the fuzzer explores decoders instead of allocating for minutes.
        const double scale = params.shorterSide > 0
                                 ? double(params.shorterSide) / std::min(rgb.rows, rgb.cols)
                                 : 1.0;
        if (double(rgb.rows) * rgb.cols * scale * scale > 16.0 * 1024 * 1024)
            return 0;
        const PreparedImage prepared = prepareImage(rgb, params);
        (void)imagenetNormalize(prepared.rgb);
        const cv::Mat labels(prepared.rgb.size(), CV_8UC1, cv::Scalar(1));
        (void)labelsToOriginal(labels, prepared, 255);
    } catch (const Error& e) {
        fuzz::rejected(e);
    }
    return 0;
}
