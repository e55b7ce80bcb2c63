#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# One command for a fresh machine: install, build, and open PriMaPs Studio on the
# bundled sample photos. Without a display it runs the same decomposition
# headless with the command-line tool and says where the results are.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${PRIMAPS_BUILD_DIR:-$root/build}"

bash "$root/packaging/build.sh"

if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; then
  echo "Starting PriMaPs Studio on the bundled samples..."
  exec "$build/app/studio/primaps-studio" "$@"
fi

out="$root/primaps-demo"
echo
echo "No display found (neither DISPLAY nor WAYLAND_DISPLAY is set), so the GUI cannot open."
echo "Running the headless demo instead: decomposing the bundled samples with the CLI."
"$build/app/cli/primaps" decompose "$root/resources/samples" --out "$out" --overwrite
echo
echo "Done. For each sample, $out holds:"
echo "  <name>_overlay.png  the masks over the photo"
echo "  <name>_masks.png    8-bit mask ids (0 = background)"
echo "  <name>_trace.json   every PriMaPs iteration: seed, area, coverage, stop reason"
echo "To see the GUI on a machine without a screen: xvfb-run -a $build/app/studio/primaps-studio"
