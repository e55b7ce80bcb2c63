// SPDX-License-Identifier: MIT
#pragma once

#include <QFrame>

class QLabel;

namespace primaps {

class MainWindow;

/// First contact: when no DINO or DINOv2 checkpoint is installed, a hint over
/// the canvas in the Explore perspective says what the filter-bank backbone
/// can and cannot show and offers Decompose ▸ Backbones… (sizes, licences,
/// where files go). It never downloads anything itself. Dismissing it is
/// remembered (QSettings "hints/backboneDismissed").
class BackboneHint : public QFrame
{
    Q_OBJECT

public:
    /// Adds the hint above the canvas of `window`.
    explicit BackboneHint(MainWindow* window);

    /// Whether a checkpoint of any catalogued DINO/DINOv2 model is found
    /// (findModelFile() over the catalogue: a few file checks).
    static bool anyCheckpointInstalled();
    static QString settingsKey() { return QStringLiteral("hints/backboneDismissed"); }

    QString text() const;
    /// Hides it for good (remembered).
    void dismiss();
    /// Decompose ▸ Backbones…
    void openBackbones();

private:
    void update(bool explore);

    MainWindow* m_window;
    QLabel* m_label = nullptr;
    QWidget* m_frame = nullptr; ///< the margin around the hint in the window's column
    bool m_needed = false;
};

} // namespace primaps
