// SPDX-License-Identifier: MIT
#include "runs/project.h"

#include "support/atomicfile.h"
#include "support/error.h"
#include "support/jsontext_p.h"
#include "support/runtime.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

namespace primaps {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using ordered = nlohmann::ordered_json;

fs::path projectFolderOf(const std::string& projectPath)
{
    std::error_code ec;
    const fs::path absolute = fs::absolute(projectPath, ec);
    return (ec ? fs::path(projectPath) : absolute).lexically_normal().parent_path();
}

// Under the project's folder: relative ('/'-separated); elsewhere: as it is.
std::string storedPath(const std::string& path, const fs::path& base)
{
    if (path.empty())
        return path;
    std::error_code ec;
    const fs::path absolute = fs::absolute(path, ec).lexically_normal();
    const fs::path rel = absolute.lexically_relative(base);
    if (ec || rel.empty() || *rel.begin() == "..")
        return absolute.generic_string();
    return rel.generic_string();
}

std::string resolvedPath(const std::string& stored, const fs::path& base)
{
    if (stored.empty())
        return stored;
    const fs::path p(stored);
    return (p.is_absolute() ? p : base / p).lexically_normal().string();
}

// Strict field access: every error names the file and the field's path.
class Reader
{
public:
    explicit Reader(std::string file) : file_(std::move(file)) {}

