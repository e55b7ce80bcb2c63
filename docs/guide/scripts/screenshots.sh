#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Regenerates the guide's screenshots (docs/guide/images/*.png) from the real
# studio on a virtual screen. Developer tool: needs xvfb, xdotool, imagemagick
# and pngquant (apt-get install xvfb xdotool imagemagick pngquant).
#   docs/guide/scripts/screenshots.sh [BUILD_DIR]
# Each shot: a screen size, the studio's arguments, then keys typed into the
# window once the first decomposition is shown. Add a line to add a screen.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
build="${1:-$root/build}"
studio="$build/app/studio/primaps-studio"
out="$root/docs/guide/images"
samples="$root/resources/samples"
tmp="$(mktemp -d)"
# A fresh profile (default layout, nothing downloaded) in a home folder whose
# name reads well in the pictures; removed afterwards when it was made here.
fake_home=/home/you
made_home=0
[ -e "$fake_home" ] || { mkdir -p "$fake_home"; made_home=1; }
trap 'rm -rf "$tmp"; [ "$made_home" = 0 ] || rm -rf "$fake_home"' EXIT
export HOME="$fake_home"
unset XDG_CONFIG_HOME XDG_CACHE_HOME XDG_DATA_HOME TORCH_HOME PRIMAPS_MODELS_DIR

# shot NAME WIDTHxHEIGHT SECONDS "STUDIO ARGS" [XDOTOOL KEY...]
shot() {
  local name="$1" size="$2" wait="$3" args="$4"; shift 4
  # ONLY=name1,name2 retakes just those.
  [ -z "${ONLY:-}" ] || [[ ",$ONLY," == *",$name,"* ]] || return 0
  local display=":$((90 + RANDOM % 100))" xvfb studio_pid key
  Xvfb "$display" -screen 0 "${size}x24" -nolisten tcp >/dev/null 2>&1 &
  xvfb=$!
  sleep 1
  # shellcheck disable=SC2086
  DISPLAY="$display" "$studio" -qwindowgeometry "$size+0+0" $args >/dev/null 2>&1 &
  studio_pid=$!
  sleep "$wait"
  # No window manager: give the main window the keyboard focus ourselves, and
  # park the pointer where hovering shows nothing.
  DISPLAY="$display" xdotool mousemove 100 600
  DISPLAY="$display" xdotool search --onlyvisible --name "PriMaPs Studio" windowfocus 2>/dev/null || true
  for key in "$@"; do
    if [[ "$key" == sleep:* ]]; then sleep "${key#sleep:}"; else DISPLAY="$display" xdotool key "$key"; fi
  done
  sleep 2
  import -display "$display" -window root "$tmp/$name.png"
  kill "$studio_pid" "$xvfb" 2>/dev/null || true
  wait "$studio_pid" "$xvfb" 2>/dev/null || true
  pngquant --quality 40-80 --nofs --speed 1 --strip --force --output "$out/$name.png" "$tmp/$name.png"
  echo "$out/$name.png: $(stat -c %s "$out/$name.png") bytes"
}

shot explore-1366 1366x768 20 "$samples/chelsea.jpg"
shot explore-1920 1920x1080 20 "$samples/coffee.jpg"
shot compare-crf 1366x768 20 "--compare $samples/coffee.jpg"
shot backbones 1366x768 20 "$samples/chelsea.jpg" alt+d sleep:1 b sleep:3
shot new-fit 1366x768 20 "$samples/chelsea.jpg" ctrl+shift+f sleep:3
shot edit-labels 1366x768 20 "$samples/chelsea.jpg" ctrl+l sleep:2
