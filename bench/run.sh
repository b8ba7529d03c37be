#!/usr/bin/env bash
# Runs `glmasr bench` and bench/peers.py on this machine's GPU in one go and prints one
# side-by-side table (milliseconds, ratios against glmasr), also written as markdown to
# docs/performance.md's "Latest run" file (default: bench/latest_run.md; --out to change).
#   usage: bench/run.sh [--glmasr PATH] [--runs N] [--out FILE] [--skip-transformers]
set -euo pipefail
cd "$(dirname "$0")/.."
glmasr=build-cuda/glmasr
[ -x "$glmasr" ] || glmasr=build/glmasr
command_line="bench/run.sh $*"
runs=50
out=bench/latest_run.md
peer_flags=()
while [ $# -gt 0 ]; do
  case "$1" in
    --glmasr) glmasr=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --skip-transformers) peer_flags+=(--skip-transformers); shift ;;
    *) echo "bench/run.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$glmasr" bench --runs "$runs" --json "$tmp/glmasr.json" | tee "$tmp/glmasr.txt"
# The same step with fp8 E4M3 weights (projections + lm_head), beside the bf16 one.
"$glmasr" bench --weights fp8 --runs "$runs" --json "$tmp/glmasr_fp8.json" | tee "$tmp/glmasr_fp8.txt"
PYTHONUNBUFFERED=1 python3 bench/peers.py --runs "$((runs < 30 ? runs : 30))" --json "$tmp/peers.json" \
  "${peer_flags[@]}" | tee "$tmp/peers.txt"
gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1 || echo unknown)
python3 - "$tmp/glmasr.json" "$tmp/peers.json" "$out" "$gpu" "$command_line" "$tmp/glmasr_fp8.json" <<'PY'
import datetime, json, sys
ours, peers = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
ours.update({k: v for k, v in json.load(open(sys.argv[6])).items() if k.startswith("decoder_fp8.")})
out, gpu, command = sys.argv[3], sys.argv[4], sys.argv[5]
rows = [
    ("decoding step, 28 layers + lm_head, bf16, batch 1, pos 400", "decoder.step_ms", "decoder.step_ms.pytorch_graph", "decoder.step_ms.transformers", 0.80),
    ("  of which: the graph of kernels", "decoder.step_kernels_ms", None, None, None),
    ("  of which: the persistent kernel (the engine takes the faster)", "decoder.step_persistent_ms", None, None, None),
    ("decoding step, fp8 weights (projections + lm_head), batch 1, pos 400", "decoder_fp8.step_ms", None, None, 0.45),
    ("seed shape, 28 layers, fp16, pos 100", "seed.layers_ms", "seed.layers_ms.pytorch_graph", "seed.layers_ms.transformers", 3.40),
    ("seed shape, one layer", "seed.layer_ms", None, None, None),
    ("encoder + projector, one 30 s window", "encoder_ms", None, "encoder_ms.transformers", 8.0),
    ("prefill 390 tokens (transformers: generate 1 token incl. encoder)", "prefill_ms", None, "prefill_ms.transformers", None),
    ("30 s audio -> 100 tokens, end to end", "e2e_ms", None, "e2e_ms.transformers", 95.0),
]
def cell(key, source):
    return f"{source[key]:.3f}" if key and key in source else "—"
def ratio(key, mine):
    return f"{peers[key] / mine:.2f}x" if key and key in peers and mine else "—"
lines = [f"Run {datetime.date.today().isoformat()} on {gpu}, command `{command}`.", "",
         f"Device-to-device copy: {ours.get('copy_gbs', 0):.0f} GB/s (read + write). "
         f"Decoding step weights: {ours.get('decoder.step_gbs', 0):.0f} GB/s achieved, floor "
         f"{ours.get('decoder.floor_ms', 0):.3f} ms; fp8 weights: {ours.get('decoder_fp8.step_gbs', 0):.0f} GB/s, "
         f"floor {ours.get('decoder_fp8.floor_ms', 0):.3f} ms; seed shape floor {ours.get('seed.layers_floor_ms', 0):.3f} ms. "
         f"Encoder: {ours.get('encoder_tflops', 0):.0f} TFLOP/s.", "",
         "| workload (ms) | glmasr | PyTorch static KV + graph | transformers eager | target | PyTorch+graph / glmasr | transformers / glmasr |",
         "|---|---|---|---|---|---|---|"]
for name, mine, graph, hf, target in rows:
    value = ours.get(mine)
    lines.append(f"| {name} | {cell(mine, ours)} | {cell(graph, peers)} | {cell(hf, peers)} | "
                 f"{'≤ ' + str(target) if target else '—'} | {ratio(graph, value)} | {ratio(hf, value)} |")
comps = sorted(k for k in ours if k.startswith("seed.component.") or k.startswith("decoder.component."))
lines += ["", "| component, all 28 layers (ms) | value |", "|---|---|"]
lines += [f"| {k} | {ours[k]:.3f} |" for k in comps]
mv = sorted(k for k in ours if ".gemv." in k)
lines += ["", "| projection x28, batch 1 (ms) | own GEMV | cuBLASLt |", "|---|---|---|"]
lines += [f"| {k.replace('.gemv.', ' ')} | {ours[k]:.3f} | {ours.get(k.replace('.gemv.', '.cublaslt.'), 0):.3f} |" for k in mv]
text = "\n".join(lines).replace("gate|up", "gate\\|up") + "\n"
open(out, "w").write(text)
print("\n" + text)
PY
