// SPDX-License-Identifier: MIT
#include "fuzz_support.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <system_error>
#include <unistd.h>

namespace fs = std::filesystem;

namespace primaps::fuzz {

const std::string& scratchDir()
{
    // Allocated once and never freed: the exit handler that removes the folder runs
    // after a static std::string would already have been destroyed.
    static const std::string* const dir = [] {
        std::error_code ec;
        const fs::path base = fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm")
                                                                : fs::temp_directory_path();
        const fs::path d = base / ("primaps-fuzz-" + std::to_string(::getpid()));
        fs::create_directories(d);
        std::atexit([] {
            std::error_code ignored;
            fs::remove_all(scratchDir(), ignored);
        });
        return new std::string(d.string());
    }();
    return *dir;
}

std::string writeScratch(const std::string& name, std::string_view bytes)
{
    const fs::path path = fs::path(scratchDir()) / name;
    fs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), std::streamsize(bytes.size()));
    return path.string();
}

void rejected(const std::exception& error)
{
    static const bool verbose = std::getenv("PRIMAPS_FUZZ_VERBOSE") != nullptr;
    if (verbose)
        std::fprintf(stderr, "  refused: %s\n", error.what());
}

std::vector<std::string_view> splitParts(std::string_view input)
{
    std::vector<std::string_view> parts;
    for (;;) {
        const std::size_t at = input.find(kPartSeparator);
        parts.push_back(input.substr(0, at));
        if (at == std::string_view::npos)
            return parts;
        input.remove_prefix(at + kPartSeparator.size());
    }
}

std::string joinParts(const std::vector<std::string>& parts)
{
    std::string out;
    for (std::size_t i = 0; i < parts.size(); ++i)
        out += (i ? std::string(kPartSeparator) : std::string()) + parts[i];
    return out;
}

FeatureMap TinyEmData::features(std::size_t index) const
{
    FeatureMap f(4, 2, 3);
    for (std::size_t i = 0; i < f.values.size(); ++i)
        f.values[i] = float((i * 7 + index * 3) % 11) / 11.0f - 0.4f;
    return f;
}

cv::Mat TinyEmData::masks(std::size_t index) const
{
    cv::Mat m(4, 6, CV_8UC1, cv::Scalar(1));
    m.colRange(0, 3 + int(index % 2)).setTo(2);
    return m;
}

EmParams tinyEmParams()
{
    EmParams p;
    p.classes = 2;
    p.epochs = 2;
    p.initEpochs = 1;
    p.batchSize = 2;
    p.pcaImages = 3;
    p.emaEvery = 1;
    return p;
}

} // namespace primaps::fuzz
