// lut_gemv (exact) with groups of many chunks: a span is one group, 64
// chunks of 128 columns at G = 8192, and K = 8704 leaves a last span that
// runs past the row. That span reads only the 4 chunks that hold the row's
// last 512 columns; the row-interleaved layout pads a row to whole 64-byte
// steps, not to whole spans, so reading all 64 of them read past the packed
// weight (a fault where the next page was unmapped).
// RUN: r2q-opt %s --convert-r2q-to-linalg --canonicalize --cse | FileCheck %s

// CHECK-LABEL: func.func @large_groups
// CHECK-DAG: %[[SPAN:.*]] = arith.constant 64 : index
// CHECK-DAG: %[[LAST:.*]] = arith.constant 4 : index
// The 16 rows of the first block: the whole span, then the last one.
// CHECK: scf.for %{{.*}} = %{{.*}} to %[[SPAN]] step
// CHECK: scf.for %{{.*}} = %{{.*}} to %[[LAST]] step
// The last 4 rows, in a block of their own.
// CHECK: scf.for %{{.*}} = %{{.*}} to %[[SPAN]] step
// CHECK: scf.for %{{.*}} = %{{.*}} to %[[LAST]] step
func.func @large_groups(%x: tensor<1x8704xf32>, %s: tensor<1x20x1088xi8>, %a: tensor<1x20x2xf32>) -> tensor<1x20xf32> {
  %y = r2q.matmul %x, %s, %a group_size 8192 {kernel = #r2q.kernel<strategy = lut_gemv, vector_width = 16, tile_rows = 16, threads = 1, precision = exact>} : tensor<1x8704xf32>, tensor<1x20x1088xi8>, tensor<1x20x2xf32> -> tensor<1x20xf32>
  return %y : tensor<1x20xf32>
}
