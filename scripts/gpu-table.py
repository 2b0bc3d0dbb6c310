#!/usr/bin/env python3
"""The benchmark table of a `scripts/gpu-check.sh` log, for docs/performance.md,
and issue 11's targets checked against it.

Reads the `bench` lines of `r2q-gpu-bench bench` (kernel time, % of the copy
bandwidth measured in the same run, and where the line has it the wall-clock
time of a whole call) and the `torch fp16` lines of
`scripts/gpu-torch-baseline.py` (cuBLAS on fp16 weights, the same shapes and
batches), and prints per shape and batch one row per kernel variant: its time,
its share of the copy bandwidth, and how many times faster than fp16 it is.
Then, per target, the default kernel's figure (the function without a written
kernel, what `r2q-select-gpu-kernels` chooses for runtime weights) and the best
variant's, each marked met or missed; where the log has the second pass of
`gpu-check.sh` (after its line NO_POOL, whole calls with the runtime's memory
pool switched off), the whole calls with and without the pool side by side;
per batch, which kernel was fastest on which shapes (what the automatic
choice should be);
and the cases whose call failed (their `ERROR:` lines) or whose sampled
outputs missed the numerics core (`outputs WRONG`: shown in the table, kept
out of the targets). Variants of 3 or 4 planes (`_p3`, `_p4`) are in the
table only: the targets and the fastest kernels are those of 2 bits.

    python3 scripts/gpu-table.py /tmp/gpu-check.log
"""
import re
import sys
from collections import defaultdict
from typing import NamedTuple

BENCH = re.compile(
    r"^bench bench_(\d+)x(\d+)_b(\d+)(\S*)\s+(?:([a-z_]+)\s+)?([\d.]+) us"
    r".*?([\d.]+)% of copy(?:.*?call\s+([\d.]+) us)?")
TORCH = re.compile(r"^torch fp16 (\d+)x(\d+) b(\d+):\s+([\d.]+) us")
ERROR = re.compile(r"^bench (\S+)\s+\S+\s+ERROR: (.*)")
# A variant of more planes than 2 (bench_NxK_bM_p3, ..._p4_wgmma).
WIDER = re.compile(r"^p\d(_|$)")
WRONG = re.compile(r"^bench (\S+)\s.*outputs (WRONG.*)")
# The line of scripts/gpu-check.sh before its pass without the memory pool.
NO_POOL = "gpu-check: whole calls with cuMemAlloc (R2Q_CUDA_MEMORY_POOL=0)"
# (batch, shapes, what is compared, the bound): issue 11's targets on an
# H100/H200 ("the large shapes" for batch 1).
LARGE = [(28672, 8192), (8192, 28672)]
TARGETS = [
    (1, LARGE, "copy", 80.0),
    (1, LARGE, "fp16", 5.5),
    (16, None, "fp16", 3.5),
    (128, None, "fp16", 0.9),
]


class Result(NamedTuple):
    """One bench line: its variant (the name's suffix, or "default") and
    kernel, kernel time, share of the copy bandwidth, the whole call's time
    (None where the line has none), and whether its sampled outputs missed."""
    variant: str
    strategy: str
    us: float
    pct: float
    call: float | None
    wrong: bool

    @property
    def two_bit(self):
        """Whether the variant is 2 planes, what the targets are about."""
        return not WIDER.match(self.variant)

    @property
    def name(self):
        return (f"{self.variant} ({self.strategy})" if self.strategy else
                self.variant)


def parse(lines):
    """The bench results {(n, k, m): [Result]} and the fp16 times
    {(n, k, m): us}."""
    bench, fp16 = defaultdict(list), {}
    for line in lines:
        if m := BENCH.match(line):
            n, k, batch, variant, strategy, us, pct, call = m.groups()
            bench[(int(n), int(k), int(batch))].append(Result(
                variant.lstrip("_") or "default", strategy or "", float(us),
                float(pct), float(call) if call else None,
                bool(WRONG.match(line))))
        elif m := TORCH.match(line):
            n, k, batch, us = m.groups()
            fp16[(int(n), int(k), int(batch))] = float(us)
    return bench, fp16


def speedup(fp16, key, us):
    return fp16[key] / us if key in fp16 else None


