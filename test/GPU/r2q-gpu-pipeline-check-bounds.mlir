// r2q-gpu-pipeline{check-bounds=true}, without a GPU: generate-runtime-verification
// in the outlined kernels (upstream's checks of memref accesses, r2q's of
// vector accesses), int-range-optimizations, and convert-gpu-to-nvvm's
// lowering of the asserts to CUDA's __assertfail, each message naming the
// access, its memref type and the source location. LLVM drops the checks
// that the kernels' known block and grid sizes prove: of the three kernels
// below only @shift's read of element tid + 1 of 32 keeps its check (it is
// out of bounds in thread 31). Without the option, no kernel has a check.

// RUN: r2q-opt %s --r2q-gpu-pipeline="cubin-format=isa chip=sm_90a check-bounds=true" --mlir-print-ir-after=int-range-optimizations --mlir-disable-threading -o /dev/null 2>&1 | FileCheck %s --check-prefix=CHECKS
// RUN: r2q-opt %s --r2q-gpu-pipeline="cubin-format=isa chip=sm_90a check-bounds=true" --mlir-print-ir-before=gpu-module-to-binary -o /dev/null 2>&1 | FileCheck %s --check-prefix=NVVM
// RUN: r2q-opt %s --r2q-gpu-pipeline="cubin-format=isa chip=sm_90a check-bounds=true" | FileCheck %s --check-prefix=PTX
// RUN: r2q-opt %s --r2q-gpu-pipeline="cubin-format=isa chip=sm_90a" | FileCheck %s --check-prefix=UNCHECKED
// RUN: %if ptxas %{ env CUDA_ROOT=%cuda_root r2q-opt %s --r2q-gpu-pipeline="chip=sm_80 cubin-format=bin check-bounds=true" | FileCheck %s --check-prefix=CUBIN %}
// RUN: %if ptxas %{ env CUDA_ROOT=%cuda_root r2q-opt %s --r2q-gpu-pipeline="chip=sm_90a cubin-format=fatbin check-bounds=true" | FileCheck %s --check-prefix=CUBIN %}

// The checks, in the kernels (gpu.module), after range analysis (without
// threads, so that the modules' dumps come in their order).
// CHECKS-LABEL: gpu.module @shift_kernel
// CHECKS: cf.assert %{{.*}}, "ERROR: Runtime op verification failed\0A%{{.*}} = memref.load %{{.*}} : memref<32xf32>\0A^ out-of-bounds access
// CHECKS-LABEL: gpu.module @quads_kernel
// CHECKS: cf.assert %{{.*}}, "ERROR: Runtime op verification failed\0A%{{.*}} = vector.load %{{.*}} : memref<32xf32>, vector<4xf32>\0A^ vector access out of bounds of dimension 0 of its memref
// CHECKS: cf.assert %{{.*}}, "ERROR: Runtime op verification failed\0Avector.store %{{.*}} : memref<32xf32>, vector<4xf32>\0A^ vector access out of bounds of dimension 0 of its memref
// CHECKS-LABEL: gpu.module @gemv_kernel
// CHECKS: cf.assert {{.*}}vector.load {{.*}} : memref<3x576xf32>, vector<4xf32>\0A^ vector access out of bounds of dimension 1 of its memref
// CHECKS: cf.assert {{.*}}memref.store {{.*}} : memref<3x37xf32>\0A^ out-of-bounds access

// Lowered for the device: a call of __assertfail with the message.
// NVVM-LABEL: gpu.module @shift_kernel
// NVVM: llvm.mlir.global internal constant @assert_message_0("ERROR: Runtime op verification failed\0A%{{.*}} = memref.load %{{.*}} : memref<32xf32>\0A^ out-of-bounds access\0ALocation: loc({{.*}}r2q-gpu-pipeline-check-bounds.mlir\22:[[@LINE+15]]:10)\00")
// NVVM: llvm.func @__assertfail(!llvm.ptr, !llvm.ptr, i32, !llvm.ptr, i64)
// NVVM: llvm.call @__assertfail(

// PTX: gpu.binary @shift_kernel {{.*}}call.uni __assertfail
// PTX-NOT: __assertfail
// UNCHECKED-NOT: __assertfail
// CUBIN-COUNT-3: gpu.binary @{{.*}}_kernel

func.func @shift(%in: memref<32xf32>, %out: memref<32xf32>) {
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c32, %sy = %c1, %sz = %c1) {
    %next = arith.addi %tx, %c1 : index
    %v = memref.load %in[%next] : memref<32xf32>
    memref.store %v, %out[%tx] : memref<32xf32>
    gpu.terminator
  }
  return
}

func.func @quads(%in: memref<32xf32>, %out: memref<32xf32>) {
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c8 = arith.constant 8 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c8, %sy = %c1, %sz = %c1) {
    %i = arith.muli %tx, %c4 : index
    %v = vector.load %in[%i] : memref<32xf32>, vector<4xf32>
    vector.store %v, %out[%i] : memref<32xf32>, vector<4xf32>
    gpu.terminator
  }
  return
}

// warp_lut_gemv: every access of the kernel is checked, and proven.
func.func @gemv(%x: tensor<3x576xf32>, %s: tensor<2x37x72xi8>, %a: tensor<2x37x5xf16>) -> tensor<3x37xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<3x576xf32>, tensor<2x37x72xi8>, tensor<2x37x5xf16> -> tensor<3x37xf32>
  return %y : tensor<3x37xf32>
}
