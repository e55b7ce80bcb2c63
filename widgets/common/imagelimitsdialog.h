// SPDX-License-Identifier: MIT
#pragma once

#include "image/imageio.h"

#include <QDialog>

class QAction;
class QDoubleSpinBox;
class QSettings;

namespace primaps {

/// The studio's image limits: core's process-wide PixelBudget as the user set it
/// in Decompose ▸ Image limits…, kept in the user's settings (group
/// "imageLimits"). What is not stored keeps core's default.
PixelBudget storedPixelBudget(const QSettings& settings);
void storePixelBudget(QSettings& settings, const PixelBudget& budget);
/// Reads the stored limits and makes them the process-wide budget (at start-up).
void applyStoredPixelBudget();

/// Edits the three limits in megapixels and as a ratio; OK stores them and makes
/// them the process-wide budget. Images already open keep what they got: the
/// limits apply to images opened or decomposed afterwards (the dialog says so).
class ImageLimitsDialog : public QDialog
{
    Q_OBJECT

public:
    explicit ImageLimitsDialog(QWidget* parent = nullptr);

    /// What the fields say now.
    PixelBudget budget() const;
    void setBudget(const PixelBudget& budget);

    void accept() override;

private:
    QDoubleSpinBox* m_maxMegapixels = nullptr;
    QDoubleSpinBox* m_maxAspect = nullptr;
    QDoubleSpinBox* m_processingMegapixels = nullptr;
};

/// "Image limits…": opens the dialog, modal, over `parent`.
QAction* createImageLimitsAction(QWidget* parent);

} // namespace primaps
