// SPDX-License-Identifier: MIT
// readNpy() and readFeaturesNpy(): header parsing, dtypes, byte orders, Fortran order.
#include "support/error.h"
#include "fuzz_support.h"
#include "support/npy.h"

#include <cstdint>

using namespace primaps;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string path =
        fuzz::writeScratch("input.npy", {reinterpret_cast<const char*>(data), size});
    try {
        const NpyArray array = readNpy(path);
        (void)array.elementCount();
        try {
            (void)array.toFloat32();
        } catch (const Error& e) {
            fuzz::rejected(e);
        }
        try {
            (void)array.toUint8();
        } catch (const Error& e) {
            fuzz::rejected(e);
        }
    } catch (const Error& e) {
        fuzz::rejected(e);
    }
    try {
        (void)readFeaturesNpy(path);
    } catch (const Error& e) {
        fuzz::rejected(e);
    }
    return 0;
}
