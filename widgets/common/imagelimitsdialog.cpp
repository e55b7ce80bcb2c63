// SPDX-License-Identifier: MIT
#include "common/imagelimitsdialog.h"

#include <cmath>
#include <QAction>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QSettings>
#include <QVBoxLayout>

namespace primaps {

namespace {

constexpr double kMega = 1e6;
// The fields' ranges: core refuses a processing budget under 64 x 64 pixels; the
// upper ends are far beyond what this machine class can hold, so that a user
// with the memory is never stopped by the dialog itself.
constexpr double kMinProcessingMegapixels = 64.0 * 64.0 / kMega;
constexpr double kMaxMegapixels = 2000.0;
constexpr double kMaxAspect = 1000.0;

const char* const kHowToRaise = "raise the limit in the studio's Decompose > Image limits";

QString key(const char* name)
{
    return QStringLiteral("imageLimits/") + QLatin1String(name);
}

QDoubleSpinBox* megapixelBox(double minimum, double maximum, int decimals)
{
    auto* box = new QDoubleSpinBox;
    box->setRange(minimum, maximum);
    box->setDecimals(decimals);
    box->setSuffix(QStringLiteral(" MP"));
    box->setAccelerated(true);
    return box;
}

} // namespace

PixelBudget storedPixelBudget(const QSettings& settings)
{
    PixelBudget budget;
    budget.howToRaise = kHowToRaise;
    budget.maxPixels = settings.value(key("maxPixels"), qint64(budget.maxPixels)).toLongLong();
    budget.maxAspect = settings.value(key("maxAspect"), budget.maxAspect).toDouble();
    budget.maxProcessingPixels =
        settings.value(key("maxProcessingPixels"), qint64(budget.maxProcessingPixels))
            .toLongLong();
    return budget;
}

void storePixelBudget(QSettings& settings, const PixelBudget& budget)
{
    settings.setValue(key("maxPixels"), qint64(budget.maxPixels));
    settings.setValue(key("maxAspect"), budget.maxAspect);
    settings.setValue(key("maxProcessingPixels"), qint64(budget.maxProcessingPixels));
}

void applyStoredPixelBudget()
{
    const QSettings settings;
    try {
        setPixelBudget(storedPixelBudget(settings));
    } catch (const std::exception&) {
        // Values edited by hand outside the range core accepts: the defaults, with
        // the studio's hint on how to raise them.
        PixelBudget defaults;
        defaults.howToRaise = kHowToRaise;
        setPixelBudget(defaults);
    }
}

ImageLimitsDialog::ImageLimitsDialog(QWidget* parent) : QDialog(parent)
{
    setWindowTitle(tr("Image limits"));
    auto* intro = new QLabel(
        tr("Limits that keep one image from exhausting memory. They apply to images "
           "opened or decomposed from now on; an image refused earlier can be opened "
           "again."));
    intro->setWordWrap(true);

    m_maxMegapixels = megapixelBox(0.01, kMaxMegapixels, 2);
    m_maxMegapixels->setToolTip(
        tr("Images with more pixels are refused before they are decoded (the size is "
           "read from the file's header)."));
    m_maxAspect = new QDoubleSpinBox;
    m_maxAspect->setRange(1.0, kMaxAspect);
    m_maxAspect->setDecimals(1);
    m_maxAspect->setPrefix(QStringLiteral("1 : "));
    m_maxAspect->setToolTip(tr("Images whose longer side exceeds the shorter this many "
                               "times are refused."));
    m_processingMegapixels = megapixelBox(kMinProcessingMegapixels, kMaxMegapixels, 3);
    m_processingMegapixels->setToolTip(
        tr("The backbone and the dense CRF work on at most this many pixels; a larger "
           "image is processed smaller (aspect kept) and the message bar says so. "
           "Memory grows with it: the CRF needs about 570 bytes per pixel, a patch-8 "
           "ViT's attention grows with the square of the pixel count."));

    auto* form = new QFormLayout;
    form->setFieldGrowthPolicy(QFormLayout::FieldsStayAtSizeHint);
    form->addRow(tr("Largest image to open:"), m_maxMegapixels);
    form->addRow(tr("Most elongated image:"), m_maxAspect);
    // Megapixels alone are hard to picture: the square side they amount to.
    auto* side = new QLabel;
    auto showSide = [side](double megapixels) {
        const int n = int(std::lround(std::sqrt(megapixels * kMega)));
        side->setText(ImageLimitsDialog::tr("about %1 \u00d7 %1 pixels").arg(n));
    };
    connect(m_processingMegapixels, &QDoubleSpinBox::valueChanged, side, showSide);
    auto* processingRow = new QHBoxLayout;
    processingRow->addWidget(m_processingMegapixels);
    processingRow->addWidget(side);
    form->addRow(tr("Processing size at most:"), processingRow);

    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel |
                                         QDialogButtonBox::RestoreDefaults);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(buttons->button(QDialogButtonBox::RestoreDefaults), &QPushButton::clicked, this,
            [this] { setBudget(PixelBudget()); });

    auto* layout = new QVBoxLayout(this);
    layout->addWidget(intro);
    layout->addLayout(form);
    layout->addWidget(buttons);

    setBudget(pixelBudget());
}

PixelBudget ImageLimitsDialog::budget() const
{
    PixelBudget budget;
    budget.howToRaise = kHowToRaise;
    budget.maxPixels = std::llround(m_maxMegapixels->value() * kMega);
    budget.maxAspect = m_maxAspect->value();
    budget.maxProcessingPixels = std::max<std::int64_t>(
        64 * 64, std::llround(m_processingMegapixels->value() * kMega));
    return budget;
}

void ImageLimitsDialog::setBudget(const PixelBudget& budget)
{
    m_maxMegapixels->setValue(double(budget.maxPixels) / kMega);
    m_maxAspect->setValue(budget.maxAspect);
    m_processingMegapixels->setValue(double(budget.maxProcessingPixels) / kMega);
}

void ImageLimitsDialog::accept()
{
    const PixelBudget chosen = budget();
    setPixelBudget(chosen); // validated by core before anything is stored
    QSettings settings;
    storePixelBudget(settings, chosen);
    QDialog::accept();
}

QAction* createImageLimitsAction(QWidget* parent)
{
    auto* action = new QAction(ImageLimitsDialog::tr("Image &limits\u2026"), parent);
    action->setStatusTip(ImageLimitsDialog::tr(
        "The largest image the studio opens and the size at which it processes images"));
    QObject::connect(action, &QAction::triggered, parent, [parent] {
        ImageLimitsDialog dialog(parent);
        dialog.exec();
    });
    return action;
}

} // namespace primaps
