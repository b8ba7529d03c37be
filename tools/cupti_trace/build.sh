#!/usr/bin/env bash
# Builds the CUPTI timeline injection library (cupti_trace.cpp) into $1 (default
# .device/trace), with the libcupti it needs beside it, for the GPU machine:
#   CUDA_INJECTION64_PATH=$dir/libcupti_trace.so LD_LIBRARY_PATH=$dir:... GLMASR_TRACE_OUT=t.txt glmasr ...
set -euo pipefail
out=${1:-.device/trace}
cuda=${CUDA_HOME:-/usr/local/cuda-13.0}
mkdir -p "$out"
g++ -std=c++17 -O2 -shared -fPIC -I"$cuda/include" "$(dirname "$0")/cupti_trace.cpp" \
  -L"$cuda/lib" -L"$cuda/lib64" -L"$cuda/extras/CUPTI/lib64" -lcupti -Wl,-rpath,'$ORIGIN' \
  -o "$out/libcupti_trace.so"
cupti=$(find -L "$cuda" -name 'libcupti.so.[0-9]*' | sort | head -1)
cp -L "$cupti" "$out/"
ls -la "$out"
