// What r2q-gpu-pipeline leaves of linalg (here an element-wise add on 3 x
// 70000, wider than CUDA's 65535 blocks in y) runs as blocks of 256
// threads: a grid of 3 x 274 blocks (ceil(70000 / 256) = 274), each thread
// guarded by the row's end, not 3 x 70000 blocks of one thread, whose
// launch CUDA refuses.

// RUN: r2q-opt %s --r2q-gpu-pipeline="cubin-format=isa" | FileCheck %s

// CHECK-LABEL: llvm.func @main(
// CHECK-DAG: %[[C256:.*]] = llvm.mlir.constant(256 : index) : i64
// CHECK-DAG: %[[C274:.*]] = llvm.mlir.constant(274 : index) : i64
// CHECK-DAG: %[[C3:.*]] = llvm.mlir.constant(3 : index) : i64
// CHECK-DAG: %[[C1:.*]] = llvm.mlir.constant(1 : index) : i64
// CHECK: gpu.launch_func <%{{.*}} : !llvm.ptr> @main_kernel::@main_kernel blocks in (%[[C3]], %[[C274]], %[[C1]]) threads in (%[[C256]], %[[C1]], %[[C1]])

func.func @main(%x: tensor<3x70000xf32>, %y: tensor<3x70000xf32>) -> tensor<3x70000xf32> {
  %e = tensor.empty() : tensor<3x70000xf32>
  %z = linalg.add ins(%x, %y : tensor<3x70000xf32>, tensor<3x70000xf32>) outs(%e : tensor<3x70000xf32>) -> tensor<3x70000xf32>
  return %z : tensor<3x70000xf32>
}
