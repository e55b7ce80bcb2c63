// SPDX-License-Identifier: MIT
#pragma once

#include "runs/project.h"

#include <functional>
#include <optional>
#include <QObject>
#include <QString>

class QAction;
class QTimer;

namespace primaps {

class LooseCorrections;
class MainWindow;
class ReviewController;

/// The studio's project (*.primaps) and its safety net: File ▸ Open Project…,
/// Save Project, Save Project As…; autosave within autosaveInterval() of any
/// edit and at every image switch after edits, written atomically beside the
/// project (or in the recovery folder while untitled); and, at the next start
/// after a crash, the offer to restore what the autosave holds.
///
/// What a project holds comes from the review (dataset, run, backbone and its
/// checkpoint's SHA-256, parameters, class table, match edits, where the
/// corrections live, the image on screen); corrections themselves are per-image
/// PNGs in the store, which an autosave flushes first. Loose images (no run)
/// keep theirs in LooseCorrections, written as they are made.
///
/// Threading: GUI thread only; the checkpoint's SHA-256 is computed on a pool thread.
class ProjectController : public QObject
{
    Q_OBJECT

public:
    ProjectController(MainWindow* window, ReviewController* review);
    ~ProjectController() override;

    /// The QSettings key of the autosave interval in seconds (default 30).
    static QString intervalSettingKey();
    /// The interval from the settings, in milliseconds.
    static int autosaveInterval();

    /// The project as it stands now (paths absolute).
    Project currentProject() const;
    QString projectPath() const { return m_path; }
    bool isDirty() const { return m_dirty; }
    /// Where the next autosave goes.
    QString autosavePath() const;

    /// Writes the project to `path` (atomically; corrections flushed first) and
    /// removes its autosave. Returns false and reports when it cannot.
    bool save(const QString& path);
    /// Reads a project and opens what it names; when its autosave is newer,
    /// asks whether to restore that instead. Returns false (reported) when the
    /// file cannot be read.
    bool open(const QString& path);
    /// Applies a project read from a file or an autosave: opens its run or
    /// dataset, and once the split is counted, its class table, match edits and image.
    void apply(const Project& project);
    /// Writes the autosave now (when there is something to save).
    bool autosaveNow();
    /// At start-up: offers to restore an autosave left by a studio that did not
    /// close (untitled projects). Returns true when one was restored.
    bool offerRecovery();
    /// Replaces the restore question (default: a message box); tests answer it.
    void setRestoreQuestion(std::function<bool(const Autosave&)> question)
    {
        m_restoreQuestion = std::move(question);
    }
    /// A clean end: flushes corrections, removes the autosave.
    void closeCleanly();
    /// Corrections of loose images (no run, no dataset): beside the project
    /// file once it is saved, in the recovery folder before.
    LooseCorrections* looseCorrections() const { return m_loose; }

signals:
    /// A project (or a restored autosave) is fully applied: its edits are in place.
    void projectApplied();
    void autosaved(const QString& path);

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    void markDirty();
    void openDialog();
    void saveAsDialog();
    void finishApply();
    /// Loose images: neither a run nor a dataset is open.
    bool isLoose() const;

    MainWindow* m_window;
    ReviewController* m_review;
    LooseCorrections* m_loose = nullptr;
    QString m_path;
    QString m_session;
    bool m_dirty = false;
    QTimer* m_autosaveTimer = nullptr;
    std::optional<Project> m_applying; ///< waiting for the run's counts
    QString m_checkpointSha256;
    std::function<bool(const Autosave&)> m_restoreQuestion;
    QAction* m_saveAction = nullptr;
};

} // namespace primaps
