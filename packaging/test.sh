#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# One command for a fresh machine: install, build, and run the whole test suite
# (headless). This is exactly what CI runs.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${PRIMAPS_BUILD_DIR:-$root/build}"

bash "$root/packaging/build.sh"

export QT_QPA_PLATFORM=offscreen
jobs="$(nproc 2>/dev/null || echo 2)"
ctest --test-dir "$build" --output-on-failure --parallel "$jobs"
