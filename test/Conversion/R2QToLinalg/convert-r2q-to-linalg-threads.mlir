// RUN: r2q-opt %s --split-input-file --convert-r2q-to-linalg --canonicalize --cse | FileCheck %s

// threads = 3: the output features are split into 3 parts of whole 8-feature
// units (40 features = 5 units: parts of 8, 16 and 16 features), each an
// iteration of an scf.forall writing its slice of the shared accumulator.
// The group sums of the rows are computed once, before the loop; nothing
// inside it creates a tensor.
// CHECK-LABEL: func.func @gemv_threads
// CHECK-DAG: %[[C3:.*]] = arith.constant 3 : index
// CHECK-DAG: %[[C5:.*]] = arith.constant 5 : index
// CHECK-DAG: %[[C8:.*]] = arith.constant 8 : index
// CHECK-DAG: %[[C40:.*]] = arith.constant 40 : index
// CHECK: %[[ACC:.*]] = linalg.fill
// CHECK: %[[SUMS:.*]] = scf.for
// CHECK: vector.reduction
// CHECK: scf.forall (%[[PART:.*]]) in (3) shared_outs(%[[OUT:.*]] = %[[ACC]]) -> (tensor<1x40xf32>) {
// CHECK-NOT: tensor.empty
// CHECK:   %[[UNITS:.*]] = arith.muli %[[PART]], %[[C5]]
// CHECK:   %[[FIRSTUNIT:.*]] = arith.divui %[[UNITS]], %[[C3]]
// CHECK:   %[[FIRSTROW:.*]] = arith.muli %[[FIRSTUNIT]], %[[C8]]
// CHECK:   %[[FIRST:.*]] = arith.minui %[[FIRSTROW]], %[[C40]]
// CHECK:   %[[COUNT:.*]] = arith.subi %{{.*}}, %[[FIRST]]
// CHECK:   %[[SLICE:.*]] = tensor.extract_slice %[[OUT]][0, %[[FIRST]]] [1, %[[COUNT]]] [1, 1]
// CHECK:   %[[PARTOUT:.*]] = scf.for %{{.*}} = %{{.*}} to %[[COUNT]] step %{{.*}} iter_args(%{{.*}} = %[[SLICE]])
// CHECK:     tensor.extract %[[SUMS]]
// CHECK:     vector.bitcast
// CHECK-NOT: tensor.empty
// CHECK:   scf.forall.in_parallel {
// CHECK:     tensor.parallel_insert_slice %[[PARTOUT]] into %[[OUT]][0, %[[FIRST]]] [1, %[[COUNT]]] [1, 1]
func.func @gemv_threads(%x: tensor<1x256xf32>, %s: tensor<2x40x32xi8>, %a: tensor<2x40x2xf16>) -> tensor<1x40xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = vector_gemv, vector_width = 32, tile_rows = 8, threads = 3>} : tensor<1x256xf32>, tensor<2x40x32xi8>, tensor<2x40x2xf16> -> tensor<1x40xf32>
  return %y : tensor<1x40xf32>
}

// -----

// fused_decode on 2 threads: each part is the fused generic on its rows of
// the weight (sign and scale slices from the part's first feature).
// CHECK-LABEL: func.func @fused_threads
// CHECK: scf.forall (%{{.*}}) in (2) shared_outs(%[[OUT:.*]] = %{{.*}}) -> (tensor<3x40xf32>) {
// CHECK:   %[[FIRST:.*]] = arith.minui
// CHECK:   %[[COUNT:.*]] = arith.subi
// CHECK:   tensor.extract_slice %[[OUT]][0, %[[FIRST]]] [3, %[[COUNT]]] [1, 1]
// CHECK:   tensor.extract_slice %{{.*}}[0, %[[FIRST]], 0] [1, %[[COUNT]], 32] [1, 1, 1] : tensor<2x40x32xi8> to tensor<?x32xi8>
// CHECK:   %[[PARTOUT:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction", "reduction", "reduction"]
// CHECK:   tensor.parallel_insert_slice %[[PARTOUT]]
func.func @fused_threads(%x: tensor<3x256xf32>, %s: tensor<2x40x32xi8>, %a: tensor<2x40x2xf16>) -> tensor<3x40xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = fused_decode, threads = 2>} : tensor<3x256xf32>, tensor<2x40x32xi8>, tensor<2x40x2xf16> -> tensor<3x40xf32>
  return %y : tensor<3x40xf32>
}

// -----

// tiled_decode on 2 threads: each part runs the tile loop over its own
// features (tiles of 16), decoding each tile into a 16-row scratch tensor
// made before the tile loop, not inside it.
// CHECK-LABEL: func.func @tiled_threads
// CHECK: scf.forall (%{{.*}}) in (2) shared_outs(%[[OUT:.*]] = %{{.*}}) -> (tensor<17x40xf32>) {
// CHECK:   %[[COUNT:.*]] = arith.subi
// CHECK:   %[[SLICE:.*]] = tensor.extract_slice %[[OUT]]
// CHECK:   %[[SCRATCH:.*]] = tensor.extract_slice %{{.*}} : tensor<2x16x32x16x8xf32> to tensor<16x32x16x8xf32>
// CHECK:   %[[TILES:.*]]:2 = scf.for %{{.*}} = %{{.*}} to %[[COUNT]] step %c16 iter_args(%{{.*}} = %[[SLICE]], %{{.*}} = %[[SCRATCH]])
// CHECK-NOT: tensor.empty
// CHECK:     linalg.generic {{.*}} outs(%{{.*}} : tensor<?x32x16x8xf32>)
// CHECK:     linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]
// CHECK:   tensor.parallel_insert_slice %[[TILES]]#0 into %[[OUT]]
func.func @tiled_threads(%x: tensor<17x4096xf32>, %s: tensor<2x40x512xi8>, %a: tensor<2x40x32xf16>) -> tensor<17x40xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = tiled_decode, threads = 2>} : tensor<17x4096xf32>, tensor<2x40x512xi8>, tensor<2x40x32xf16> -> tensor<17x40xf32>
  return %y : tensor<17x40xf32>
}
