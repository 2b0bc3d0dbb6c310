// r2q-gpu-extern-dynamic-shared-memory: a kernel module's
// gpu.dynamic_shared_memory ops read one public zero-byte workgroup global
// (16-byte aligned), viewed with the launch's dynamic size, which lowers to
// the external shared array CUDA places dynamic shared memory at
// (`.extern .shared .align 16 .b8 name[]`), where upstream's lowering
// declared a one-byte static variable. A module without the op is left
// alone; a symbol of the same name is not overwritten.

// RUN: r2q-opt %s --r2q-gpu-extern-dynamic-shared-memory | FileCheck %s
// RUN: r2q-opt %s --pass-pipeline='builtin.module(r2q-gpu-extern-dynamic-shared-memory,nvvm-attach-target{chip=sm_90},gpu.module(convert-gpu-to-nvvm),gpu-module-to-binary{format=isa})' \
// RUN:   | FileCheck %s --check-prefix=PTX
// RUN: r2q-opt %s --pass-pipeline='builtin.module(nvvm-attach-target{chip=sm_90},gpu.module(convert-gpu-to-nvvm),gpu-module-to-binary{format=isa})' \
// RUN:   | FileCheck %s --check-prefix=UPSTREAM

// CHECK-LABEL: gpu.module @tables
// CHECK: memref.global "public" @[[$ARRAY:__r2q_dynamic_shared_0]] : memref<0xi8, #gpu.address_space<workgroup>> {alignment = 16 : i64}
// CHECK: memref.global "private" @__r2q_dynamic_shared : memref<4xf32, #gpu.address_space<workgroup>>
// CHECK-LABEL: gpu.func @first
// CHECK-NOT: gpu.dynamic_shared_memory
// CHECK: %[[START:.*]] = memref.get_global @[[$ARRAY]] : memref<0xi8, #gpu.address_space<workgroup>>
// CHECK: %[[SIZE:.*]] = nvvm.read.ptx.sreg.dynamic.smem.size : i32
// CHECK: %[[BYTES:.*]] = arith.index_castui %[[SIZE]] : i32 to index
// CHECK: %[[ALL:.*]] = memref.reinterpret_cast %[[START]] to offset: [0], sizes: [%[[BYTES]]], strides: [1] : memref<0xi8, #gpu.address_space<workgroup>> to memref<?xi8, #gpu.address_space<workgroup>>
// CHECK: memref.view %[[ALL]]
// CHECK-LABEL: gpu.func @second
// CHECK: memref.get_global @[[$ARRAY]]
// CHECK-LABEL: gpu.module @plain
// CHECK-NOT: memref.global

// PTX: .extern .shared .align 16 .b8 __r2q_dynamic_shared_0[];
// PTX-NOT: .shared .align 16 .b8 __dynamic_shmem
// UPSTREAM: .shared .align 16 .b8 __dynamic_shmem__0;

module attributes {gpu.container_module} {
  gpu.module @tables {
    memref.global "private" @__r2q_dynamic_shared : memref<4xf32, #gpu.address_space<workgroup>>
    gpu.func @first(%out: memref<8xf32>, %i: index) kernel {
      %c0 = arith.constant 0 : index
      %all = gpu.dynamic_shared_memory : memref<?xi8, #gpu.address_space<workgroup>>
      %words = memref.view %all[%c0][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<8xf32, #gpu.address_space<workgroup>>
      %v = memref.load %words[%i] : memref<8xf32, #gpu.address_space<workgroup>>
      memref.store %v, %out[%i] : memref<8xf32>
      gpu.return
    }
    gpu.func @second(%out: memref<8xf32>, %i: index) kernel {
      %c16 = arith.constant 16 : index
      %all = gpu.dynamic_shared_memory : memref<?xi8, #gpu.address_space<workgroup>>
      %words = memref.view %all[%c16][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<8xf32, #gpu.address_space<workgroup>>
      %v = memref.load %out[%i] : memref<8xf32>
      memref.store %v, %words[%i] : memref<8xf32, #gpu.address_space<workgroup>>
      gpu.return
    }
  }
  gpu.module @plain {
    gpu.func @copy(%out: memref<8xf32>, %i: index) kernel {
      %v = memref.load %out[%i] : memref<8xf32>
      memref.store %v, %out[%i] : memref<8xf32>
      gpu.return
    }
  }
}
