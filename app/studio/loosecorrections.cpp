// SPDX-License-Identifier: MIT
#include "loosecorrections.h"

#include "explore/imagelistwidget.h"
#include "annotate/labeleditor.h"
#include "runs/project.h"

#include <QCryptographicHash>
#include <QDir>
#include <QFileInfo>
#include <QTimer>

namespace primaps {

namespace {

// Mask ids of a label map; CorrectionIgnore and CorrectionNone are the store's
// own values, so the ids a correction can hold end below them.
constexpr int kMaskIds = CorrectionIgnore;
constexpr int kIgnoreLabel = 255;

} // namespace

LooseCorrections::LooseCorrections(LabelEditor* editor, ImageListWidget* images, QObject* parent)
    : QObject(parent), m_editor(editor), m_images(images)
{
    m_writeTimer = new QTimer(this);
    m_writeTimer->setSingleShot(true);
    m_writeTimer->setInterval(kWriteDelayMs);
    connect(m_writeTimer, &QTimer::timeout, this, &LooseCorrections::flush);
    connect(m_editor, &LabelEditor::documentEdited, this, &LooseCorrections::onDocumentEdited);
    m_editor->setRestoreHook([this](const QString& path) { return restorerFor(path); });
    // Restoring without the worker (a result it did not restore for) reports here.
    connect(m_editor, &LabelEditor::restoreFailed, this, &LooseCorrections::problem);
}

std::string LooseCorrections::keyOf(const QString& imagePath) const
{
    const QFileInfo info(imagePath);
    QString key = info.completeBaseName();
    if (key.isEmpty() || key == QLatin1String(".") || key == QLatin1String(".."))
        key = QStringLiteral("image");
    key.replace(QLatin1Char('\\'), QLatin1Char('_'));
    // Another image of the same name: the path tells them apart.
    const QString absolute = info.absoluteFilePath();
    for (const QString& other : m_images->paths()) {
        const QFileInfo o(other);
        if (o.completeBaseName() == info.completeBaseName() && o.absoluteFilePath() != absolute) {
            const QByteArray hash =
                QCryptographicHash::hash(absolute.toUtf8(), QCryptographicHash::Sha256).toHex();
            key += QLatin1Char('-') + QString::fromLatin1(hash.left(8));
            break;
        }
    }
    return key.toStdString();
}

void LooseCorrections::onDocumentEdited(const QString& path)
{
    if (path.isEmpty() || m_editor->isExternal(path) || !m_store.valid())
        return;
    const cv::Mat base = m_editor->baseLabels(path);
    const cv::Mat labels = m_editor->labels(path);
    if (base.empty() || labels.empty())
        return;
    try {
        m_pending[keyOf(path)] = correctionFromEdit(base, labels);
    } catch (const std::exception& e) {
        emit problem(QString::fromStdString(e.what()));
        return;
    }
    m_writeTimer->start();
    emit edited();
}

bool LooseCorrections::flush()
{
    m_writeTimer->stop();
    bool ok = true;
    for (auto it = m_pending.begin(); it != m_pending.end();) {
        try {
            m_store.write(it->first, it->second);
            it = m_pending.erase(it);
        } catch (const std::exception& e) {
            emit problem(QString::fromStdString(e.what()));
            ok = false;
            ++it;
        }
    }
    return ok;
}

void LooseCorrections::setFolder(const QString& folder)
{
    if (!m_pending.empty())
        flush();
    m_pending.clear(); // what could not be written to the old folder is not the new one's
    m_store = CorrectionStore(QDir::cleanPath(QFileInfo(folder).absoluteFilePath()).toStdString());
}

bool LooseCorrections::moveTo(const QString& folder)
{
    const CorrectionStore target(QDir::cleanPath(QFileInfo(folder).absoluteFilePath()).toStdString());
    if (!flush())
        return false;
    if (target.folder() == m_store.folder())
        return true;
    try {
        for (const std::string& key : m_store.keys())
            target.write(key, m_store.read(key));
        // A stale correction of one of these images in the target (an older
        // project saved under this name) would come back on the next opening.
        for (const QString& image : m_images->paths()) {
            const std::string key = keyOf(image);
            if (!m_store.contains(key) && target.contains(key))
                target.remove(key);
        }
    } catch (const std::exception& e) {
        emit problem(QString::fromStdString(e.what()));
        return false;
    }
    const std::string old = m_store.folder();
    m_store = target;
    if (isUntitledCorrectionsFolder(old))
        QDir(QString::fromStdString(old)).removeRecursively();
    return true;
}

LabelEditor::LabelRestorer LooseCorrections::restorerFor(const QString& imagePath)
{
    if (!m_store.valid())
        return {};
    // Keys need the image list: worked out here, on the GUI thread. A correction
    // not yet written goes along as it is (the map is replaced, never changed, on
    // the next edit); otherwise the worker reads the file.
    const std::string key = keyOf(imagePath);
    const auto found = m_pending.find(key);
    const cv::Mat pending = found != m_pending.end() ? found->second : cv::Mat();
    return [store = m_store, key, pending](const cv::Mat& base) -> cv::Mat {
        if (base.empty())
            return {};
        const cv::Mat correction = pending.empty() ? store.read(key) : pending;
        if (correction.empty())
            return {};
        cv::Mat labels = base.clone();
        applyCorrection(labels, correction, kMaskIds, kIgnoreLabel, store.path(key));
        return labels;
    };
}

} // namespace primaps