    [[noreturn]] void fail(const std::string& field, const std::string& what) const
    {
        throw Error("'" + file_ + "': field '" + field + "' " + what);
    }
    const json& at(const json& o, const std::string& key, const std::string& field) const
    {
        if (!o.is_object() || !o.contains(key))
            fail(field, "is missing");
        return o.at(key);
    }
    std::string string(const json& o, const std::string& key, const std::string& field) const
    {
        const json& v = at(o, key, field);
        if (!v.is_string())
            fail(field, "must be a string");
        return v.get<std::string>();
    }
    int integer(const json& o, const std::string& key, const std::string& field) const
    {
        const json& v = at(o, key, field);
        if (!v.is_number_integer())
            fail(field, "must be an integer");
        try {
            return jsonInt(v, field);
        } catch (const Error&) {
            fail(field, "is out of range");
        }
    }
    /// A number in [lo, hi], checked before any conversion (float(1e300) is undefined).
    double number(const json& o, const std::string& key, const std::string& field, double lo,
                  double hi) const
    {
        const json& v = at(o, key, field);
        if (!v.is_number())
            fail(field, "must be a number");
        const double d = v.get<double>();
        if (!(d >= lo && d <= hi)) {
            std::ostringstream range;
            range << "must be in [" << lo << ", " << hi << "]";
            fail(field, range.str());
        }
        return d;
    }
    /// A file or folder name: a string without control characters. A NUL would cut
    /// the name short where the operating system reads it (another file than the one
    /// shown); a newline or escape would forge lines in the messages that name it.
    std::string path(const json& o, const std::string& key, const std::string& field) const
    {
        std::string value = string(o, key, field);
        checkPath(value, field);
        return value;
    }
    void checkPath(const std::string& value, const std::string& field) const
    {
        if (std::any_of(value.begin(), value.end(),
                        [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7F; }))
            fail(field, "holds a control character; a file name cannot");
    }
    bool boolean(const json& o, const std::string& key, const std::string& field) const
    {
        const json& v = at(o, key, field);
        if (!v.is_boolean())
            fail(field, "must be true or false");
        return v.get<bool>();
    }
    const json& array(const json& o, const std::string& key, const std::string& field) const
    {
        const json& v = at(o, key, field);
        if (!v.is_array())
            fail(field, "must be an array");
        return v;
    }
    const json& object(const json& o, const std::string& key, const std::string& field) const
    {
        const json& v = at(o, key, field);
        if (!v.is_object())
            fail(field, "must be an object");
        return v;
    }

private:
    std::string file_;
};

ordered projectJson(const Project& p, const std::string& projectPath)
{
    const fs::path base = projectFolderOf(projectPath);
    ordered dataset = nullptr;
    if (p.hasDataset)
        dataset = {{"kind", toString(p.dataset.kind)},
                   {"root", storedPath(p.dataset.root, base)},
                   {"split", p.dataset.split},
                   {"classes", p.dataset.classes}};
    ordered images = ordered::array();
    for (const std::string& image : p.images)
        images.push_back(storedPath(image, base));
    ordered overrides = ordered::array(), merges = ordered::array(), ignored = ordered::array();
    for (const auto& [cluster, cls] : p.matchEdits.overrides)
        overrides.push_back({{"cluster", cluster}, {"class", cls}});
    for (const auto& [cluster, into] : p.matchEdits.merges)
        merges.push_back({{"cluster", cluster}, {"into", into}});
    for (int cluster : p.matchEdits.ignored)
        ignored.push_back(cluster);
    return {
        {"format", "primaps-project"},
        {"version", Project::kVersion},
        {"dataset", dataset},
        {"images", images},
        {"run", storedPath(p.runDir, base)},
        {"backbone",
         {{"name", p.backbone},
          {"checkpoint", storedPath(p.checkpoint, base)},
          {"sha256", p.checkpointSha256}}},
        {"parameters",
         {{"resolution", p.parameters.resolution},
          {"threshold", p.parameters.threshold},
          {"mask_crf", p.parameters.maskCrf},
          {"theta", p.parameters.theta},
          {"prediction_crf", p.parameters.predictionCrf}}},
        {"classes", ordered::parse(classTableToJson(p.classes))["classes"]},
        {"match_edits", {{"overrides", overrides}, {"merges", merges}, {"ignored", ignored}}},
        {"corrections", storedPath(p.correctionsDir, base)},
        {"current_image", p.currentImage},
    };
}

Project projectFromJson(const json& o, const std::string& projectPath)
{
    const Reader r(projectPath);
    const fs::path base = projectFolderOf(projectPath);
    if (!o.is_object())
        throw Error("'" + projectPath + "': not a project file (expected a JSON object)");
    if (r.string(o, "format", "format") != "primaps-project")
        r.fail("format", "must be \"primaps-project\"");
    const int version = r.integer(o, "version", "version");
    if (version < 1 || version > Project::kVersion)
        r.fail("version", "is " + std::to_string(version) + "; this program reads version 1" +
                              (version > Project::kVersion ? " (the file is from a newer one)"
                                                           : ""));
    Project p;
    const json& dataset = r.at(o, "dataset", "dataset");
    if (!dataset.is_null()) {
        if (!dataset.is_object())
            r.fail("dataset", "must be an object or null");
        p.hasDataset = true;
        try {
            p.dataset.kind = datasetKindFromString(r.string(dataset, "kind", "dataset.kind"));
        } catch (const Error& e) {
            r.fail("dataset.kind", std::string("is invalid: ") + e.what());
        }
        p.dataset.root = resolvedPath(r.path(dataset, "root", "dataset.root"), base);
        if (p.dataset.root.empty())
            r.fail("dataset.root", "is empty");
        p.dataset.split = r.string(dataset, "split", "dataset.split");
        p.dataset.classes = r.integer(dataset, "classes", "dataset.classes");
        if (p.dataset.classes < 0 || p.dataset.classes > 255)
            r.fail("dataset.classes", "must be in [0, 255]");
    }
    const json& images = r.array(o, "images", "images");
    for (std::size_t i = 0; i < images.size(); ++i) {
        const std::string field = "images[" + std::to_string(i) + "]";
        if (!images[i].is_string() || images[i].get<std::string>().empty())
            r.fail(field, "must be a non-empty path");
        r.checkPath(images[i].get<std::string>(), field);
        p.images.push_back(resolvedPath(images[i].get<std::string>(), base));
    }
    p.runDir = resolvedPath(r.path(o, "run", "run"), base);
    const json& backbone = r.object(o, "backbone", "backbone");
    p.backbone = r.string(backbone, "name", "backbone.name");
    p.checkpoint = resolvedPath(r.path(backbone, "checkpoint", "backbone.checkpoint"), base);
    p.checkpointSha256 = r.string(backbone, "sha256", "backbone.sha256");
    if (!p.checkpointSha256.empty() &&
        (p.checkpointSha256.size() != 64 ||
         !std::all_of(p.checkpointSha256.begin(), p.checkpointSha256.end(),
                      [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); })))
        r.fail("backbone.sha256", "must be 64 hex digits (or empty)");
    std::transform(p.checkpointSha256.begin(), p.checkpointSha256.end(),
                   p.checkpointSha256.begin(),
                   [](char c) { return char(std::tolower(static_cast<unsigned char>(c))); });

    const json& params = r.object(o, "parameters", "parameters");
    p.parameters.resolution = r.integer(params, "resolution", "parameters.resolution");
    if (p.parameters.resolution < 0 || p.parameters.resolution > 8192)
        r.fail("parameters.resolution", "must be in [0, 8192]");
    p.parameters.threshold = float(r.number(params, "threshold", "parameters.threshold", 0, 1));
    p.parameters.maskCrf = r.boolean(params, "mask_crf", "parameters.mask_crf");
    p.parameters.theta = r.string(params, "theta", "parameters.theta");
    if (p.parameters.theta != "m" && p.parameters.theta != "r")
        r.fail("parameters.theta", "must be \"m\" or \"r\"");
    p.parameters.predictionCrf = r.boolean(params, "prediction_crf", "parameters.prediction_crf");

