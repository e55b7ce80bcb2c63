// SPDX-License-Identifier: MIT
#include "review/reviewlayers.h"

#include "labels/corrections.h"
#include "evaluation/evaluation.h"
#include "runs/runreview.h"

#include <QCoreApplication>

namespace primaps {

namespace {

// Class ids at or above this have no display id (254 = erased to ignore in a
// correction, 255 = ignore).
constexpr int kFirstNonClass = 254;

cv::Mat shiftClasses(const cv::Mat& classIds)
{
    cv::Mat display(classIds.size(), CV_8UC1);
    for (int y = 0; y < classIds.rows; ++y) {
        const auto* in = classIds.ptr<std::uint8_t>(y);
        auto* out = display.ptr<std::uint8_t>(y);
        for (int x = 0; x < classIds.cols; ++x)
            out[x] = in[x] < kFirstNonClass ? std::uint8_t(in[x] + 1) : 0;
    }
    return display;
}

} // namespace

cv::Mat clusterDisplay(const cv::Mat& clusters, const std::vector<int>& match,
                       const cv::Mat& correction, int classes)
{
    if (clusters.empty())
        return {};
    if (match.empty()) {
        cv::Mat display(clusters.size(), CV_8UC1);
        for (int y = 0; y < clusters.rows; ++y) {
            const auto* in = clusters.ptr<std::int32_t>(y);
            auto* out = display.ptr<std::uint8_t>(y);
            for (int x = 0; x < clusters.cols; ++x)
                out[x] = in[x] >= 0 && in[x] < kFirstNonClass ? std::uint8_t(in[x] + 1) : 0;
        }
        return display;
    }
    cv::Mat classIds = mapClusters(clusters, match);
    if (!correction.empty())
        applyCorrection(classIds, correction, classes, 255);
    return shiftClasses(classIds);
}

cv::Mat classDisplay(const cv::Mat& classIds)
{
    return classIds.empty() ? cv::Mat() : shiftClasses(classIds);
}

cv::Mat classesFromDisplay(const cv::Mat& display)
{
    cv::Mat classIds(display.size(), CV_8UC1);
    for (int y = 0; y < display.rows; ++y) {
        const auto* in = display.ptr<std::uint8_t>(y);
        auto* out = classIds.ptr<std::uint8_t>(y);
        for (int x = 0; x < display.cols; ++x)
            out[x] = in[x] == 0 ? 255 : std::uint8_t(in[x] - 1);
    }
    return classIds;
}

cv::Mat errorDisplay(const cv::Mat& errors)
{
    cv::Mat display(errors.size(), CV_8UC1);
    for (int y = 0; y < errors.rows; ++y) {
        const auto* in = errors.ptr<std::uint8_t>(y);
        auto* out = display.ptr<std::uint8_t>(y);
        for (int x = 0; x < errors.cols; ++x)
            out[x] = in[x] == ErrorNoTruth ? 0 : std::uint8_t(in[x] + 1);
    }
    return display;
}

LabelTable classLayerTable(const ClassTable& classes, const std::string& zeroName)
{
    LabelTable table;
    table.setName(0, zeroName);
    for (int j = 0; j < classes.size() && j < kFirstNonClass - 1; ++j) {
        table.setName(j + 1, classes.classes[std::size_t(j)].name);
        table.setColor(j + 1, classes.classes[std::size_t(j)].colour);
    }
    return table;
}

LabelTable errorLayerTable()
{
    LabelTable table;
    table.setName(0, QCoreApplication::translate("ReviewLayers", "no ground truth").toStdString());
    table.setName(1, QCoreApplication::translate("ReviewLayers", "correct").toStdString());
    table.setColor(1, cv::Vec3b(46, 160, 67));
    table.setName(2, QCoreApplication::translate("ReviewLayers", "wrong class").toStdString());
    table.setColor(2, cv::Vec3b(215, 38, 38));
    table.setName(3, QCoreApplication::translate("ReviewLayers", "ignored cluster").toStdString());
    table.setColor(3, cv::Vec3b(245, 158, 11));
    return table;
}

} // namespace primaps
