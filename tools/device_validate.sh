#!/usr/bin/env bash
# On the GPU machine: the whole-engine checks of issues 4 and 5 in one call. Expects the bundle
# made by scripts/device_bundle.sh at $BUNDLE (default .device/bundle) and writes logs to $OUT.
#   GPU tests; full-size random checkpoint parity against transformers bf16 on real audio;
#   transcribe --device cuda on every real file; CPU vs CUDA on a >2 min file (tiny model);
#   one hour of speech with batching and at batch 1, with peak GPU memory.
set -u
bundle=${BUNDLE:-.device/bundle}
export LD_LIBRARY_PATH=$PWD/$bundle/lib:/usr/local/cuda-13.0/targets/x86_64-linux/lib
export GLMASR_SHARED_DIR=$PWD/$bundle/shared
glmasr=$bundle/glmasr
# The test binaries look for fixtures under the source dir they were built in.
src_dir=$(strings "$bundle/gpu_tests" | grep -m1 -E '^/[^ ]+/tests/data$' | sed 's|/tests/data$||' || true)
[ -n "${SOURCE_DIR:-}" ] && src_dir=$SOURCE_DIR
if [ -n "$src_dir" ] && [ ! -e "$src_dir" ]; then mkdir -p "$(dirname "$src_dir")"; ln -s "$PWD" "$src_dir"; fi
audio=$GLMASR_SHARED_DIR/audio
step() { echo "== $1 ($(date +%T))"; }

step "gpu tests"
"$bundle/gpu_tests" ${GPU_TEST_FILTER:+--gtest_filter=$GPU_TEST_FILTER} > "$OUT/gpu_tests.txt" 2>&1
echo "gpu_tests rc=$?"; tail -4 "$OUT/gpu_tests.txt"

step "full-size parity"
work=/tmp/glmasr-full
python3 tools/make_parity_dump.py --out $work --tokenizer-dir tests/data/tiny \
  --audio .device/audio/jfk.wav --audio .device/audio/librispeech.wav --max-new-tokens 48 > "$OUT/parity.txt" 2>&1
echo "dump rc=$?"
for name in jfk librispeech; do
  "$glmasr" compare --model $work/model --reference $work/$name.safetensors --device cuda --tolerance 3e-2 >> "$OUT/parity.txt" 2>&1
  echo "compare $name rc=$?"
done
grep -E "encoder_output|audio_embeds|^  logits|agree|PASS|FAIL|first margin" "$OUT/parity.txt"

step "transcribe real audio, full-size checkpoint, cuda"
"$glmasr" transcribe --model $work/model --device cuda --format json --max-new-tokens 24 --quiet \
  "$audio"/*.wav "$audio"/*.flac "$audio"/*.mp3 > "$OUT/transcribe.txt" 2>&1
echo "transcribe rc=$?"; cut -c1-160 "$OUT/transcribe.txt"

step "tiny checkpoint: cuda equals cpu on a 2.6 min file"
python3 - <<'PY'
import numpy as np, wave
with wave.open(".device/audio/jfk.wav") as f: jfk = np.frombuffer(f.readframes(f.getnframes()), "<i2")
parts = []
while sum(map(len, parts)) < 160 * 16000: parts += [jfk, np.zeros(24000, "<i2")]
with wave.open("/tmp/long.wav", "wb") as f:
    f.setnchannels(1); f.setsampwidth(2); f.setframerate(16000); f.writeframes(np.concatenate(parts).tobytes())
PY
for device in cpu cuda; do
  "$glmasr" transcribe --model tests/data/tiny --device $device --format verbose_json --max-new-tokens 8 --quiet /tmp/long.wav > /tmp/long.$device.json
done
python3 - <<'PY'
import json
cpu, gpu = (json.load(open(f"/tmp/long.{d}.json")) for d in ("cpu", "cuda"))
same = [(a["start"], a["end"]) == (b["start"], b["end"]) for a, b in zip(cpu["segments"], gpu["segments"])]
agree = []
for a, b in zip(cpu["segments"], gpu["segments"]):
    n = 0
    while n < min(len(a["tokens"]), len(b["tokens"])) and a["tokens"][n] == b["tokens"][n]: n += 1
    agree.append(f"{n}/{len(a['tokens'])}")
print(f"segments {len(cpu['segments'])} vs {len(gpu['segments'])}; identical boundaries: {all(same)}; leading tokens equal per segment: {agree}")
PY

step "one hour of speech"
python3 - <<'PY'
import numpy as np, wave
def read(p):
    with wave.open(p) as f: return np.frombuffer(f.readframes(f.getnframes()), "<i2")
clips = [read(".device/audio/jfk.wav"), read(".device/audio/librispeech.wav")]
parts, n, i = [], 0, 0
while n < 3600 * 16000:
    clip = clips[i % 2]; gap = np.zeros(8000 + 4000 * (i % 3), "<i2"); parts += [clip, gap]; n += len(clip) + len(gap); i += 1
with wave.open("/tmp/hour.wav", "wb") as f:
    f.setnchannels(1); f.setsampwidth(2); f.setframerate(16000); f.writeframes(np.concatenate(parts)[:3600 * 16000].tobytes())
PY
# "128" runs with the loop guard (segments of the random model stop when they repeat);
# "128-full" and "1-full" without, so every segment decodes the full 100 tokens (worst case).
for run in 128 128-full 1-full; do
  batch=${run%-full}
  guard=""; [ "$run" != "$batch" ] && guard=--no-loop-guard
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 > /tmp/mem.$run.txt &
  sampler=$!
  start=$(date +%s.%N)
  "$glmasr" transcribe --model $work/model --device cuda --max-batch $batch $guard --max-new-tokens 100 --format verbose_json --quiet --timings /tmp/hour.wav > /tmp/hour.$run.json 2> "$OUT/hour.$run.err"
  rc=$?
  end=$(date +%s.%N)
  kill $sampler; grep "real time" "$OUT/hour.$run.err"
  python3 - "$run" "$start" "$end" "$rc" <<'PY'
import json, sys
batch, start, end, rc = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
peak = max(int(x) for x in open(f"/tmp/mem.{batch}.txt").read().split() if x.strip().isdigit())
try:
    d = json.load(open(f"/tmp/hour.{batch}.json")); segs = d["segments"]
    tokens = sum(len(s["tokens"]) for s in segs); loops = sum(s["loop_detected"] for s in segs)
except Exception as e:
    segs, tokens, loops = [], 0, str(e)
print(f"run {batch}: rc {rc}, {end - start:.2f} s wall for 3600 s audio = {3600 / (end - start):.0f}x real time; "
      f"{len(segs)} segments, {tokens} tokens, loops flagged {loops}; peak GPU memory {peak} MiB")
PY
done
