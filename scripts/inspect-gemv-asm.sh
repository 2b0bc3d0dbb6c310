#!/usr/bin/env bash
# Compiles the batch-1 vector GEMV of a 4096 x 4096 r2q.matmul (group size
# 128, two planes) for a given CPU and vector width, and counts what matters
# in the machine code: register spills and reloads, masked FMAs, mask loads.
#
#   scripts/inspect-gemv-asm.sh [WIDTH] [CPU] [BUILD]   (default 32 native build)
#
# e.g. `scripts/inspect-gemv-asm.sh 32 znver2` shows what AVX2 makes of
# 32-lane steps without needing an AVX2 machine. The listing is kept in
# $TMPDIR/r2q-gemv-WIDTH-CPU.s.
set -euo pipefail
width=${1:-32}
cpu=${2:-native}
build=${3:-build}
bin=/usr/lib/llvm-22/bin
listing=${TMPDIR:-/tmp}/r2q-gemv-$width-$cpu.s

"$build/bin/r2q-opt" --r2q-cpu-pipeline="vector-width=$width" <<'MLIR' |
func.func @gemv(%x: tensor<1x4096xf32>, %s: tensor<2x4096x512xi8>, %a: tensor<2x4096x32xf16>) -> tensor<1x4096xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<1x4096xf32>, tensor<2x4096x512xi8>, tensor<2x4096x32xf16> -> tensor<1x4096xf32>
  return %y : tensor<1x4096xf32>
}
MLIR
  "$bin/mlir-translate" --mlir-to-llvmir |
  "$bin/opt" -O3 |
  "$bin/llc" -O3 -mcpu="$cpu" -o "$listing"

count() { grep -cE "$1" "$listing" || true; }
echo "width $width, cpu $cpu: $listing"
echo "  spills and reloads: $(count 'Spill|Reload')"
echo "  masked FMAs (AVX-512): $(count 'vfmadd[0-9]+ps.*\{%k')"
echo "  mask loads (AVX-512): $(count 'kmov[wdq][[:space:]]+-?[0-9]*\(')"
echo "  blends (AVX2): $(count 'vblendvps')"
