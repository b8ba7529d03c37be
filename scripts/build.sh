#!/usr/bin/env bash
# Installs the Debian dependencies and builds glmasr into build/ (binary: build/glmasr).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release ${GLMASR_CMAKE_ARGS:-}
cmake --build build -j "$(nproc)"
