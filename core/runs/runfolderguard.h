// SPDX-License-Identifier: MIT
#pragma once

#include <string>

namespace primaps {

/// Refuses a fit's run folder that holds someone else's files, before any work.
///
/// A fit writes run.json, state.json, theta_m.json, theta_r.json, history.csv and
/// metrics.csv into its folder and replaces them as it goes, so it may only use a
/// folder that does not exist yet, is empty, is one of its own runs (run.json with
/// "format": "primaps-run", to resume or restart) or holds nothing but a "cache"
/// folder (a fit stopped while caching, before run.json is written). Anything else
/// is a user's folder: throws Error naming the folder and up to three of its
/// entries.
void requireFitRunFolder(const std::string& runDir);

} // namespace primaps
