#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The include-rule check (scripts/check-includes.py) must fail on every kind of
violation: each case below writes a small tree that obeys the rule, adds one violating
line, and expects exit status 1 and a message naming the file. The tree without the
violation must pass, so a check that always fails cannot pass this test either.

Usage: tst_check_includes.py [REPO_ROOT]
"""
import os
import subprocess
import sys
import tempfile

REPO = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(__file__), "..", ".."))
CHECKER = os.path.join(REPO, "scripts", "check-includes.py")
RULES = os.path.join(REPO, "scripts", "include-rules.txt")

# A tree that obeys the rule, with the real rules file's folder names.
CLEAN = {
    "core/support/error.h": "#pragma once\n#include <string>\n",
    "core/support/blasthreads_p.h": "#pragma once\n",
    "core/image/imageio.h": '#pragma once\n#include "support/error.h"\n',
    "core/image/imageio.cpp": '#include "image/imageio.h"\n#include "support/blasthreads_p.h"\n',
    "core/em/emfit.h": '#pragma once\n#include "image/imageio.h"\n',
    "core/evaluation/evaluation.h": '#pragma once\n#include "support/error.h"\n',
    "core/runs/fitrun.h": '#pragma once\n#include "em/emfit.h"\n#include "evaluation/evaluation.h"\n',
    "widgets/common/messagewidget.h": '#pragma once\n#include <QWidget>\n#include "support/error.h"\n',
    "widgets/explore/canvaswidget.h": '#pragma once\n#include "common/messagewidget.h"\n',
    "widgets/annotate/labeleditor.h": '#pragma once\n#include "explore/canvaswidget.h"\n',
    "widgets/annotate/labeleditor.cpp": '#include "explore/canvaswidget.h"\n#include "runs/fitrun.h"\n',
    "app/studio/mainwindow.h": '#pragma once\n#include "annotate/labeleditor.h"\n',
    "app/studio/mainwindow.cpp": '#include "mainwindow.h"\n#include "explore/canvaswidget.h"\n',
}

# (name, file, line added to it, text the message must contain)
VIOLATIONS = [
    ("earlier subsystem includes a later one", "core/support/error.h",
     '#include "em/emfit.h"', "comes after"),
    ("subsystems of the same rank include each other", "core/evaluation/evaluation.h",
     '#include "em/emfit.h"', "the same rank"),
    ("core includes a Qt header", "core/image/imageio.cpp", "#include <QString>",
     "must not include Qt"),
    ("core includes a Qt module header", "core/em/emfit.h",
     "#include <QtConcurrent/QtConcurrentRun>", "must not include Qt"),
    ("core includes a widget", "core/runs/fitrun.h", '#include "common/messagewidget.h"',
     "core must not include widgets"),
    ("core includes the app", "core/image/imageio.cpp", '#include "mainwindow.h"',
     "core must not include app"),
    ("widgets include the app", "widgets/explore/canvaswidget.h", '#include "mainwindow.h"',
     "widgets must not include app"),
    ("a widget folder includes a later widget folder", "widgets/explore/canvaswidget.h",
     '#include "annotate/labeleditor.h"', "comes after"),
    ("another layer includes a private header", "widgets/common/messagewidget.h",
     '#include "support/blasthreads_p.h"', "private to core"),
]

# (name, extra file, its content, text the message must contain)
BAD_FOLDERS = [
    ("a folder without a rank", "core/misc/helper.h", "#pragma once\n", "has no rank"),
    ("a folder name in two layers", "widgets/em/emplot.h", "#pragma once\n", "used by"),
    ("a header under both include roots", "widgets/support/error.h", "#pragma once\n",
     "ambiguous"),
]


def write_tree(root, files):
    for path, text in files.items():
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as f:
            f.write(text)


def run_check(files):
    with tempfile.TemporaryDirectory() as root:
        write_tree(root, files)
        done = subprocess.run([sys.executable, CHECKER, root, "--rules", RULES],
                              capture_output=True, text=True)
        return done.returncode, done.stdout + done.stderr


def main():
    failures = []
    status, output = run_check(CLEAN)
    if status != 0:
        failures.append(f"the clean tree fails the check (status {status}):\n{output}")
    cases = [(name, {**CLEAN, path: CLEAN[path] + line + "\n"}, path, expected)
             for name, path, line, expected in VIOLATIONS]
    cases += [(name, {**CLEAN, path: text}, path, expected)
              for name, path, text, expected in BAD_FOLDERS]
    # The ambiguity needs an include that reaches both roots.
    ambiguous = cases[-1][1]
    ambiguous["widgets/explore/canvaswidget.h"] += '#include "support/error.h"\n'
    cases[-1] = (cases[-1][0], ambiguous, "widgets/explore/canvaswidget.h", cases[-1][3])
    for name, files, path, expected in cases:
        status, output = run_check(files)
        if status != 1:
            failures.append(f"{name}: status {status}, expected 1\n{output}")
        elif expected not in output or (path not in output and "used by" not in output):
            failures.append(f"{name}: message lacks '{expected}' or '{path}':\n{output}")
        else:
            print(f"PASS: {name}")
    for failure in failures:
        print("FAIL:", failure)
    print(f"{len(cases) + 1 - len(failures)} of {len(cases) + 1} cases passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
