#!/usr/bin/env bash
# On the GPU machine: compute-sanitizer memcheck, then racecheck, over the whole GPU test suite
# (timing tests aside) plus the GEMM/GEMV shape cases, which are sampled (their first ten
# each). memcheck runs as $SHARDS gtest shards in parallel, racecheck as one process; every
# process has $SANITIZER_SECONDS. TOOLS picks the tools (default "memcheck racecheck").
# racecheck's hazards are counted by kernel: it reports some inside cuBLASLt's own split-K
# kernels (names starting "nvjet"), which synchronise through asynchronous barriers racecheck
# does not follow; that is library code, not ours. (Leaving those kernels out with
# --kernel-name-exclude made the sanitizer fail on every cuBLASLt call: "failed to handle a
# hardware exception".)
#   BUNDLE=.device/bundle SOURCE_DIR=/work/main bash tools/device_sanitize.sh   (logs in $OUT)
set -u
bundle=${BUNDLE:-.device/bundle}
shards=${SHARDS:-4}
limit=${SANITIZER_SECONDS:-240}
export LD_LIBRARY_PATH=$PWD/$bundle/lib:/usr/local/cuda-13.0/targets/x86_64-linux/lib
[ -n "${SOURCE_DIR:-}" ] && [ ! -e "$SOURCE_DIR" ] && mkdir -p "$(dirname "$SOURCE_DIR")" && ln -s "$PWD" "$SOURCE_DIR"
main_filter="-Shapes/GemmTest.*:Shapes/GemvTest.*:*Timing*"
shape_filter="Shapes/GemmTest.*/?:Shapes/GemvTest.*/?"

run() {  # tool log filter [shard shards]
  local tool=$1 log=$2 filter=$3 limit_reports=20
  [ "$tool" = racecheck ] && limit_reports=100000  # every report, to count them by kernel
  if [ $# -ge 5 ]; then export GTEST_TOTAL_SHARDS=$5 GTEST_SHARD_INDEX=$4; fi
  timeout "$limit" compute-sanitizer --tool "$tool" --error-exitcode 99 \
    --print-limit "$limit_reports" "$bundle/gpu_tests" --gtest_filter="$filter" > "$log" 2>&1
  echo "$?" > "$log.rc"
}

for tool in ${TOOLS:-memcheck racecheck}; do
  start=$(date +%s)
  # racecheck processes sharing the GPU failed with "Internal Sanitizer Error: The Sanitizer
  # failed to handle a hardware exception" (each test passes alone): it runs as one process.
  n=$shards
  [ "$tool" = racecheck ] && n=1
  for ((i = 0; i < n; ++i)); do (run "$tool" "$OUT/$tool.$i.txt" "$main_filter" "$i" "$n") & done
  if [ "$tool" = racecheck ]; then
    wait
    run "$tool" "$OUT/$tool.shapes.txt" "$shape_filter"
  else
    (run "$tool" "$OUT/$tool.shapes.txt" "$shape_filter") &
    wait
  fi
  echo "== $tool ($(( $(date +%s) - start )) s)"
  for log in "$OUT/$tool".*.txt; do
    rc=$(cat "$log.rc")
    echo "$(basename "$log"): rc=$rc$([ "$rc" = 124 ] && echo " (time limit reached)");" \
      "ok $(grep -c '^\[       OK \]' "$log"), failed $(grep -c '^\[  FAILED  \]' "$log");" \
      "$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$log" | tr '\n' ' ')"
    if [ "$tool" = racecheck ]; then
      reports=$(grep -A1 'Race reported' "$log" | grep -v '^--$' | paste - -)
      echo "   race reports: $(printf '%s' "$reports" | grep -c .), of which in cuBLASLt (nvjet):" \
        "$(printf '%s' "$reports" | grep -c nvjet), elsewhere:" \
        "$(printf '%s' "$reports" | grep -vc nvjet)"
      printf '%s\n' "$reports" | grep -v nvjet | head -5
    fi
  done
done
