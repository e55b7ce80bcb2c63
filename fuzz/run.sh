#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs the libFuzzer targets of a fuzz build for a bounded time each.
#
#   bash fuzz/run.sh BUILD_DIR [SECONDS] [TARGET...]
#
# BUILD_DIR was configured with -DPRIMAPS_FUZZ=ON (packaging/test.sh makes
# build-sanitize/ that way). SECONDS per target (default 60); TARGETs default to all
# (every fuzz_* program of BUILD_DIR except the seed maker and replays). Seeds come from fuzz_make_seeds;
# the corpus grows in BUILD_DIR/fuzz-corpus/<target> and is kept between runs, so a
# long run continues where the last one stopped:
#
#   bash fuzz/run.sh build-sanitize 3600 checkpoint     # one hour on the unpickler
#
# A crash stops the target, leaves its input in BUILD_DIR/fuzz-artifacts/ and makes this
# script exit 1 after the other targets ran. Extra libFuzzer flags: PRIMAPS_FUZZ_FLAGS.
#
# Several runs may share one BUILD_DIR at the same time: each works in a folder of
# its own (BUILD_DIR/fuzz-runs/run.*: seeds, new inputs, logs), the build step takes
# a lock, and new inputs join the shared corpus by atomic renames when a target ends.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ $# -lt 1 ]; then
  sed -n '3,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
build="$(cd "$1" && pwd)"
seconds="${2:-60}"
shift $(( $# >= 2 ? 2 : 1 ))
targets=("$@")

# This run's own folder: a second run on the same build folder must not delete the
# seeds this one reads, nor overwrite its logs. Removed at the end (the logs and
# the corpus's new inputs are moved out first).
runs="$build/fuzz-runs"
mkdir -p "$runs"
work="$(mktemp -d "$runs/run.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# Two builds of one folder at once would write the same objects and ninja's logs:
# the second run waits for the first one's build (an up-to-date build is quick).
exec 9>"$runs/build.lock"
if ! flock -n 9; then
  echo "fuzz: another fuzz/run.sh is building in $build; waiting for it to finish" >&2
  flock 9
fi
cmake --build "$build" --target fuzzers --parallel "$(nproc 2>/dev/null || echo 2)"
flock -u 9
exec 9>&-

# By default every target the build has (a hand-kept list once left `annotations` out).
if [ ${#targets[@]} -eq 0 ]; then
  for exe in "$build"/fuzz/fuzz_*; do
    name="${exe##*/fuzz_}"
    case "$name" in make_seeds|*_replay|*.*) continue ;; esac
    [ -x "$exe" ] && [ -f "$exe" ] && targets+=("$name")
  done
fi

seeds="$work/seeds"
"$build/fuzz/fuzz_make_seeds" "$seeds" >/dev/null

# Suppressions for Debian's uninstrumented libraries, as for the sanitizer test run;
# leaks are not looked for while fuzzing (caches in OpenCV and matio grow by design).
sup="$root/packaging/sanitizers"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:suppressions=$sup/asan.supp}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:suppressions=$sup/ubsan.supp}"

# No cap on OpenCV's decoders (OPENCV_IO_MAX_IMAGE_PIXELS): core reads each image's
# header and refuses one beyond its pixel budget before OpenCV allocates anything, and
# an input that got past that check to a decode over 2 GB is a finding (-rss_limit_mb).
export OPENCV_LOG_LEVEL="${OPENCV_LOG_LEVEL:-FATAL}"

# Moves this run's new inputs of one target into the shared corpus. libFuzzer names
# an input by its SHA-1, so two runs finding the same input pick the same name; the
# rename within one file system is atomic, so a run reading the corpus never sees
# half a file.
merge_new_inputs() {
  local from="$1" into="$2" file
  for file in "$from"/*; do
    [ -f "$file" ] || continue
    [ -e "$into/${file##*/}" ] || mv -f "$file" "$into/${file##*/}"
  done
}

failed=()
for t in "${targets[@]}"; do
  exe="$build/fuzz/fuzz_$t"
  corpus="$build/fuzz-corpus/$t"
  artifacts="$build/fuzz-artifacts/$t"
  fresh="$work/new-inputs/$t"
  mkdir -p "$corpus" "$artifacts" "$fresh"
  echo "fuzz: $t for ${seconds}s (corpus $corpus)"
  # rss_limit_mb: the issue's bound for one input; timeout: a single input taking
  # longer is a hang worth fixing. Output goes to a log; its tail is shown.
  log="$work/$t.log"
  # libFuzzer writes the inputs it finds into the first folder: this run's own, so
  # that another run reading the shared corpus never meets a file being written.
  inputs=("$fresh" "$corpus" "$seeds/$t")
  [ -d "$root/fuzz/regressions/$t" ] && inputs+=("$root/fuzz/regressions/$t")
  # shellcheck disable=SC2086
  if "$exe" "${inputs[@]}" \
      -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=30 -print_final_stats=1 \
      -artifact_prefix="$artifacts/" ${PRIMAPS_FUZZ_FLAGS:-} >"$log" 2>&1; then
    grep -E '^stat::(number_of_executed_units|peak_rss_mb)|^Done' "$log" | tr '\n' ' '
    echo
  else
    failed+=("$t")
    tail -n 60 "$log"
    echo "fuzz: $t FAILED; the input is in $artifacts/. Reproduce with"
    echo "  $exe $artifacts/<crash-file>"
  fi
  merge_new_inputs "$fresh" "$corpus"
  # The last run to finish a target leaves its log (renamed: never half-written).
  mv -f "$log" "$artifacts/last-run.log"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: crashes in: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} target(s), ${seconds}s each, no crash"
