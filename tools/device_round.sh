#!/usr/bin/env bash
# On the GPU machine: one round of the figures docs/performance.md reports, in stages that fit
# the device tool's 10-minute calls. Expects the bundle of scripts/device_bundle.sh unpacked at
# $BUNDLE (default .device/bundle) and .device/audio (jfk.wav, librispeech.wav, bomb.flac);
# logs go to $OUT.
#   bash tools/device_round.sh tests     the GPU tests alone
#   bash tools/device_round.sh bench     glmasr bench (the step and its components, the encoder
#                                        and its stages, prefill, 30 s -> 100 tokens)
#   bash tools/device_round.sh engine    GPU tests, memcheck of the fp8 kernels, full-size
#                                        parity (bf16 and fp8 weights) against transformers,
#                                        bench/run.sh, the Python binding beside the CLI
#   bash tools/device_round.sh service [--no-stream]   serve_bench (load, one client, idle +
#                                        slow, bomb) and stream_bench (SSE, realtime 1 and 64
#                                        sessions, VAD, batch cost)
#   bash tools/device_round.sh stream    stream_bench alone
#   bash tools/device_round.sh fp8       the fp8 and gemv GPU tests, then the fp8 and bf16 steps
#   bash tools/device_round.sh sessions  stream_bench's realtime sessions alone (1 and 64)
#   bash tools/device_round.sh soak SECONDS    serve_bench's soak (one minute, then SECONDS)
#   bash tools/device_round.sh throughput   GPU tests, then issue 13's figures: the hour of speech
#                                        (every segment 100 tokens) at --max-batch 128 and 256 and
#                                        on two engines (--devices 0,0), ten hours in 100 files,
#                                        with peak GPU and host memory; glmasr bench (30 s -> 100
#                                        tokens at batch 1); the SSE first delta of a 10 s clip
#   bash tools/device_round.sh library [RUNS]   the Python binding beside the CLI (and with the
#                                        CLI's malloc settings through GLIBC_TUNABLES), attention
#                                        bench
set -u
stage=${1:?stage: engine, service or soak}
bundle=${BUNDLE:-.device/bundle}
export LD_LIBRARY_PATH=$PWD/$bundle/lib:/usr/local/cuda-13.0/targets/x86_64-linux/lib
export GLMASR_SHARED_DIR=$PWD/$bundle/shared
export PATH=$PATH:/usr/local/cuda-13.0/bin
glmasr=$bundle/glmasr
audio=.device/audio
full=/tmp/glmasr-full
# The test binaries look for fixtures under the source dir they were built in.
src_dir=$(strings "$bundle/gpu_tests" | grep -m1 -E '^/[^ ]+/tests/data$' | sed 's|/tests/data$||' || true)
if [ -n "$src_dir" ] && [ ! -e "$src_dir" ]; then mkdir -p "$(dirname "$src_dir")"; ln -s "$PWD" "$src_dir"; fi
step() { echo "== $1 ($(date +%T))"; }

full_model() {  # the full-size random checkpoint and transformers' dumps of both files
  [ -d $full/model ] && return
  python3 tools/make_parity_dump.py --out $full --tokenizer-dir tests/data/tiny \
    --audio $audio/jfk.wav --audio $audio/librispeech.wav --max-new-tokens 48 > "$OUT/parity.txt" 2>&1
  echo "dump rc=$?"
}

stream_figures() {  # issue 11's figures, from one server
  step "stream_bench"
  "$glmasr" serve --model $full/model --port 8090 --max-new-tokens 30 --quiet 2> "$OUT/stream_serve.log" &
  server=$!
  for _ in $(seq 300); do python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8090/health')" 2>/dev/null && break; sleep 0.2; done
  python3 bench/stream_bench.py --url http://127.0.0.1:8090 --audio $audio/jfk.wav --sse 20 \
    --sse-seconds 10 --sessions 1,64 --turn-seconds 5 --turns 5 --vad-seconds 60 \
    --batch-clients 32 --batch-seconds 20 2>&1 | tee "$OUT/stream.txt"
  python3 bench/stream_bench.py --url http://127.0.0.1:8090 --audio $audio/jfk.wav --sse 0 \
    --sessions 64 --turn-seconds 5 --turns 3 --phase-spread 1 2>&1 | tee -a "$OUT/stream.txt"
  kill $server; wait $server
}

