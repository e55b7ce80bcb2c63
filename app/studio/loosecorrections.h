// SPDX-License-Identifier: MIT
#pragma once

#include "annotate/labeleditor.h"
#include "labels/corrections.h"

#include <map>
#include <opencv2/core/mat.hpp>
#include <QObject>
#include <QString>
#include <string>

class QTimer;

namespace primaps {

class LabelEditor;
class ImageListWidget;

/// Label corrections of loose images (opened with File ▸ Open Images, no run):
/// each edit in the label editor becomes a correction map of the image
/// (mask ids where the corrected labels differ from the decomposition, see
/// correctionFromEdit()) and is written to a CorrectionStore within
/// kWriteDelayMs, atomically; flush() writes at once. The store is the folder
/// beside the saved project (CorrectionStore::projectFolder()) or, while the
/// project is untitled, a folder in the recovery location of the autosave.
///
/// When an image is decomposed again in a later session, the label editor asks
/// restorerFor() (its restore hook) and shows the stored corrections applied
/// to the new decomposition. The restorer copies what it needs (the store's
/// folder, the key, a correction not yet written), so the Explore view's
/// worker reads and applies the correction off the GUI thread.
///
/// Keys are the images' file names without extension; two images of the same
/// name in different folders get a short hash of their path appended.
/// Threading: GUI thread only.
class LooseCorrections : public QObject
{
    Q_OBJECT

public:
    /// Written this long after the last edit (a brush stroke is many edits).
    static constexpr int kWriteDelayMs = 250;

    LooseCorrections(LabelEditor* editor, ImageListWidget* images, QObject* parent);

    const CorrectionStore& store() const { return m_store; }
    QString folder() const { return QString::fromStdString(m_store.folder()); }
    /// Uses `folder` from now on (pending corrections are written to the old one first).
    void setFolder(const QString& folder);
    /// Moves every stored correction to `folder` and uses it from now on: copies
    /// (each file atomically), then removes the old folder when it was the
    /// studio's untitled copy. False (reported through problem()) on failure;
    /// the old folder then stays in use.
    bool moveTo(const QString& folder);
    /// The store key of a loose image.
    std::string keyOf(const QString& imagePath) const;

    /// Writes pending corrections now; false when one could not be written.
    bool flush();
    bool hasPending() const { return !m_pending.empty(); }
    /// What applies `imagePath`'s stored correction to a decomposition's labels
    /// (empty labels when there is none; throws primaps::Error naming the file
    /// when it cannot be read or does not fit), on any thread. Empty without a store.
    LabelEditor::LabelRestorer restorerFor(const QString& imagePath);

signals:
    /// A correction changed (the project has something to save).
    void edited();
    /// A correction could not be read or written; `message` names the file.
    void problem(const QString& message);

private:
    void onDocumentEdited(const QString& path);

    LabelEditor* m_editor;
    ImageListWidget* m_images;
    CorrectionStore m_store;
    std::map<std::string, cv::Mat> m_pending; ///< key -> correction not yet written
    QTimer* m_writeTimer = nullptr;
};

} // namespace primaps
