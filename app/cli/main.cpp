// SPDX-License-Identifier: MIT
// primaps: command-line front end of PriMaPs Studio. Every subcommand is a thin
// layer over primaps_core, the same code the GUI runs.
#include "commandline.h"
#include "commands.h"

#include "support/runtime.h"

#include <QCoreApplication>
#include <QTextStream>

namespace {

const char* const kUsage = R"(Usage: primaps <command> [options]

PriMaPs Studio command line: principal mask proposals for unsupervised
semantic segmentation (Hahn et al., TMLR 2024).

Commands:
  decompose   Decompose images (or feature arrays) into PriMaPs masks; writes
              mask ids, an overlay and the per-iteration trace per input.
  masks       Cache backbone features and PriMaPs masks for a whole dataset
              (resumable; --shard i/N for cluster job arrays).
  fit         Fit class prototypes over a dataset with PriMaPs-EM or the
              k-means baseline; progress, checkpoints, resume.
  eval        Evaluate a fitted run: Acc, mIoU, per-class IoU after Hungarian
              matching (--crf, --json; shard partials and --merge).
  export      Export a pseudo-label dataset from a fitted run: label PNGs
              (matched classes or raw clusters), colour and overlay pictures,
              a manifest (resumable; --shard i/N).
  import      Import corrected annotations (COCO, CVAT, Label Studio, PNG)
              into a run's corrections and report what the annotators
              changed (per class changed pixels and IoU).
  features    Extract one image's backbone features into a C x h x w .npy array
              (--backbone dino_vits8 --weights FILE.pth, torchscript, ...).
  backbones   List the backbones, their checkpoint files and where they are
              looked for.
  project     Check a studio project file (*.primaps): what it holds and which
              files it names are missing.

Options:
  -h, --help     Show this help, or `primaps <command> --help` for a command.
  -v, --version  Show the version and the libraries this build uses.
The computing commands also take --threads N (default: one per core) and the
pixel budget --max-pixels N, --max-aspect R. More in README, "The command line".

Exit codes: 0 success, 1 some inputs failed (the rest were processed),
2 bad arguments, 130 interrupted (masks/fit/eval/export: run again to continue).
)";

} // namespace

int main(int argc, char** argv)
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName("primaps");
    QCoreApplication::setApplicationVersion(QString::fromStdString(primaps::versionString()));
    QTextStream out(stdout);
    QTextStream err(primaps::cli::errorOutput());

    // Qt turns bytes that are not UTF-8 into U+FFFD, so such a file name would
    // be looked up under another name and reported missing: say what it is.
    for (int i = 1; i < argc; ++i) {
        const QByteArray raw(argv[i]);
        if (!primaps::cli::isValidUtf8(raw)) {
            err << "primaps: argument '" << primaps::cli::printableBytes(raw)
                << "' is not valid UTF-8; file names must be UTF-8 here (rename the file, e.g. "
                   "with convmv)\n";
            return primaps::cli::ExitUsage;
        }
    }
    const QStringList args = QCoreApplication::arguments();
    if (args.size() < 2) {
        err << kUsage;
        return primaps::cli::ExitUsage;
    }
    const QString command = args.at(1);
    if (command == "-h" || command == "--help" || command == "help") {
        out << kUsage;
        return primaps::cli::ExitOk;
    }
    if (command == "-v" || command == "--version") {
        out << "primaps " << QString::fromStdString(primaps::versionString()) << " ("
            << QString::fromStdString(primaps::buildDescription()) << ")\n";
        return primaps::cli::ExitOk;
    }

    // Each command sets the thread count from its --threads option.
    if (command == "decompose")
        return primaps::cli::runDecompose(args);
    if (command == "masks")
        return primaps::cli::runMasks(args);
    if (command == "fit")
        return primaps::cli::runFit(args);
    if (command == "eval")
        return primaps::cli::runEval(args);
    if (command == "export")
        return primaps::cli::runExport(args);
    if (command == "import")
        return primaps::cli::runImport(args);
    if (command == "features")
        return primaps::cli::runFeatures(args);
    if (command == "backbones")
        return primaps::cli::runBackbones(args);
    if (command == "project")
        return primaps::cli::runProject(args);

    err << "primaps: unknown command '" << command << "'; see 'primaps --help'\n";
    return primaps::cli::ExitUsage;
}
