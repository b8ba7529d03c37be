#!/usr/bin/env bash
# Builds glmasr and runs the whole test suite. GPU tests skip with a message where no GPU exists.
# Then, beside it:
#   - the CPU suite (unit, golden, e2e) built with AddressSanitizer and UBSan in build-asan
#     (GLMASR_SANITIZE=ON, CUDA off); GLMASR_SANITIZE_SUITE=0 skips it;
#   - every libFuzzer target for GLMASR_FUZZ_SECONDS each (default 35: eight targets stay within
#     5 minutes of fuzzing); 0 skips them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
ctest --test-dir build --output-on-failure -j "$(nproc)" --timeout 900 "$@"

if [[ "${GLMASR_SANITIZE_SUITE:-1}" != 0 ]]; then
  start=$SECONDS
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGLMASR_WITH_CUDA=OFF \
    -DGLMASR_SANITIZE=ON $(command -v ccache > /dev/null && echo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache) \
    ${GLMASR_CMAKE_ARGS:-}
  cmake --build build-asan -j "$(nproc)"
  # Left out of the sanitized run: the tests that load the sanitized libglmasr.so into programs
  # built without the sanitizer runtime (the installed C/C++ consumers, Python's ctypes), which
  # cannot run under ASan. The normal build runs all of them.
  sanitizer_excluded='LibraryInstall|python_glmasr'
  # Findings abort the test that made them; leaks inside third-party decoders are suppressed.
  ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:strict_string_checks=1" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    LSAN_OPTIONS="suppressions=$PWD/tests/fuzz/lsan.supp" \
    ctest --test-dir build-asan --output-on-failure -j "$(nproc)" --timeout 1800 \
    -L 'unit|golden|e2e' -E "$sanitizer_excluded" "$@"
  echo "test.sh: sanitizer suite took $((SECONDS - start)) s"
fi

fuzz_seconds="${GLMASR_FUZZ_SECONDS:-35}"
if [[ "$fuzz_seconds" != 0 ]]; then bash scripts/fuzz.sh all "$fuzz_seconds"; fi
