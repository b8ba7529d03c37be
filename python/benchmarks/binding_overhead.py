"""What the Python binding adds to a transcription: `glmasr transcribe --timings` against
Model.transcribe on the same file, each the first transcription of a fresh process (the CLI's
situation), repeated; medians printed. Also the binding's second (warm) call.

    python3 python/benchmarks/binding_overhead.py --model DIR --audio FILE [--glmasr build/glmasr]
"""

import argparse
import re
import statistics
import subprocess
import sys

CHILD = r"""
import sys, time, glmasr
model = glmasr.Model(sys.argv[1], device=sys.argv[3])
times = []
for _ in range(2):
    start = time.perf_counter()
    segments, info = model.transcribe(sys.argv[2])
    n = len(list(segments))
    times.append(time.perf_counter() - start)
print(times[0], times[1], n, info.duration)
"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--audio", required=True)
    parser.add_argument("--glmasr", default="build/glmasr")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    cli, first, warm = [], [], []
    for _ in range(args.runs):
        done = subprocess.run([args.glmasr, "transcribe", "--quiet", "--timings", "--device",
                               args.device, "--model", args.model, args.audio],
                              capture_output=True, text=True, check=True)
        cli.append(float(re.search(r"audio in ([0-9.]+) s", done.stderr).group(1)))
        child = subprocess.run([sys.executable, "-c", CHILD, args.model, args.audio, args.device],
                               capture_output=True, text=True, check=True)
        t0, t1, segments, duration = child.stdout.split()
        first.append(float(t0))
        warm.append(float(t1))
    c, p, w = (statistics.median(x) for x in (cli, first, warm))
    print(f"{duration} s of audio, {segments} segments, {args.runs} runs (medians):")
    print(f"  glmasr transcribe       {c:.3f} s   (runs: {' '.join(f'{x:.3f}' for x in cli)})")
    print(f"  python, first call      {p:.3f} s   ({100 * (p - c) / c:+.1f}% against the CLI)")
    print(f"  python, second call     {w:.3f} s   ({100 * (w - c) / c:+.1f}%)")


if __name__ == "__main__":
    main()
