#!/usr/bin/env bash
# On the GPU machine: compute-sanitizer memcheck and racecheck over the GPU test suite. The
# 432 GEMM/GEMV shape cases are sampled (their first ten each) to keep the run inside a lease.
set -u
bundle=${BUNDLE:-.device/bundle}
export LD_LIBRARY_PATH=$PWD/$bundle/lib:/usr/local/cuda-13.0/targets/x86_64-linux/lib
[ -n "${SOURCE_DIR:-}" ] && [ ! -e "$SOURCE_DIR" ] && mkdir -p "$(dirname "$SOURCE_DIR")" && ln -s "$PWD" "$SOURCE_DIR"
limit=${SANITIZER_SECONDS:-130}
for tool in memcheck racecheck; do
  for filter in "-Shapes/GemmTest.*:Shapes/GemvTest.*:*Timing*" "Shapes/GemmTest.*/?:Shapes/GemvTest.*/?"; do
    name=$tool.$( [ "${filter:0:1}" = "-" ] && echo main || echo gemm )
    timeout $limit compute-sanitizer --tool $tool --error-exitcode 99 --print-limit 20 \
      "$bundle/gpu_tests" --gtest_filter="$filter" > "$OUT/$name.txt" 2>&1
    rc=$?
    echo "$name: rc=$rc ($([ $rc = 124 ] && echo "time limit reached" || echo finished)); $(grep -E '^\[==========\]|^\[  PASSED|ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/$name.txt" | tr '\n' ' ')"
    echo "   tests completed: $(grep -c '^\[       OK \]' "$OUT/$name.txt"), failed: $(grep -c '^\[  FAILED  \]' "$OUT/$name.txt")"
  done
done
