#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Makes the man pages of primaps and primaps-studio from their --help with
# help2man (run by the build: packaging/CMakeLists.txt).
#   make-manpages.sh OUT_DIR VERSION PRIMAPS [PRIMAPS_STUDIO]
# primaps(1) also gets every command's own --help, so `man primaps` documents
# every option. The date is the changelog's, so the pages are reproducible.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$1" version="$2" primaps="$3" studio="${4:-}"
mkdir -p "$out"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  stamp="$(sed -n 's/^ -- .*>  //p' "$here/changelog" | head -n 1)"
  SOURCE_DATE_EPOCH="$(date -d "$stamp" +%s)"
  export SOURCE_DATE_EPOCH
fi

# Text as roff that is shown as is: backslashes escaped, no line read as a request.
as_roff() { sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"; }

# The commands are the indented words under "Commands:" in `primaps --help`.
commands="$("$primaps" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p')"
[ -n "$commands" ] || { echo "make-manpages: no commands in '$primaps --help'" >&2; exit 1; }
{
  cat "$here/primaps.1.in"
  echo "[COMMANDS IN DETAIL]"
  for c in $commands; do
    echo ".SS \"primaps $c\""
    echo ".nf"
    "$primaps" "$c" --help | as_roff
    echo ".fi"
  done
} > "$tmp/primaps.h2m"

# help2man reads the version from --version; give it the plain number instead of
# the library list that `primaps --version` adds.
help2man --no-info --section=1 --version-string="$version" \
  --name="unsupervised semantic segmentation with principal mask proposals" \
  --include="$tmp/primaps.h2m" --output="$tmp/primaps.1" "$primaps"
gzip -9n -c "$tmp/primaps.1" > "$out/primaps.1.gz"

if [ -n "$studio" ]; then
  help2man --no-info --section=1 --version-string="$version" \
    --name="explore principal mask proposals and make pseudo-labels" \
    --include="$here/primaps-studio.1.in" --output="$tmp/primaps-studio.1" "$studio"
  gzip -9n -c "$tmp/primaps-studio.1" > "$out/primaps-studio.1.gz"
fi
