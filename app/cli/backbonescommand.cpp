// SPDX-License-Identifier: MIT
// `primaps backbones`: what can extract features, which checkpoint files are present,
// and where they are looked for.
#include "backbones/backbone.h"
#include "commandline.h"
#include "commands.h"
#include "backbones/modelcatalog.h"

#include <QCommandLineParser>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTextStream>

namespace primaps::cli {

int runBackbones(const QStringList& arguments)
{
    QTextStream out(stdout);
    QTextStream err(errorOutput());

    QCommandLineParser parser;
    parser.setApplicationDescription(
        "List the backbones, whether their checkpoint files are present, and the folders\n"
        "searched for them. Nothing is downloaded: fetch a missing file from the address\n"
        "shown and pass it with --weights, or put it into one of the folders.");
    const QCommandLineOption jsonOption("json", "Print the list as JSON.");
    parser.addOption(jsonOption);
    if (const auto done = parseCommandLine(parser, arguments, "backbones"))
        return *done;
    if (!parser.positionalArguments().isEmpty()) {
        err << "primaps backbones: takes no arguments; see 'primaps backbones --help'\n";
        return ExitUsage;
    }

    const std::vector<std::string> dirs = modelSearchDirectories();
    if (parser.isSet(jsonOption)) {
        QJsonArray models;
        models.append(
            QJsonObject{{"name", "filterbank"}, {"available", true}, {"needs_weights", false},
                        {"version", backboneVersion("filterbank")}});
        for (const ModelInfo& m : modelCatalog()) {
            const QString file = QString::fromStdString(findModelFile(m));
            models.append(QJsonObject{{"name", QString::fromStdString(m.name)},
                                      {"title", QString::fromStdString(m.title)},
                                      {"family", QString::fromStdString(m.family)},
                                      {"patch_size", m.patchSize},
                                      {"dim", m.dim},
                                      {"needs_weights", true},
                                      {"available", !file.isEmpty()},
                                      {"file", file},
                                      {"file_name", QString::fromStdString(m.fileName)},
                                      {"url", QString::fromStdString(m.url)},
                                      {"expected_size", double(m.expectedSize)}});
        }
        models.append(
            QJsonObject{{"name", "torchscript"}, {"available", true}, {"needs_weights", true}});
        // Last, so that the entries before keep their places.
        models.append(QJsonObject{{"name", "filterbank-v1"}, {"available", true},
                                  {"needs_weights", false}, {"version", 1}});
        QJsonArray folders;
        for (const std::string& d : dirs)
            folders.append(QString::fromStdString(d));
        out << QJsonDocument(QJsonObject{{"backbones", models},
                                         {"search_folders", folders},
                                         {"download_folder",
                                          QString::fromStdString(modelDownloadDirectory())},
                                         {"catalogue",
                                          QString::fromStdString(modelCatalogSource())}})
                   .toJson();
        return ExitOk;
    }

    out << "Backbones (use with --backbone NAME):\n";
    out << "  " << QString("filterbank").leftJustified(15)
        << "built in, no weights needed (the default; colour/texture, not semantics)\n";
    out << "  " << QString("filterbank-v1").leftJustified(15)
        << "built in: the filter bank before version 2 (runs recorded without a version)\n";
    for (const ModelInfo& m : modelCatalog()) {
        const std::string file = findModelFile(m);
        out << "  " << QString::fromStdString(m.name).leftJustified(15)
            << QString::fromStdString(m.title).leftJustified(17) << m.dim << "-d, patch "
            << m.patchSize << ", resize " << m.resize << "\n"
            << QString(17, ' ');
        if (!file.empty()) {
            const qint64 size = QFileInfo(QString::fromStdString(file)).size();
            out << "found: " << QString::fromStdString(file)
                << (m.plausibleSize(size) ? "" : "  (unexpected size; damaged or another file?)")
                << "\n";
        } else {
            out << "missing " << QString::fromStdString(m.fileName) << " ("
                << QString::number(double(m.expectedSize) / 1e6, 'f', 0)
                << " MB): " << QString::fromStdString(m.url) << "\n";
        }
    }
    out << "  " << QString("torchscript").leftJustified(15)
        << "any TorchScript module, --weights FILE.pt (see models/export_torchscript.py)\n\n";
    out << "Checkpoint files are looked for by their published names in (first match wins):\n";
    for (const std::string& d : dirs) {
        const bool exists = QFileInfo(QString::fromStdString(d)).isDir();
        out << "  " << QString::fromStdString(d) << (exists ? "" : "  (does not exist)") << "\n";
    }
    out << "set by $PRIMAPS_MODELS_DIR (optional), the studio's download folder, and\n"
           "PyTorch Hub's cache ($TORCH_HOME/hub/checkpoints). --weights FILE overrides them.\n";
    out << "Model catalogue: " << QString::fromStdString(modelCatalogSource()) << "\n";
    return ExitOk;
}

} // namespace primaps::cli
