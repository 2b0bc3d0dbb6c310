// RUN: r2q-opt %s --split-input-file | r2q-opt --split-input-file | FileCheck %s
// RUN: r2q-opt %s --split-input-file --mlir-print-op-generic | r2q-opt --split-input-file | FileCheck %s
// RUN: r2q-opt %s --r2q-select-cpu-kernels="strategy=tiled_decode threads=1 target-features=+avx512f,+avx512bw" | FileCheck %s --check-prefix=KEEP

// The kernel attribute of r2q.matmul round-trips with every parameter
// printed (defaults filled in), in any order written.
// CHECK-LABEL: func.func @kernels
// CHECK: {kernel = #r2q.kernel<strategy = vector_gemv, vector_width = 16, tile_rows = 0, threads = 1>}
// CHECK: {kernel = #r2q.kernel<strategy = fused_decode, max_rows = 4, otherwise = tiled_decode, vector_width = 64, tile_rows = 24, threads = 3>}
// KEEP: {kernel = #r2q.kernel<strategy = vector_gemv, vector_width = 16, tile_rows = 0, threads = 1>}
// KEEP: threads = 3>}
func.func @kernels(%x: tensor<?x256xf32>, %s: tensor<2x40x32xi8>, %a: tensor<2x40x2xf16>) -> (tensor<?x40xf32>, tensor<?x40xf32>) {
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = vector_gemv>} : tensor<?x256xf32>, tensor<2x40x32xi8>, tensor<2x40x2xf16> -> tensor<?x40xf32>
  %z = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<threads = 3, otherwise = tiled_decode, tile_rows = 24, max_rows = 4, strategy = fused_decode, vector_width = 64>} : tensor<?x256xf32>, tensor<2x40x32xi8>, tensor<2x40x2xf16> -> tensor<?x40xf32>
  return %y, %z : tensor<?x40xf32>, tensor<?x40xf32>
}

// -----

// lut_gemv prints its precision and target (exact and avx2 by default), and
// its layout when it is not the canonical one (row_interleaved signs: P x
// ceil(N/16) x 1024 bytes for K <= 512; scales P x ceil(N/16) x 16 groups).
// CHECK-LABEL: func.func @lut_kernels
// CHECK: {kernel = #r2q.kernel<strategy = lut_gemv, precision = exact, target = avx2, vector_width = 16, tile_rows = 0, threads = 1>}
// CHECK: {kernel = #r2q.kernel<strategy = lut_gemv, precision = fast, target = avx512, vector_width = 16, tile_rows = 16, threads = 2>}
// CHECK: {kernel = #r2q.kernel<strategy = lut_gemv, precision = fast, target = avx512, layout = row_interleaved, vector_width = 16, tile_rows = 16, threads = 2>}
// KEEP-LABEL: func.func @lut_kernels
// KEEP: strategy = lut_gemv, precision = exact, target = avx2
// KEEP: strategy = lut_gemv, precision = fast, target = avx512
// KEEP: strategy = lut_gemv, precision = fast, target = avx512, layout = row_interleaved
func.func @lut_kernels(%x: tensor<3x256xf32>, %s: tensor<2x40x32xi8>, %a: tensor<2x40x2xf16>, %p: tensor<2x3x1024xi8>, %q: tensor<2x3x32xf16>) -> (tensor<3x40xf32>, tensor<3x40xf32>, tensor<3x40xf32>) {
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = lut_gemv>} : tensor<3x256xf32>, tensor<2x40x32xi8>, tensor<2x40x2xf16> -> tensor<3x40xf32>
  %z = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<target = avx512, threads = 2, precision = fast, tile_rows = 16, strategy = lut_gemv>} : tensor<3x256xf32>, tensor<2x40x32xi8>, tensor<2x40x2xf16> -> tensor<3x40xf32>
  %w = r2q.matmul %x, %p, %q group_size 128 {kernel = #r2q.kernel<layout = row_interleaved, strategy = lut_gemv, target = avx512, threads = 2, precision = fast, tile_rows = 16>} : tensor<3x256xf32>, tensor<2x3x1024xi8>, tensor<2x3x32xf16> -> tensor<3x40xf32>
  return %y, %z, %w : tensor<3x40xf32>, tensor<3x40xf32>, tensor<3x40xf32>
}
