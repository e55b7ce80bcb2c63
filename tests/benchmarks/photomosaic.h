// SPDX-License-Identifier: MIT
#pragma once
// Mosaics of real texture photographs with exact ground truth: the data of the
// PriMaPs-EM quality benchmark (bench_em_quality) and of its small fixed run in
// the tests. Nothing here is committed data: the sources are photographs that
// Debian packages ship (or the repository's sample photos), the mosaics are
// generated on the fly from a seed.

#include <cstdint>
#include <opencv2/core/mat.hpp>
#include <string>
#include <utility>
#include <vector>

namespace primaps::bench {

/// One class of a mosaic: a name and the photograph its regions are cut from.
struct MosaicClass
{
    std::string name;
    cv::Mat rgb; ///< CV_8UC3, RGB
};

/// Reads a photograph (anything OpenCV decodes) or a GIMP pattern (.pat, 1-4
/// channels; grey becomes RGB, alpha is dropped). Throws primaps::Error naming
/// the file when it cannot be read.
cv::Mat readPhotograph(const std::string& path);

struct MosaicSpec
{
    int images = 120;
    int size = 320;       ///< square images of this side
    int minRegions = 3;   ///< Voronoi cells per image
    int maxRegions = 6;
    int tileScale = 2;    ///< sources smaller than the image are enlarged so (patterns are small)
    double valShare = 1.0 / 3.0; ///< images listed in val.txt, the rest in train.txt
    std::uint64_t seed = 1;
};

/// Writes a folder dataset under `root`: images/<id>.png, labels/<id>.png (class
/// ids, exact), classes.txt, train.txt and val.txt. Each image is a Voronoi
/// partition whose cells show the photograph of their class at a random offset
/// (tiled, randomly mirrored); classes are dealt round-robin from a shuffled deck,
/// so every class covers about the same share of the pixels. Deterministic for a
/// seed. Throws primaps::Error when a file cannot be written or there are fewer
/// than two classes.
void writeMosaicDataset(const std::vector<MosaicClass>& classes, const MosaicSpec& spec,
                        const std::string& root);

/// A named set of classes for the real-photograph benchmarks: (class name, source file).
struct PhotoClassSet
{
    std::string name;
    std::vector<std::pair<std::string, std::string>> classes;
};

/// The benchmark's class sets "6" (python3-skimage and gimp-data photographs) and
/// "12" (gimp-data patterns), as installed by install-data.sh.
std::vector<PhotoClassSet> benchmarkClassSets();

/// Reads the photographs of `set`. Throws primaps::Error naming a missing file and
/// how to install the benchmark's data.
std::vector<MosaicClass> loadClassSet(const PhotoClassSet& set);

} // namespace primaps::bench
