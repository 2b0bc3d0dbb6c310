// RUN: r2q-opt %s --r2q-expand-shapes-to-reinterpret-casts | FileCheck %s

// A split into two dynamic sizes: the outer stride is the inner size times
// the source stride (48 here, folded); the inner dimensions keep theirs.
// CHECK-LABEL: func.func @two_dynamic_sizes
// CHECK-SAME: (%[[M:.*]]: memref<?x48xf32>, %[[B:.*]]: index, %[[S:.*]]: index)
// CHECK: %[[BASE:.*]], %{{.*}}, %{{.*}}:2, %{{.*}}:2 = memref.extract_strided_metadata %[[M]]
// CHECK: %[[STRIDE:.*]] = affine.apply #{{.*}}()[%[[S]]]
// CHECK-NOT: affine.apply
// CHECK: memref.reinterpret_cast %[[BASE]] to offset: [0], sizes: [%[[B]], %[[S]], 48], strides: [%[[STRIDE]], 48, 1]
// CHECK-NOT: memref.expand_shape
func.func @two_dynamic_sizes(%m: memref<?x48xf32>, %b: index, %s: index) -> memref<?x?x48xf32> {
  %r = memref.expand_shape %m [[0, 1], [2]] output_shape [%b, %s, 48] : memref<?x48xf32> into memref<?x?x48xf32>
  return %r : memref<?x?x48xf32>
}

// One dynamic size per group is left to upstream expand-strided-metadata.
// CHECK-LABEL: func.func @one_dynamic_size
// CHECK: memref.expand_shape
func.func @one_dynamic_size(%m: memref<?x48xf32>, %s: index) -> memref<2x?x48xf32> {
  %r = memref.expand_shape %m [[0, 1], [2]] output_shape [2, %s, 48] : memref<?x48xf32> into memref<2x?x48xf32>
  return %r : memref<2x?x48xf32>
}
