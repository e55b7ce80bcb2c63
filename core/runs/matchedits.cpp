// SPDX-License-Identifier: MIT
#include "runs/matchedits.h"

#include "runs/evaluationreport.h"
#include "support/atomicfile.h"
#include "support/error.h"
#include "support/jsontext_p.h"

#include <cmath>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>

namespace primaps {

namespace {

using json = nlohmann::json;
using ordered = nlohmann::ordered_json;

const char* const kKindNames[] = {"hungarian", "majority", "override", "merged", "ignored"};

void checkCluster(int cluster, int clusters, const char* what)
{
    if (cluster < 0 || cluster >= clusters)
        throw Error(std::string(what) + " names cluster " + std::to_string(cluster) +
                    "; the match has clusters 0.." + std::to_string(clusters - 1));
}

} // namespace

const char* toString(MatchEntryKind kind)
{
    return kKindNames[int(kind)];
}

MatchEntryKind matchEntryKindFromString(const std::string& name)
{
    for (int k = 0; k < 5; ++k)
        if (name == kKindNames[k])
            return MatchEntryKind(k);
    throw Error("unknown match kind '" + name +
                "' (known: hungarian, majority, override, merged, ignored)");
}

EditedMatch applyMatchEdits(const EvaluationResult& computed, const MatchEdits& edits)
{
    const int k = computed.clusters;
    const int n = computed.classes;
    if (int(computed.clusterToClass.size()) != k)
        throw Error("the computed match does not have one class per cluster");
    for (const auto& [cluster, cls] : edits.overrides) {
        checkCluster(cluster, k, "an override");
        if (cls < 0 || cls >= n)
            throw Error("the override of cluster " + std::to_string(cluster) + " names class " +
                        std::to_string(cls) + "; there are classes 0.." + std::to_string(n - 1));
    }
    for (const auto& [cluster, into] : edits.merges) {
        checkCluster(cluster, k, "a merge");
        checkCluster(into, k, "a merge");
        if (cluster == into)
            throw Error("cluster " + std::to_string(cluster) + " is merged into itself");
    }
    for (int cluster : edits.ignored)
        checkCluster(cluster, k, "an ignore");

    EditedMatch m;
    m.computedClass = computed.clusterToClass;
    m.clusterToClass.assign(std::size_t(k), -1);
    m.kinds.assign(std::size_t(k), MatchEntryKind::Hungarian);
    m.mergedInto.assign(std::size_t(k), -1);
    // The class a cluster has on its own (without following merges).
    auto own = [&](int c, MatchEntryKind& kind) {
        if (edits.ignored.count(c)) {
            kind = MatchEntryKind::Ignored;
            return -1;
        }
        const auto o = edits.overrides.find(c);
        if (o != edits.overrides.end()) {
            kind = MatchEntryKind::Override;
            return o->second;
        }
        kind = std::size_t(c) < computed.matchKind.size() &&
                       computed.matchKind[std::size_t(c)] == MatchKind::Majority
                   ? MatchEntryKind::Majority
                   : MatchEntryKind::Hungarian;
        return computed.clusterToClass[std::size_t(c)];
    };
    for (int c = 0; c < k; ++c) {
        MatchEntryKind kind;
        int cls = own(c, kind);
        const auto merge = edits.merges.find(c);
        if (kind != MatchEntryKind::Ignored && merge != edits.merges.end()) {
            m.mergedInto[std::size_t(c)] = merge->second;
            // Follow the chain to a cluster that is not merged; more steps than
            // clusters means a cycle.
            int target = merge->second;
            for (int steps = 0;; ++steps) {
                if (steps > k)
                    throw Error("the merges of cluster " + std::to_string(c) + " form a cycle");
                const auto next = edits.merges.find(target);
                if (next == edits.merges.end() || edits.ignored.count(target))
                    break;
                target = next->second;
            }
            MatchEntryKind targetKind;
            cls = own(target, targetKind);
            kind = MatchEntryKind::Merged;
        }
        m.clusterToClass[std::size_t(c)] = cls;
        m.kinds[std::size_t(c)] = kind;
    }
    std::vector<bool> used(std::size_t(n), false);
    for (int cls : m.clusterToClass)
        if (cls >= 0 && cls < n)
            used[std::size_t(cls)] = true;
    for (int j = 0; j < n; ++j)
        if (!used[std::size_t(j)])
            m.unmatchedClasses.push_back(j);
    return m;
}

EvaluationResult evaluateWithEdits(const ConfusionMatrix& confusion, const MatchEdits& edits,
                                   EditedMatch* match)
{
    const EvaluationResult computed = evaluate(confusion);
    EditedMatch m = applyMatchEdits(computed, edits);
    EvaluationResult r = scoreMatch(confusion, m.clusterToClass);
    r.matchKind = computed.matchKind;
    if (match)
        *match = std::move(m);
    return r;
}

std::string runMatchPath(const std::string& runDir)
{
    return (std::filesystem::path(runDir) / "match.json").string();
}

std::string runMatchToJson(const RunMatch& match)
{
    EditedMatch m;
    const EvaluationResult r = evaluateWithEdits(match.confusion, match.edits, &m);
    // The plain evaluation first (what `export --match` reads), then the match
    // entries rewritten with the user's kinds.
    ordered o = ordered::parse(evaluationToJson(r, match.classNames, match.confusion));
    ordered matching = ordered::array();
    for (int c = 0; c < r.clusters; ++c) {
        const MatchEntryKind kind = m.kinds[std::size_t(c)];
        ordered e = {{"cluster", c},
                     {"class", m.clusterToClass[std::size_t(c)]},
                     {"kind", toString(kind)}};
        if (kind == MatchEntryKind::Merged)
            e["into"] = m.mergedInto[std::size_t(c)];
        if (kind != MatchEntryKind::Hungarian && kind != MatchEntryKind::Majority)
            e["computed_class"] = m.computedClass[std::size_t(c)];
        matching.push_back(e);
    }
    o["matching"] = matching;
    ordered unmatched = ordered::array();
    for (int j : m.unmatchedClasses)
        unmatched.push_back(j);
    o["unmatched_classes"] = unmatched;
    ordered head = {{"format", "primaps-match"},
                    {"version", 1},
                    {"theta", match.theta},
                    {"crf", match.crf},
                    {"split", match.split}};
    for (auto it = o.begin(); it != o.end(); ++it)
        head[it.key()] = it.value();
    return head.dump(2) + "\n";
}

RunMatch parseRunMatch(const std::string& text, const std::string& source)
{
    const EvaluationReport report = parseEvaluationJson(text, source);
    const std::string file = "'" + source + "'";
    if (!report.shard.empty())
        throw Error(file + " is the partial of shard " + report.shard +
                    "; merge the partials first ('primaps eval --merge ... --json')");
    RunMatch match;
    match.confusion = report.confusion;
    match.classNames = report.classNames;
    const json o = json::parse(text); // parseEvaluationJson() checked it is JSON
    try {
        if (o.contains("format") && o.at("format").get<std::string>() != "primaps-match")
            throw Error("field 'format' is '" + o.at("format").get<std::string>() +
                        "', not 'primaps-match'");
        const int version = jsonIntOr(o, "version", 1, "field 'version'");
        if (version > 1)
            throw Error("version " + std::to_string(version) +
                        " is newer than this program reads (1)");
        if (o.contains("theta")) {
            match.theta = o.at("theta").get<std::string>();
            if (match.theta != "m" && match.theta != "r")
                throw Error("field 'theta' must be \"m\" or \"r\"");
        }
        if (o.contains("crf"))
            match.crf = o.at("crf").get<bool>();
        if (o.contains("split"))
            match.split = o.at("split").get<std::string>();
        const int k = report.result.clusters;
        for (const json& e : o.at("matching")) {
            const int cluster = jsonInt(e.at("cluster"), "a matching entry's 'cluster'");
            const MatchEntryKind kind = matchEntryKindFromString(e.value("kind", "hungarian"));
            switch (kind) {
            case MatchEntryKind::Override:
                match.edits.overrides[cluster] =
                    jsonInt(e.at("class"), "a matching entry's 'class'");
                break;
            case MatchEntryKind::Merged: {
                if (!e.contains("into"))
                    throw Error("the merged entry of cluster " + std::to_string(cluster) +
                                " lacks field 'into'");
                const int into = jsonInt(e.at("into"), "a matching entry's 'into'");
                checkCluster(into, k, "a merge");
                match.edits.merges[cluster] = into;
                break;
            }
            case MatchEntryKind::Ignored:
                match.edits.ignored.insert(cluster);
                break;
            default:
                break;
            }
        }
        applyMatchEdits(evaluate(match.confusion), match.edits); // validates the edits
    } catch (const Error& e) {
        throw Error(file + ": " + e.what());
    } catch (const std::exception& e) {
        throw Error(file + ": not a match file (" + e.what() + ")");
    }
    return match;
}

RunMatch readRunMatch(const std::string& path)
{
    return parseRunMatch(readFile(path), path);
}

void writeRunMatch(const std::string& path, const RunMatch& match)
{
    writeFileAtomic(path, runMatchToJson(match));
}

} // namespace primaps