def table(bench, fp16):
    rows = ["| N x K | batch | kernel | r2q | % of copy | whole call | "
            "cuBLAS fp16 | r2q vs fp16 |", "|---|---|---|---|---|---|---|---|"]
    for key in sorted(bench, key=lambda key: (key[0] * key[1], key)):
        n, k, batch = key
        for r in bench[key]:
            ratio = speedup(fp16, key, r.us)
            whole = f"{r.call:.1f} us" if r.call is not None else "-"
            mark = " (wrong outputs)" if r.wrong else ""
            rows.append(
                f"| {n} x {k} | {batch} | {r.name} | {r.us:.1f} us{mark} | "
                f"{r.pct:.1f}% | {whole} | "
                + (f"{fp16[key]:.1f} us | {ratio:.2f}x |" if ratio else
                   "- | - |"))
    return rows


def pool_table(bench, no_pool):
    """Whole calls with the memory pool (the main pass) and without it."""
    rows = ["| N x K | batch | kernel | whole call, memory pool | "
            "whole call, cuMemAlloc |", "|---|---|---|---|---|"]
    for key in sorted(no_pool, key=lambda key: (key[0] * key[1], key)):
        pooled = {r.variant: r.call for r in bench.get(key, [])}
        for r in no_pool[key]:
            with_pool = pooled.get(r.variant)
            rows.append(
                f"| {key[0]} x {key[1]} | {key[2]} | {r.name} | "
                + (f"{with_pool:.1f} us" if with_pool is not None else "-")
                + " | "
                + (f"{r.call:.1f} us |" if r.call is not None else "- |"))
    return rows


def figure(bench, fp16, key, measure, pick):
    """(value, variant) of the results at `key` by `measure` ("copy": % of
    the copy bandwidth, "fp16": times faster than fp16), for the default
    kernel or the best one; a kernel whose outputs were wrong has none."""
    results = [(r.pct if measure == "copy" else speedup(fp16, key, r.us),
                r.variant)
               for r in bench.get(key, []) if not r.wrong and r.two_bit]
    results = [r for r in results if r[0] is not None]
    if pick == "default":
        results = [r for r in results if r[1] == "default"]
    return max(results, default=None)


def targets(bench, fp16):
    lines, missed = [], 0
    for batch, shapes, measure, bound in TARGETS:
        keys = [(n, k, batch) for n, k in shapes] if shapes else sorted(
            key for key in bench if key[2] == batch)
        unit = "% of copy" if measure == "copy" else "x fp16"
        for key in keys:
            for pick in ("default", "best"):
                found = figure(bench, fp16, key, measure, pick)
                if found is None:
                    continue
                value, variant = found
                ok = value >= bound
                missed += not ok
                shape = f"{key[0]}x{key[1]}"
                lines.append(
                    f"batch {batch:<3} {shape:<11} {pick:<7} {variant:<12} "
                    f"{value:7.2f} {unit} (target {bound}) "
                    f"{'met' if ok else 'missed'}")
    return lines, missed


def fastest(bench):
    """Per batch, the kernel (strategy) that was fastest on each shape, with
    correct outputs: what `r2q-select-gpu-kernels` should choose there."""
    lines = []
    for batch in sorted({key[2] for key in bench}):
        wins = defaultdict(list)
        for key in sorted(k for k in bench if k[2] == batch):
            timed = [(r.us, r.strategy or r.variant, r.variant)
                     for r in bench[key] if not r.wrong and r.two_bit]
            if timed:
                us, strategy, variant = min(timed)
                wins[strategy].append(
                    f"{key[0]}x{key[1]} {us:.1f} us ({variant})")
        for strategy, shapes in sorted(wins.items()):
            lines.append(f"fastest at batch {batch:<3} {strategy:<13} on "
                         + ", ".join(shapes))
    return lines


def errors(lines):
    """The cases whose call failed or whose outputs were wrong: (name,
    message)."""
    return [m.groups() for line in lines
            if (m := ERROR.match(line) or WRONG.match(line))]


def main(path):
    with open(path) as log:
        log_lines = log.readlines()
    split = next((i for i, line in enumerate(log_lines)
                  if line.strip() == NO_POOL), len(log_lines))
    bench, fp16 = parse(log_lines[:split])
    no_pool, _ = parse(log_lines[split:])
    if not bench:
        sys.exit(f"gpu-table: no bench lines in {path}")
    print("\n".join(table(bench, fp16)))
    print()
    if no_pool:
        print("\n".join(pool_table(bench, no_pool)))
        print()
    print("\n".join(fastest(bench)))
    print()
    lines, missed = targets(bench, fp16)
    print("\n".join(lines))
    print(f"gpu-table: {len(lines) - missed} of {len(lines)} target figures "
          "met")
    failed = errors(log_lines)
    for name, message in failed:
        print(f"gpu-table: {name} failed: {message}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: gpu-table.py GPU_CHECK_LOG")
    main(sys.argv[1])
