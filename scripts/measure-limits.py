#!/usr/bin/env python3
"""Compile time and peak memory of r2q-opt on Llama-7B-shaped modules.

Usage: scripts/measure-limits.py [--build build] [--layers 1 2 4 8]
                                 [--workdir /tmp/r2q-limits]

For each layer count, r2q-gen-llama writes the linear layers of that many
Llama-7B decoder layers (hidden 4096, intermediate 11008, bf16
dense_resource weights) as MLIR bytecode; then r2q-opt runs
r2q-quantize-linear and r2q-cpu-pipeline on it and writes bytecode. Prints
wall time and peak resident memory of that r2q-opt process (from wait4), per
layer and against the bytes of bf16 weights it read.
"""

import argparse
import os
import pathlib
import subprocess
import sys
import time

HIDDEN, INTERMEDIATE = 4096, 11008
WEIGHTS_PER_LAYER = 4 * HIDDEN * HIDDEN + 3 * HIDDEN * INTERMEDIATE


def run_measured(command):
    """Runs `command`; returns (seconds, peak RSS in bytes)."""
    start = time.monotonic()
    process = subprocess.Popen(command)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(command)}")
    return seconds, usage.ru_maxrss * 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--build", default="build")
    parser.add_argument("--layers", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--workdir", default="/tmp/r2q-limits")
    args = parser.parse_args()
    build = pathlib.Path(args.build)
    workdir = pathlib.Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)

    print(f"{'layers':>6} {'weights MB':>10} {'r2q-opt s':>9} {'s/layer':>8} "
          f"{'peak RSS MB':>11} {'RSS/weights':>11} {'out MB':>7}")
    for layers in args.layers:
        module = workdir / f"llama7b-{layers}.mlirbc"
        output = workdir / f"llama7b-{layers}.r2q.mlirbc"
        if not module.exists():
            run_measured([str(build / "bin/r2q-gen-llama"), f"--layers={layers}",
                          "-o", str(module)])
        seconds, peak = run_measured([
            str(build / "bin/r2q-opt"), str(module), "--r2q-quantize-linear",
            "--r2q-cpu-pipeline", "--emit-bytecode", "-o", str(output)])
        weight_bytes = 2 * WEIGHTS_PER_LAYER * layers
        print(f"{layers:>6} {weight_bytes / 1e6:>10.0f} {seconds:>9.2f} "
              f"{seconds / layers:>8.2f} {peak / 1e6:>11.0f} "
              f"{peak / weight_bytes:>11.2f} {output.stat().st_size / 1e6:>7.0f}",
              flush=True)
        output.unlink()


if __name__ == "__main__":
    main()
