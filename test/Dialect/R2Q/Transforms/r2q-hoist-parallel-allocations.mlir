// RUN: r2q-opt %s --split-input-file --r2q-hoist-parallel-allocations | FileCheck %s

// A static buffer private to each of 3 iterations: one buffer of 3 slices
// (4 x 10 f32 = 160 bytes, rounded up to 192) allocated before the loop,
// each iteration viewing its own.
// CHECK-LABEL: func.func @scratch
// CHECK: %[[ALL:.*]] = memref.alloc() {alignment = 64 : i64} : memref<576xi8>
// CHECK: scf.forall (%[[P:.*]]) in (3) {
// CHECK-NOT: memref.alloc
// CHECK:   %[[C192:.*]] = arith.constant 192 : index
// CHECK:   %[[OFFSET:.*]] = arith.muli %[[P]], %[[C192]] : index
// CHECK:   %[[VIEW:.*]] = memref.view %[[ALL]][%[[OFFSET]]][] : memref<576xi8> to memref<4x10xf32>
// CHECK:   linalg.fill ins(%{{.*}} : f32) outs(%[[VIEW]] : memref<4x10xf32>)
// CHECK:   memref.copy %[[VIEW]], %{{.*}}
func.func @scratch(%out: memref<3x4x10xf32>) {
  %zero = arith.constant 0.0 : f32
  scf.forall (%p) in (3) {
    %tile = memref.alloc() : memref<4x10xf32>
    linalg.fill ins(%zero : f32) outs(%tile : memref<4x10xf32>)
    %part = memref.subview %out[%p, 0, 0] [1, 4, 10] [1, 1, 1] : memref<3x4x10xf32> to memref<4x10xf32, strided<[10, 1], offset: ?>>
    memref.copy %tile, %part : memref<4x10xf32> to memref<4x10xf32, strided<[10, 1], offset: ?>>
  }
  return
}

// -----

// Left alone: a dynamic size, a loop with a dynamic bound, and a buffer
// nested deeper than the loop body.
// CHECK-LABEL: func.func @left_alone
// CHECK: scf.forall
// CHECK: memref.alloc(%{{.*}}) : memref<?xf32>
// CHECK: scf.forall
// CHECK: memref.alloc() : memref<8xf32>
// CHECK: scf.forall
// CHECK: scf.for
// CHECK: memref.alloc() : memref<8xf32>
// CHECK-NOT: memref.view
func.func @left_alone(%n: index, %out: memref<?xf32>) {
  %zero = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  scf.forall (%p) in (2) {
    %a = memref.alloc(%n) : memref<?xf32>
    linalg.fill ins(%zero : f32) outs(%a : memref<?xf32>)
  }
  scf.forall (%p) in (%n) {
    %b = memref.alloc() : memref<8xf32>
    linalg.fill ins(%zero : f32) outs(%b : memref<8xf32>)
  }
  scf.forall (%p) in (2) {
    scf.for %i = %c0 to %n step %c1 {
      %c = memref.alloc() : memref<8xf32>
      linalg.fill ins(%zero : f32) outs(%c : memref<8xf32>)
    }
  }
  return
}
