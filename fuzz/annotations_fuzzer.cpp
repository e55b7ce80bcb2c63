// SPDX-License-Identifier: MIT
// Corrected annotations as `primaps import` reads them (interchange.h): a COCO
// JSON (RLE strings, run lists, polygons), a Label Studio export (brush RLE), a
// CVAT zip (labelmap.txt, colour PNGs) or a label PNG (palette or greyscale).
//
// Input: one byte choosing the format, then the file.
#include "support/error.h"
#include "fuzz_support.h"
#include "interchange/interchange.h"

#include <cstdint>

using namespace primaps;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 1)
        return 0;
    const std::string_view file(reinterpret_cast<const char*>(data + 1), size - 1);
    try {
        interchange::AnnotationSet set;
        switch (data[0] % 4) {
        case 0:
            set = interchange::readCoco(fuzz::writeScratch("corrected.json", file));
            break;
        case 1:
            set = interchange::readLabelStudio(fuzz::writeScratch("corrected.json", file));
            break;
        case 2:
            set = interchange::readCvat(fuzz::writeScratch("corrected.zip", file));
            break;
        default:
            (void)interchange::readLabelValues(fuzz::writeScratch("labels.png", file));
            break;
        }
        // Every image's map, as the import decodes them.
        std::vector<std::string> problems;
        for (const interchange::AnnotatedImage& image : set.images) {
            try {
                (void)image.decode(set.labels, problems);
            } catch (const Error& e) {
                fuzz::rejected(e);
            }
        }
    } catch (const Error& e) {
        fuzz::rejected(e);
    }
    return 0;
}
