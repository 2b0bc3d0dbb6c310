// The cost model: deterministic choices for named targets (no hardware).
// RUN: r2q-opt %s --split-input-file --r2q-tune-tiling="mode=model target-features=+avx512f,+avx512bw,+avx2,+fma threads=1" | FileCheck %s --check-prefix=AVX512
// RUN: r2q-opt %s --split-input-file --r2q-tune-tiling="mode=model target-features=+sse4.2 threads=1" | FileCheck %s --check-prefix=SSE
// Twice gives the same IR: the model is deterministic, and a kernel already
// written is kept.
// RUN: r2q-opt %s --split-input-file --r2q-tune-tiling="mode=model target-features=+avx2,+fma" > %t.once
// RUN: r2q-opt %t.once --split-input-file --r2q-tune-tiling="mode=model target-features=+avx2,+fma" | diff %t.once -
// Options checked.
// RUN: not r2q-opt %s --split-input-file --r2q-tune-tiling=mode=guess 2>&1 | FileCheck %s --check-prefix=BADMODE
// RUN: not r2q-opt %s --split-input-file --r2q-tune-tiling=mode=file 2>&1 | FileCheck %s --check-prefix=NOFILE

// BADMODE: error: r2q-tune-tiling: mode must be model or file, not 'guess'
// NOFILE: error: r2q-tune-tiling: mode=file needs file=PATH

// Decoding, one row: table lookups where the target has AVX2, otherwise
// the masked-FMA GEMV at two registers.
// AVX512-LABEL: func.func @decode
// AVX512: kernel = #r2q.kernel<strategy = lut_gemv, precision = exact, target = avx512, vector_width = 32, tile_rows = 16, threads = 1>
// SSE-LABEL: func.func @decode
// SSE: kernel = #r2q.kernel<strategy = vector_gemv, vector_width = 8, tile_rows = 0, threads = 1>
func.func @decode(%x: tensor<1x4096xf32>, %s: tensor<2x4096x512xi8>, %c: tensor<2x4096x32xf16>) -> tensor<1x4096xf32> {
  %y = r2q.matmul %x, %s, %c group_size 128 : tensor<1x4096xf32>, tensor<2x4096x512xi8>, tensor<2x4096x32xf16> -> tensor<1x4096xf32>
  return %y : tensor<1x4096xf32>
}

// -----

// Prefill, 16 rows of 14336: the rows of activations alone (917 KiB of
// f32) leave no room in L2 for a decoded tile, so every tiled_decode
// candidate re-reads from memory; with AVX-512 the GEMV on the sign bits
// wins (measured 1.24x faster than 8-row tiles, docs/tuning.md), with SSE's
// 4 lanes it costs too many instructions, and the largest tiles (the least
// per-tile work) win.
// AVX512-LABEL: func.func @prefill
// AVX512: kernel = #r2q.kernel<strategy = vector_gemv, vector_width = 32, tile_rows = 0, threads = 1>
// SSE-LABEL: func.func @prefill
// SSE: kernel = #r2q.kernel<strategy = tiled_decode, vector_width = 8, tile_rows = 256, threads = 1>
func.func @prefill(%x: tensor<16x14336xf32>, %s: tensor<2x4096x1792xi8>, %c: tensor<2x4096x112xf16>) -> tensor<16x4096xf32> {
  %y = r2q.matmul %x, %s, %c group_size 128 : tensor<16x14336xf32>, tensor<2x4096x1792xi8>, tensor<2x4096x112xf16> -> tensor<16x4096xf32>
  return %y : tensor<16x4096xf32>
}

// -----

// Prefill, 16 rows of 4096: 32-row tiles (512 KiB) fit L2 with the
// activations (256 KiB); 64-row ones would not.
// AVX512-LABEL: func.func @prefill_short_rows
// AVX512: kernel = #r2q.kernel<strategy = tiled_decode, vector_width = 32, tile_rows = 32, threads = 1>
func.func @prefill_short_rows(%x: tensor<16x4096xf32>, %s: tensor<2x4096x512xi8>, %c: tensor<2x4096x32xf16>) -> tensor<16x4096xf32> {
  %y = r2q.matmul %x, %s, %c group_size 128 : tensor<16x4096xf32>, tensor<2x4096x512xi8>, tensor<2x4096x32xf16> -> tensor<16x4096xf32>
  return %y : tensor<16x4096xf32>
}

// -----

// A ragged layer (N = 40, 3 rows, 3-D activations) with group size 64:
// a small layer on one thread whatever the option.
// AVX512-LABEL: func.func @ragged
// AVX512: kernel = #r2q.kernel<strategy = lut_gemv, precision = exact, target = avx512, vector_width = 32, tile_rows = 16, threads = 1>
// SSE-LABEL: func.func @ragged
// SSE: kernel = #r2q.kernel<strategy = vector_gemv, vector_width = 8, tile_rows = 0, threads = 1>
func.func @ragged(%x: tensor<1x3x256xf32>, %s: tensor<2x40x32xi8>, %c: tensor<2x40x4xf16>) -> tensor<1x3x40xf32> {
  %y = r2q.matmul %x, %s, %c group_size 64 : tensor<1x3x256xf32>, tensor<2x40x32xi8>, tensor<2x40x4xf16> -> tensor<1x3x40xf32>
  return %y : tensor<1x3x40xf32>
}

// -----

// A dynamic batch is left to r2q-select-cpu-kernels; a kernel already
// written is kept.
// AVX512-LABEL: func.func @left_alone
// AVX512: r2q.matmul %{{.*}} group_size 128 :
// AVX512: kernel = #r2q.kernel<strategy = fused_decode, vector_width = 16, tile_rows = 0, threads = 3>
// SSE-LABEL: func.func @left_alone
// SSE: r2q.matmul %{{.*}} group_size 128 :
func.func @left_alone(%x: tensor<?x256xf32>, %s: tensor<2x40x32xi8>, %c: tensor<2x40x2xf16>, %z: tensor<2x256xf32>) -> (tensor<?x40xf32>, tensor<2x40xf32>) {
  %y = r2q.matmul %x, %s, %c group_size 128 : tensor<?x256xf32>, tensor<2x40x32xi8>, tensor<2x40x2xf16> -> tensor<?x40xf32>
  %w = r2q.matmul %z, %s, %c group_size 128 {kernel = #r2q.kernel<strategy = fused_decode, vector_width = 16, threads = 3>} : tensor<2x256xf32>, tensor<2x40x32xi8>, tensor<2x40x2xf16> -> tensor<2x40xf32>
  return %y, %w : tensor<?x40xf32>, tensor<2x40xf32>
}