    // The class table reuses its own strict reader on the embedded array.
    const json table = {{"format", "primaps-class-table"},
                        {"version", 1},
                        {"classes", r.array(o, "classes", "classes")}};
    p.classes = parseClassTable(table.dump(), projectPath + "' field 'classes");

    const json& edits = r.object(o, "match_edits", "match_edits");
    const json& overrides = r.array(edits, "overrides", "match_edits.overrides");
    for (std::size_t i = 0; i < overrides.size(); ++i) {
        const std::string f = "match_edits.overrides[" + std::to_string(i) + "]";
        const int cluster = r.integer(overrides[i], "cluster", f + ".cluster");
        const int cls = r.integer(overrides[i], "class", f + ".class");
        if (cluster < 0 || cls < 0)
            r.fail(f, "must name a cluster and a class >= 0");
        if (!p.matchEdits.overrides.emplace(cluster, cls).second)
            r.fail(f, "overrides cluster " + std::to_string(cluster) + " a second time");
    }
    const json& merges = r.array(edits, "merges", "match_edits.merges");
    for (std::size_t i = 0; i < merges.size(); ++i) {
        const std::string f = "match_edits.merges[" + std::to_string(i) + "]";
        const int cluster = r.integer(merges[i], "cluster", f + ".cluster");
        const int into = r.integer(merges[i], "into", f + ".into");
        if (cluster < 0 || into < 0 || cluster == into)
            r.fail(f, "must merge a cluster into another");
        if (!p.matchEdits.merges.emplace(cluster, into).second)
            r.fail(f, "merges cluster " + std::to_string(cluster) + " a second time");
    }
    const json& ignored = r.array(edits, "ignored", "match_edits.ignored");
    for (std::size_t i = 0; i < ignored.size(); ++i) {
        const std::string field = "match_edits.ignored[" + std::to_string(i) + "]";
        int cluster = -1;
        try {
            cluster = ignored[i].is_number_integer() ? jsonInt(ignored[i], field) : -1;
        } catch (const Error&) {
        }
        if (cluster < 0)
            r.fail(field, "must be a cluster >= 0");
        p.matchEdits.ignored.insert(cluster);
    }
    if (!p.classes.empty())
        for (const auto& [cluster, cls] : p.matchEdits.overrides)
            if (cls >= p.classes.size())
                r.fail("match_edits.overrides", "gives cluster " + std::to_string(cluster) +
                                                    " class " + std::to_string(cls) +
                                                    "; the class table has " +
                                                    std::to_string(p.classes.size()));
    p.correctionsDir = resolvedPath(r.path(o, "corrections", "corrections"), base);
    p.currentImage = r.string(o, "current_image", "current_image");
    return p;
}

} // namespace

bool Project::operator==(const Project& o) const
{
    auto sameDataset = [&] {
        return !hasDataset ||
               (dataset.kind == o.dataset.kind && dataset.root == o.dataset.root &&
                dataset.split == o.dataset.split && dataset.classes == o.dataset.classes);
    };
    return hasDataset == o.hasDataset && sameDataset() && images == o.images &&
           runDir == o.runDir && backbone == o.backbone && checkpoint == o.checkpoint &&
           checkpointSha256 == o.checkpointSha256 && parameters == o.parameters &&
           classes == o.classes && matchEdits == o.matchEdits &&
           correctionsDir == o.correctionsDir && currentImage == o.currentImage;
}

std::string projectToJson(const Project& project, const std::string& projectPath)
{
    return projectJson(project, projectPath).dump(2) + "\n";
}

Project parseProject(const std::string& text, const std::string& projectPath)
{
    return projectFromJson(parseJsonText(text, projectPath), projectPath);
}

Project readProject(const std::string& path)
{
    return parseProject(readFile(path, kMaxProjectFileBytes), path);
}

std::vector<DatasetProblem> projectFileProblems(const Project& project)
{
    std::vector<DatasetProblem> problems;
    // Looks at what each name is, never into it: a FIFO or a device named as an
    // image is reported here, not opened.
    auto check = [&](const std::string& path, const std::string& field, fs::file_type wanted) {
        std::error_code ec;
        const fs::file_status status = fs::status(path, ec);
        std::string problem;
        if (ec && ec != std::errc::no_such_file_or_directory)
            problem = ec.message();
        else if (status.type() == fs::file_type::not_found)
            problem = wanted == fs::file_type::directory ? "no such folder" : "no such file";
        else if (status.type() != wanted)
            problem = wanted == fs::file_type::directory ? "is not a folder"
                                                         : "is not a regular file";
        if (!problem.empty())
            problems.push_back({path, "field '" + field + "' names '" + path + "': " + problem});
        return problem.empty();
    };
    if (project.hasDataset)
        check(project.dataset.root, "dataset.root", fs::file_type::directory);
    for (std::size_t i = 0; i < project.images.size(); ++i)
        check(project.images[i], "images[" + std::to_string(i) + "]", fs::file_type::regular);
    if (!project.runDir.empty() && check(project.runDir, "run", fs::file_type::directory))
        check((fs::path(project.runDir) / "run.json").string(), "run", fs::file_type::regular);
    if (!project.checkpoint.empty())
        check(project.checkpoint, "backbone.checkpoint", fs::file_type::regular);
    // The corrections folder is made by the first correction; only something else
    // in its place is a problem.
    std::error_code ec;
    if (!project.correctionsDir.empty() && fs::exists(project.correctionsDir, ec))
        check(project.correctionsDir, "corrections", fs::file_type::directory);
    return problems;
}

