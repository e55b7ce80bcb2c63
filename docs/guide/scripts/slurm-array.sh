#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# One task of a Slurm job array over a dataset: task i of N takes images
# i, i+N, i+2N, ... (primaps --shard i/N). Submit it once per phase:
#   PHASE=masks   cache features and PriMaPs masks (then run `primaps fit` once)
#   PHASE=eval    evaluate a fitted run; writes RUN/parts/eval_i.json for --merge
#   PHASE=export  export pseudo-labels with a given match (MATCH=eval.json)
# Settings come from the environment (sbatch --export=ALL,...):
#   DATASET (folder, cityscapes, cocostuff27, potsdam3), ROOT, RUN,
#   BACKBONE (default dino_vits8), EXTRA (more options, e.g. "--classes 6"),
#   OUT and MATCH for PHASE=export.
# Outside Slurm, set SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT yourself.
#SBATCH --job-name=primaps
#SBATCH --cpus-per-task=8
#SBATCH --mem=16G
#SBATCH --time=04:00:00
#SBATCH --output=primaps-%A_%a.log
set -euo pipefail
: "${PHASE:?set PHASE=masks|eval|export}" "${DATASET:?set DATASET}" "${ROOT:?set ROOT}" "${RUN:?set RUN}"
task="${SLURM_ARRAY_TASK_ID:?not a job-array task (SLURM_ARRAY_TASK_ID is unset)}"
tasks="${SLURM_ARRAY_TASK_COUNT:?SLURM_ARRAY_TASK_COUNT is unset}"
primaps="${PRIMAPS:-primaps}"
# Every task uses the CPUs Slurm gave it, no more.
export OMP_NUM_THREADS="${SLURM_CPUS_PER_TASK:-${OMP_NUM_THREADS:-1}}"
# shellcheck disable=SC2206
extra=(${EXTRA:-})
data=(--dataset "$DATASET" --root "$ROOT" --shard "$task/$tasks" --quiet)

case "$PHASE" in
  masks)
    "$primaps" masks "${data[@]}" --backbone "${BACKBONE:-dino_vits8}" --out "$RUN" "${extra[@]}" ;;
  eval)
    mkdir -p "$RUN/parts"
    "$primaps" eval "${data[@]}" --run "$RUN" --partial "$RUN/parts/eval_$task.json" "${extra[@]}" ;;
  export)
    : "${OUT:?set OUT}" "${MATCH:?set MATCH (an eval --json output)}"
    "$primaps" export "${data[@]}" --run "$RUN" --match "$MATCH" --out "$OUT" "${extra[@]}" ;;
  *) echo "slurm-array: unknown PHASE '$PHASE' (masks, eval or export)" >&2; exit 2 ;;
esac
