// SPDX-License-Identifier: MIT
// Shared by the dataset-level subcommands (fit, eval, masks): dataset options,
// problem reporting, a progress line for terminals, and Ctrl-C handling.
#pragma once

#include "commandline.h"
#include "dataset/dataset.h"
#include "runs/datasetjobs.h"
#include "support/job.h"

#include <optional>
#include <QCommandLineOption>
#include <QCommandLineParser>
#include <QString>
#include <QTextStream>

namespace primaps::cli {

/// The options every dataset command accepts.
struct DatasetCliOptions
{
    QCommandLineOption dataset{
        "dataset", "Dataset layout: folder, cityscapes, cocostuff27, potsdam3.", "KIND"};
    QCommandLineOption root{"root", "Dataset root folder.", "DIR"};
    /// Its help says what the command does with it; addTo() sets it.
    QCommandLineOption split{"split", "Split to use.", "NAME"};
    QCommandLineOption classes{"classes",
                               "Number of classes of a folder dataset without "
                               "classes.txt.",
                               "K"};
    QCommandLineOption holdout{"holdout",
                               "Folder dataset without split lists: hold out this fraction of "
                               "the images (chosen by a fixed hash of their file names) as split "
                               "'val', the rest is split 'train'.",
                               "F"};
    QCommandLineOption strict{"strict",
                              "Stop at the first missing, unreadable or partly decoded file, or "
                              "label ids outside the class range, instead of reporting it and "
                              "going on."};
    QCommandLineOption shard{"shard",
                             "Process only items i, i+N, i+2N, ... (0 <= i < N), e.g. "
                             "one task of a cluster job array.",
                             "i/N"};
    QCommandLineOption quiet{{"q", "quiet"}, "Print errors and the result only."};

    /// Adds the options; `splitHelp` is --split's help, which differs by command
    /// (what the split is for and its default: splitHelpFor()).
    void addTo(QCommandLineParser& parser, const QString& splitHelp) const
    {
        QCommandLineOption described = split;
        described.setDescription(splitHelp);
        parser.addOptions({dataset, root, described, classes, holdout, strict, shard, quiet});
    }
};

/// --split's help for a command that reads the split `purpose` ("to fit on",
/// "to evaluate") and defaults to split role `role` (core's defaultSplit()): the
/// named split of the benchmark layouts and of a --holdout folder, else the images
/// ROOT/<role>.txt lists, or the whole folder without that file.
QString splitHelpFor(const QString& purpose, const QString& role);

/// The dataset the options name, checked into `checker` (one error per bad
/// option). Without --split the split is core's defaultSplit(options, splitRole)
/// ("train" for fit, "val" for eval; a folder reads ROOT/<role>.txt when it
/// exists, else every image). `fromRun` (a run folder's dataset) stands in for each of
/// --dataset, --root, --classes and --holdout that is not given.
DatasetOptions datasetOptions(const QCommandLineParser& parser, const DatasetCliOptions& options,
                              const std::string& splitRole, OptionChecker& checker,
                              const DatasetOptions* fromRun = nullptr);

/// Opens the dataset. Prints the counts and every problem to `err` (problems
/// always, counts unless quiet). Throws primaps::Error when it cannot be opened.
Dataset openDataset(const DatasetOptions& options, QTextStream& err, bool quiet);

/// One line for a folder dataset read as a whole (no split list, no hold-out),
/// where evaluation sees the training images; empty otherwise.
QString wholeFolderNote(const Dataset& dataset);

/// One line when a split of the data the run was fitted on is evaluated and the
/// fit has seen its images (core's fitOverlap(): the run fitted on the whole folder,
/// or evaluated on its own fitted split); empty otherwise, and for a folder
/// evaluated whole, which wholeFolderNote() names.
QString fittedOnEvaluatedImagesNote(const DatasetOptions& fitted, const Dataset& evaluated);

/// Prints a stage report (one line per failure and per warning, then the counts) to `err`.
void printStageReport(const char* stage, const StageReport& report, QTextStream& err, bool quiet);

/// Runs `job` on this thread with a progress display: a self-updating line when
/// stderr is a terminal, otherwise one plain line every ~10 s (the environment
/// variable PRIMAPS_PROGRESS_SECONDS changes the interval), nothing with `quiet`.
/// Ctrl-C cancels the job at its next safe point. Returns the final state; a
/// failure's message is printed.
JobState runWithProgress(Job& job, QTextStream& err, bool quiet, const QString& command);

/// True when Ctrl-C was pressed during runWithProgress().
bool interrupted();

} // namespace primaps::cli
