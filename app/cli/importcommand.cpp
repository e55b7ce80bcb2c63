// SPDX-License-Identifier: MIT
// `primaps import`: corrected annotations from an annotation tool back into a
// run's corrections, with the report of what the annotators changed. The work
// is core's CorrectionImportJob, which the studio runs too.
#include "commandline.h"
#include "commands.h"
#include "datasetoptions.h"
#include "support/error.h"
#include "labels/correctionimport.h"

#include <cmath>
#include <QFileInfo>

namespace primaps::cli {

namespace {

QString percent(double v)
{
    return std::isnan(v) ? QString("-") : QString::number(100.0 * v, 'f', 2) + " %";
}

void printReport(QTextStream& out, const interchange::CorrectionImportReport& r)
{
    out << "changed: " << r.changed << " of " << r.pixels << " pixel(s) in " << r.images.size()
        << " image(s); " << r.stored << " correction(s) stored, " << r.unchanged
        << " unchanged, " << r.kept << " kept\n";
    out << "class                  changed   pseudo-label   corrected      IoU\n";
    for (const interchange::ClassChange& c : r.classes)
        if (c.pseudoLabel > 0 || c.corrected > 0)
            out << QString::fromStdString(c.name).leftJustified(20) << " "
                << QString::number(c.changed).rightJustified(9) << " "
                << QString::number(c.pseudoLabel).rightJustified(14) << " "
                << QString::number(c.corrected).rightJustified(11) << " "
                << percent(c.iou()).rightJustified(8) << "\n";
    for (const interchange::ImageChange& im : r.images) {
        if (im.changed == 0)
            continue;
        out << "  " << QString::fromStdString(im.id) << ": " << im.changed << " pixel(s) ("
            << QString::fromStdString(im.status) << ")";
        for (const interchange::ClassChange& c : im.classes)
            out << "; " << QString::fromStdString(c.name) << " " << c.changed << ", IoU "
                << percent(c.iou());
        out << "\n";
    }
    if (r.outsideCrop > 0)
        out << r.outsideCrop
            << " changed pixel(s) lie outside the run's crop: reported, not stored\n";
}

} // namespace

int runImport(const QStringList& arguments)
{
    QTextStream out(stdout);
    QTextStream err(errorOutput());
    QCommandLineOption format{"format",
                              "What FILE is: coco (a COCO JSON with RLE or polygon "
                              "segmentations), cvat (a CVAT 'Segmentation mask 1.1' zip), "
                              "labelstudio (a Label Studio JSON export; each task's latest "
                              "submitted annotation) or png (a folder of label PNGs with the "
                              "export's values, e.g. the export folder itself).",
                              "NAME"};
    QCommandLineOption run{"run", "Run folder whose corrections/ receives the corrections.",
                           "RUN_DIR"};
    QCommandLineOption exportDir{"export",
                                 "The export the annotations were made from (default: the "
                                 "folder FILE's provenance names).",
                                 "DIR"};
    QCommandLineOption overwrite{"overwrite", "Replace an image's stored corrections when the "
                                              "imported ones differ (otherwise they are kept)."};
    QCommandLineOption dryRun{"dry-run", "Report the changes; store nothing."};
    QCommandLineOption json{"json", "Print the report as JSON: changed_pixels (the total), "
                                    "pixels, classes (per class changed pixels, pixels in the "
                                    "pseudo-label and corrected, IoU), images, unknown_labels."};
    QCommandLineOption quiet{{"q", "quiet"}, "No progress line."};
    QCommandLineParser parser;
    parser.setApplicationDescription(
        "Import corrected annotations into a run: the labels of FILE are mapped by name to the "
        "run's class table (names it does not have are reported and left alone, never "
        "guessed), compared with the pseudo-labels of the export they were made from, and the "
        "changed pixels are stored as the run's corrections (RUN_DIR/corrections, as the "
        "studio's editor stores them; 'primaps export' applies them). Prints what the "
        "annotators changed: per class the changed pixels and the IoU of pseudo-label and "
        "corrected labels, per image and in total. Exit code 1 when some images or labels "
        "could not be used (each is named on stderr).");
    parser.addPositionalArgument("FILE", "The corrected annotations (a folder for png).");
    parser.addOptions({format, run, exportDir, overwrite, dryRun, json, quiet});
    if (const auto done = parseCommandLine(parser, arguments, "import"))
        return *done;
    OptionChecker check(parser);
    interchange::CorrectionImportRequest request;
    if (!parser.isSet(format))
        check.fail(nullptr, "--format NAME is required (coco, cvat, labelstudio, png)");
    else
        check.guard(&format, [&] {
            request.format =
                interchange::annotationFormatFromString(parser.value(format).toStdString());
        });
    if (!parser.isSet(run))
        check.fail(nullptr, "--run RUN_DIR is required");
    else if (!QFileInfo(parser.value(run)).isDir())
        check.fail(&run, "'" + parser.value(run) + "' is not a folder");
    const QStringList files = parser.positionalArguments();
    if (files.size() != 1)
        check.fail(nullptr, "give exactly one FILE");
    else if (!QFileInfo::exists(files.first()))
        check.fail(nullptr, "'" + files.first() + "' does not exist");
    if (!check.ok())
        return check.report(err, "import");
    request.file = files.first().toStdString();
    request.runDir = parser.value(run).toStdString();
    request.exportDir = parser.value(exportDir).toStdString();
    request.overwrite = parser.isSet(overwrite);
    request.dryRun = parser.isSet(dryRun);

    interchange::CorrectionImportJob job(request);
    const JobState state = runWithProgress(job, err, parser.isSet(quiet), "import");
    const interchange::CorrectionImportReport& r = job.report();
    if (state == JobState::Failed)
        return r.images.empty() && r.problems.empty() ? ExitUsage : ExitSomeInputsFailed;
    for (const DatasetProblem& p : r.problems)
        err << "primaps: '" << QString::fromStdString(p.path)
            << "': " << QString::fromStdString(p.message) << "\n";
    for (const interchange::UnknownLabel& u : r.unknownLabels)
        err << "primaps: unknown label '" << QString::fromStdString(u.name) << "' ("
            << u.pixels << " pixel(s) in " << u.images
            << " image(s)) is not in the run's class table; those pixels were left as they "
               "were (rename the label or the class)\n";
    for (const std::string& note : r.notes)
        err << "primaps: " << QString::fromStdString(note) << "\n";
    err.flush();
    if (parser.isSet(json))
        out << QString::fromStdString(interchange::importReportToJson(r));
    else
        printReport(out, r);
    out.flush();
    if (state == JobState::Canceled)
        return ExitInterrupted;
    return r.problems.empty() && r.unknownLabels.empty() ? ExitOk : ExitSomeInputsFailed;
}

} // namespace primaps::cli
