#!/usr/bin/env bash
# Builds glmasr and runs the whole test suite. GPU tests skip with a message where no GPU exists.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
ctest --test-dir build --output-on-failure -j "$(nproc)" --timeout 900 "$@"
# The safetensors header fuzzer for a bounded time (GLMASR_FUZZ_SECONDS, default 60; 0 skips).
if [[ "${GLMASR_FUZZ_SECONDS:-60}" != 0 ]]; then bash scripts/fuzz.sh; fi
