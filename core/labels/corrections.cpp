// SPDX-License-Identifier: MIT
#include "labels/corrections.h"

#include "support/atomicfile.h"
#include "support/error.h"
#include "image/imageio.h"
#include "dataset/featurecache.h"

#include <algorithm>
#include <filesystem>
#include <opencv2/core.hpp>

namespace primaps {

namespace {

namespace fs = std::filesystem;

void checkSameSize8U(const cv::Mat& a, const cv::Mat& b, const char* what)
{
    if (a.type() != CV_8UC1 || b.type() != CV_8UC1 || a.size() != b.size())
        throw Error(std::string(what) + ": both maps must be single-channel 8-bit of one size");
}

} // namespace

cv::Mat correctionFromEdit(const cv::Mat& predicted, const cv::Mat& edited)
{
    checkSameSize8U(predicted, edited, "correctionFromEdit");
    cv::Mat out(edited.size(), CV_8UC1, cv::Scalar(CorrectionNone));
    for (int y = 0; y < edited.rows; ++y) {
        const std::uint8_t* p = predicted.ptr<std::uint8_t>(y);
        const std::uint8_t* e = edited.ptr<std::uint8_t>(y);
        std::uint8_t* o = out.ptr<std::uint8_t>(y);
        for (int x = 0; x < edited.cols; ++x)
            if (p[x] != e[x])
                o[x] = e[x] == 255 ? CorrectionIgnore : e[x];
    }
    return out;
}

std::int64_t applyCorrection(cv::Mat& classIds, const cv::Mat& correction, int classes,
                             int ignoreValue, const std::string& source)
{
    if (correction.type() != CV_8UC1)
        throw Error("'" + source + "': a correction must be a single-channel 8-bit map");
    if (correction.size() != classIds.size())
        throw Error("'" + source + "': the correction is " + std::to_string(correction.cols) +
                    "x" + std::to_string(correction.rows) + ", the labels it corrects " +
                    std::to_string(classIds.cols) + "x" + std::to_string(classIds.rows));
    if (classIds.type() != CV_8UC1 && classIds.type() != CV_32SC1)
        throw Error("applyCorrection: labels must be CV_8U or CV_32S");
    // Check first, so that a bad file changes nothing.
    for (int y = 0; y < correction.rows; ++y) {
        const std::uint8_t* c = correction.ptr<std::uint8_t>(y);
        for (int x = 0; x < correction.cols; ++x)
            if (c[x] != CorrectionNone && c[x] != CorrectionIgnore && c[x] >= classes)
                throw Error("'" + source + "': class " + std::to_string(c[x]) +
                            " at pixel (" + std::to_string(x) + ", " + std::to_string(y) +
                            "); there are " + std::to_string(classes) + " classes");
    }
    std::int64_t changed = 0;
    const bool wide = classIds.type() == CV_32SC1;
    for (int y = 0; y < correction.rows; ++y) {
        const std::uint8_t* c = correction.ptr<std::uint8_t>(y);
        for (int x = 0; x < correction.cols; ++x) {
            if (c[x] == CorrectionNone)
                continue;
            const int v = c[x] == CorrectionIgnore ? ignoreValue : int(c[x]);
            if (wide)
                classIds.ptr<std::int32_t>(y)[x] = v;
            else
                classIds.ptr<std::uint8_t>(y)[x] = cv::saturate_cast<std::uint8_t>(v);
            ++changed;
        }
    }
    return changed;
}

LabelCounts correctedPixelCounts(const cv::Mat& correction)
{
    LabelCounts counts = countLabels(correction);
    counts[CorrectionNone] = 0;
    return counts;
}

CorrectionStore::CorrectionStore(std::string folder) : folder_(std::move(folder)) {}

std::string CorrectionStore::runFolder(const std::string& runDir)
{
    return (fs::path(runDir) / "corrections").string();
}

std::string CorrectionStore::projectFolder(const std::string& projectPath)
{
    const fs::path p(projectPath);
    return (p.parent_path() / (p.stem().string() + ".corrections")).string();
}

std::string CorrectionStore::path(const std::string& key) const
{
    if (folder_.empty())
        throw Error("no corrections folder is set");
    const fs::path k(key);
    bool bad = key.empty() || k.is_absolute() || key.find('\\') != std::string::npos;
    for (const fs::path& part : k)
        bad = bad || part == ".." || part == "." || part.empty();
    if (bad)
        throw Error("'" + key + "' cannot name a correction: it must be a relative path inside '" +
                    folder_ + "'");
    return (fs::path(folder_) / (key + ".png")).string();
}

bool CorrectionStore::contains(const std::string& key) const
{
    std::error_code ec;
    return fs::is_regular_file(path(key), ec);
}

cv::Mat CorrectionStore::read(const std::string& key) const
{
    const std::string file = path(key);
    std::error_code ec;
    if (!fs::is_regular_file(file, ec))
        return {};
    return loadGray8(file, "correction");
}

void CorrectionStore::write(const std::string& key, const cv::Mat& correction) const
{
    const std::string file = path(key);
    if (correction.type() != CV_8UC1 || correction.empty())
        throw Error("'" + file + "': a correction must be a non-empty single-channel 8-bit map");
    if (cv::countNonZero(correction != CorrectionNone) == 0) {
        remove(key);
        return;
    }
    std::error_code ec;
    fs::create_directories(fs::path(file).parent_path(), ec);
    if (ec)
        throw Error("cannot create the folder of '" + file + "': " + ec.message());
    writeImageAtomic(file, correction);
}

void CorrectionStore::remove(const std::string& key) const
{
    const std::string file = path(key);
    std::error_code ec;
    fs::remove(file, ec);
    if (ec)
        throw Error("cannot remove '" + file + "': " + ec.message());
}

std::vector<std::string> CorrectionStore::keys() const
{
    std::vector<std::string> keys;
    std::error_code ec;
    if (folder_.empty() || !fs::is_directory(folder_, ec))
        return keys;
    for (fs::recursive_directory_iterator it(folder_, ec), end; !ec && it != end;
         it.increment(ec)) {
        if (!it->is_regular_file(ec) || it->path().extension() != ".png")
            continue;
        fs::path rel = it->path().lexically_relative(folder_);
        rel.replace_extension();
        keys.push_back(rel.generic_string());
    }
    std::sort(keys.begin(), keys.end());
    return keys;
}

LabelCounts CorrectionStore::totalCounts() const
{
    LabelCounts total{};
    for (const std::string& key : keys()) {
        const LabelCounts c = correctedPixelCounts(read(key));
        for (std::size_t i = 0; i < total.size(); ++i)
            total[i] += c[i];
    }
    return total;
}

std::string CorrectionStore::digest() const
{
    CacheKey key;
    for (const std::string& k : keys())
        key.set(k, hashFile(path(k)));
    return key.digest();
}

} // namespace primaps
