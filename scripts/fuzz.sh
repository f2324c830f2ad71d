#!/usr/bin/env bash
# Runs every libFuzzer target of a KVASIR_FUZZ build (`make fuzz` builds
# it first) for a set time each, then prints a summary table.
#
#   scripts/fuzz.sh [BUILD_DIR [SECONDS [TARGET...]]]   (build-fuzz, 60, all)
#
# FUZZ_JOBS targets run at a time (default: the number of cores), each
# libFuzzer process single-threaded, so a run takes about
# SECONDS x targets / FUZZ_JOBS.
# Each target starts from its committed seeds (tests/fuzz/corpus/<target>/),
# copied into BUILD_DIR/fuzz-corpus/<target>/ where the inputs libFuzzer
# finds accumulate from run to run (the repository is never written).
# Crashing inputs go to BUILD_DIR/crashes/<target>/, logs to
# BUILD_DIR/fuzz-logs/<target>.log. Exits 1 when any target crashed (or
# leaked, timed out or ran out of memory), after printing each crashing
# input's path and how to reproduce it.
set -uo pipefail
cd "$(dirname "$0")/.."

build=${1:-build-fuzz}
seconds=${2:-60}
shift $(( $# > 2 ? 2 : $# ))
fuzz_bin="$build/tests/fuzz"
if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for bin in "$fuzz_bin"/*_fuzz; do
    [ -x "$bin" ] && targets+=("$(basename "$bin" _fuzz)")
  done
fi
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz.sh: no fuzz targets in $fuzz_bin (build with -DKVASIR_FUZZ=ON)" >&2
  exit 2
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

jobs=${FUZZ_JOBS:-$(nproc)}
results="$build/fuzz-results"
rm -rf "$results"
mkdir -p "$results"

# Runs one target; writes its summary row to $results/<target>.row and, when
# it failed, the end of its log and the crashing input to <target>.fail.
run_target() {
  local t=$1
  local bin="$fuzz_bin/${t}_fuzz"
  local seeds="tests/fuzz/corpus/$t"
  local corpus="$build/fuzz-corpus/$t"
  local crashes="$build/crashes/$t"
  local log="$build/fuzz-logs/$t.log"
  mkdir -p "$corpus" "$crashes" "$(dirname "$log")"
  if [ -d "$seeds" ]; then cp -n "$seeds"/* "$corpus"/ 2>/dev/null; fi
  echo "== $t: ${seconds}s (log: $log)"
  # -timeout: an input that runs this long is a hang; -rss_limit_mb: one
  # that needs this much memory is a bug (files and requests are small).
  "$bin" "$corpus" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 \
    -artifact_prefix="$crashes/" -print_final_stats=1 >"$log" 2>&1
  local rc=$?
  local execs rate cov units status=ok
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o ' cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  units=$(find "$corpus" -type f | wc -l)
  if [ $rc -ne 0 ]; then
    status=CRASH
    {
      echo "!! $t failed (exit $rc); the end of its log:"
      tail -n 40 "$log" | sed 's/^/   /'
      local input
      input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
      if [ -n "$input" ]; then
        echo "!! crashing input: $input"
        echo "!! reproduce: $bin $input"
      fi
    } >"$results/$t.fail"
  fi
  printf '%-16s %-6s %12s %10s %8s %8s\n' "$t" "$status" \
    "${execs:--}" "${rate:--}" "${cov:--}" "$units" >"$results/$t.row"
}

running=0
for t in "${targets[@]}"; do
  if [ "$running" -ge "$jobs" ]; then
    wait -n
    running=$((running - 1))
  fi
  run_target "$t" &
  running=$((running + 1))
done
wait

failed=()
for t in "${targets[@]}"; do
  if [ -f "$results/$t.fail" ]; then
    failed+=("$t")
    cat "$results/$t.fail"
  elif [ ! -f "$results/$t.row" ]; then
    failed+=("$t")
    echo "!! $t: no result (the run did not finish)"
  fi
done

echo
echo "Fuzzing summary (${seconds}s per target; cov = libFuzzer's cov: count)"
printf '%-16s %-6s %12s %10s %8s %8s\n' target status execs exec/s cov corpus
for t in "${targets[@]}"; do cat "$results/$t.row" 2>/dev/null; done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: crashes in: ${failed[*]} (inputs in $build/crashes/)" >&2
  exit 1
fi
