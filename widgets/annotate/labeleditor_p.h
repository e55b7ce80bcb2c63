// SPDX-License-Identifier: MIT
// Private to the label editor's files (labeleditor*.cpp): one image's editing state
// and the small helpers they share.
#pragma once

#include "annotate/labeleditor.h"

#include <opencv2/core.hpp>
#include <QColor>
#include <QIcon>
#include <QImage>
#include <QString>
#include <QUndoStack>

namespace primaps {

inline bool sameMat(const cv::Mat& a, const cv::Mat& b)
{
    if (a.empty() || b.empty())
        return a.empty() && b.empty();
    return a.size() == b.size() && a.type() == b.type() && cv::norm(a, b, cv::NORM_INF) == 0.0;
}

inline QColor toQColor(const cv::Vec3b& rgb)
{
    return QColor(rgb[0], rgb[1], rgb[2]);
}

/// A small rounded colour square for menus and combo boxes.
QIcon labelSwatch(const QColor& color);

struct LabelEditor::Document
{
    QString path;
    QImage photo;
    cv::Mat image;   ///< RGB at the original size, for overlays
    cv::Mat base;    ///< the decomposition the corrections started from
    cv::Mat labels;  ///< the corrected map (same size)
    cv::Mat pending; ///< a newer decomposition that was not taken (empty: none)
    QString baseInfo;
    QString pendingInfo;
    LabelTable table;
    QUndoStack* stack = nullptr;
    bool edited = false; ///< labels differ from base, or the table is customised
    bool external = false; ///< kept and saved by its owner (showExternal())
    bool restoreAsked = false; ///< the restore hook was asked for this document

    void refreshEdited() { edited = !table.empty() || !sameMat(labels, base); }
};

} // namespace primaps
