#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks every #include of core/, widgets/ and app/ against the include rule.

The rule (docs/ARCHITECTURE.md, "The include rule") is read from
scripts/include-rules.txt:
  * layers: core -> widgets -> app; a file never includes a header of a later layer;
  * core includes no Qt header;
  * a private header (*_p.h) is included only from its own layer;
  * inside a layer, a file of a subsystem folder includes its own folder and folders of
    a lower rank, never a later or an equal-ranked other folder;
  * every folder of a layer that holds sources is listed in the rules, and no header
    path is found under two layers' include roots (so no include is ambiguous).

An include is resolved like the compiler does: next to the including file first, then
under core/ and widgets/ (the public include roots), then in app's folders. Includes that resolve to nothing
in the tree (system, generated, moc) are left alone, except the Qt check.

Usage: check-includes.py [ROOT] [--rules FILE]
Exit status 0 when the tree obeys the rule, 1 with one line per violation otherwise,
2 when the rules file cannot be read.
"""
import argparse
import os
import re
import sys

SOURCE_SUFFIXES = (".h", ".hpp", ".cpp", ".cc", ".in")
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^">]+)[">]')
QT_HEADER = re.compile(r"^(Q[A-Z]\w*(\.h)?$|Qt\w*/|qcustomplot\.h$)")


class Rules:
    def __init__(self, path):
        self.layers = []
        self.no_qt = set()
        self.ranks = {}  # layer -> {folder: rank}
        with open(path, encoding="utf-8") as f:
            for number, raw in enumerate(f, 1):
                line = raw.split("#", 1)[0].split()
                if not line:
                    continue
                if line[0] == "layers":
                    self.layers = line[1:]
                elif line[0] == "no-qt":
                    self.no_qt.update(line[1:])
                elif len(line) == 3 and line[1].isdigit():
                    self.ranks.setdefault(line[0], {})[line[2]] = int(line[1])
                else:
                    raise ValueError(f"{path}:{number}: cannot read '{raw.strip()}'")
        for layer in self.ranks:
            if layer not in self.layers:
                raise ValueError(f"{path}: folders given for '{layer}', which is not a layer")


def sources(root, layer):
    base = os.path.join(root, layer)
    for folder, dirs, files in os.walk(base):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(SOURCE_SUFFIXES):
                yield os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/")


def subsystem(path):
    """('core', 'fit') for core/fit/emfit.h; ('core', None) for a file at the layer root."""
    parts = path.split("/")
    return parts[0], (parts[1] if len(parts) > 2 else None)


def check(root, rules):
    problems = []
    include_roots = [layer for layer in ("core", "widgets") if layer in rules.layers]
    order = {layer: i for i, layer in enumerate(rules.layers)}
    files = {layer: list(sources(root, layer)) for layer in rules.layers}
    existing = {f for fs in files.values() for f in fs}
    app_dirs = sorted({os.path.dirname(f) for f in files.get("app", [])})

    # Every folder that holds sources has a rank; no folder name in two layers.
    owners = {}
    for layer, fs in files.items():
        for f in fs:
            _, folder = subsystem(f)
            if folder is None:
                continue
            owners.setdefault(folder, set()).add(layer)
            if layer in rules.ranks and folder not in rules.ranks[layer]:
                problems.append(f"{f}: folder {layer}/{folder}/ has no rank in the include rules")
    for folder, layers in sorted(owners.items()):
        ranked = [layer for layer in layers if layer in rules.ranks]
        if len(ranked) > 1:
            problems.append(f"folder name '{folder}' is used by {' and '.join(sorted(ranked))}: "
                            "an include of it would not name its layer")
    problems = sorted(set(problems))

    for layer in rules.layers:
        for f in files[layer]:
            with open(os.path.join(root, f), encoding="utf-8", errors="replace") as text:
                lines = text.readlines()
            for number, line in enumerate(lines, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                kind, name = m.groups()
                closing = ">" if kind == "<" else '"'
                where = f"{f}:{number}: #include {kind}{name}{closing}"
                if layer in rules.no_qt and QT_HEADER.match(name):
                    problems.append(f"{where}: {layer} must not include Qt")
                    continue
                if kind != '"':
                    continue
                here = os.path.dirname(f)
                candidates = [os.path.normpath(os.path.join(here, name)).replace(os.sep, "/")]
                candidates += [f"{r}/{name}" for r in include_roots]
                # app's folders are no include root of another layer, but an include
                # that reaches them is a violation all the same
                candidates += [f"{d}/{name}" for d in app_dirs]
                found = [c for c in candidates if c in existing]
                rooted = [c for c in candidates[1:1 + len(include_roots)] if c in existing]
                if len(set(rooted)) > 1:
                    problems.append(f"{where}: ambiguous, found as {' and '.join(rooted)}")
                if not found:
                    continue
                target = found[0]
                target_layer, target_folder = subsystem(target)
                if target_layer not in order:
                    continue
                if order[target_layer] > order[layer]:
                    problems.append(f"{where}: {layer} must not include {target_layer} ({target})")
                    continue
                if target_layer != layer:
                    if target.endswith("_p.h"):
                        problems.append(f"{where}: {target} is private to {target_layer}")
                    continue
                _, folder = subsystem(f)
                ranks = rules.ranks.get(layer, {})
                if folder is None or target_folder is None or folder == target_folder:
                    continue
                if folder not in ranks or target_folder not in ranks:
                    continue  # reported above
                if ranks[target_folder] >= ranks[folder]:
                    relation = "the same rank as" if ranks[target_folder] == ranks[folder] else "after"
                    problems.append(f"{where}: {layer}/{target_folder}/ comes {relation} "
                                    f"{layer}/{folder}/ in the data flow")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("root", nargs="?", default=os.path.dirname(here),
                        help="the source tree (default: this checkout)")
    parser.add_argument("--rules", help="the rules file (default: ROOT/scripts/include-rules.txt)")
    args = parser.parse_args()
    rules_path = args.rules or os.path.join(args.root, "scripts", "include-rules.txt")
    try:
        rules = Rules(rules_path)
    except (OSError, ValueError) as e:
        print(f"check-includes: {e}", file=sys.stderr)
        return 2
    problems = check(args.root, rules)
    for p in problems:
        print(p)
    count = sum(1 for layer in rules.layers for _ in sources(args.root, layer))
    if problems:
        print(f"check-includes: {len(problems)} violation(s) of the include rule "
              f"(docs/ARCHITECTURE.md) in {count} files", file=sys.stderr)
        return 1
    print(f"check-includes: {count} files of {', '.join(rules.layers)} obey the include rule")
    return 0


if __name__ == "__main__":
    sys.exit(main())
