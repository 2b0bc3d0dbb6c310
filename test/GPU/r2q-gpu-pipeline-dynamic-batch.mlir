// r2q-gpu-pipeline on a dynamic batch (a Torch-MLIR export's
// tensor<?x?x4096xf32>): r2q-bucket-rows runs it on static batches of 1, 4,
// 16, 64 and 256 rows (past 256 in chunks of 256), and r2q-select-gpu-
// kernels chooses each bucket's kernel (the tables below 16 rows, the tensor
// cores from 16 on). The padding and the copies are kernels too: the host
// code never reads or copies the caller's device memory (no memref.copy, no
// memrefCopy call).

// RUN: r2q-opt %s --r2q-gpu-pipeline="cubin-format=isa" --mlir-print-ir-after=r2q-select-gpu-kernels -o /dev/null 2>&1 | FileCheck %s --check-prefix=SELECTED
// RUN: r2q-opt %s --r2q-gpu-pipeline="cubin-format=isa" | FileCheck %s

// SELECTED: r2q.matmul {{.*}}strategy = warp_lut_gemv{{.*}} : tensor<1x4096xf32>
// SELECTED: r2q.matmul {{.*}}strategy = warp_lut_gemv{{.*}} : tensor<4x4096xf32>
// SELECTED: r2q.matmul {{.*}}strategy = mma_gemm{{.*}} : tensor<16x4096xf32>
// SELECTED: r2q.matmul {{.*}}strategy = mma_gemm{{.*}} : tensor<64x4096xf32>
// SELECTED: r2q.matmul {{.*}}strategy = mma_gemm{{.*}} : tensor<256x4096xf32>
// SELECTED: scf.for
// SELECTED: r2q.matmul {{.*}}strategy = mma_gemm{{.*}} : tensor<256x4096xf32>

// CHECK-NOT: memrefCopy
// CHECK: llvm.func @decode(
// CHECK: gpu.launch_func
// CHECK-NOT: memrefCopy
// CHECK-NOT: llvm.call @memcpy

func.func @decode(%x: tensor<?x?x4096xf32>, %s: tensor<2x512x512xi8>, %a: tensor<2x512x32xf16>) -> tensor<?x?x512xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<?x?x4096xf32>, tensor<2x512x512xi8>, tensor<2x512x32xf16> -> tensor<?x?x512xf32>
  return %y : tensor<?x?x512xf32>
}
