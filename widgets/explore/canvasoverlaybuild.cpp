// SPDX-License-Identifier: MIT
// The overlay of a large label map, drawn on a worker so that the GUI thread
// never waits for it (a 12-megapixel map takes 40-90 ms, more under load).
#include "explore/canvaswidget.h"

#include "explore/explorepictures.h"

#include <QThreadPool>
#include <QtConcurrent/QtConcurrentRun>

namespace primaps {

CanvasWidget::~CanvasWidget()
{
    // The worker posts its result to this object; it must be done before the
    // object is gone (the queued result itself is dropped with it).
    if (m_overlayPool)
        m_overlayPool->waitForDone();
}

void CanvasWidget::startOverlayBuild(const std::array<QRgb, 256>& lut, const cv::Mat& editBase)
{
    if (!m_overlayPool) {
        m_overlayPool = new QThreadPool(this);
        m_overlayPool->setMaxThreadCount(1);
        m_overlayWanted = std::make_shared<std::atomic<quint64>>(0);
    }
    const quint64 generation = ++m_overlayGeneration;
    m_overlayWanted->store(generation);
    m_overlayPending = true;
    // Edits made before this snapshot are in it; later ones are recorded anew.
    m_overlayDirty.clear();
    // The worker reads the maps as they are now: the labels share their buffer
    // until the next edit detaches it; the before map and the edit base are
    // replaced, never written.
    m_labelsShared = true;
    const cv::Mat labels = m_labels, before = m_before;
    const int highlighted = m_highlighted;
    const std::shared_ptr<std::atomic<quint64>> wanted = m_overlayWanted;
    (void)QtConcurrent::run(m_overlayPool, [this, generation, wanted, labels, before, editBase,
                                            highlighted, lut] {
        if (wanted->load() != generation) // a newer request is queued behind this one
            return;
        const QImage overlay = labelOverlay(labels, highlighted, lut, editBase);
        const QImage beforeOverlay = labelOverlay(before, highlighted, lut);
        QMetaObject::invokeMethod(
            this,
            [this, generation, overlay, beforeOverlay] {
                takeOverlay(generation, overlay, beforeOverlay);
            },
            Qt::QueuedConnection);
    });
}

void CanvasWidget::takeOverlay(quint64 generation, const QImage& overlay, const QImage& before)
{
    if (generation != m_overlayGeneration)
        return;
    // The pool runs one drawing at a time, in order: every drawing that read
    // the labels' buffer is done now.
    m_overlayPending = false;
    m_labelsShared = false;
    m_overlay = overlay;
    m_beforeOverlay = before;
    const std::array<QRgb, 256> lut = overlayLut(m_table);
    for (const cv::Rect& r : m_overlayDirty)
        drawLabelOverlay(m_overlay, m_labels, r, m_highlighted, lut,
                         m_editsOnly ? m_editBase : cv::Mat());
    m_overlayDirty.clear();
    showOverlays();
    emit overlayReady();
}

void CanvasWidget::detachLabels()
{
    if (!m_labelsShared)
        return;
    m_labels = m_labels.clone();
    m_labelsShared = false;
}

} // namespace primaps
