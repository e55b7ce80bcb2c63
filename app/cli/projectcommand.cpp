// SPDX-License-Identifier: MIT
// `primaps project FILE.primaps`: reads a studio project as the studio does and says
// what it holds and which of the files it names are missing, e.g. after a project
// folder was moved or copied to another machine. Reads only; writes nothing.
#include "commandline.h"
#include "commands.h"
#include "support/error.h"
#include "runs/project.h"

#include <QCommandLineParser>
#include <QTextStream>

namespace primaps::cli {

int runProject(const QStringList& arguments)
{
    QTextStream out(stdout);
    QTextStream err(errorOutput());

    QCommandLineParser parser;
    parser.setApplicationDescription(
        "Check a PriMaPs Studio project file: read it strictly, summarise it, and name\n"
        "every file or folder it refers to that is missing (dataset root, images, run\n"
        "folder, checkpoint, corrections). Nothing is written.\n"
        "Exit codes: 0 the project and everything it names are there, 1 some named\n"
        "files are missing, 2 the project file itself cannot be used.");
    parser.addPositionalArgument("project", "The project file (*.primaps).", "FILE.primaps");
    if (const auto done = parseCommandLine(parser, arguments, "project"))
        return *done;
    if (parser.positionalArguments().size() != 1) {
        err << "primaps project: needs exactly one FILE.primaps; see 'primaps project --help'\n";
        return ExitUsage;
    }
    const std::string path = parser.positionalArguments().first().toStdString();

    Project project;
    try {
        project = readProject(path);
    } catch (const Error& e) {
        err << "primaps project: " << e.what() << "\n";
        return ExitUsage;
    }

    auto q = [](const std::string& s) { return QString::fromStdString(s); };
    out << "project " << q(path) << "\n";
    if (project.hasDataset)
        out << "  dataset   " << q(toString(project.dataset.kind)) << " at "
            << q(project.dataset.root)
            << (project.dataset.split.empty() ? QString() : ", split " + q(project.dataset.split))
            << "\n";
    if (!project.images.empty())
        out << "  images    " << project.images.size() << "\n";
    if (!project.runDir.empty())
        out << "  run       " << q(project.runDir) << "\n";
    out << "  backbone  " << q(project.backbone.empty() ? "(default)" : project.backbone)
        << (project.checkpoint.empty() ? QString() : ", " + q(project.checkpoint)) << "\n";
    out << "  classes   " << project.classes.size() << "\n";

    const std::vector<DatasetProblem> problems = projectFileProblems(project);
    for (const DatasetProblem& problem : problems)
        err << "primaps project: '" << q(path) << "': " << q(problem.message) << "\n";
    if (!problems.empty()) {
        err << "primaps project: " << problems.size()
            << " missing file(s); the studio opens the project without them\n";
        return ExitSomeInputsFailed;
    }
    out << "every file it names is there\n";
    return ExitOk;
}

} // namespace primaps::cli
