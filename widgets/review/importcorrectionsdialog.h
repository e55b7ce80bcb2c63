// SPDX-License-Identifier: MIT
#pragma once

#include "labels/correctionimport.h"
#include "support/job.h"

#include <memory>
#include <QDialog>
#include <QFutureWatcher>

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QTableWidget;

namespace primaps {

/// File ▸ Import Corrections…: corrected annotations from CVAT, Label Studio,
/// a COCO file or label PNGs, stored as the run's corrections by core's
/// CorrectionImportJob (what `primaps import` runs), and the report of what the
/// annotators changed: in total, per class (changed pixels, IoU of pseudo-label
/// and corrected) and per image. Unknown label names are listed, never guessed.
///
/// Threading: GUI thread; the job runs on a pool thread. The destructor cancels
/// and waits.
class ImportCorrectionsDialog : public QDialog
{
    Q_OBJECT

public:
    explicit ImportCorrectionsDialog(const QString& runDir, QWidget* parent = nullptr);
    ~ImportCorrectionsDialog() override;

    /// The annotations to import; the format follows the file's name unless set.
    void setFile(const QString& path);
    void setFormat(interchange::AnnotationFormat format);
    void setOverwrite(bool overwrite);

    /// Starts the import; false when nothing was started (no file, or running).
    bool start();
    bool isRunning() const { return m_watcher.isRunning(); }
    JobState lastState() const { return m_state; }
    /// The last report (empty before an import finished).
    const interchange::CorrectionImportReport& report() const { return m_report; }
    QString summary() const;

signals:
    /// After an import; `stored` corrections were written to the run.
    void importFinished(bool ok, int stored);

protected:
    void reject() override;

private:
    struct Outcome;
    void onFinished();
    void showReport();

    QString m_runDir;
    QLineEdit* m_file = nullptr;
    QComboBox* m_format = nullptr;
    QCheckBox* m_overwrite = nullptr;
    QProgressBar* m_progress = nullptr;
    QLabel* m_status = nullptr;
    QTableWidget* m_classes = nullptr;
    QTableWidget* m_images = nullptr;
    QPushButton* m_start = nullptr;
    std::shared_ptr<JobControl> m_control;
    QFutureWatcher<std::shared_ptr<Outcome>> m_watcher;
    interchange::CorrectionImportReport m_report;
    JobState m_state = JobState::Idle;
    QString m_summary;
};

} // namespace primaps
