// SPDX-License-Identifier: MIT
#pragma once

#include <QStringList>

namespace primaps::cli {

/// Exit codes shared by every subcommand.
enum ExitCode {
    ExitOk = 0,
    ExitSomeInputsFailed = 1, ///< the others were processed; stderr names each failure
    ExitUsage = 2,            ///< bad arguments; nothing was processed
};

/// `primaps decompose ...`; `arguments` starts with the program name followed by
/// "decompose". Returns an ExitCode.
int runDecompose(const QStringList& arguments);

} // namespace primaps::cli
