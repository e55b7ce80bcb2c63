// SPDX-License-Identifier: MIT
// Shared by the dataset-level subcommands (fit, eval, masks): dataset options,
// problem reporting, a progress line for terminals, and Ctrl-C handling.
#pragma once

#include "dataset.h"
#include "datasetjobs.h"
#include "job.h"

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
    QCommandLineOption split{"split",
                             "Split to use (default: train for fit, val for eval; a "
                             "folder dataset uses all images unless ROOT/<split>.txt "
                             "lists them).",
                             "NAME"};
    QCommandLineOption classes{"classes",
                               "Number of classes of a folder dataset without "
                               "classes.txt.",
                               "K"};
    QCommandLineOption strict{"strict", "Stop at the first missing or unreadable file instead of "
                                        "reporting and skipping it."};
    QCommandLineOption shard{"shard",
                             "Process only items i, i+N, i+2N, ... (0 <= i < N), e.g. "
                             "one task of a cluster job array.",
                             "i/N"};
    QCommandLineOption quiet{{"q", "quiet"}, "Print errors and the result only."};

    void addTo(QCommandLineParser& parser) const
    {
        parser.addOptions({dataset, root, split, classes, strict, shard, quiet});
    }
};

/// Opens the dataset named by the options; `defaultSplit` applies to the
/// benchmark layouts. Prints the counts and every problem to `err` (problems
/// always, counts unless quiet). Throws primaps::Error for unusable options.
Dataset openDataset(const QCommandLineParser& parser, const DatasetCliOptions& options,
                    const std::string& defaultSplit, QTextStream& err, bool quiet);

/// Prints a stage report (counts, then one line per failure) to `err`.
void printStageReport(const char* stage, const StageReport& report, QTextStream& err, bool quiet);

/// Runs `job` on this thread with a progress display: a self-updating line when
/// stderr is a terminal, nothing in between when it is not (CI logs stay short).
/// Ctrl-C cancels the job at its next safe point. Returns the final state; a
/// failure's message is printed.
JobState runWithProgress(Job& job, QTextStream& err, bool quiet, const QString& command);

/// True when Ctrl-C was pressed during runWithProgress().
bool interrupted();

} // namespace primaps::cli
