// SPDX-License-Identifier: MIT
#include "dataset/defaultsplit.h"

#include <filesystem>

namespace primaps {

namespace fs = std::filesystem;

namespace {

bool sameDirectory(const std::string& a, const std::string& b)
{
    if (a == b)
        return true;
    std::error_code noThrow;
    return fs::equivalent(a, b, noThrow);
}

bool wholeFolder(DatasetKind kind, const std::string& split, double holdout)
{
    return kind == DatasetKind::Folder && holdout <= 0.0 && (split.empty() || split == "all");
}

} // namespace

std::string defaultSplit(const DatasetOptions& options, const std::string& named)
{
    if (options.kind != DatasetKind::Folder || options.holdout > 0.0)
        return named;
    if (named.empty() || named == "all" || options.root.empty())
        return {};
    std::error_code noThrow;
    return fs::is_regular_file(fs::path(options.root) / (named + ".txt"), noThrow) ? named
                                                                                   : std::string();
}

FitOverlap fitOverlap(const DatasetOptions& fitted, const Dataset& evaluated)
{
    if (fitted.kind != evaluated.kind() || !sameDirectory(fitted.root, evaluated.root()))
        return FitOverlap::None;
    if (evaluated.allImagesOfFolder())
        return FitOverlap::EvaluatedWhole;
    if (wholeFolder(fitted.kind, fitted.split, fitted.holdout))
        return FitOverlap::FittedWhole;
    // Benchmark layouts read an empty split as "train".
    const std::string fittedSplit =
        fitted.split.empty() && fitted.kind != DatasetKind::Folder ? "train" : fitted.split;
    if (fittedSplit == evaluated.split() && fitted.holdout == evaluated.holdout())
        return FitOverlap::SameSplit;
    return FitOverlap::None;
}

} // namespace primaps
