// SPDX-License-Identifier: MIT
#include "explore/canvasimagelayer.h"

#include "explore/canvaswidget.h"

#include <QGraphicsPixmapItem>
#include <QGraphicsScene>
#include <QPixmap>

namespace primaps {

CanvasImageLayer::CanvasImageLayer(CanvasWidget* canvas, double z, QObject* parent)
    : QObject(parent), m_canvas(canvas), m_z(z)
{
}

CanvasImageLayer::~CanvasImageLayer()
{
    hide();
}

void CanvasImageLayer::show(const QImage& image, double opacity, bool smooth)
{
    if (!m_canvas || !m_canvas->scene() || image.isNull() || !m_canvas->hasPhoto()) {
        hide();
        return;
    }
    if (!m_item) {
        m_item = new QGraphicsPixmapItem;
        m_item->setZValue(m_z);
        m_item->setAcceptedMouseButtons(Qt::NoButton);
        m_canvas->scene()->addItem(m_item);
    }
    m_image = image;
    m_item->setPixmap(QPixmap::fromImage(image));
    m_item->setTransformationMode(smooth ? Qt::SmoothTransformation : Qt::FastTransformation);
    const QSize photo = m_canvas->photo().size();
    m_item->setTransform(QTransform::fromScale(double(photo.width()) / image.width(),
                                               double(photo.height()) / image.height()));
    m_item->setOpacity(opacity);
    m_item->show();
}

void CanvasImageLayer::hide()
{
    m_image = QImage();
    if (!m_item)
        return;
    // The canvas may already have deleted its scene (and the item with it).
    if (m_canvas && m_canvas->scene() && m_item->scene() == m_canvas->scene()) {
        m_canvas->scene()->removeItem(m_item);
        delete m_item;
    }
    m_item = nullptr;
}

bool CanvasImageLayer::isShown() const
{
    return m_item != nullptr;
}

} // namespace primaps
