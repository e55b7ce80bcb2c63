#!/bin/sh
# SPDX-License-Identifier: MIT
# Renders every perspective of PriMaPs Studio at 1366x768 and 1920x1080:
#   scripts/studio-gallery.sh OUT_DIR [RUN_DIR]
# OUT_DIR receives <perspective>-<W>x<H>.png. Review, Fit, Evaluate and Annotate
# show a fitted run: RUN_DIR when given (e.g. from 'primaps fit'), else one made
# here in OUT_DIR/gallery-run: 24 generated, labelled street scenes
# (make_scene_dataset, a build-tree tool) fitted with the filter-bank backbone
# for 4 epochs at 160 pixels (about a minute on two cores). Explore shows the
# bundled samples. Each picture comes from
#   primaps-studio --perspective NAME --size WxH --screenshot FILE [--run RUN]
# on a virtual X screen of that size (xvfb-run) when there is one, else on Qt's
# offscreen platform. PRIMAPS_BUILD (default: build) is the build folder;
# PRIMAPS_STUDIO, PRIMAPS_CLI and PRIMAPS_SCENES override the executables.
set -eu

out=${1:?usage: studio-gallery.sh OUT_DIR [RUN_DIR]}
run=${2:-}
build=${PRIMAPS_BUILD:-build}
studio=${PRIMAPS_STUDIO:-$build/app/studio/primaps-studio}
mkdir -p "$out"

if [ -z "$run" ]; then
    cli=${PRIMAPS_CLI:-$build/app/cli/primaps}
    scenes=${PRIMAPS_SCENES:-$build/tests/make_scene_dataset}
    run="$out/gallery-run"
    if [ ! -f "$run/theta_m.json" ]; then
        [ -d "$out/gallery-scenes/images" ] || "$scenes" "$out/gallery-scenes" 24 1
        # About a third of the scenes is the validation split: Review and Evaluate
        # show images the fit has not seen, the Fit monitor its validation mIoU.
        "$cli" fit --dataset folder --root "$out/gallery-scenes" --holdout 0.3 \
            --val-split val --resolution 160 --epochs 4 --init-epochs 1 --batch-size 3 \
            --threads 2 --quiet --out "$run"
    fi
fi

for size in 1366x768 1920x1080; do
    for perspective in explore review fit evaluate annotate; do
        file="$out/$perspective-$size.png"
        set -- --perspective "$perspective" --size "$size" --screenshot "$file"
        if [ "$perspective" != explore ]; then
            set -- "$@" --run "$run"
        fi
        if command -v xvfb-run >/dev/null 2>&1; then
            xvfb-run -a -s "-screen 0 ${size}x24" "$studio" "$@"
        else
            QT_QPA_PLATFORM=offscreen "$studio" "$@"
        fi
    done
done
echo "gallery: $(ls "$out"/*.png | wc -l) pictures in $out (run: $run)"
