// SPDX-License-Identifier: MIT
// ReviewController: what the user does to one image — corrections in class
// space through the label editor, a mask's class, the class table, and the
// mask vote of a click on the pseudo-label layer with the mask's outline.
#include "reviewcontroller.h"

#include "explore/canvaswidget.h"
#include "evaluate/evaluationwidget.h"
#include "annotate/labeleditor.h"
#include "mainwindow.h"
#include "review/maskvotewidget.h"
#include "review/reviewlayers.h"

#include <cmath>
#include <opencv2/imgproc.hpp>
#include <QDockWidget>
#include <QGraphicsPathItem>
#include <QGraphicsScene>
#include <QLabel>
#include <QMouseEvent>
#include <QPainterPath>

namespace primaps {

namespace {

// A press and release closer than this (screen pixels) is a click, not a pan.
constexpr int kClickSlop = 4;

} // namespace

cv::Mat ReviewController::correctionOf(const std::string& id) const
{
    const auto it = m_pendingCorrections.find(id);
    if (it != m_pendingCorrections.end())
        return it->second;
    if (!m_store.valid())
        return {};
    try {
        return m_store.read(id);
    } catch (const std::exception&) {
        return {}; // reported when the image is shown (showLayer)
    }
}

bool ReviewController::isEditableLayer() const
{
    return m_review && hasRun() && !m_clusterToClass.empty() &&
           (m_layer == Layer::PseudoLabel || m_layer == Layer::Prediction);
}

QString ReviewController::editorKey() const
{
    return m_review ? QStringLiteral("review/%1/%2")
                          .arg(layerName(m_layer), QString::fromStdString(m_review->id))
                    : QString();
}

void ReviewController::onEditorChanged()
{
    if (!m_active || !isEditableLayer())
        return;
    LabelEditor* editor = m_window->labelEditor();
    const QString key = editorKey();
    if (editor->shownPath() != key)
        return;
    const cv::Mat correction = correctionFromEdit(classesFromDisplay(editor->baseLabels(key)),
                                                  classesFromDisplay(editor->labels(key)));
    m_pendingCorrections[m_review->id] = correction;
    updateCorrectionSummary();
    emit edited();
}

void ReviewController::updateCorrectionSummary()
{
    const cv::Mat correction = m_review ? correctionOf(m_review->id) : cv::Mat();
    QStringList parts;
    if (!correction.empty()) {
        const LabelCounts counts = correctedPixelCounts(correction);
        for (int j = 0; j < m_classes.size(); ++j)
            if (counts[std::size_t(j)] > 0)
                parts << QStringLiteral("%1 %2")
                             .arg(QString::fromStdString(m_classes.classes[std::size_t(j)].name))
                             .arg(counts[std::size_t(j)]);
        if (counts[CorrectionIgnore] > 0)
            parts << tr("ignore %1").arg(counts[CorrectionIgnore]);
    }
    m_correctionsLabel->setText(parts.isEmpty() ? QString()
                                                : tr("Corrected px: %1").arg(parts.join(", ")));
}

bool ReviewController::flushCorrections()
{
    bool ok = true;
    for (auto it = m_pendingCorrections.begin(); it != m_pendingCorrections.end();) {
        try {
            m_store.write(it->first, it->second);
            it = m_pendingCorrections.erase(it);
        } catch (const std::exception& e) {
            m_window->showError(QString::fromStdString(e.what()));
            ok = false;
            ++it;
        }
    }
    return ok;
}

bool ReviewController::setMaskClass(int mask, int cls)
{
    if (!isEditableLayer() || mask <= 0 || cls < -1 || cls >= m_classes.size())
        return false;
    LabelEditor* editor = m_window->labelEditor();
    const QString key = editorKey();
    if (editor->shownPath() != key)
        return false;
    cv::Mat labels = editor->labels(key).clone();
    const cv::Mat before = labels.clone();
    labels.setTo(cls < 0 ? 0 : cls + 1, m_review->masks == mask);
    const LabelPatch patch = diffLabels(before, labels);
    return editor->applyEdit(patch, cls < 0 ? tr("Mask %1 \u2192 ignore").arg(mask)
                                            : tr("Mask %1 \u2192 %2")
                                                  .arg(mask)
                                                  .arg(QString::fromStdString(
                                                      m_classes.classes[std::size_t(cls)].name)));
}

void ReviewController::setClassTable(const ClassTable& table)
{
    if (table.size() != m_classes.size() || !hasRun())
        return;
    m_classes = table;
    const std::string path = runClassTablePath(runDir().toStdString());
    m_window->evaluationView()->setClassTable(m_classes, QString::fromStdString(path));
    try {
        writeClassTable(path, m_classes);
    } catch (const std::exception& e) {
        m_window->showError(QString::fromStdString(e.what()));
    }
    showLayer();
    emit edited();
}

void ReviewController::clearOutline()
{
    if (m_outline) {
        if (m_outline->scene())
            m_outline->scene()->removeItem(m_outline);
        delete m_outline;
        m_outline = nullptr;
    }
}

int ReviewController::inspectMask(const QPoint& pixel)
{
    if (!m_review || m_review->masks.empty() || pixel.x() < 0 || pixel.y() < 0 ||
        pixel.x() >= m_review->masks.cols || pixel.y() >= m_review->masks.rows)
        return 0;
    const int id = m_review->masks.at<std::uint8_t>(pixel.y(), pixel.x());
    clearOutline();
    const MaskVote* vote = id > 0 ? m_review->voteOf(id) : nullptr;
    if (vote == nullptr) {
        m_inspectedMask = 0;
        m_vote->clear();
        return 0;
    }
    m_inspectedMask = id;
    m_vote->setVote(*vote, m_clusterToClass, m_classes);
    m_voteDock->show();
    m_voteDock->raise();
    // The mask's outline over whatever layer is shown.
    std::vector<std::vector<cv::Point>> contours;
    cv::Mat inside = m_review->masks == id;
    cv::findContours(inside, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);
    QPainterPath path;
    for (const auto& contour : contours) {
        if (contour.empty())
            continue;
        QPolygonF polygon;
        for (const cv::Point& p : contour)
            polygon << QPointF(p.x + 0.5, p.y + 0.5);
        polygon << polygon.first();
        path.addPolygon(polygon);
    }
    QGraphicsScene* scene = m_window->canvas()->scene();
    if (scene) {
        m_outline = scene->addPath(path, QPen(QColor(255, 221, 0), 2.5));
        m_outline->setPen([] {
            QPen pen(QColor(255, 221, 0), 2.5);
            pen.setCosmetic(true);
            return pen;
        }());
        m_outline->setZValue(100);
    }
    return id;
}

bool ReviewController::eventFilter(QObject* watched, QEvent* event)
{
    // Only mouse presses and releases on the canvas's viewport matter, and those are
    // checked before the window is touched: the viewport also gets events while the
    // main window is being destroyed, when calling into it is undefined (UBSan: a
    // member call on a half-destroyed MainWindow).
    const bool press = event->type() == QEvent::MouseButtonPress ||
                       event->type() == QEvent::MouseButtonRelease;
    if (press && watched == m_canvasViewport && m_active && m_review &&
        m_layer == Layer::PseudoLabel && !m_window->canvas()->isEditing()) {
        if (event->type() == QEvent::MouseButtonPress) {
            auto* e = static_cast<QMouseEvent*>(event);
            if (e->button() == Qt::LeftButton)
                m_pressPos = e->position().toPoint();
        } else if (event->type() == QEvent::MouseButtonRelease) {
            auto* e = static_cast<QMouseEvent*>(event);
            if (e->button() == Qt::LeftButton && m_pressPos.x() >= 0 &&
                (e->position().toPoint() - m_pressPos).manhattanLength() <= kClickSlop) {
                const QPointF scene = m_window->canvas()->mapToScene(e->position().toPoint());
                inspectMask(QPoint(int(std::floor(scene.x())), int(std::floor(scene.y()))));
            }
            m_pressPos = QPoint(-1, -1);
        }
    }
    return QObject::eventFilter(watched, event);
}

} // namespace primaps
