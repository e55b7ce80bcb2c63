// SPDX-License-Identifier: MIT
// Potsdam-3's MATLAB files: readMatVariable() on "img" and "gt" (matio underneath)
// and Dataset::load(), which splits, converts and maps them.
//
// Input: the .mat file; it is used as the image and as the ground truth of one item.
#include "dataset/dataset.h"
#include "support/error.h"
#include "fuzz_support.h"

#include <cstdint>

using namespace primaps;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    static const bool listed = [] {
        fuzz::writeScratch("potsdam/labelled_train.txt", "x\n");
        return true;
    }();
    (void)listed;
    const std::string image = fuzz::writeScratch("potsdam/imgs/x.mat", bytes);
    fuzz::writeScratch("potsdam/gt/x.mat", bytes);
    for (const char* variable : {"img", "gt"}) {
        try {
            (void)readMatVariable(image, variable);
        } catch (const Error& e) {
            fuzz::rejected(e);
        }
    }
    DatasetOptions options;
    options.kind = DatasetKind::Potsdam3;
    options.root = fuzz::scratchDir() + "/potsdam";
    options.split = "train";
    try {
        (void)Dataset::open(options).load(0);
    } catch (const Error& e) {
        fuzz::rejected(e);
    }
    return 0;
}
