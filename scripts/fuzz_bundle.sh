#!/usr/bin/env bash
# Packs every libFuzzer target for a campaign on another Linux machine (the GPU machine's 16
# CPUs): OUT_DIR/bin (the targets), lib (the non-system libraries they load), dict, seeds/TARGET
# (make_seeds.py, the committed corpora and the kept regressions) and lsan.supp, then
# OUT_DIR.tgz. tools/device_fuzz.sh runs the campaign from that folder.
#   usage: scripts/fuzz_bundle.sh [OUT_DIR]     (default .device/fuzz; builds in build-fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."

out="${1:-.device/fuzz}"
build_dir="${GLMASR_FUZZ_BUILD_DIR:-build-fuzz}"
targets=(safetensors multipart config tokenizer audio request realtime stdin)

GLMASR_FUZZ_BUILD_DIR="$build_dir" bash scripts/fuzz_build.sh "${targets[@]}"

rm -rf "$out"
mkdir -p "$out/bin" "$out/lib" "$out/dict"
cp tests/fuzz/lsan.supp "$out/"
for name in "${targets[@]}"; do
  # Without line tables (the device tool carries at most 64 MB): reports still name functions,
  # and a finding replays with lines on the build here.
  strip --strip-debug -o "$out/bin/${name}_fuzz" "$build_dir/tests/fuzz/${name}_fuzz"
  cp "tests/fuzz/$name.dict" "$out/dict/"
  seeds="$out/seeds/$name"
  mkdir -p "$seeds"
  if [[ "$name" != audio ]]; then python3 tests/fuzz/make_seeds.py "$name" "$seeds"; fi
  for extra in "tests/fuzz/corpus/$name" "tests/data/fuzz_regressions/$name"; do
    if [[ -d "$extra" ]]; then cp "$extra"/* "$seeds/"; fi
  done
done
# The codec and regex libraries come from Debian here and may be missing or older there; glibc,
# libstdc++ and the loader are the target machine's own.
ldd "$out"/bin/*_fuzz | awk '$3 ~ /^\// {print $3}' | sort -u |
  grep -Ev '/(libc|libm|libdl|librt|libpthread|libstdc\+\+|libgcc_s|ld-linux[^/]*)\.so' |
  xargs -r cp -L -t "$out/lib/"
tar -czf "$out.tgz" -C "$(dirname "$out")" "$(basename "$out")"
echo "fuzz_bundle.sh: $(ls "$out/bin" | wc -l) targets, $(ls "$out/lib" | wc -l) libraries in $out.tgz"
