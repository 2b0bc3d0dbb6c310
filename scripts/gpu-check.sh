#!/usr/bin/env bash
# Issue 11's GPU checks in one call, on a machine with an NVIDIA GPU: the
# runtime's smoke test, the GPU kernels against the numerics core on ragged
# shapes (as they ship, then compiled with bounds checks), the kernel
# benchmark (and its 4096 x 4096 cases' whole calls again
# without the runtime's memory pool), and torch's fp16 cuBLAS on the same
# shapes.
# Needs only bin/r2q-gpu-smoke, bin/r2q-gpu-bench and lib/libr2q_cuda_runtime.so
# of a build (argument 1, default build) made where ptxas exists, and python3
# with torch for the baseline. Writes the log to $OUT (default /tmp) too.
# A kernel's fault loses the GPU context of its process, so the harness
# then stops and runs again from the next case (run_harness): one faulting
# kernel costs its own case, not the rest of the run.
set -u

# r2q-gpu-bench of build $1 with the arguments after it (a mode and case
# names), run again with --after CASE whenever a case's fault lost the GPU
# context (exit status 3), until every case has run; fails if any case
# failed. (Sourced, this file defines it only: test/GPU runs it so.)
run_harness() {
  local build=$1 rc lost failed=0 output
  local after=()
  shift
  output=$(mktemp)
  while :; do
    "$build/bin/r2q-gpu-bench" "$@" ${after[@]+"${after[@]}"} | tee "$output"
    rc=${PIPESTATUS[0]}
    [ "$rc" -eq 3 ] || break
    failed=1
    lost=$(sed -n 's/^r2q-gpu-bench: the GPU context is lost after \([^:]*\):.*/\1/p' "$output")
    [ -n "$lost" ] || break
    echo "gpu-check: again after $lost"
    after=(--after "$lost")
  done
  rm -f "$output"
  [ "$rc" -eq 0 ] && [ "$failed" -eq 0 ]
}

main() {
  local build=${1:-build}
  local log=${OUT:-/tmp}/gpu-check.log
  (
    local status=0
    nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total \
      --format=csv || true
    "$build/bin/r2q-gpu-smoke" || status=1
    run_harness "$build" check || status=1
    run_harness "$build" bounds || status=1
    echo "gpu-check: smoke test and checks took $SECONDS s"
    run_harness "$build" bench || status=1
    echo "gpu-check: smoke test, checks and bench took $SECONDS s"
    python3 "$(dirname "$0")/gpu-torch-baseline.py" || status=1
    # The whole calls of the 4096 x 4096 cases again, with cuMemAlloc
    # instead of the runtime's memory pool (scripts/gpu-table.py compares
    # the two; last, as it reads the lines after this pass's first as that
    # pass's).
    echo "gpu-check: whole calls with cuMemAlloc (R2Q_CUDA_MEMORY_POOL=0)"
    R2Q_CUDA_MEMORY_POOL=0 run_harness "$build" bench bench_4096x4096_b ||
      status=1
    echo "gpu-check: exit status $status after $SECONDS s"
    exit "$status"
  ) 2>&1 | tee "$log"
  return "${PIPESTATUS[0]}"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
