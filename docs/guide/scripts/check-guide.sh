#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs the commands of the user guide as written: every ```sh block of
# docs/guide/*.md, except those right after a "<!-- not run: reason -->" line
# (they need a dataset, the network, a GPU or a cluster). The blocks of one page
# run in order in one shell (set -euo pipefail), in a fresh folder, with a
# throw-away HOME. "/usr/share/primaps-studio" in a command means the data of
# the programs under test.
#   check-guide.sh [--build BUILD_DIR]      programs of a build tree (default: build/)
#   check-guide.sh --prefix PREFIX          installed programs: PREFIX/bin, PREFIX/share
# ONLY=page.md[,page.md] limits it to those pages; VERBOSE=1 shows their output.
# Ends with "guide: N passed, M failed" (one per page).
set -euo pipefail
guide="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
root="$(cd "$guide/../.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin"

mode="${1:---build}"
case "$mode" in
  --build)
    build="$(cd "${2:-$root/build}" && pwd)"
    ln -s "$build/app/cli/primaps" "$tmp/bin/primaps"
    ln -s "$build/app/studio/primaps-studio" "$tmp/bin/primaps-studio"
    share="$build/app/share/primaps-studio" ;;
  --prefix)
    prefix="$(cd "$2" && pwd)"
    ln -s "$prefix/bin/primaps" "$tmp/bin/primaps"
    ln -s "$prefix/bin/primaps-studio" "$tmp/bin/primaps-studio"
    share="$prefix/share/primaps-studio" ;;
  *) echo "usage: check-guide.sh [--build BUILD_DIR | --prefix PREFIX]" >&2; exit 2 ;;
esac
[ -d "$share/samples" ] || { echo "check-guide: no samples in $share" >&2; exit 1; }

passed=0 failed=0
for page in "$guide"/*.md; do
  name="$(basename "$page")"
  # ONLY=page.md,... checks just those; VERBOSE=1 prints every page's output.
  [ -z "${ONLY:-}" ] || [[ ",$ONLY," == *",$name,"* ]] || continue
  script="$tmp/$name.sh"
  # The runnable blocks, in order; a "not run" marker skips the next block only.
  awk -v share="$share" '
    /^<!-- not run:/ { skip = 1; next }
    /^```sh[[:space:]]*$/ && !inside { inside = 1; run = !skip; skip = 0; if (run) blocks++; next }
    /^```[[:space:]]*$/ && inside { inside = 0; next }
    inside && run { gsub("/usr/share/primaps-studio", share); print; next }
    !inside && NF { skip = skip && /^<!--/ }
    END { if (blocks == 0) exit 3 }
  ' "$page" > "$script" || { [ $? -eq 3 ] && continue; echo "FAIL  $name: cannot read it"; failed=$((failed + 1)); continue; }
  work="$tmp/work-${name%.md}"
  mkdir -p "$work" "$tmp/home-${name%.md}"
  if (cd "$work" &&
      env -u DISPLAY -u WAYLAND_DISPLAY -u QT_QPA_PLATFORM -u XDG_CONFIG_HOME -u XDG_CACHE_HOME \
          -u XDG_DATA_HOME -u TORCH_HOME -u PRIMAPS_MODELS_DIR \
          HOME="$tmp/home-${name%.md}" PATH="$tmp/bin:$PATH" GUIDE_SCRIPTS="$guide/scripts" \
          bash -euo pipefail "$script") > "$tmp/$name.log" 2>&1; then
    passed=$((passed + 1)); echo "PASS  $name ($(grep -c . "$script") command lines)"
    [ -z "${VERBOSE:-}" ] || sed 's/^/      /' "$tmp/$name.log"
  else
    failed=$((failed + 1)); echo "FAIL  $name"; sed 's/^/      /' "$tmp/$name.log" | tail -n 40
  fi
done
echo "guide: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
