// r2q-bucket-rows: an r2q.matmul with dynamic rows (here two dynamic
// leading dimensions) becomes a cascade of scf.if on its rows, M: the rows
// padded with zeros to 1 or 16 (one linalg.generic that reads the input's
// rows and zeroes the rest), the op on that static batch (its kernel and
// outliers kept), the first M rows of its result; past 16, chunks of 16 in
// an scf.for, each padded and written into its rows of the result by a
// linalg.copy; then the result reshaped to the leading dimensions and
// copied into a tensor of its own. No rows: an empty result, no op. Static rows, a dynamic K and a dynamic
// weight are left alone; buckets must be distinct and positive.

// RUN: r2q-opt %s --split-input-file --r2q-bucket-rows="buckets=16,1" | FileCheck %s
// RUN: not r2q-opt %s --r2q-bucket-rows="buckets=4,0" 2>&1 | FileCheck %s --check-prefix=ZERO
// RUN: not r2q-opt %s --r2q-bucket-rows="buckets=4,4" 2>&1 | FileCheck %s --check-prefix=ZERO

// CHECK-LABEL: func.func @dynamic
// CHECK-SAME: (%[[X:.*]]: tensor<?x?x512xf32>, %[[S:.*]]: tensor<2x64x64xi8>, %[[A:.*]]: tensor<2x64x4xf16>, %[[O:.*]]: tensor<65xi32>, %[[C:.*]]: tensor<?xi16>, %[[V:.*]]: tensor<?xf16>)
// CHECK: %[[ROWS:.*]] = tensor.collapse_shape %[[X]] {{\[}}[0, 1], [2]] : tensor<?x?x512xf32> into tensor<?x512xf32>
// CHECK: %[[M:.*]] = tensor.dim %[[ROWS]], %{{.*}} : tensor<?x512xf32>
// CHECK: %[[NONE:.*]] = arith.cmpi eq, %[[M]], %c0
// CHECK: %[[RESULT:.*]] = scf.if %[[NONE]] -> (tensor<?x?x64xf32>) {
// CHECK: tensor.empty({{.*}}) : tensor<?x?x64xf32>
// CHECK: } else {
// CHECK: %[[ONE:.*]] = arith.cmpi ule, %[[M]], %c1
// CHECK: scf.if %[[ONE]] -> (tensor<?x64xf32>) {
// CHECK: %[[PAD1:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<1x512xf32>)
// CHECK: linalg.index 0
// CHECK: tensor.extract %[[ROWS]]
// CHECK: arith.select
// CHECK: %[[Y1:.*]] = r2q.matmul %[[PAD1]], %[[S]], %[[A]] outliers(%[[O]], %[[C]], %[[V]]) group_size 128 {kernel = #r2q.kernel<strategy = tiled_decode, {{.*}}>} : tensor<1x512xf32>, {{.*}} -> tensor<1x64xf32>
// CHECK: tensor.extract_slice %[[Y1]][0, 0] [%[[M]], 64] [1, 1] : tensor<1x64xf32> to tensor<?x64xf32>
// CHECK: } else {
// CHECK: arith.cmpi ule, %[[M]], %c16
// CHECK: r2q.matmul {{.*}} : tensor<16x512xf32>, {{.*}} -> tensor<16x64xf32>
// CHECK: } else {
// CHECK: scf.for %[[FIRST:.*]] = %{{.*}} to %[[M]] step %c16{{.*}} iter_args(%[[ACC:.*]] = %{{.*}}) -> (tensor<?x64xf32>)
// CHECK: %[[COUNT:.*]] = arith.minui %c16{{.*}}, %{{.*}} : index
// CHECK: r2q.matmul {{.*}} : tensor<16x512xf32>, {{.*}} -> tensor<16x64xf32>
// CHECK: %[[PART:.*]] = tensor.extract_slice %[[ACC]][%[[FIRST]], 0] [%[[COUNT]], 64] [1, 1]
// CHECK: %[[COPIED:.*]] = linalg.copy ins(%{{.*}} : tensor<?x64xf32>) outs(%[[PART]] : tensor<?x64xf32>)
// CHECK: tensor.insert_slice %[[COPIED]] into %[[ACC]][%[[FIRST]], 0] [%[[COUNT]], 64] [1, 1]
// CHECK: %[[EXPANDED:.*]] = tensor.expand_shape %{{.*}} {{\[}}[0, 1], [2]] output_shape [%{{.*}}, %{{.*}}, 64] : tensor<?x64xf32> into tensor<?x?x64xf32>
// CHECK: scf.yield %[[EXPANDED]]
// CHECK: %[[OUT:.*]] = linalg.copy ins(%[[RESULT]] : tensor<?x?x64xf32>)
// CHECK: return %[[OUT]]

// ZERO: error: r2q-bucket-rows: buckets must be distinct positive row counts

func.func @dynamic(%x: tensor<?x?x512xf32>, %s: tensor<2x64x64xi8>, %a: tensor<2x64x4xf16>, %o: tensor<65xi32>, %c: tensor<?xi16>, %v: tensor<?xf16>) -> tensor<?x?x64xf32> {
  %y = r2q.matmul %x, %s, %a outliers(%o, %c, %v) group_size 128 {kernel = #r2q.kernel<strategy = tiled_decode, vector_width = 16, tile_rows = 0, threads = 1>} : tensor<?x?x512xf32>, tensor<2x64x64xi8>, tensor<2x64x4xf16>, outliers(tensor<65xi32>, tensor<?xi16>, tensor<?xf16>) -> tensor<?x?x64xf32>
  return %y : tensor<?x?x64xf32>
}

// -----

// CHECK-LABEL: func.func @left_alone
// CHECK-NOT: scf.if
// CHECK: r2q.matmul {{.*}} : tensor<3x512xf32>
// CHECK: r2q.matmul {{.*}} : tensor<?x512xf32>, tensor<2x?x64xi8>
// CHECK-NOT: scf.if
func.func @left_alone(%x: tensor<3x512xf32>, %d: tensor<?x512xf32>, %s: tensor<2x64x64xi8>, %a: tensor<2x64x4xf16>, %ds: tensor<2x?x64xi8>, %da: tensor<2x?x4xf16>) -> (tensor<3x64xf32>, tensor<?x?xf32>) {
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<3x512xf32>, tensor<2x64x64xi8>, tensor<2x64x4xf16> -> tensor<3x64xf32>
  %z = r2q.matmul %d, %ds, %da group_size 128 : tensor<?x512xf32>, tensor<2x?x64xi8>, tensor<2x?x4xf16> -> tensor<?x?xf32>
  return %y, %z : tensor<3x64xf32>, tensor<?x?xf32>
}
