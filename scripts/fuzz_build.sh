#!/usr/bin/env bash
# Configures the libFuzzer build (clang, CUDA off, GLMASR_BUILD_FUZZ) in $GLMASR_FUZZ_BUILD_DIR
# (default build-fuzz) and builds the named targets: the one place scripts/fuzz.sh and
# scripts/fuzz_bundle.sh build them.
#   usage: scripts/fuzz_build.sh TARGET...     (safetensors multipart config ... stdin)
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${GLMASR_FUZZ_BUILD_DIR:-build-fuzz}"
mkdir -p "$build_dir"
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
CC=clang CXX=clang++ cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DGLMASR_WITH_CUDA=OFF -DGLMASR_BUILD_FUZZ=ON "${launcher[@]}" >"$build_dir/configure.log" 2>&1 ||
  { cat "$build_dir/configure.log"; exit 1; }
targets=("$@")
cmake --build "$build_dir" -j "$(nproc)" --target "${targets[@]/%/_fuzz}"
