// SPDX-License-Identifier: MIT
// The studio's project file (*.primaps, JSON): what was opened (a dataset or loose
// images), the run, the backbone and its checkpoint, the parameters, the class
// table, the match edits and where the corrections live; and the autosave
// convention for crash recovery.
#pragma once

#include "runs/classtable.h"
#include "dataset/dataset.h"
#include "runs/matchedits.h"

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace primaps {

/// The settings a project remembers.
struct ProjectParameters
{
    int resolution = 0;     ///< shorter side before the crop; 0 = the backbone's
    float threshold = 0;    ///< PriMaPs tau; 0 = the backbone's
    bool maskCrf = true;    ///< dense CRF on the decomposition's masks
    std::string theta = "r"; ///< the prediction shown: "m" or "r"
    bool predictionCrf = false; ///< the prediction shown with the dense CRF

    bool operator==(const ProjectParameters& o) const
    {
        return resolution == o.resolution && threshold == o.threshold && maskCrf == o.maskCrf &&
               theta == o.theta && predictionCrf == o.predictionCrf;
    }
};

/// A project. Paths are absolute in memory; the file stores those under the
/// project's folder relative to it, so a project folder can be moved as a whole.
/// A plain value: copy and compare (autosave compares with the last saved state).
struct Project
{
    static constexpr int kVersion = 1;

    bool hasDataset = false;
    DatasetOptions dataset;          ///< when hasDataset (kind, root, split, classes)
    std::vector<std::string> images; ///< loose images, when there is no dataset
    std::string runDir;              ///< the fitted run; empty when none
    std::string backbone;            ///< e.g. "filterbank", "dino-vits8"
    std::string checkpoint;          ///< weights file; empty = the backbone's default
    std::string checkpointSha256;    ///< 64 lowercase hex digits; empty when unknown
    ProjectParameters parameters;
    ClassTable classes;
    MatchEdits matchEdits;
    /// Corrections folder: CorrectionStore::runFolder(runDir) with a run,
    /// CorrectionStore::projectFolder(project file) without.
    std::string correctionsDir;
    std::string currentImage; ///< item id or image path shown last; empty = the first

    bool operator==(const Project& o) const;
    bool operator!=(const Project& o) const { return !(*this == o); }
};

/// The file's text: {"format": "primaps-project", "version": 1, "dataset":
/// {kind, root, split, classes} | null, "images": [...], "run", "backbone":
/// {name, checkpoint, sha256}, "parameters": {...}, "classes": [{id, name,
/// colour}], "match_edits": {"overrides": [{cluster, class}], "merges":
/// [{cluster, into}], "ignored": [cluster, ...]}, "corrections", "current_image"}.
/// Paths under the folder of `projectPath` are written relative to it.
std::string projectToJson(const Project& project, const std::string& projectPath);

/// Reads projectToJson() text strictly: unknown format, a newer version, a
/// missing or mistyped field, an unknown dataset kind, a bad SHA-256, duplicate
/// or out-of-range class ids, or bad match edits give primaps::Error naming
/// `projectPath` and the field ("'x.primaps': field 'backbone.sha256' must be 64
/// hex digits"). Relative paths are resolved against the project's folder.
/// Does not check that the files it names exist (the caller reports those).
Project parseProject(const std::string& text, const std::string& projectPath);

/// A project file is a few kilobytes; a larger one is refused before it is read
/// (a hostile "project" could be a device or a multi-gigabyte file).
inline constexpr std::size_t kMaxProjectFileBytes = 16u << 20;

/// Reads a project file; throws primaps::Error naming the file (also when it is not
/// a regular file or larger than kMaxProjectFileBytes).
Project readProject(const std::string& path);

/// What a read project names that is not there: the dataset root, each loose
/// image, the run folder (and its run.json), the checkpoint, and the corrections
/// folder when something else stands in its place. One problem per path, its
/// message naming the field and the path; nothing is opened or read.
std::vector<DatasetProblem> projectFileProblems(const Project& project);
/// Writes the project atomically (never a half-written file). Throws
/// primaps::Error naming the file.
void writeProject(const std::string& path, const Project& project);

/// Autosave and crash recovery.
///
/// A saved project autosaves to "<project>.autosave" beside it; an untitled one
/// to "<recoveryFolder()>/untitled-<session>.primaps.autosave". An autosave file
/// is a project file that also records which project it belongs to (empty for
/// untitled) and when it was written. The studio removes its autosave on a
/// clean save or close; one left behind at start-up means a crash, and is offered
/// for restore.
struct Autosave
{
    Project project;
    std::string projectPath; ///< the project it belongs to; empty = untitled
    std::string written;     ///< UTC time, ISO 8601
    std::string path;        ///< the autosave file itself
};

/// "<project>.autosave".
std::string projectAutosavePath(const std::string& projectPath);
/// $PRIMAPS_RECOVERY_DIR, else $XDG_STATE_HOME/primaps-studio/recovery, else
/// $HOME/.local/state/primaps-studio/recovery (tests set the first). Not created here.
std::string recoveryFolder();
/// "<recoveryFolder()>/untitled-<session>.primaps.autosave"; `session` is any
/// token unique to the running studio (e.g. its process id and start time).
std::string untitledAutosavePath(const std::string& session);
/// "<recoveryFolder()>/untitled-<session>.corrections": where the label
/// corrections of loose images go until the project is saved.
std::string untitledCorrectionsFolder(const std::string& session);
/// Whether `folder` is such a folder (in recoveryFolder(), named untitled-*.corrections),
/// i.e. the studio's own copy that it may remove once the work is saved or dropped.
bool isUntitledCorrectionsFolder(const std::string& folder);

/// Writes an autosave atomically (creating its folder). Throws primaps::Error
/// naming the file.
void writeAutosave(const std::string& autosavePath, const Project& project,
                   const std::string& projectPath);
/// Reads an autosave; throws primaps::Error naming the file like readProject().
Autosave readAutosave(const std::string& autosavePath);
/// Autosaves of untitled projects in recoveryFolder(), newest first; files that
/// cannot be read are skipped (they are listed in `problems` when given).
std::vector<Autosave> findUntitledAutosaves(std::vector<DatasetProblem>* problems = nullptr);
/// Removes an autosave file; no error when it is gone already.
void removeAutosave(const std::string& autosavePath);

} // namespace primaps