gpu_tests() {
  step "gpu tests"
  "$bundle/gpu_tests" > "$OUT/gpu_tests.txt" 2>&1
  echo "gpu_tests rc=$?"; grep -E "^\[  (PASSED|FAILED|  SKIPPED) |^\[  FAILED  \]" "$OUT/gpu_tests.txt" | head -20
}

case "$stage" in
tests)
  gpu_tests
  ;;
bench)
  step "glmasr bench"
  "$glmasr" bench --runs "${2:-20}" > "$OUT/bench.txt" 2>&1
  echo "bench rc=$?"; grep -iE "end to end|encoder|prefill|decoding step" "$OUT/bench.txt" | head -14
  ;;
engine)
  gpu_tests
  step "full-size parity against transformers bf16, bf16 and fp8 weights"
  full_model
  for weights in bf16 fp8; do
    for name in jfk librispeech; do
      echo "-- $weights $name" >> "$OUT/parity.txt"
      "$glmasr" compare --model $full/model --reference $full/$name.safetensors --device cuda \
        --weights $weights --tolerance 3e-2 >> "$OUT/parity.txt" 2>&1
      echo "compare $weights $name rc=$?"
    done
  done
  grep -E "^-- |encoder_output|^  logits|agree|PASS|FAIL|margin" "$OUT/parity.txt" | head -60
  step "bench/run.sh"
  bash bench/run.sh --glmasr "$glmasr" --runs 30 --skip-transformers --out "$OUT/latest_run.md" \
    > "$OUT/bench.txt" 2>&1
  echo "bench rc=$?"; cat "$OUT/latest_run.md" 2>/dev/null | head -40
  step "Python binding beside the CLI, 30 s file"
  python3 - <<'PY'
import numpy as np, wave
def read(p):
    with wave.open(p) as f: return np.frombuffer(f.readframes(f.getnframes()), "<i2")
speech = np.concatenate([read(".device/audio/librispeech.wav"), np.zeros(8000, "<i2"), read(".device/audio/jfk.wav")])
clip = np.tile(speech, 3)[:30 * 16000]
with wave.open("/tmp/clip30.wav", "wb") as f:
    f.setnchannels(1); f.setsampwidth(2); f.setframerate(16000); f.writeframes(clip.tobytes())
PY
  GLMASR_LIBRARY=$PWD/$bundle/lib/libglmasr.so.0 PYTHONPATH=$PWD/python \
    python3 python/benchmarks/binding_overhead.py --model $full/model --audio /tmp/clip30.wav \
    --glmasr "$glmasr" --runs 5 2>&1 | tee "$OUT/binding.txt"
  step "memcheck: the fp8 kernels"
  timeout 120 compute-sanitizer --tool memcheck --error-exitcode 99 "$bundle/gpu_tests" \
    --gtest_filter='*Fp8*' > "$OUT/memcheck_fp8.txt" 2>&1
  echo "memcheck rc=$?"; tail -3 "$OUT/memcheck_fp8.txt"
  ;;
fp8)
  step "fp8 and gemv GPU tests"
  "$bundle/gpu_tests" --gtest_filter='*Fp8*:*Gemv*' > "$OUT/gpu_tests_fp8.txt" 2>&1
  echo "gpu_tests rc=$?"; grep -E "^\[  (PASSED|FAILED) " "$OUT/gpu_tests_fp8.txt" | head
  step "steps"
  for weights in fp8 bf16; do
    "$glmasr" bench --weights $weights --runs 30 > "$OUT/bench_$weights.txt" 2>&1
    grep -E "decoding step|stage inside|^(QKV|attention|o_proj|gate|down|lm_head) |^(qkv|o_proj|gate.up|down) " "$OUT/bench_$weights.txt" | head -16
  done
  ;;
service)
  full_model
  step "serve_bench"
  python3 bench/serve_bench.py --glmasr "$glmasr" --model $full/model --audio $audio \
    --bomb $audio/bomb.flac --seconds 25 --soak-seconds 30 --json "$OUT/serve.json" 2>&1 |
    tee "$OUT/serve.txt" | cut -c1-400
  [ "${2:-}" = "--no-stream" ] || stream_figures
  ;;
