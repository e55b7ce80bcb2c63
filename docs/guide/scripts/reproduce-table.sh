#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fills the paper's table (DINO ViT-S/8 rows: Baseline and +PriMaPs) with your
# own numbers, for the datasets you have:
#   reproduce-table.sh [--cityscapes DIR] [--cocostuff DIR] [--potsdam DIR]
#                      [--work DIR] [--backbone NAME] [--weights FILE] [-- FIT OPTIONS...]
# For each dataset it fits the k-means baseline and PriMaPs-EM (student
# augmentations on, as the paper's runs) on the train split, sharing one
# feature and mask cache, evaluates both on the val split with the dense CRF,
# and writes WORK/table.md: your Acc / mIoU beside the paper's. Everything is
# resumable: run the same command again after an interruption. Options after
# "--" go to both fits (e.g. --epochs 10 for a quick look).
set -euo pipefail
work="primaps-table" backbone="dino_vits8" weights=""
declare -A roots=()
while [ $# -gt 0 ]; do
  case "$1" in
    --cityscapes) roots[cityscapes]="$2"; shift 2 ;;
    --cocostuff) roots[cocostuff27]="$2"; shift 2 ;;
    --potsdam) roots[potsdam3]="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --backbone) backbone="$2"; shift 2 ;;
    --weights) weights="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '3,13s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "reproduce-table: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
extra=("$@")
[ ${#roots[@]} -gt 0 ] || { echo "reproduce-table: give at least one of --cityscapes, --cocostuff, --potsdam" >&2; exit 2; }
primaps="${PRIMAPS:-primaps}"
weight_args=()
[ -z "$weights" ] || weight_args=(--weights "$weights")

# The paper's numbers (Acc / mIoU, %), DINO ViT-S/8, as the authors' repository lists them.
declare -A paper=(
  [baseline,cityscapes]="61.4 / 15.8" [baseline,cocostuff27]="34.2 / 9.5" [baseline,potsdam3]="56.6 / 33.6"
  [primaps,cityscapes]="81.2 / 19.4"  [primaps,cocostuff27]="46.5 / 16.4" [primaps,potsdam3]="62.5 / 38.9"
)
declare -A measured=()

json_number() { sed -n "s/^ *\"$1\": *\([-0-9.e]*\).*/\1/p" "$2" | head -n 1; }

for kind in cityscapes cocostuff27 potsdam3; do
  root="${roots[$kind]:-}"
  [ -n "$root" ] || continue
  cache="$work/$kind/cache"
  for row in baseline primaps; do
    run="$work/$kind/$row"
    if [ "$row" = baseline ]; then method=(--method kmeans); else method=(--method primaps-em --student-augs); fi
    echo "== $kind: $row"
    "$primaps" fit --dataset "$kind" --root "$root" --backbone "$backbone" "${weight_args[@]}" \
      "${method[@]}" --cache "$cache" --out "$run" "${extra[@]}"
    if [ ! -s "$run/eval_crf.json" ]; then
      "$primaps" eval --run "$run" --dataset "$kind" --root "$root" --crf --json > "$run/eval_crf.json.part"
      mv "$run/eval_crf.json.part" "$run/eval_crf.json"
    fi
    acc="$(json_number acc "$run/eval_crf.json")" miou="$(json_number miou "$run/eval_crf.json")"
    measured[$row,$kind]="$(printf '%.1f / %.1f' "$acc" "$miou")"
  done
done

cell() { # row kind
  local mine="${measured[$1,$2]:-}"
  echo "${mine:-—} (paper ${paper[$1,$2]})"
}
{
  echo "| Method ($backbone; paper: DINO ViT-S/8) | Cityscapes Acc / mIoU | COCO-Stuff-27 Acc / mIoU | Potsdam-3 Acc / mIoU |"
  echo "|---|---|---|---|"
  echo "| Baseline | $(cell baseline cityscapes) | $(cell baseline cocostuff27) | $(cell baseline potsdam3) |"
  echo "| +PriMaPs | $(cell primaps cityscapes) | $(cell primaps cocostuff27) | $(cell primaps potsdam3) |"
} > "$work/table.md"
echo
cat "$work/table.md"
echo "(written to $work/table.md; evaluation with the dense CRF, val split)"
