// r2q-gpu-occupancy: a kernel of at most 256 threads per block asks for
// two blocks per SM (nvvm.minctasm = 2, PTX .minnctapersm 2, so ptxas
// keeps to 128 registers at 256 threads); a larger block, a kernel whose
// block size is unknown, one that already asks for a number, and a device
// function keep theirs.

// RUN: r2q-opt %s --r2q-gpu-occupancy | FileCheck %s
// RUN: r2q-opt %s --pass-pipeline='builtin.module(r2q-gpu-occupancy,nvvm-attach-target{chip=sm_90},gpu.module(convert-gpu-to-nvvm),gpu-module-to-binary{format=isa})' \
// RUN:   | FileCheck %s --check-prefix=PTX

// CHECK-LABEL: gpu.func @warps
// CHECK-SAME: nvvm.minctasm = 2 : i32
// CHECK-LABEL: gpu.func @small
// CHECK-SAME: nvvm.minctasm = 2 : i32
// CHECK-LABEL: gpu.func @large
// CHECK-NOT: nvvm.minctasm
// CHECK-LABEL: gpu.func @unknown
// CHECK-NOT: nvvm.minctasm
// CHECK-LABEL: gpu.func @chosen
// CHECK-SAME: nvvm.minctasm = 4 : i32
// CHECK-LABEL: gpu.func @helper
// CHECK-NOT: nvvm.minctasm

// PTX: .entry warps(
// PTX-SAME: .maxntid 32, 8, 1\0A.minnctapersm 2\0A
// PTX-SAME: .entry large(
// PTX-NOT: .minnctapersm
// PTX-SAME: .entry unknown(

module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @warps(%out: memref<256xf32>) kernel attributes {known_block_size = array<i32: 32, 8, 1>} {
      gpu.return
    }
    gpu.func @small(%out: memref<256xf32>) kernel attributes {known_block_size = array<i32: 128, 1, 1>} {
      gpu.return
    }
    gpu.func @large(%out: memref<256xf32>) kernel attributes {known_block_size = array<i32: 512, 1, 1>} {
      gpu.return
    }
    gpu.func @unknown(%out: memref<256xf32>) kernel {
      gpu.return
    }
    gpu.func @chosen(%out: memref<256xf32>) kernel attributes {known_block_size = array<i32: 64, 1, 1>, nvvm.minctasm = 4 : i32} {
      gpu.return
    }
    gpu.func @helper(%out: memref<256xf32>) attributes {known_block_size = array<i32: 64, 1, 1>} {
      gpu.return
    }
  }
}
