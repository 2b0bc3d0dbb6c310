// r2q-gpu-outline-kernels: gpu-kernel-outlining, and the attributes a
// lowering asked for on a gpu.launch (`r2q.kernel_attributes`) set on the
// kernel outlined from it, matched in order past a launch_func that was
// already there; a launch that asks nothing gets nothing, and the
// dictionary is gone. Through the NVVM lowering the hint becomes the
// kernel's PTX directive.

// RUN: r2q-opt %s --r2q-gpu-outline-kernels | FileCheck %s
// RUN: r2q-opt %s --pass-pipeline='builtin.module(r2q-gpu-outline-kernels,nvvm-attach-target{chip=sm_90},gpu.module(convert-gpu-to-nvvm),gpu-module-to-binary{format=isa})' \
// RUN:   | FileCheck %s --check-prefix=PTX

// CHECK-NOT: r2q.kernel_attributes
// CHECK: gpu.launch_func @existing::@existing
// CHECK: gpu.launch_func @two_launches_kernel::@two_launches_kernel
// CHECK: gpu.launch_func @two_launches_kernel_0::@two_launches_kernel
// CHECK-LABEL: gpu.module @two_launches_kernel
// CHECK: gpu.func @two_launches_kernel(
// CHECK-NOT: nvvm.minctasm
// CHECK-SAME: kernel attributes {
// CHECK-NOT: nvvm.minctasm
// CHECK-LABEL: gpu.module @two_launches_kernel_0
// CHECK: gpu.func @two_launches_kernel(
// CHECK-SAME: nvvm.minctasm = 2 : i32
// CHECK-NOT: r2q.kernel_attributes

// PTX: gpu.binary @two_launches_kernel
// PTX-NOT: minnctapersm
// PTX: gpu.binary @two_launches_kernel_0
// PTX-SAME: .maxntid 64, 1, 1\0A.minnctapersm 2\0A

module attributes {gpu.container_module} {
  gpu.module @existing {
    gpu.func @existing(%out: memref<64xf32>) kernel {
      gpu.return
    }
  }
  func.func @two_launches(%out: memref<64xf32>) {
    %c1 = arith.constant 1 : index
    %c64 = arith.constant 64 : index
    gpu.launch_func @existing::@existing blocks in (%c1, %c1, %c1) threads in (%c64, %c1, %c1) args(%out : memref<64xf32>)
    gpu.launch blocks(%bx, %by, %bz) in (%x = %c1, %y = %c1, %z = %c1) threads(%tx, %ty, %tz) in (%a = %c64, %b = %c1, %c = %c1) {
      %v = arith.constant 1.0 : f32
      memref.store %v, %out[%tx] : memref<64xf32>
      gpu.terminator
    }
    gpu.launch blocks(%bx, %by, %bz) in (%x = %c1, %y = %c1, %z = %c1) threads(%tx, %ty, %tz) in (%a = %c64, %b = %c1, %c = %c1) {
      %v = arith.constant 2.0 : f32
      memref.store %v, %out[%tx] : memref<64xf32>
      gpu.terminator
    } {r2q.kernel_attributes = {nvvm.minctasm = 2 : i32}}
    return
  }
}
