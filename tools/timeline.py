#!/usr/bin/env python3
"""Where a glmasr run's GPU time goes on the real timeline, from tools/cupti_trace's output.

    CUDA_INJECTION64_PATH=.device/trace/libcupti_trace.so GLMASR_TRACE_OUT=/tmp/t.txt \\
        glmasr transcribe ...
    python3 tools/timeline.py /tmp/t.txt

Unlike ncu's one-kernel-at-a-time sums (tools/kernel_times.py), this sees the kernels as they
ran: each pass's span (its first kernel's start to its last kernel's end), the time inside it
with no kernel running, the idle time before it (since the previous pass ended) and what filled
that gap (copies, the host's synchronizing calls). Passes are cut as kernel_times.py cuts them.
"""
import argparse
import collections
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kernel_times import base_name, split_passes  # noqa: E402


def demangled(names):
    """CUPTI gives mangled names: c++filt's reading of each, where c++filt is installed."""
    names = sorted(names)
    if not shutil.which("c++filt"):
        return {n: n for n in names}
    out = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True)
    return dict(zip(names, out.stdout.split("\n")))


def read_trace(path):
    kernels, copies, syncs = [], [], []
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split(" ", 5)
            if parts[0] == "K" and len(parts) == 6:
                kernels.append((int(parts[1]), int(parts[2]), int(parts[3]), parts[5]))
            elif parts[0] == "M" and len(parts) >= 5:
                copies.append((int(parts[1]), int(parts[2]), int(parts[4])))
            elif parts[0] == "S" and len(parts) >= 5:
                syncs.append((int(parts[1]), int(parts[2]), parts[4]))
    readable = demangled({k[3] for k in kernels})
    kernels = sorted((s, e, stream, base_name(readable[n])) for s, e, stream, n in kernels)
    copies.sort()
    return kernels, copies, syncs


def busy_ns(intervals):
    """Length of the union of [start, end) intervals sorted by start."""
    total, reach = 0, None
    for start, end in intervals:
        if reach is None or start > reach:
            total += end - start
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total


def overlap_ns(intervals, lo, hi):
    return busy_ns(sorted((max(s, lo), min(e, hi)) for s, e in intervals if e > lo and s < hi))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trace")
    parser.add_argument("--top", type=int, default=8, help="kernels listed per kind of pass")
    parser.add_argument("--gaps", type=int, default=12, help="largest idle gaps listed")
    args = parser.parse_args()
    kernels, copies, syncs = read_trace(args.trace)
    if not kernels:
        sys.exit(f"{args.trace}: no kernel records (expected tools/cupti_trace output)")
    passes = [(kind, items) for kind, items in split_passes(kernels, lambda k: k[3]) if items]
    copy_spans = [(s, e) for s, e, _ in copies]
    sync_spans = sorted((s, e) for s, e, _ in syncs)
    stats = collections.defaultdict(lambda: collections.Counter())
    per_kernel = collections.defaultdict(lambda: collections.defaultdict(lambda: [0, 0]))
    previous_end = None
    for kind, items in passes:
        start, end = items[0][0], max(k[1] for k in items)
        work = sum(k[1] - k[0] for k in items)
        busy = busy_ns([(k[0], k[1]) for k in items])
        s = stats[kind]
        s["passes"] += 1
        s["span"] += end - start
        s["kernel_sum"] += work
        s["idle_inside"] += end - start - busy
        s["copies_inside"] += overlap_ns(copy_spans, start, end)
        if previous_end is not None and start > previous_end:
            s["gap_before"] += start - previous_end
            s["copies_in_gap"] += overlap_ns(copy_spans, previous_end, start)
            s["syncs_in_gap"] += overlap_ns(sync_spans, previous_end, start)
        previous_end = max(previous_end or end, end)
        for k in items:
            per_kernel[kind][k[3]][0] += 1
            per_kernel[kind][k[3]][1] += k[1] - k[0]
    first, last = kernels[0][0], max(k[1] for k in kernels)
    print(f"{len(kernels)} kernels, {len(copies)} copies, {len(syncs)} synchronizing calls; "
          f"first kernel to last: {(last - first) / 1e6:.1f} ms, a kernel running "
          f"{busy_ns([(k[0], k[1]) for k in kernels]) / 1e6:.1f} ms of it\n")
    print("| pass | passes | span ms | kernels ms (sum) | idle inside ms | idle before ms "
          "| copies in that gap ms | host sync calls in it ms |")
    print("|---|---|---|---|---|---|---|---|")
    for kind, s in stats.items():
        print(f"| {kind} | {s['passes']} | {s['span'] / 1e6:.2f} | {s['kernel_sum'] / 1e6:.2f} | "
              f"{s['idle_inside'] / 1e6:.2f} | {s['gap_before'] / 1e6:.2f} | "
              f"{s['copies_in_gap'] / 1e6:.2f} | {s['syncs_in_gap'] / 1e6:.2f} |")
    gaps, reach, before = [], None, None
    for index, (kind, items) in enumerate(passes):
        for k in items:
            if reach is not None and k[0] > reach:
                gaps.append((k[0] - reach, (reach - first) / 1e6, before, k[3], kind, index))
            if reach is None or k[1] > reach:
                reach, before = k[1], k[3]
    print(f"\n## the {args.gaps} largest idle gaps")
    print("| idle ms | at ms | after kernel | before kernel (pass) |")
    print("|---|---|---|---|")
    for gap, at, after, name, kind, index in sorted(gaps, reverse=True)[: args.gaps]:
        print(f"| {gap / 1e6:.2f} | {at:.1f} | {after[:40]} | {name[:40]} ({kind} {index}) |")
    for kind, table in per_kernel.items():
        if kind == "setup":
            continue
        print(f"\n## {kind}: kernels as they ran (us a pass)")
        print("| kernel | launches | us a pass | mean us |")
        print("|---|---|---|---|")
        n = stats[kind]["passes"]
        for name, (count, ns) in sorted(table.items(), key=lambda kv: -kv[1][1])[: args.top]:
            print(f"| {name} | {count} | {ns / 1e3 / n:.1f} | {ns / 1e3 / count:.2f} |")


if __name__ == "__main__":
    main()
