// r2q-gpu-pipeline puts the GPU ops of a call on one stream, synchronized
// once, before the first host op that touches memory: here the result's
// device allocation and the kernel (x + c), then the managed copy of the
// constant the function returns (allocated synchronously: gpu-to-llvm
// lowers managed allocations in no other form), filled by the host after
// the wait. No stream per op.

// RUN: r2q-opt %s --r2q-gpu-pipeline="cubin-format=isa" | FileCheck %s

// CHECK-LABEL: llvm.func @main(
// CHECK: llvm.call @r2qCudaDeviceConstant
// CHECK: %[[STREAM:.*]] = llvm.call @mgpuStreamCreate()
// CHECK-NOT: @mgpuStream
// CHECK: llvm.call @mgpuMemAlloc(%{{.*}}, %[[STREAM]], %[[DEVICE:.*]])
// CHECK: gpu.launch_func <%[[STREAM]] : !llvm.ptr> @main_kernel::@main_kernel
// CHECK-NOT: @mgpuStream
// CHECK: llvm.call @mgpuMemAlloc(%{{.*}}, %{{.*}}, %[[MANAGED:.*]])
// CHECK-NOT: @mgpuStream
// CHECK: llvm.call @mgpuStreamSynchronize(%[[STREAM]])
// CHECK-NEXT: llvm.call @mgpuStreamDestroy(%[[STREAM]])
// CHECK-NOT: @mgpuStream
// CHECK: "llvm.intr.memcpy"
// CHECK-NOT: @mgpuStream
// CHECK: llvm.return

func.func @main(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %c = arith.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  %e = tensor.empty() : tensor<4xf32>
  %z = linalg.add ins(%x, %c : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) -> tensor<4xf32>
  return %z, %c : tensor<4xf32>, tensor<4xf32>
}
