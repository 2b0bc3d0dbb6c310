// r2q-gpu-align-workgroup-buffers: every workgroup attribution of an
// outlined kernel is declared 16-byte aligned (one that declares an
// alignment keeps it), and its shared-memory global then carries it (the
// PTX declares `.shared .align 16`), whatever its element type.

// RUN: r2q-opt %s --r2q-gpu-align-workgroup-buffers | FileCheck %s
// RUN: r2q-opt %s --pass-pipeline='builtin.module(r2q-gpu-align-workgroup-buffers,gpu.module(convert-gpu-to-nvvm))' \
// RUN:   | FileCheck %s --check-prefix=NVVM

// CHECK: workgroup(%{{.*}} : memref<144xi8, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<8xf32, #gpu.address_space<workgroup>> {llvm.align = 32 : i64})
// NVVM-DAG: llvm.mlir.global internal @__wg_tiles_0() {addr_space = 3 : i32, alignment = 16 : i64} : !llvm.array<144 x i8>
// NVVM-DAG: llvm.mlir.global internal @__wg_tiles_1() {addr_space = 3 : i32, alignment = 32 : i64} : !llvm.array<8 x f32>

module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @tiles(%out: memref<8xf32>)
        workgroup(%bytes : memref<144xi8, #gpu.address_space<workgroup>>,
                  %words : memref<8xf32, #gpu.address_space<workgroup>> {llvm.align = 32 : i64})
        kernel {
      %t = gpu.thread_id x
      %one = arith.constant 1 : i8
      memref.store %one, %bytes[%t] : memref<144xi8, #gpu.address_space<workgroup>>
      %v = memref.load %words[%t] : memref<8xf32, #gpu.address_space<workgroup>>
      memref.store %v, %out[%t] : memref<8xf32>
      gpu.return
    }
  }
}
