// SPDX-License-Identifier: MIT
#pragma once

#include <string>

namespace primaps {

/// Refuses a fit's run folder that holds someone else's files, before any work.
///
/// A fit writes run.json, state.json, theta_m.json, theta_r.json, history.csv and
/// metrics.csv into its folder and replaces them as it goes, so it may only use a
/// folder that does not exist yet, is empty, is one of its own runs (run.json with
/// "format": "primaps-run", to resume or restart) or holds nothing but its cache
/// folder (a fit stopped while caching, before run.json is written: `cacheDir`
/// when it lies directly inside runDir, else "cache") and the files desktops
/// leave in folders (.DS_Store, Thumbs.db, desktop.ini). Anything else is a
/// user's folder: throws Error naming the folder and up to three of its entries.
/// The per-image stages (`masks --out`) are held to the same rule, as the fit
/// later writes into the same folder.
void requireFitRunFolder(const std::string& runDir, const std::string& cacheDir = {});

} // namespace primaps
