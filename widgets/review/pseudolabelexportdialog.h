// SPDX-License-Identifier: MIT
#pragma once

#include "dataset/dataset.h"
#include "support/job.h"

#include <functional>
#include <memory>
#include <vector>
#include <QDialog>
#include <QFutureWatcher>

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;

namespace primaps {

/// File ▸ Export Pseudo-Label Dataset…: a run's pseudo-label dataset written by
/// core's PseudoLabelExportJob, the very job `primaps export` runs, so the files
/// are the same: the run's edited match (match.json), class table and
/// corrections applied. Runs in the background with progress and cancel; every
/// file is written atomically and a canceled export resumes. An output folder
/// that already holds files is replaced only after the user says so.
///
/// Threading: GUI thread; the job runs on a pool thread with its own copy of the
/// run (backbone). The destructor cancels and waits.
class PseudoLabelExportDialog : public QDialog
{
    Q_OBJECT

public:
    PseudoLabelExportDialog(const QString& runDir, const DatasetOptions& dataset,
                            QWidget* parent = nullptr);
    ~PseudoLabelExportDialog() override;

    void setOutputFolder(const QString& folder);
    QString outputFolder() const;
    /// θ ("m" / "r") and the CRF of the predictions.
    void setPrediction(const QString& theta, bool crf);

    /// What to do with an output folder that holds files already.
    enum class ExistingChoice
    {
        Replace, ///< write every file again (overwrite)
        Resume,  ///< keep finished images (same parameters only)
        Cancel,
    };
    /// Replaces the question (default: a message box); tests answer it.
    void setExistingQuestion(std::function<ExistingChoice(const QString& folder)> question)
    {
        m_question = std::move(question);
    }

    /// Starts the export; false when nothing was started (no folder, the answer
    /// was Cancel, or one is running).
    bool start();
    void cancel();
    bool isRunning() const { return m_watcher.isRunning(); }
    /// How the last export ended, and its summary or error.
    JobState lastState() const { return m_state; }
    QString summary() const;

signals:
    void exportFinished(bool ok);

protected:
    void reject() override;

private:
    struct Outcome;
    void onFinished();

    QString m_runDir;
    DatasetOptions m_dataset;
    QLineEdit* m_folder = nullptr;
    QComboBox* m_theta = nullptr;
    QCheckBox* m_crf = nullptr;
    QCheckBox* m_palette = nullptr;
    std::vector<QCheckBox*> m_formats; ///< COCO, panoptic, CVAT, Label Studio
    QCheckBox* m_colour = nullptr;
    QCheckBox* m_overlay = nullptr;
    QCheckBox* m_corrections = nullptr;
    QComboBox* m_size = nullptr;
    QProgressBar* m_progress = nullptr;
    QLabel* m_status = nullptr;
    QPushButton* m_start = nullptr;
    QPushButton* m_cancel = nullptr;
    QFutureWatcher<std::shared_ptr<Outcome>> m_watcher;
    std::shared_ptr<JobControl> m_control;
    std::function<ExistingChoice(const QString&)> m_question;
    JobState m_state = JobState::Idle;
    QString m_summary;
};

} // namespace primaps
