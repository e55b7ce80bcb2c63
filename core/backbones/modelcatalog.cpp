// SPDX-License-Identifier: MIT
#include "backbones/modelcatalog.h"

#include "support/datadir.h"
#include "support/error.h"
#include "support/jsontext_p.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <sys/stat.h>

namespace primaps {

// models/catalog.json, compiled in by CMake (generated/modelcatalog_data.cpp).
extern const char* const kBuiltinModelCatalogJson;

bool ModelInfo::plausibleSize(std::int64_t bytes) const
{
    if (expectedSize <= 0)
        return bytes > 0;
    return std::fabs(double(bytes) - double(expectedSize)) <= sizeTolerance * double(expectedSize);
}

std::vector<ModelInfo> parseModelCatalog(const std::string& json, const std::string& source)
{
    nlohmann::json doc;
    try {
        doc = nlohmann::json::parse(json);
    } catch (const std::exception& e) {
        throw Error("model catalogue '" + source + "': not valid JSON (" + e.what() + ")");
    }
    if (!doc.is_object() || !doc.contains("models") || !doc["models"].is_array())
        throw Error("model catalogue '" + source + "': expected an object with a 'models' array");
    std::vector<ModelInfo> models;
    for (const nlohmann::json& entry : doc["models"]) {
        ModelInfo m;
        const std::string label =
            entry.is_object() && entry.contains("name") && entry["name"].is_string()
                ? entry["name"].get<std::string>()
                : "#" + std::to_string(models.size());
        try {
            m.name = entry.at("name").get<std::string>();
            m.title = entry.value("title", m.name);
            m.family = entry.at("family").get<std::string>();
            m.architecture = entry.at("architecture").get<std::string>();
            m.patchSize = jsonInt(entry.at("patch_size"), "field 'patch_size'");
            m.dim = jsonInt(entry.at("dim"), "field 'dim'");
            m.depth = jsonIntOr(entry, "depth", 0, "field 'depth'");
            m.heads = jsonIntOr(entry, "heads", 0, "field 'heads'");
            m.parameters = entry.contains("parameters")
                               ? jsonInteger(entry.at("parameters"), "field 'parameters'", 0,
                                             std::numeric_limits<std::int64_t>::max())
                               : 0;
            m.resize = jsonIntOr(entry, "resize", 320, "field 'resize'");
            m.threshold = entry.contains("threshold")
                              ? float(jsonNumber(entry.at("threshold"), "field 'threshold'", 0.0,
                                                 1.0, true))
                              : 0.4f;
            m.url = entry.at("url").get<std::string>();
            m.fileName = entry.value("file", std::string());
            if (m.fileName.empty())
                m.fileName = m.url.substr(m.url.find_last_of('/') + 1);
            m.expectedSize = entry.contains("expected_size")
                                 ? jsonInteger(entry.at("expected_size"), "field 'expected_size'",
                                               0, std::numeric_limits<std::int64_t>::max())
                                 : 0;
            m.sizeTolerance = entry.contains("size_tolerance")
                                  ? jsonNumber(entry.at("size_tolerance"),
                                               "field 'size_tolerance'", 0.0, 1.0)
                                  : 0.01;
            m.source = entry.value("source", std::string());
        } catch (const std::exception& e) {
            throw Error("model catalogue '" + source + "': entry '" + label + "' is malformed (" +
                        e.what() + ")");
        }
        if (m.fileName.empty() || m.fileName.find('/') != std::string::npos || m.patchSize <= 0 ||
            m.dim <= 0)
            throw Error("model catalogue '" + source + "': entry '" + label +
                        "' has an invalid file name, patch size or dim");
        models.push_back(std::move(m));
    }
    return models;
}

namespace {

constexpr std::size_t kMaxCatalogBytes = 1 << 20;

struct LoadedCatalog
{
    std::vector<ModelInfo> models;
    std::string source;
};

// The installed catalogue (the file the man page and the docs point at) when it is
// there and valid; otherwise the copy compiled in, with the reason in `source`.
LoadedCatalog loadCatalog()
{
    const std::string path = dataPath("models/catalog.json");
    std::string problem;
    if (!path.empty()) {
        try {
            std::ifstream in(path, std::ios::binary | std::ios::ate);
            if (!in)
                throw Error("model catalogue '" + path + "': cannot be read");
            // A catalogue lists a handful of models; never read a stray huge file.
            if (in.tellg() > std::streamoff(kMaxCatalogBytes))
                throw Error("model catalogue '" + path + "': larger than 1 MiB, not a catalogue");
            in.seekg(0);
            std::ostringstream text;
            text << in.rdbuf();
            return {parseModelCatalog(text.str(), path), path};
        } catch (const Error& e) {
            problem = std::string(" (") + e.what() + ")";
        }
    }
    return {parseModelCatalog(kBuiltinModelCatalogJson, "built-in models/catalog.json"),
            "built in" + problem};
}

const LoadedCatalog& loadedCatalog()
{
    static const LoadedCatalog catalog = loadCatalog();
    return catalog;
}

} // namespace

const std::vector<ModelInfo>& modelCatalog()
{
    return loadedCatalog().models;
}

std::string modelCatalogSource()
{
    return loadedCatalog().source;
}

const ModelInfo* findModel(const std::string& name)
{
    for (const ModelInfo& m : modelCatalog())
        if (m.name == name)
            return &m;
    return nullptr;
}

namespace {

std::string environment(const char* name)
{
    const char* value = std::getenv(name);
    return value ? std::string(value) : std::string();
}

std::string homeDirectory()
{
    return environment("HOME");
}

bool isRegularFile(const std::string& path)
{
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

} // namespace

std::string modelDownloadDirectory()
{
    std::string base = environment("XDG_DATA_HOME");
    if (base.empty())
        base = homeDirectory() + "/.local/share";
    return base + "/PriMaPs/PriMaPs Studio/models";
}

std::vector<std::string> modelSearchDirectories()
{
    std::vector<std::string> dirs;
    const std::string own = environment("PRIMAPS_MODELS_DIR");
    if (!own.empty())
        dirs.push_back(own);
    dirs.push_back(modelDownloadDirectory());
    std::string torchHome = environment("TORCH_HOME");
    if (torchHome.empty()) {
        std::string cache = environment("XDG_CACHE_HOME");
        if (cache.empty())
            cache = homeDirectory() + "/.cache";
        torchHome = cache + "/torch";
    }
    dirs.push_back(torchHome + "/hub/checkpoints");
    return dirs;
}

std::string findModelFile(const ModelInfo& model)
{
    for (const std::string& dir : modelSearchDirectories()) {
        const std::string path = dir + "/" + model.fileName;
        if (isRegularFile(path))
            return path;
    }
    return {};
}

std::string resolveModelWeights(const std::string& name, const std::string& explicitPath)
{
    const ModelInfo* model = findModel(name);
    if (!explicitPath.empty()) {
        if (!isRegularFile(explicitPath))
            throw Error("backbone '" + name + "': weights file '" + explicitPath +
                        "' does not exist" +
                        (model ? " (official download: " + model->url + ")" : std::string()));
        return explicitPath;
    }
    if (!model)
        throw Error("backbone '" + name + "' needs a weights file: pass --weights FILE");
    const std::string found = findModelFile(*model);
    if (!found.empty())
        return found;
    std::string searched;
    for (const std::string& dir : modelSearchDirectories())
        searched += "\n  " + dir;
    throw Error("backbone '" + name + "' needs the checkpoint " + model->fileName + " (" +
                model->title + "). Download it from " + model->url +
                " and pass --weights FILE, or put it into one of these folders:" + searched);
}

} // namespace primaps
