#!/usr/bin/env bash
# Fuzzes the safetensors reader with libFuzzer (clang, AddressSanitizer, UBSan) for a bounded
# time and fails on any crash, sanitizer report or invariant violation.
#   usage: scripts/fuzz.sh [SECONDS]     (default: $GLMASR_FUZZ_SECONDS, else 60)
# Builds only the fuzz target, in its own directory (build-fuzz, or $GLMASR_FUZZ_BUILD_DIR).
# Findings are written to <build dir>/fuzz-artifacts/; the grown corpus stays in
# <build dir>/fuzz-corpus/ and seeds the next run.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-${GLMASR_FUZZ_SECONDS:-60}}"
build_dir="${GLMASR_FUZZ_BUILD_DIR:-build-fuzz}"

mkdir -p "$build_dir"
CC=clang CXX=clang++ cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DGLMASR_WITH_CUDA=OFF -DGLMASR_BUILD_FUZZ=ON >"$build_dir/configure.log" 2>&1 ||
  { cat "$build_dir/configure.log"; exit 1; }
cmake --build "$build_dir" -j "$(nproc)" --target safetensors_fuzz

corpus="$build_dir/fuzz-corpus"
seeds="$build_dir/fuzz-seeds"
artifacts="$build_dir/fuzz-artifacts"
rm -rf "$seeds" "$artifacts"  # stale findings must not fail this run; the corpus is kept
mkdir -p "$corpus" "$seeds" "$artifacts"

# Seeds: every safetensors file under tests/data, shrunk to a valid file with the same keys and
# dtypes but one-element tensors (real headers, small inputs), plus each real header with its
# data cut off (the truncated-file path).
python3 - "$seeds" tests/data <<'PY'
import json, pathlib, struct, sys
out, root = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
sizes = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
         "U8": 1, "BOOL": 1}
def write(name, header, data=b""):
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    (out / name).write_bytes(struct.pack("<Q", len(text)) + text + data)
for path in sorted(root.rglob("*.safetensors")):
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    (out / (path.stem + "-header-only")).write_bytes(raw[:8 + length])
    header, offset, small = json.loads(raw[8:8 + length]), 0, {}
    for name, info in header.items():
        if name == "__metadata__":
            small[name] = info
            continue
        size = sizes[info["dtype"]]
        small[name] = {"dtype": info["dtype"], "shape": [1] * len(info["shape"]),
                       "data_offsets": [offset, offset + size]}
        offset += size
    write(path.stem + "-small", small, (bytes(range(256)) * (offset // 256 + 1))[:offset])
write("every-dtype", {name: {"dtype": name, "shape": [2, 1], "data_offsets": [16 * i, 16 * i + 2 * s]}
                      for i, (name, s) in enumerate(sizes.items())}, bytes(16 * len(sizes)))
write("scalar-and-empty", {"__metadata__": {"format": "pt"},
                           "s": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]},
                           "e": {"dtype": "BF16", "shape": [0, 3], "data_offsets": [4, 4]}}, bytes(4))
# Regressions: inputs that broke the parser once (shape products hidden behind a zero extent).
write("regress-zero-extent-overflow",
      {"x": {"dtype": "U8", "shape": [0, 2**62, 2**62], "data_offsets": [0, 0]}})
write("regress-extent-above-int64",
      {"x": {"dtype": "U8", "shape": [0, 2**64 - 1], "data_offsets": [0, 0]}})
PY

status=0
"$build_dir/tests/fuzz/safetensors_fuzz" "$corpus" "$seeds" \
  -dict=tests/fuzz/safetensors.dict -max_total_time="$seconds" -max_len=16384 -timeout=10 \
  -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$artifacts/" >"$build_dir/fuzz.log" 2>&1 || status=$?
tail -n 25 "$build_dir/fuzz.log"
if ((status != 0)) || compgen -G "$artifacts/crash-*" >/dev/null || compgen -G "$artifacts/leak-*" >/dev/null; then
  echo "fuzz.sh: the safetensors fuzzer found a failure (exit $status); inputs in $artifacts/" >&2
  exit 1
fi
echo "fuzz.sh: no failures in ${seconds}s"
