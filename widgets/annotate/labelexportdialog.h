// SPDX-License-Identifier: MIT
#pragma once

#include "labels/labelmap.h"

#include <functional>
#include <QDialog>
#include <QStringList>

class QCheckBox;
class QDialogButtonBox;
class QLabel;
class QLineEdit;

namespace primaps {

/// Asks where and what to export of corrected label maps: one image's label
/// PNG (a file name) or every edited image's (a folder), plus the optional
/// colour PNG, overlay and JSON sidecar of names and colours. The files that
/// will be written are listed as the choices change, and the ones that exist
/// already are marked; the dialog writes nothing itself and does not ask about
/// replacing them (its caller does, when it exports).
class LabelExportDialog : public QDialog
{
    Q_OBJECT

public:
    enum class Mode
    {
        File,  ///< the target is the label PNG of one image
        Folder ///< the target is a folder for every edited image
    };

    /// `filesFor(target, options)` names the files an export to `target` would write.
    LabelExportDialog(Mode mode, const QString& target, const LabelExportOptions& options,
                      std::function<QStringList(const QString&, const LabelExportOptions&)> filesFor,
                      QWidget* parent = nullptr);

    QString target() const;
    void setTarget(const QString& target);
    LabelExportOptions options() const;
    void setOptions(const LabelExportOptions& options);
    /// The files the current choices would write, and those of them that exist.
    QStringList files() const;
    QStringList existingFiles() const;

private:
    void browse();
    void refresh();

    Mode m_mode;
    std::function<QStringList(const QString&, const LabelExportOptions&)> m_filesFor;
    float m_overlayOpacity = 0.6f;
    QLineEdit* m_target = nullptr;
    QCheckBox* m_color = nullptr;
    QCheckBox* m_overlay = nullptr;
    QCheckBox* m_sidecar = nullptr;
    QLabel* m_list = nullptr;
    QDialogButtonBox* m_buttons = nullptr;
};

} // namespace primaps