void writeProject(const std::string& path, const Project& project)
{
    writeFileAtomic(path, projectToJson(project, path));
}

std::string projectAutosavePath(const std::string& projectPath)
{
    return projectPath + ".autosave";
}

std::string recoveryFolder()
{
    if (const char* dir = std::getenv("PRIMAPS_RECOVERY_DIR"); dir && *dir)
        return dir;
    if (const char* state = std::getenv("XDG_STATE_HOME"); state && *state)
        return (fs::path(state) / "primaps-studio" / "recovery").string();
    const char* home = std::getenv("HOME");
    return (fs::path(home && *home ? home : "/tmp") / ".local" / "state" / "primaps-studio" /
            "recovery")
        .string();
}

std::string untitledAutosavePath(const std::string& session)
{
    return (fs::path(recoveryFolder()) / ("untitled-" + session + ".primaps.autosave")).string();
}

std::string untitledCorrectionsFolder(const std::string& session)
{
    return (fs::path(recoveryFolder()) / ("untitled-" + session + ".corrections")).string();
}

bool isUntitledCorrectionsFolder(const std::string& folder)
{
    if (folder.empty())
        return false;
    const fs::path path = fs::absolute(folder).lexically_normal();
    const std::string name = path.filename().string();
    return path.parent_path() == fs::absolute(recoveryFolder()).lexically_normal() &&
           name.rfind("untitled-", 0) == 0 && path.extension() == ".corrections";
}

void writeAutosave(const std::string& autosavePath, const Project& project,
                   const std::string& projectPath)
{
    // Relative paths are relative to the project when there is one, so a restored
    // autosave reads like the project it belongs to.
    const std::string base = projectPath.empty() ? autosavePath : projectPath;
    ordered o = projectJson(project, base);
    o["autosave"] = {{"project", projectPath.empty() ? std::string()
                                                     : fs::absolute(projectPath).string()},
                     {"written", utcTimestamp()}};
    std::error_code ec;
    fs::create_directories(fs::path(autosavePath).parent_path(), ec);
    if (ec)
        throw Error("cannot create the folder of '" + autosavePath + "': " + ec.message());
    writeFileAtomic(autosavePath, o.dump(2) + "\n");
}

Autosave readAutosave(const std::string& autosavePath)
{
    json o = parseJsonText(readFile(autosavePath, kMaxProjectFileBytes), autosavePath);
    const Reader r(autosavePath);
    const json info = r.object(o, "autosave", "autosave");
    Autosave a;
    a.path = autosavePath;
    a.projectPath = r.string(info, "project", "autosave.project");
    a.written = r.string(info, "written", "autosave.written");
    o.erase("autosave");
    // Paths were stored relative to the project (or to the autosave when untitled).
    const std::string base = a.projectPath.empty() ? autosavePath : a.projectPath;
    try {
        a.project = projectFromJson(o, base);
    } catch (const Error& e) {
        std::string message = e.what();
        const std::string quoted = "'" + base + "'";
        if (message.rfind(quoted, 0) == 0)
            message = "'" + autosavePath + "'" + message.substr(quoted.size());
        throw Error(message);
    }
    return a;
}

std::vector<Autosave> findUntitledAutosaves(std::vector<DatasetProblem>* problems)
{
    std::vector<std::pair<fs::file_time_type, Autosave>> found;
    std::error_code ec;
    const fs::path folder = recoveryFolder();
    if (fs::is_directory(folder, ec))
        for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
            const std::string name = it->path().filename().string();
            if (name.rfind("untitled-", 0) != 0 || it->path().extension() != ".autosave")
                continue;
            try {
                found.emplace_back(fs::last_write_time(it->path()), readAutosave(it->path()));
            } catch (const std::exception& e) {
                if (problems)
                    problems->push_back({it->path().string(), e.what()});
            }
        }
    std::sort(found.begin(), found.end(),
              [](const auto& a, const auto& b) { return a.first > b.first; });
    std::vector<Autosave> result;
    for (auto& f : found)
        result.push_back(std::move(f.second));
    return result;
}

void removeAutosave(const std::string& autosavePath)
{
    std::error_code ec;
    fs::remove(autosavePath, ec);
}

} // namespace primaps
