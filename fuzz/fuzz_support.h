// SPDX-License-Identifier: MIT
// Helpers shared by the fuzz targets and the seed generator. Core's readers take file
// names, so every harness writes its input to a private scratch folder first.
#pragma once

#include "em/emfit.h"

#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

namespace primaps::fuzz {

/// The process's scratch folder (on /dev/shm when it exists, so that writing the
/// input costs no disk I/O); created on first use, removed at exit.
const std::string& scratchDir();

/// Writes `bytes` to scratchDir()/`name` (sub-folders are created) and returns the path.
std::string writeScratch(const std::string& name, std::string_view bytes);

/// Called with every refusal a harness catches: silent, unless PRIMAPS_FUZZ_VERBOSE is
/// set (to check that the seeds get past the parsers they are meant for).
void rejected(const std::exception& error);

/// Inputs made of several files are one byte string with this separator between the
/// parts; the seeds use it too, so the fuzzer learns it at once.
inline constexpr std::string_view kPartSeparator = "\n--primaps-part--\n";
std::vector<std::string_view> splitParts(std::string_view input);
std::string joinParts(const std::vector<std::string>& parts);

/// A tiny, deterministic EM training set (3 images of 4 x 2 x 3 features, two masks
/// each). The runfolder fuzzer restores states into an EmFit on it; the seed
/// generator writes states of a real fit on it, so both agree on the parameters.
class TinyEmData : public EmDataSource
{
public:
    std::size_t size() const override { return 3; }
    FeatureMap features(std::size_t index) const override;
    cv::Mat masks(std::size_t index) const override;
};
EmParams tinyEmParams();

} // namespace primaps::fuzz
