#!/usr/bin/env bash
# Packs what a GPU-machine run needs into a git-ignored folder that the device tool carries:
# the stripped glmasr and gpu_tests binaries, the shared libraries the GPU machine lacks (the
# CUDA libraries and glibc/libstdc++ are there already), and ../shared/audio; plus OUT_DIR.tgz.
#   usage: scripts/device_bundle.sh BUILD_DIR OUT_DIR      (e.g. build .device/bundle)
set -euo pipefail
build=${1:?build dir}
out=${2:?output dir}
rm -rf "$out"
mkdir -p "$out/lib" "$out/shared"
for binary in glmasr tests/gpu_tests; do
  cp "$build/$binary" "$out/"
  strip "$out/$(basename "$binary")"
done
ldd "$build/glmasr" "$build/tests/gpu_tests" | awk '/=> \//{print $3}' | sort -u |
  grep -Ev '/(libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s|ld-linux[^/]*|libcuda|libcublas[^/]*|libcudart)\.so' |
  while read -r lib; do cp -L "$lib" "$out/lib/"; done
# The C library, for the Python package there (GLMASR_LIBRARY=$out/lib/libglmasr.so.0).
cp -L "$build"/libglmasr.so.0 "$out/lib/"
script_dir=$(cd "$(dirname "$0")" && pwd)
cp -r "$script_dir/../../shared/audio" "$out/shared/" 2>/dev/null || cp -r "$script_dir/../../../shared/audio" "$out/shared/"
# The device tool carries at most 64 MiB with the tracked files: carry this archive instead and
# unpack it there (tar -xzf .device/bundle.tgz -C .device).
tar -czf "$out.tgz" -C "$(dirname "$out")" "$(basename "$out")"
du -sh "$out" "$out.tgz"
