// SPDX-License-Identifier: MIT
#pragma once

#include <string>

namespace primaps {

/// The folder with the programs' data (samples/, models/catalog.json) for an
/// executable at `executablePath`: <prefix>/share/primaps-studio beside its
/// <prefix>/bin, when that folder exists, else "". The build tree mirrors the
/// layout (build/app/share/primaps-studio links to the sources), so the same rule
/// serves /usr, /usr/local, a `dpkg -x` root and the build tree.
std::string dataDirectoryFor(const std::string& executablePath);

/// dataDirectoryFor() the running program (/proc/self/exe); "" when it has none.
/// Computed once; safe to call from any thread.
std::string dataDirectory();

/// dataDirectory() + "/" + relativePath when that file or folder exists, else "".
std::string dataPath(const std::string& relativePath);

} // namespace primaps
