#!/bin/sh
# SPDX-License-Identifier: MIT
# Renders every perspective of PriMaPs Studio at 1366x768 and 1920x1080:
#   scripts/studio-gallery.sh OUT_DIR [RUN_DIR]
# OUT_DIR receives <perspective>-<W>x<H>.png. With RUN_DIR (a fitted run, e.g.
# from 'primaps fit'), Review, Evaluate and Annotate show that run's first image;
# without one they show the bundled samples. Each picture comes from
#   primaps-studio --perspective NAME --size WxH --screenshot FILE
# on a virtual X screen of that size (xvfb-run) when there is one, else on Qt's
# offscreen platform. PRIMAPS_STUDIO overrides the executable.
set -eu

out=${1:?usage: studio-gallery.sh OUT_DIR [RUN_DIR]}
run=${2:-}
studio=${PRIMAPS_STUDIO:-primaps-studio}
mkdir -p "$out"

for size in 1366x768 1920x1080; do
    for perspective in explore review fit evaluate annotate; do
        file="$out/$perspective-$size.png"
        set -- --perspective "$perspective" --size "$size" --screenshot "$file"
        if [ -n "$run" ] && [ "$perspective" != explore ] && [ "$perspective" != fit ]; then
            set -- "$@" --run "$run"
        fi
        if command -v xvfb-run >/dev/null 2>&1; then
            xvfb-run -a -s "-screen 0 ${size}x24" "$studio" "$@"
        else
            QT_QPA_PLATFORM=offscreen "$studio" "$@"
        fi
    done
done
echo "gallery: $(ls "$out"/*.png | wc -l) pictures in $out"
