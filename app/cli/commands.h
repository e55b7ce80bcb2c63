// SPDX-License-Identifier: MIT
#pragma once

#include <QStringList>

namespace primaps::cli {

/// Exit codes shared by every subcommand.
enum ExitCode {
    ExitOk = 0,
    ExitSomeInputsFailed = 1, ///< the others were processed; stderr names each failure
    ExitUsage = 2,            ///< bad arguments; nothing was processed
    ExitInterrupted = 130,    ///< Ctrl-C: stopped at a safe point; the same command resumes
};

/// `primaps decompose ...`; `arguments` starts with the program name followed by
/// "decompose". Returns an ExitCode.
int runDecompose(const QStringList& arguments);

/// `primaps fit ...`: features, masks and the EM fit over a dataset (fitcommand.cpp).
int runFit(const QStringList& arguments);

/// `primaps masks ...`: the per-image feature and mask stages over a dataset,
/// resumable and shardable (fitcommand.cpp).
int runMasks(const QStringList& arguments);

/// `primaps eval ...`: Hungarian-matched metrics of a fitted run (evalcommand.cpp).
int runEval(const QStringList& arguments);

/// `primaps export ...`: a pseudo-label dataset from a fitted run (exportcommand.cpp).
int runExport(const QStringList& arguments);

/// `primaps import --format F FILE --run RUN_DIR`: corrected annotations back into a
/// run's corrections, with a change report (importcommand.cpp).
int runImport(const QStringList& arguments);

/// `primaps features IMAGE --backbone NAME ... --out FILE.npy`: one image's backbone
/// features as a float32 C x h x w array (featurescommand.cpp).
int runFeatures(const QStringList& arguments);

/// `primaps backbones`: the backbones, their checkpoint files and where they are looked
/// for (backbonescommand.cpp).
int runBackbones(const QStringList& arguments);

/// `primaps project FILE.primaps`: reads a studio project and names the files it
/// refers to that are missing (projectcommand.cpp).
int runProject(const QStringList& arguments);

} // namespace primaps::cli
