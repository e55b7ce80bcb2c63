// SPDX-License-Identifier: MIT
// A cluster-to-class match the user can change: overrides, merged clusters and
// ignored clusters on top of evaluate()'s Hungarian (and many-to-one) match, the
// metrics recomputed from the stored confusion counts (no re-prediction), and
// RUN_DIR/match.json, which `primaps export` reads.
#pragma once

#include "evaluation/evaluation.h"

#include <map>
#include <set>
#include <string>
#include <vector>

namespace primaps {

/// How a cluster got its class in an edited match. The first two are
/// evaluate()'s MatchKind; the others are the user's.
enum class MatchEntryKind
{
    Hungarian, ///< one-to-one part of the computed match
    Majority,  ///< extra cluster: the class it overlaps most
    Override,  ///< the user gave the cluster a class
    Merged,    ///< the user merged the cluster into another: it takes that one's class
    Ignored,   ///< the user ignores the cluster: its pixels get no class (export: ignore value)
};
/// "hungarian", "majority", "override", "merged", "ignored", and back (throws
/// primaps::Error listing the names).
const char* toString(MatchEntryKind kind);
MatchEntryKind matchEntryKindFromString(const std::string& name);

/// The user's changes to a computed match. A plain value of a few small maps:
/// cheap to copy and compare, so a GUI keeps one per undo step. Any thread.
///
/// Precedence per cluster: ignored, then merged, then override, then the
/// computed match. A cluster merged into another takes that cluster's final
/// class (following chains of merges); a merge into an ignored cluster ignores it too.
struct MatchEdits
{
    std::map<int, int> overrides; ///< cluster -> class
    std::map<int, int> merges;    ///< cluster -> the cluster it is merged into
    std::set<int> ignored;        ///< clusters whose pixels get no class

    bool empty() const { return overrides.empty() && merges.empty() && ignored.empty(); }
    bool operator==(const MatchEdits& o) const
    {
        return overrides == o.overrides && merges == o.merges && ignored == o.ignored;
    }
    bool operator!=(const MatchEdits& o) const { return !(*this == o); }
};

/// The match after the edits.
struct EditedMatch
{
    std::vector<int> clusterToClass;   ///< per cluster; -1 = ignored
    std::vector<MatchEntryKind> kinds; ///< per cluster
    std::vector<int> computedClass;    ///< per cluster: the class of the computed match
    std::vector<int> mergedInto;       ///< per cluster: the merge target, -1 when not merged
    /// Classes that no cluster maps to (they get no predictions: IoU 0 when labelled).
    std::vector<int> unmatchedClasses;
};

/// Applies `edits` to `computed` (evaluate()'s result: clusterToClass and
/// matchKind). Throws primaps::Error when an edit names a cluster outside
/// [0, computed.clusters), an override names a class outside [0, computed.classes),
/// a cluster is merged into itself or the merges form a cycle. Any thread.
EditedMatch applyMatchEdits(const EvaluationResult& computed, const MatchEdits& edits);

/// evaluate(confusion), then applyMatchEdits() and scoreMatch(): the metrics of
/// the edited match. `match` (optional) receives the edited match. Throws like
/// applyMatchEdits(). For repeated edits, keep evaluate()'s result and call
/// applyMatchEdits() + scoreMatch(), which skip the Hungarian step.
EvaluationResult evaluateWithEdits(const ConfusionMatrix& confusion, const MatchEdits& edits,
                                   EditedMatch* match = nullptr);

/// A run's stored match: RUN_DIR/match.json.
///
/// The file is an evaluation as `primaps eval --json` writes it (so `primaps
/// export --match RUN_DIR/match.json` reads it as it is), whose metrics and
/// "matching" are the edited match's, plus: "format": "primaps-match",
/// "version": 1, "theta", "crf", "split" (what the counts were made with) and,
/// in "matching", entries of the kinds "override" (with "computed_class"),
/// "merged" (with "into" and "computed_class") and "ignored" (class -1, with
/// "computed_class"). The computed match is not stored: it is recomputed from
/// "confusion" with evaluate().
struct RunMatch
{
    ConfusionMatrix confusion;           ///< clusters x classes counts of the split
    MatchEdits edits;
    std::vector<std::string> classNames; ///< one per class
    std::string theta = "m";             ///< "m" or "r"
    bool crf = false;
    std::string split;

    bool operator==(const RunMatch& o) const
    {
        return confusion.counts() == o.confusion.counts() &&
               confusion.clusters() == o.confusion.clusters() && edits == o.edits &&
               classNames == o.classNames && theta == o.theta && crf == o.crf && split == o.split;
    }
};

/// RUN_DIR/match.json.
std::string runMatchPath(const std::string& runDir);

/// The file's text (see RunMatch). Throws like evaluateWithEdits().
std::string runMatchToJson(const RunMatch& match);
/// Reads runMatchToJson() text strictly (also a plain `primaps eval --json`
/// file: no edits then, theta "m", crf false unless it says otherwise). The
/// edits are read from the matching's kinds; entries of the computed kinds are
/// informational (the computed match is evaluate()'s on the counts). Throws
/// primaps::Error naming `source` and the field when the text is not such a
/// file (wrong types, a cluster or class out of range, an unknown kind, a merge
/// without "into").
RunMatch parseRunMatch(const std::string& text, const std::string& source);
/// Reads / writes (atomically) the file; throw primaps::Error naming it.
RunMatch readRunMatch(const std::string& path);
void writeRunMatch(const std::string& path, const RunMatch& match);

} // namespace primaps
