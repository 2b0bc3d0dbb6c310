// What r2q-gpu-pipeline leaves of linalg runs as blocks of threads along
// the innermost dimension (256, fewer where it is shorter), the other
// dimensions collapsed onto the grid's x: a 3 x 70000 add (wider than
// CUDA's 65535 blocks in y) on 3 x 274 blocks of 256 threads (ceil(70000 /
// 256) = 274); a 4 x 8 add on 4 blocks of 8 threads; a 2 x 70000 x 300 add
// on 140000 x 2 blocks. Not one block per element (which also made grids
// that CUDA refuses).

// RUN: r2q-opt %s --r2q-gpu-pipeline="cubin-format=isa" | FileCheck %s

// CHECK-LABEL: llvm.func @wide(
// CHECK-DAG: %[[C256:.*]] = llvm.mlir.constant(256 : index) : i64
// CHECK-DAG: %[[C274:.*]] = llvm.mlir.constant(274 : index) : i64
// CHECK-DAG: %[[C3:.*]] = llvm.mlir.constant(3 : index) : i64
// CHECK-DAG: %[[C1:.*]] = llvm.mlir.constant(1 : index) : i64
// CHECK: gpu.launch_func <%{{.*}} : !llvm.ptr> @wide_kernel::@wide_kernel blocks in (%[[C3]], %[[C274]], %[[C1]]) threads in (%[[C1]], %[[C256]], %[[C1]])
func.func @wide(%x: tensor<3x70000xf32>, %y: tensor<3x70000xf32>) -> tensor<3x70000xf32> {
  %e = tensor.empty() : tensor<3x70000xf32>
  %z = linalg.add ins(%x, %y : tensor<3x70000xf32>, tensor<3x70000xf32>) outs(%e : tensor<3x70000xf32>) -> tensor<3x70000xf32>
  return %z : tensor<3x70000xf32>
}

// CHECK-LABEL: llvm.func @small(
// CHECK-DAG: %[[C8:.*]] = llvm.mlir.constant(8 : index) : i64
// CHECK-DAG: %[[C4:.*]] = llvm.mlir.constant(4 : index) : i64
// CHECK-DAG: %[[C1:.*]] = llvm.mlir.constant(1 : index) : i64
// CHECK: gpu.launch_func <%{{.*}} : !llvm.ptr> @small_kernel::@small_kernel blocks in (%[[C4]], %[[C1]], %[[C1]]) threads in (%[[C1]], %[[C8]], %[[C1]])
func.func @small(%x: tensor<4x8xf32>, %y: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %e = tensor.empty() : tensor<4x8xf32>
  %z = linalg.add ins(%x, %y : tensor<4x8xf32>, tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) -> tensor<4x8xf32>
  return %z : tensor<4x8xf32>
}

// CHECK-LABEL: llvm.func @deep(
// CHECK-DAG: %[[C256:.*]] = llvm.mlir.constant(256 : index) : i64
// CHECK-DAG: %[[C140000:.*]] = llvm.mlir.constant(140000 : index) : i64
// CHECK-DAG: %[[C2:.*]] = llvm.mlir.constant(2 : index) : i64
// CHECK-DAG: %[[C1:.*]] = llvm.mlir.constant(1 : index) : i64
// CHECK: gpu.launch_func <%{{.*}} : !llvm.ptr> @deep_kernel::@deep_kernel blocks in (%[[C140000]], %[[C2]], %[[C1]]) threads in (%[[C1]], %[[C256]], %[[C1]])
func.func @deep(%x: tensor<2x70000x300xf32>, %y: tensor<2x70000x300xf32>) -> tensor<2x70000x300xf32> {
  %e = tensor.empty() : tensor<2x70000x300xf32>
  %z = linalg.add ins(%x, %y : tensor<2x70000x300xf32>, tensor<2x70000x300xf32>) outs(%e : tensor<2x70000x300xf32>) -> tensor<2x70000x300xf32>
  return %z : tensor<2x70000x300xf32>
}
