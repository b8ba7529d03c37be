#!/usr/bin/env bash
# Builds glmasr and runs the whole test suite. GPU tests skip with a message where no GPU exists.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
ctest --test-dir build --output-on-failure -j "$(nproc)" --timeout 900 "$@"
