// Every mgpu* entry point that MLIR 22 lowers host code to (gpu-to-llvm,
// #gpu.select_object's module loading and launches, convert-nvgpu-to-nvvm's
// TMA descriptors), with the signatures it declares; and each of them is
// exported by libr2q_cuda_runtime.so (include/r2q/Runtime/CudaRuntime.h).

// REQUIRES: cuda-runtime
// RUN: mlir-opt %s --convert-nvgpu-to-nvvm --gpu-to-llvm \
// RUN:   --finalize-memref-to-llvm --convert-func-to-llvm \
// RUN:   --reconcile-unrealized-casts \
// RUN:   | mlir-translate --mlir-to-llvmir -o %t.ll
// RUN: FileCheck %s < %t.ll
// RUN: grep -o '@mgpu[A-Za-z0-9]*' %t.ll | sed 's/^@//' | sort -u > %t.called
// RUN: FileCheck %s --check-prefix=CALLED < %t.called
// RUN: llvm-nm -D --defined-only %r2q_cuda_runtime | awk '{print $3}' \
// RUN:   | sort -u > %t.exported
// RUN: comm -23 %t.called %t.exported | count 0

// CHECK-DAG: declare ptr @mgpuModuleLoad(ptr, i64)
// CHECK-DAG: declare ptr @mgpuModuleLoadJIT(ptr, i32)
// CHECK-DAG: declare void @mgpuModuleUnload(ptr)
// CHECK-DAG: declare ptr @mgpuModuleGetFunction(ptr, ptr)
// CHECK-DAG: declare void @mgpuLaunchKernel(ptr, i64, i64, i64, i64, i64, i64, i32, ptr, ptr, ptr, i64)
// CHECK-DAG: declare void @mgpuLaunchClusterKernel(ptr, i64, i64, i64, i64, i64, i64, i64, i64, i64, i32, ptr, ptr, ptr)
// CHECK-DAG: declare ptr @mgpuStreamCreate()
// CHECK-DAG: declare void @mgpuStreamDestroy(ptr)
// CHECK-DAG: declare void @mgpuStreamSynchronize(ptr)
// CHECK-DAG: declare void @mgpuStreamWaitEvent(ptr, ptr)
// CHECK-DAG: declare ptr @mgpuEventCreate()
// CHECK-DAG: declare void @mgpuEventDestroy(ptr)
// CHECK-DAG: declare void @mgpuEventRecord(ptr, ptr)
// CHECK-DAG: declare ptr @mgpuMemAlloc(i64, ptr, i8)
// CHECK-DAG: declare void @mgpuMemFree(ptr, ptr)
// CHECK-DAG: declare void @mgpuMemcpy(ptr, ptr, i64, ptr)
// CHECK-DAG: declare void @mgpuMemset32(ptr, i32, i64, ptr)
// CHECK-DAG: declare void @mgpuMemset16(ptr, i16, i64, ptr)
// CHECK-DAG: declare void @mgpuMemHostRegisterMemRef(i64, ptr, i64)
// CHECK-DAG: declare void @mgpuMemHostUnregisterMemRef(i64, ptr, i64)
// CHECK-DAG: declare void @mgpuSetDefaultDevice(i32)
// CHECK-DAG: declare ptr @mgpuTensorMapEncodeTiledMemref(i64, ptr, i64, i64, i64, i64, i64, ptr)

// CALLED: mgpuEventCreate
// CALLED-NEXT: mgpuEventDestroy
// CALLED-NEXT: mgpuEventRecord
// CALLED-NEXT: mgpuLaunchClusterKernel
// CALLED-NEXT: mgpuLaunchKernel
// CALLED-NEXT: mgpuMemAlloc
// CALLED-NEXT: mgpuMemFree
// CALLED-NEXT: mgpuMemHostRegisterMemRef
// CALLED-NEXT: mgpuMemHostUnregisterMemRef
// CALLED-NEXT: mgpuMemcpy
// CALLED-NEXT: mgpuMemset16
// CALLED-NEXT: mgpuMemset32
// CALLED-NEXT: mgpuModuleGetFunction
// CALLED-NEXT: mgpuModuleLoad
// CALLED-NEXT: mgpuModuleLoadJIT
// CALLED-NEXT: mgpuModuleUnload
// CALLED-NEXT: mgpuSetDefaultDevice
// CALLED-NEXT: mgpuStreamCreate
// CALLED-NEXT: mgpuStreamDestroy
// CALLED-NEXT: mgpuStreamSynchronize
// CALLED-NEXT: mgpuStreamWaitEvent
// CALLED-NEXT: mgpuTensorMapEncodeTiledMemref
// CALLED-NOT: mgpu

!tma = !nvgpu.tensormap.descriptor<tensor = memref<128x64xf16, 3>, swizzle = swizzle_128b, l2promo = none, oob = zero, interleave = none>

module attributes {gpu.container_module} {
  // A cubin or fatbin: mgpuModuleLoad(data, size).
  gpu.binary @cubin [#gpu.object<#nvvm.target, "CUBIN">]
  // PTX: mgpuModuleLoadJIT(data, optLevel).
  gpu.binary @ptx [#gpu.object<#nvvm.target, assembly = "PTX">]

  func.func @host(%n: index, %host: memref<?xf32>, %device: i32,
                  %tensor: memref<*xf16>) {
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %c64 = arith.constant 64 : index
    %c128 = arith.constant 128 : index
    %one = arith.constant 1.0 : f32
    %half = arith.constant 1.0 : f16
    gpu.set_default_device %device
    %unranked = memref.cast %host : memref<?xf32> to memref<*xf32>
    gpu.host_register %unranked : memref<*xf32>
    %t0 = gpu.wait async
    %a, %t1 = gpu.alloc async [%t0] (%n) : memref<?xf32>
    %h, %t2 = gpu.alloc async [%t1] (%n) : memref<?xf16>
    %t3 = gpu.memcpy async [%t2] %a, %host : memref<?xf32>, memref<?xf32>
    %t4 = gpu.memset async [%t3] %a, %one : memref<?xf32>, f32
    %t5 = gpu.memset async [%t4] %h, %half : memref<?xf16>, f16
    %t6 = gpu.launch_func async [%t5] @cubin::@kernel
        blocks in (%c2, %c1, %c1) threads in (%n, %c1, %c1)
        args(%a : memref<?xf32>)
    %t7 = gpu.launch_func async [%t5] @ptx::@kernel
        clusters in (%c2, %c1, %c1) blocks in (%c2, %c1, %c1)
        threads in (%n, %c1, %c1) args(%a : memref<?xf32>)
    %t8 = gpu.wait async [%t6, %t7]
    %t9 = gpu.dealloc async [%t8] %a : memref<?xf32>
    %t10 = gpu.dealloc async [%t9] %h : memref<?xf16>
    gpu.wait [%t10]
    %shared = gpu.alloc host_shared (%n) : memref<?xf32>
    gpu.host_unregister %unranked : memref<*xf32>
    %map = nvgpu.tma.create.descriptor %tensor box[%c128, %c64]
        : memref<*xf16> -> !tma
    return
  }
}
