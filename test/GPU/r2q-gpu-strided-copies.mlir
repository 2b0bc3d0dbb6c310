// r2q-gpu-strided-copies: a host copy with a strided side becomes a
// linalg.copy (a GPU kernel after the pipeline's next steps); dense copies
// and the kernels' own copies stay. (The pipeline's use of it:
// r2q-gpu-pipeline-arguments.mlir.)

// RUN: r2q-opt %s --pass-pipeline='builtin.module(func.func(r2q-gpu-strided-copies))' | FileCheck %s

// CHECK-LABEL: func.func @copies
// CHECK-SAME: (%[[X:.*]]: memref<3x3xf32>, %[[BIG:.*]]: memref<3x8xf32>, %[[DENSE:.*]]: memref<3x3xf32>)
// CHECK: %[[VIEW:.*]] = memref.subview %[[BIG]]
// CHECK: linalg.copy ins(%[[X]] : memref<3x3xf32>) outs(%[[VIEW]] : memref<3x3xf32, strided<[8, 1], offset: 2>>)
// CHECK: linalg.copy ins(%[[VIEW]] : memref<3x3xf32, strided<[8, 1], offset: 2>>) outs(%[[DENSE]] : memref<3x3xf32>)
// CHECK: memref.copy %[[X]], %[[DENSE]] : memref<3x3xf32> to memref<3x3xf32>
// CHECK: gpu.launch
// CHECK: memref.copy %[[X]], %[[VIEW]]
// CHECK: gpu.terminator
// CHECK-NOT: memref.copy
func.func @copies(%x: memref<3x3xf32>, %big: memref<3x8xf32>, %dense: memref<3x3xf32>) {
  %view = memref.subview %big[0, 2] [3, 3] [1, 1] : memref<3x8xf32> to memref<3x3xf32, strided<[8, 1], offset: 2>>
  memref.copy %x, %view : memref<3x3xf32> to memref<3x3xf32, strided<[8, 1], offset: 2>>
  memref.copy %view, %dense : memref<3x3xf32, strided<[8, 1], offset: 2>> to memref<3x3xf32>
  memref.copy %x, %dense : memref<3x3xf32> to memref<3x3xf32>
  %c1 = arith.constant 1 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1) threads(%tx, %ty, %tz) in (%sx = %c1, %sy = %c1, %sz = %c1) {
    memref.copy %x, %view : memref<3x3xf32> to memref<3x3xf32, strided<[8, 1], offset: 2>>
    gpu.terminator
  }
  return
}

// Unranked and rank-0 copies are left alone (a rank-0 view is one element:
// its copy is not a loop).
// CHECK-LABEL: func.func @unranked_and_rank0
// CHECK: memref.copy %{{.*}}, %{{.*}} : memref<*xf32> to memref<*xf32>
// CHECK: memref.copy %{{.*}}, %{{.*}} : memref<f32> to memref<f32, strided<[], offset: 3>>
// CHECK-NOT: linalg.copy
func.func @unranked_and_rank0(%x: memref<*xf32>, %y: memref<*xf32>, %s: memref<f32>, %big: memref<8xf32>) {
  memref.copy %x, %y : memref<*xf32> to memref<*xf32>
  %one = memref.subview %big[3] [1] [1] : memref<8xf32> to memref<f32, strided<[], offset: 3>>
  memref.copy %s, %one : memref<f32> to memref<f32, strided<[], offset: 3>>
  return
}
