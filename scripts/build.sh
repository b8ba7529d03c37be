#!/usr/bin/env bash
# Installs the Debian dependencies and builds glmasr into build/ (binary: build/glmasr).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
# ccache, where installed, makes rebuilds cheap; the build does not need it.
launcher=()
if command -v ccache > /dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" ${GLMASR_CMAKE_ARGS:-}
cmake --build build -j "$(nproc)"