stream)
  full_model
  stream_figures
  ;;
sessions)
  full_model
  "$glmasr" serve --model $full/model --port 8090 --max-new-tokens 30 --quiet 2> "$OUT/stream_serve.log" &
  server=$!
  for _ in $(seq 300); do python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8090/health')" 2>/dev/null && break; sleep 0.2; done
  python3 bench/stream_bench.py --url http://127.0.0.1:8090 --audio $audio/jfk.wav --sse 0 \
    --sessions 1,64 --turn-seconds 5 --turns 5 2>&1 | tee "$OUT/sessions.txt"
  kill $server; wait $server
  ;;
soak)
  full_model
  step "soak"
  python3 bench/serve_bench.py --glmasr "$glmasr" --model $full/model --audio $audio \
    --soak-only --soak-seconds "${2:-420}" --json "$OUT/soak.json" 2>&1 | tee "$OUT/soak.txt" | cut -c1-600
  ;;
throughput)
  gpu_tests
  full_model
  step "the hour and ten hours"
  python3 tools/make_long_audio.py --out /tmp/long --audio $audio/jfk.wav $audio/librispeech.wav
  hour() {  # label, options...: one transcription of the hour with its peak memory
    local label=$1; shift
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 50 > /tmp/gpumem.txt &
    local smi=$!
    /usr/bin/time -v "$glmasr" transcribe --model $full/model --max-new-tokens 100 --no-loop-guard \
      --timings --quiet "$@" > /tmp/out.txt 2> "$OUT/$label.txt"
    echo "rc=$?" >> "$OUT/$label.txt"
    kill $smi; wait $smi 2>/dev/null
    echo "peak GPU memory MiB: $(sort -n /tmp/gpumem.txt | tail -1)" >> "$OUT/$label.txt"
    echo "-- $label"; grep -E "rc=|glmasr transcribe:|Elapsed|Maximum resident|peak GPU" "$OUT/$label.txt"
  }
  hour hour_b128 --max-batch 128 /tmp/long/hour.wav
  hour hour_b256 --max-batch 256 /tmp/long/hour.wav
  hour hour_b128_x2 --max-batch 128 --devices 0,0 /tmp/long/hour.wav
  hour ten_hours_b256 --max-batch 256 /tmp/long/files/*.wav
  bash "$0" bench
  step "SSE first delta"
  "$glmasr" serve --model $full/model --port 8090 --max-new-tokens 30 --quiet 2> "$OUT/stream_serve.log" &
  server=$!
  for _ in $(seq 300); do python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8090/health')" 2>/dev/null && break; sleep 0.2; done
  python3 bench/stream_bench.py --url http://127.0.0.1:8090 --audio $audio/jfk.wav --sse 20 \
    --sse-seconds 10 --sessions 1 --turns 2 2>&1 | tee "$OUT/sse.txt"
  kill $server; wait $server
  ;;
library)
  full_model
  python3 tools/make_long_audio.py --out /tmp/clip30 --seconds 30 --audio $audio/librispeech.wav $audio/jfk.wav
  step "Python binding beside the CLI, 30 s file"
  GLMASR_LIBRARY=$PWD/$bundle/lib/libglmasr.so.0 PYTHONPATH=$PWD/python \
    python3 python/benchmarks/binding_overhead.py --model $full/model --audio /tmp/clip30/hour.wav \
    --glmasr "$glmasr" --runs "${2:-5}" 2>&1 | tee "$OUT/binding.txt"
  step "the same with the CLI's malloc settings in the Python process"
  GLIBC_TUNABLES=glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=1073741824 \
    GLMASR_LIBRARY=$PWD/$bundle/lib/libglmasr.so.0 PYTHONPATH=$PWD/python \
    python3 python/benchmarks/binding_overhead.py --model $full/model --audio /tmp/clip30/hour.wav \
    --glmasr "$glmasr" --runs "${2:-5}" 2>&1 | tee -a "$OUT/binding.txt"
  step "attention bench"
  "$glmasr" bench --attention --runs 20 > "$OUT/bench_attention.txt" 2>&1
  echo "rc=$?"; grep -E "encoder|prefill" "$OUT/bench_attention.txt" | head -12
  ;;
*) echo "unknown stage $stage" >&2; exit 2 ;;
esac
