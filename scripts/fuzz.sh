#!/usr/bin/env bash
# Fuzzes glmasr's parsers with libFuzzer (clang, AddressSanitizer, UBSan) for a bounded time and
# fails on any crash, sanitizer report, leak, memory-budget or invariant violation.
#   usage: scripts/fuzz.sh TARGET [SECONDS]   one target (default: $GLMASR_FUZZ_SECONDS, else 60)
#          scripts/fuzz.sh all [SECONDS]      each target in turn, SECONDS each
#   targets: safetensors multipart config tokenizer audio request realtime stdin
# Builds only the fuzz targets, in their own directory (build-fuzz, or $GLMASR_FUZZ_BUILD_DIR).
# Each campaign first replays tests/data/fuzz_regressions/TARGET, then fuzzes from the seeds
# (tests/fuzz/make_seeds.py, tests/fuzz/corpus/TARGET), the regressions and the corpus grown by
# earlier runs (<build dir>/fuzz-corpus/TARGET). Findings go to <build dir>/fuzz-artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/.."

all_targets=(safetensors multipart config tokenizer audio request realtime stdin)
target="${1:-}"
seconds="${2:-${GLMASR_FUZZ_SECONDS:-60}}"
build_dir="${GLMASR_FUZZ_BUILD_DIR:-build-fuzz}"
if [[ "$target" == all ]]; then
  targets=("${all_targets[@]}")
elif [[ " ${all_targets[*]} " == *" $target "* && -n "$target" ]]; then
  targets=("$target")
else
  echo "usage: scripts/fuzz.sh TARGET|all [SECONDS]; TARGET is one of: ${all_targets[*]}" >&2
  exit 2
fi

# Inputs larger than this teach little and slow every execution down.
declare -A max_len=([safetensors]=16384 [multipart]=4096 [config]=4096 [tokenizer]=8192
                    [audio]=16384 [request]=20480 [realtime]=16384 [stdin]=32768)

GLMASR_FUZZ_BUILD_DIR="$build_dir" bash scripts/fuzz_build.sh "${targets[@]}"
export LSAN_OPTIONS="suppressions=$PWD/tests/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

failed=()
for name in "${targets[@]}"; do
  binary="$build_dir/tests/fuzz/${name}_fuzz"
  corpus="$build_dir/fuzz-corpus/$name"
  seeds="$build_dir/fuzz-seeds/$name"
  artifacts="$build_dir/fuzz-artifacts/$name"
  log="$build_dir/fuzz-$name.log"
  rm -rf "$seeds" "$artifacts"  # stale findings must not fail this run; the corpus is kept
  mkdir -p "$corpus" "$seeds" "$artifacts"
  inputs=("$corpus" "$seeds")
  if [[ -d "tests/fuzz/corpus/$name" ]]; then inputs+=("tests/fuzz/corpus/$name"); fi
  regressions="tests/data/fuzz_regressions/$name"
  if [[ -d "$regressions" ]]; then
    "$binary" -runs=0 "$regressions" >"$log" 2>&1 ||
      { tail -n 30 "$log"; echo "fuzz.sh: $name fails on a kept regression input" >&2; exit 1; }
    inputs+=("$regressions")
  fi
  if [[ "$name" != audio ]]; then python3 tests/fuzz/make_seeds.py "$name" "$seeds"; fi
  status=0
  "$binary" "${inputs[@]}" -dict="tests/fuzz/$name.dict" -max_total_time="$seconds" \
    -max_len="${max_len[$name]}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" >"$log" 2>&1 || status=$?
  # The last status line: executions, coverage (cov: edges, ft: features), corpus size.
  echo "fuzz.sh: $name: $(grep -E '^#[0-9]+' "$log" | tail -n 1)"
  grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" |
    tr '\n' ' '; echo
  if ((status != 0)) || compgen -G "$artifacts/*" >/dev/null; then
    tail -n 40 "$log"
    echo "fuzz.sh: the $name fuzzer found a failure (exit $status); inputs in $artifacts/" >&2
    failed+=("$name")
  fi
done
if ((${#failed[@]})); then
  echo "fuzz.sh: failures in: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz.sh: no failures in ${seconds}s each for: ${targets[*]}"
