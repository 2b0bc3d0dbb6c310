#!/usr/bin/env bash
# Issue 11's GPU checks in one call, on a machine with an NVIDIA GPU: the
# runtime's smoke test, the GPU kernels against the numerics core on ragged
# shapes, the kernel benchmark (and its 4096 x 4096 cases' whole calls again
# without the runtime's memory pool), and torch's fp16 cuBLAS on the same
# shapes.
# Needs only bin/r2q-gpu-smoke, bin/r2q-gpu-bench and lib/libr2q_cuda_runtime.so
# of a build (argument 1, default build) made where ptxas exists, and python3
# with torch for the baseline. Writes the log to $OUT (default /tmp) too.
set -u
build=${1:-build}
log=${OUT:-/tmp}/gpu-check.log
status=0
{
  nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total \
    --format=csv || true
  "$build/bin/r2q-gpu-smoke" || status=1
  "$build/bin/r2q-gpu-bench" check || status=1
  "$build/bin/r2q-gpu-bench" bench || status=1
  python3 "$(dirname "$0")/gpu-torch-baseline.py" || status=1
  # The whole calls of the 4096 x 4096 cases again, with cuMemAlloc instead
  # of the runtime's memory pool (scripts/gpu-table.py compares the two;
  # last, as it reads the lines after this pass's first as that pass's).
  echo "gpu-check: whole calls with cuMemAlloc (R2Q_CUDA_MEMORY_POOL=0)"
  R2Q_CUDA_MEMORY_POOL=0 "$build/bin/r2q-gpu-bench" bench bench_4096x4096_b ||
    status=1
  echo "gpu-check: exit status $status"
} 2>&1 | tee "$log"
exit $status
