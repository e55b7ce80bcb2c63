#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the dependencies and builds PriMaPs Studio (Release) into ./build.
# Sourced by studio.sh and test.sh; can be run on its own. Re-running is cheap:
# installed packages are skipped, and ccache/ninja rebuild only what changed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${PRIMAPS_BUILD_DIR:-$root/build}"

bash "$root/packaging/install-deps.sh"

jobs="$(nproc 2>/dev/null || echo 2)"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" --parallel "$jobs"
