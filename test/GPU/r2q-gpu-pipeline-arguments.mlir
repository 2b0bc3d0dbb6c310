// The caller's tensors through r2q-gpu-pipeline: a function that inserts
// one argument into a slice of another returns a new buffer (the second
// argument copied on the device, gpu.memcpy: r2q-read-only-arguments, so
// the caller's array is not written), and copies the first into the slice
// with a kernel (r2q-gpu-strided-copies; host code cannot read the caller's
// device memory, and r2q-gpu-host-buffers refused the strided copy). The
// final LLVM keeps neither a host copy nor a write to an argument.

// RUN: r2q-opt %s --r2q-gpu-pipeline="cubin-format=isa" --mlir-print-ir-after=r2q-gpu-host-buffers -o /dev/null 2>&1 | FileCheck %s
// RUN: r2q-opt %s --r2q-gpu-pipeline="cubin-format=isa" | FileCheck %s --check-prefix=LLVM

// CHECK-LABEL: func.func @insert_argument
// CHECK-SAME: (%[[X:[^:]*]]: memref<3x3xf32>, %[[BIG:[^:]*]]: memref<3x8xf32>)
// CHECK: %[[RESULT:.*]] = gpu.alloc () : memref<3x8xf32>
// CHECK: gpu.memcpy %[[RESULT]], %[[BIG]]
// CHECK: %[[VIEW:.*]] = memref.subview %[[RESULT]][0, 2] [3, 3] [1, 1]
// CHECK: gpu.launch
// CHECK: memref.load %[[X]]
// CHECK: memref.store {{.*}}, %[[VIEW]]
// CHECK-NOT: memref.copy
// CHECK: return %[[RESULT]]

// LLVM-LABEL: llvm.func @insert_argument(
// LLVM: llvm.call @mgpuMemAlloc
// LLVM: llvm.call @mgpuMemcpy
// LLVM: gpu.launch_func
// LLVM-NOT: memrefCopy
// LLVM: llvm.return
func.func @insert_argument(%x: tensor<3x3xf32>, %big: tensor<3x8xf32>) -> tensor<3x8xf32> {
  %r = tensor.insert_slice %x into %big[0, 2] [3, 3] [1, 1] : tensor<3x3xf32> into tensor<3x8xf32>
  return %r : tensor<3x8xf32>
}
