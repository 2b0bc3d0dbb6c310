#!/usr/bin/env python3
"""Compile time and peak memory of r2q-opt as models grow.

Usage: scripts/measure-limits.py [--build build] [--tables 7b layers]
                                 [--layers 1 2 4 8]
                                 [--scaling-layers 14 28 57 114] [--repeat 3]
                                 [--workdir /tmp/r2q-limits]

Two tables, both on modules that r2q-gen-llama writes as MLIR bytecode in
Torch-MLIR's bf16 form (dense_resource weights, transpose + matmul per
linear layer, element-wise generics between them):

- `7b`: the linear layers of 1, 2, 4, 8 Llama-7B decoder layers (hidden
  4096, intermediate 11008); r2q-opt runs r2q-quantize-linear and
  r2q-cpu-pipeline and writes bytecode. Wall time and peak resident memory
  of that process (from wait4), per layer and against the bf16 weight bytes.
- `layers`: compile time against the number of layers in one function, the
  way a whole model is exported: small decoder layers (hidden 256,
  intermediate 768, 7 linear layers each), quantized
  (r2q-quantize-linear + r2q-cpu-pipeline) against the float path
  (r2q-cpu-pipeline alone) on the same module; medians of --repeat runs.
"""

import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import time

HIDDEN, INTERMEDIATE = 4096, 11008
WEIGHTS_PER_LAYER = 4 * HIDDEN * HIDDEN + 3 * HIDDEN * INTERMEDIATE
SMALL_HIDDEN, SMALL_INTERMEDIATE = 256, 768
LINEARS_PER_DECODER_LAYER = 7


def run_measured(command):
    """Runs `command`; returns (wall seconds, peak RSS in bytes, CPU seconds
    of user and system time)."""
    start = time.monotonic()
    process = subprocess.Popen(command)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(command)}")
    return seconds, usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime


def generate(build, module, layers, hidden=HIDDEN, intermediate=INTERMEDIATE):
    """Writes `layers` Llama decoder layers to `module` unless it exists."""
    if not module.exists():
        run_measured([str(build / "bin/r2q-gen-llama"), f"--layers={layers}",
                      f"--hidden={hidden}", f"--intermediate={intermediate}",
                      "-o", str(module)])


def measure_7b(build, workdir, layer_counts):
    print(f"{'layers':>6} {'weights MB':>10} {'r2q-opt s':>9} {'s/layer':>8} "
          f"{'peak RSS MB':>11} {'RSS/weights':>11} {'out MB':>7}")
    for layers in layer_counts:
        module = workdir / f"llama7b-{layers}.mlirbc"
        output = workdir / f"llama7b-{layers}.r2q.mlirbc"
        generate(build, module, layers)
        seconds, peak, _ = run_measured([
            str(build / "bin/r2q-opt"), str(module), "--r2q-quantize-linear",
            "--r2q-cpu-pipeline", "--emit-bytecode", "-o", str(output)])
        weight_bytes = 2 * WEIGHTS_PER_LAYER * layers
        print(f"{layers:>6} {weight_bytes / 1e6:>10.0f} {seconds:>9.2f} "
              f"{seconds / layers:>8.2f} {peak / 1e6:>11.0f} "
              f"{peak / weight_bytes:>11.2f} {output.stat().st_size / 1e6:>7.0f}",
              flush=True)
        output.unlink()


def median_compile_seconds(build, module, passes, repeat, output):
    """Medians of wall and CPU seconds of r2q-opt with `passes` on `module`."""
    command = [str(build / "bin/r2q-opt"), str(module), *passes,
               "--emit-bytecode", "-o", str(output)]
    runs = [run_measured(command) for _ in range(repeat)]
    output.unlink()
    return (statistics.median(run[0] for run in runs),
            statistics.median(run[2] for run in runs))


def measure_layers(build, workdir, decoder_layer_counts, repeat):
    """Wall seconds are what a user waits; CPU seconds (all threads) change
    less when other processes share the machine."""
    print(f"{'linear layers':>13} {'float s':>8} {'r2q s':>6} {'r2q/float':>9} "
          f"{'float ms/layer':>14} {'r2q ms/layer':>12} "
          f"{'float CPU s':>11} {'r2q CPU s':>9}")
    for decoder_layers in decoder_layer_counts:
        module = workdir / f"llama-small-{decoder_layers}.mlirbc"
        output = workdir / f"llama-small-{decoder_layers}.out.mlirbc"
        generate(build, module, decoder_layers, SMALL_HIDDEN, SMALL_INTERMEDIATE)
        linears = LINEARS_PER_DECODER_LAYER * decoder_layers
        float_s, float_cpu = median_compile_seconds(
            build, module, ["--r2q-cpu-pipeline"], repeat, output)
        r2q_s, r2q_cpu = median_compile_seconds(
            build, module, ["--r2q-quantize-linear", "--r2q-cpu-pipeline"],
            repeat, output)
        print(f"{linears:>13} {float_s:>8.2f} {r2q_s:>6.2f} "
              f"{r2q_s / float_s:>9.2f} {1e3 * float_s / linears:>14.2f} "
              f"{1e3 * r2q_s / linears:>12.2f} {float_cpu:>11.2f} "
              f"{r2q_cpu:>9.2f}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--build", default="build")
    parser.add_argument("--tables", nargs="+", choices=["7b", "layers"],
                        default=["7b", "layers"])
    parser.add_argument("--layers", type=int, nargs="+", default=[1, 2, 4, 8],
                        help="Llama-7B decoder layers (table 7b)")
    parser.add_argument("--scaling-layers", type=int, nargs="+",
                        default=[14, 28, 57, 114],
                        help="small decoder layers of 7 linear layers each "
                             "(table layers)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", default="/tmp/r2q-limits")
    args = parser.parse_args()
    build = pathlib.Path(args.build)
    workdir = pathlib.Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if "7b" in args.tables:
        measure_7b(build, workdir, args.layers)
    if "layers" in args.tables:
        measure_layers(build, workdir, args.scaling_layers, args.repeat)


if __name__ == "__main__":
    main()
