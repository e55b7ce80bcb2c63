// SPDX-License-Identifier: MIT
#include "support/datadir.h"

#include <climits>
#include <cstdlib>
#include <sys/stat.h>

namespace primaps {

namespace {

bool exists(const std::string& path)
{
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
}

bool isDirectory(const std::string& path)
{
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// The folder part of `path` ("" when it has none), without trailing slashes.
std::string parentOf(const std::string& path)
{
    const std::size_t slash = path.find_last_of('/');
    if (slash == std::string::npos)
        return {};
    std::string parent = path.substr(0, slash);
    while (parent.size() > 1 && parent.back() == '/')
        parent.pop_back();
    return parent.empty() ? std::string("/") : parent;
}

} // namespace

std::string dataDirectoryFor(const std::string& executablePath)
{
    const std::string bin = parentOf(executablePath);
    if (bin.empty())
        return {};
    const std::string candidate = bin + "/../share/primaps-studio";
    if (!isDirectory(candidate))
        return {};
    // Report it without the "..", as users would type it.
    char resolved[PATH_MAX];
    if (::realpath(candidate.c_str(), resolved) != nullptr)
        return resolved;
    return candidate;
}

std::string dataDirectory()
{
    static const std::string dir = [] {
        char self[PATH_MAX];
        if (::realpath("/proc/self/exe", self) == nullptr)
            return std::string();
        return dataDirectoryFor(self);
    }();
    return dir;
}

std::string dataPath(const std::string& relativePath)
{
    const std::string dir = dataDirectory();
    if (dir.empty())
        return {};
    const std::string path = dir + "/" + relativePath;
    return exists(path) ? path : std::string();
}

} // namespace primaps
