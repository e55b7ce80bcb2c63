// SPDX-License-Identifier: MIT
// The studio's project file: parseProject() (strict JSON fields, paths, class table,
// match edits), readProject() and readAutosave() on the same bytes as a file, and
// projectFileProblems() on what was read (it only looks at file types).
//
// One invariant besides "no crash": a project that was accepted must survive being
// written and read again unchanged, or a save would silently alter the user's project.
#include "support/error.h"
#include "fuzz_support.h"
#include "runs/project.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>

using namespace primaps;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string text(reinterpret_cast<const char*>(data), size);
    const std::string path = fuzz::writeScratch("p/project.primaps", text);
    try {
        const Project project = parseProject(text, path);
        (void)projectFileProblems(project);
        const Project again = parseProject(projectToJson(project, path), path);
        if (again != project) {
            std::fprintf(stderr, "project changed by a save and a read:\n%s\n",
                         projectToJson(project, path).c_str());
            std::abort();
        }
    } catch (const Error& e) {
        fuzz::rejected(e);
    }
    try {
        (void)readProject(path);
    } catch (const Error& e) {
        fuzz::rejected(e);
    }
    try {
        (void)readAutosave(path);
    } catch (const Error& e) {
        fuzz::rejected(e);
    }
    return 0;
}
