#!/usr/bin/env python3
"""Where the device time of a glmasr run goes, kernel by kernel, from an Nsight Compute CSV.

Made for the GPU machine, where ncu works and nsys does not:

    ncu --clock-control none --metrics gpu__time_duration.sum --csv --launch-count N \
        glmasr transcribe ... > kernels.csv
    python3 tools/kernel_times.py kernels.csv

ncu runs the kernels one at a time, so the sums leave out any overlap between neighbours (the
dependent launches of the decoding step) and include none of the gaps between them.

The kernels are cut into passes where a pass starts: the conv stem's first im2col starts an
encoder pass, an embedding lookup starts a decoder pass, which is a prefill when it runs the
flash-attention kernel and a decoding step otherwise. Each table sums one kind of pass by
kernel (template arguments and parameters dropped from the names) with its launch count and
share; the last table gives each kind's total.
"""
import argparse
import collections
import csv
import re
import sys


def base_name(name):
    """cutlass::Kernel2<sm90_xmma...>(Params) -> cutlass::Kernel2 ; keeps cuBLAS's kernel names."""
    if name.startswith("void "):
        name = name[5:]
    name = name.replace("(anonymous namespace)::", "")
    # cuBLAS kernels say what they are in the template arguments: keep a short prefix of them.
    if "glmasr" not in name and ("xmma" in name or "gemm" in name.lower()):
        return re.sub(r"\(.*$", "", name)[:90]
    depth, out = 0, []
    for ch in name:
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif ch == "(" and depth == 0:
            break
        elif depth == 0:
            out.append(ch)
    short = "".join(out).strip()
    return short.replace("glmasr::cuda::", "").replace("attention_internal::", "")


def read_kernels(path):
    kernels = []
    with open(path, newline="") as f:
        lines = [line for line in f if line.startswith('"')]
    for row in csv.DictReader(lines):
        if row.get("Metric Name") != "gpu__time_duration.sum":
            continue
        value = float(row["Metric Value"].replace(",", ""))
        unit = row.get("Metric Unit", "nsecond")
        scale = {"nsecond": 1e-3, "usecond": 1.0, "msecond": 1e3, "second": 1e6}.get(unit, 1e-3)
        kernels.append((base_name(row["Kernel Name"]), row.get("Grid Size", ""), value * scale))
    return kernels


def split_passes(kernels, name_of=lambda k: k[0]):
    """[(kind, [kernel, ...]), ...] in launch order; name_of gives a kernel's base name."""
    passes, current = [], ("setup", [])
    for kernel in kernels:
        name = name_of(kernel)
        starts_encoder = "im2col_conv1" in name
        starts_decoder = "embed_kernel" in name
        if starts_encoder or starts_decoder:
            passes.append(current)
            current = ("encoder" if starts_encoder else "decoder", [])
        current[1].append(kernel)
    passes.append(current)
    named = []
    for kind, items in passes:
        if kind == "decoder":
            prefill = any("flash_attention" in name_of(k) for k in items)
            kind = "prefill" if prefill else "step"
        named.append((kind, items))
    return named


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("csv", help="ncu --csv output with gpu__time_duration.sum")
    parser.add_argument("--top", type=int, default=14, help="kernels listed per kind of pass")
    args = parser.parse_args()
    kernels = read_kernels(args.csv)
    if not kernels:
        sys.exit(f"{args.csv}: no gpu__time_duration.sum rows (expected ncu --csv output)")
    totals = collections.OrderedDict()
    counts = collections.Counter()
    by_kind = collections.defaultdict(lambda: collections.defaultdict(lambda: [0, 0.0]))
    for kind, items in split_passes(kernels):
        if not items:
            continue
        counts[kind] += 1
        for name, _, us in items:
            by_kind[kind][name][0] += 1
            by_kind[kind][name][1] += us
            totals[kind] = totals.get(kind, 0.0) + us
    print(f"{len(kernels)} kernels from {args.csv}")
    for kind, table in by_kind.items():
        total = totals[kind]
        print(f"\n## {kind}: {counts[kind]} passes, {total / 1e3:.2f} ms, "
              f"{total / counts[kind]:.1f} us a pass")
        print("| kernel | launches | us a pass | share |")
        print("|---|---|---|---|")
        rows = sorted(table.items(), key=lambda kv: -kv[1][1])
        for name, (n, us) in rows[: args.top]:
            print(f"| {name} | {n} | {us / counts[kind]:.1f} | {100 * us / total:.1f}% |")
        rest = sum(us for _, (_, us) in rows[args.top:])
        if rest:
            print(f"| (the other {len(rows) - args.top}) | | {rest / counts[kind]:.1f} | "
                  f"{100 * rest / total:.1f}% |")
    print("\n| pass | passes | ms |")
    print("|---|---|---|")
    for kind, total in totals.items():
        print(f"| {kind} | {counts[kind]} | {total / 1e3:.2f} |")


if __name__ == "__main__":
    main()
