// SPDX-License-Identifier: MIT
#include "runs/runfolderguard.h"

#include "runs/rundescription_p.h"
#include "support/atomicfile.h"
#include "support/error.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <system_error>

namespace primaps {

namespace fs = std::filesystem;

namespace {

bool isOurRunDescription(const fs::path& path)
{
    try {
        return isFitRunDescription(
            nlohmann::json::parse(readFile(path.string(), std::size_t(16) << 20)));
    } catch (const std::exception&) {
        return false; // unreadable or not JSON: not ours either
    }
}

} // namespace

void requireFitRunFolder(const std::string& runDir, const std::string& cacheDir)
{
    std::error_code ec;
    const fs::path dir(runDir);
    if (!fs::exists(dir, ec))
        return;
    if (!fs::is_directory(dir, ec))
        throw Error("'" + runDir + "' is a file, not a run folder; give a new or empty folder");
    const fs::path description = dir / "run.json";
    if (fs::exists(description, ec)) {
        if (isOurRunDescription(description))
            return;
        throw Error("'" + description.string() +
                    "' is not a run description of this tool and the fit would replace it; "
                    "give a new or empty folder, or one of its own runs");
    }
    // The cache folder a stopped fit leaves behind: the default "cache", or the
    // one given when it lies directly inside the run folder.
    std::string cacheName = "cache";
    if (!cacheDir.empty()) {
        const fs::path cache = fs::absolute(cacheDir, ec).lexically_normal();
        const fs::path run = fs::absolute(dir, ec).lexically_normal();
        if (cache.parent_path() == run)
            cacheName = cache.filename().string();
    }
    std::string foreign;
    int shown = 0, count = 0;
    for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
        const std::string name = entry.path().filename().string();
        if ((name == "cache" || name == cacheName) && entry.is_directory(ec))
            continue;
        if (name == ".DS_Store" || name == "Thumbs.db" || name == "desktop.ini")
            continue;
        // Three are named; a fourth says there are more. The walk stops there: a
        // folder of 100,000 photos (or a slow share) must not hold up the check,
        // which the studio's New Fit dialog runs as the user leaves the field.
        if (++count > 3)
            break;
        foreign += (shown++ ? ", '" : "'") + name + "'";
    }
    if (ec)
        throw Error("cannot read the run folder '" + runDir + "': " + ec.message());
    if (count > 0)
        throw Error("'" + runDir + "' already holds files that are not from a fit (" + foreign +
                    (count > 3 ? std::string(" and more") : std::string()) +
                    "); a fit writes run.json, theta_m.json, history.csv and more into its run "
                    "folder. Give a new or empty folder, or one of its own runs");
}

} // namespace primaps
