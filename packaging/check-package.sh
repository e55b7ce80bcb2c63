#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the Debian package and checks it the way a user would meet it:
#   lintian (no errors; only the warnings packaging/lintian-warnings.txt accepts),
#   appstreamcli validate and desktop-file-validate on the installed files,
#   then unpacks it with dpkg -x into a temporary root and runs the installed
#   programs there: primaps --version, a headless primaps decompose of a bundled
#   sample, the studio's --help without a display and a studio run that must open
#   the installed samples; then every command of the user guide that needs no
#   external data (docs/guide/scripts/check-guide.sh), on the installed programs.
# CI runs it after the test suite (.ci/run). Ends with "package: N passed, M failed".
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${PRIMAPS_BUILD_DIR:-$root/build}"

bash "$root/packaging/build.sh"
cmake --build "$build" --target package

version="$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")"
deb="$build/primaps-studio_${version}_$(dpkg --print-architecture).deb"
[ -f "$deb" ] || { echo "check-package: $deb was not built" >&2; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
# check NAME COMMAND...: runs COMMAND, prints its output only when it fails.
check() {
  local name="$1"; shift
  if "$@" > "$tmp/log" 2>&1; then
    passed=$((passed + 1)); echo "PASS  $name"
  else
    failed=$((failed + 1)); echo "FAIL  $name"; sed 's/^/      /' "$tmp/log"
  fi
}

report="$tmp/lintian.txt"
echo "lintian $(lintian --version | sed 's/^Lintian v//') on $(basename "$deb"):"
lintian_status=0
lintian --tag-display-limit 0 --display-info "$deb" > "$report" 2>/dev/null || lintian_status=$?
sed 's/^/      /' "$report"
lintian_clean() {
  local allowed unexpected
  # 0: clean, 1: errors (reported below); anything else: lintian itself failed.
  [ "$lintian_status" -le 1 ] || { echo "lintian could not check the package (exit $lintian_status)"; return 1; }
  allowed="$(sed -n 's/^\([a-z0-9][a-z0-9+.-]*\)[[:space:]].*/\1/p; s/^\([a-z0-9][a-z0-9+.-]*\)$/\1/p' \
             "$root/packaging/lintian-warnings.txt")"
  if grep -q '^E: ' "$report"; then
    echo "lintian errors:"; grep '^E: ' "$report"; return 1
  fi
  unexpected="$(sed -n 's/^W: [^:]*: \([^ ]*\).*/\1/p' "$report" | sort -u |
                grep -vxF -f <(printf '%s\n' $allowed '') || true)"
  if [ -n "$unexpected" ]; then
    echo "lintian warnings not accepted in packaging/lintian-warnings.txt: $unexpected"; return 1
  fi
}
check "lintian: no errors, only accepted warnings" lintian_clean

check "Depends computed by dpkg-shlibdeps" \
  bash -c "dpkg-deb -f '$deb' Depends | grep -q 'libtorch' && dpkg-deb -f '$deb' Depends | grep -q 'libqt6widgets6'"

dest="$tmp/root"
dpkg -x "$deb" "$dest"
usr="$dest/usr"
share="$usr/share/primaps-studio"

check "appstreamcli validate" appstreamcli validate --no-net "$usr/share/metainfo/io.github.primaps.Studio.metainfo.xml"
desktop_clean() {
  local out; out="$(desktop-file-validate "$usr/share/applications/primaps-studio.desktop" 2>&1)"
  [ -z "$out" ] || { echo "$out"; return 1; }
}
check "desktop-file-validate: no errors, warnings or hints" desktop_clean

icons_complete() {
  local size
  for size in 16 32 48 64 128 256; do
    file "$usr/share/icons/hicolor/${size}x${size}/apps/primaps-studio.png" | grep -q "$size x $size" ||
      { echo "missing or wrong ${size}x${size} icon"; return 1; }
  done
  [ -f "$usr/share/icons/hicolor/scalable/apps/primaps-studio.svg" ]
}
check "hicolor icons at 16..256 px and scalable" icons_complete
check "programs are stripped" \
  bash -c "file -L '$usr/bin/primaps' '$usr/bin/primaps-studio' | grep -c ', stripped' | grep -qx 2"
copyright_names_samples() {
  local f
  for f in "$share"/samples/*.jpg; do
    grep -q "^Files: resources/samples/$(basename "$f")$" "$usr/share/doc/primaps-studio/copyright" ||
      { echo "copyright has no Files: stanza for $(basename "$f")"; return 1; }
  done
}
check "copyright covers every bundled sample" copyright_names_samples
check "man pages: primaps(1) documents every command" \
  bash -c "man -l '$usr/share/man/man1/primaps.1.gz' 2>&1 | grep -q 'primaps decompose' &&
           man -l '$usr/share/man/man1/primaps.1.gz' 2>&1 | grep -q 'primaps export'"
check "man pages: primaps-studio(1)" \
  bash -c "man -l '$usr/share/man/man1/primaps-studio.1.gz' 2>&1 | grep -q -- '--screenshot'"

# The installed programs, with nothing of the build tree in reach.
check "installed primaps --version" \
  bash -c "'$usr/bin/primaps' --version | grep -q '^primaps $version '"
check "installed primaps uses the installed catalogue" \
  bash -c "'$usr/bin/primaps' backbones | grep -qxF 'Model catalogue: $share/models/catalog.json'"
decompose_sample() {
  "$usr/bin/primaps" decompose "$share/samples/chelsea.jpg" --out "$tmp/decomposed"
  for f in chelsea_masks.png chelsea_overlay.png chelsea_trace.json; do
    [ -s "$tmp/decomposed/$f" ] || { echo "no $f"; return 1; }
  done
}
check "installed primaps decompose of a bundled sample" decompose_sample
check "installed primaps-studio --help without a display" \
  bash -c "env -u DISPLAY -u WAYLAND_DISPLAY -u QT_QPA_PLATFORM '$usr/bin/primaps-studio' --help |
           grep -q 'Usage: '"
check "installed primaps-studio --version without a display" \
  bash -c "env -u DISPLAY -u WAYLAND_DISPLAY -u QT_QPA_PLATFORM '$usr/bin/primaps-studio' --version |
           grep -qx 'PriMaPs Studio $version'"
# Without arguments the studio opens the installed samples in place; the
# fallback would copy its compiled-in ones into the cache folder instead.
studio_opens_installed_samples() {
  XDG_CACHE_HOME="$tmp/cache" XDG_CONFIG_HOME="$tmp/config" QT_QPA_PLATFORM=offscreen \
    "$usr/bin/primaps-studio" --screenshot "$tmp/studio.png"
  [ -s "$tmp/studio.png" ] || { echo "no screenshot"; return 1; }
  if [ -e "$tmp/cache/PriMaPs/PriMaPs Studio/samples" ]; then
    echo "the studio copied its compiled-in samples instead of opening $share/samples"; return 1
  fi
}
check "installed primaps-studio opens the installed samples" studio_opens_installed_samples

# The user guide's commands, run as written against the installed programs.
check "user guide commands on the installed programs" \
  bash "$root/docs/guide/scripts/check-guide.sh" --prefix "$usr"

echo "package: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
