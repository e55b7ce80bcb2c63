// SPDX-License-Identifier: MIT
#pragma once
// Rows the dialogs that run a job on a run folder share (review's pseudo-label
// export and correction import): the paragraph naming the folder, a path with
// a Browse… button, and the progress bar with its status line.

class QBoxLayout;
class QFormLayout;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QString;
class QWidget;

namespace primaps {

/// A wrapping paragraph at the top of `layout`: `text` is rich text whose %1
/// becomes the folder `runDir` (escaped, in the platform's separators).
QLabel* addRunIntro(QBoxLayout* layout, const QString& text, const QString& runDir,
                    QWidget* parent);

/// A line edit with a "Browse…" button beside it, as the row `label` of `form`.
/// Returns the button; what it browses for is the caller's.
QPushButton* addPathRow(QFormLayout* form, const QString& label, QLineEdit* edit,
                        QWidget* parent);

/// The job's feedback under the form: a progress bar in thousandths, hidden
/// until a job runs, and a wrapping status line the user can select and copy.
/// The dialog (parent's window) grows when they need more height than it has,
/// rather than squeezing the rows above them, as far as its screen's free area
/// allows, and moves so that it stays wholly on that screen.
struct JobFeedback
{
    QProgressBar* progress = nullptr;
    QLabel* status = nullptr;
};
JobFeedback addJobFeedback(QBoxLayout* layout, QWidget* parent);

} // namespace primaps
