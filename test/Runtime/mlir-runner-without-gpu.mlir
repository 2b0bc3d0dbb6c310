// mlir-runner runs GPU host code on libr2q_cuda_runtime.so (its module
// constructor loads the kernels through mgpuModuleLoadJIT); without a
// driver that first call stops the run with the runtime's one clear reason.

// REQUIRES: cuda-runtime
// The sanitized library cannot load into the uninstrumented mlir-runner.
// UNSUPPORTED: asan
// RUN: mlir-opt %s --pass-pipeline='builtin.module(gpu.module(convert-gpu-to-nvvm),gpu-module-to-binary{format=isa},gpu-to-llvm,finalize-memref-to-llvm,convert-func-to-llvm,reconcile-unrealized-casts)' \
// RUN:   | env R2Q_CUDA_DRIVER=%t.missing/libcuda.so.1 not --crash mlir-runner \
// RUN:     -e main -entry-point-result=void -shared-libs=%r2q_cuda_runtime 2>&1 \
// RUN:   | FileCheck %s

// CHECK: r2q: no NVIDIA GPU: {{.*}}.missing/libcuda.so.1 not found
// CHECK-NEXT: r2q: mgpuModuleLoadJIT cannot return an error to the lowered code; aborting

module attributes {gpu.container_module} {
  gpu.module @kernels [#nvvm.target<chip = "sm_80">] {
    gpu.func @fill(%a: memref<?xf32>) kernel {
      %i = gpu.thread_id x
      %one = arith.constant 1.0 : f32
      memref.store %one, %a[%i] : memref<?xf32>
      gpu.return
    }
  }
  func.func @main() {
    %c1 = arith.constant 1 : index
    %c8 = arith.constant 8 : index
    %t0 = gpu.wait async
    %a, %t1 = gpu.alloc async [%t0] (%c8) : memref<?xf32>
    %t2 = gpu.launch_func async [%t1] @kernels::@fill
        blocks in (%c1, %c1, %c1) threads in (%c8, %c1, %c1)
        args(%a : memref<?xf32>)
    %t3 = gpu.dealloc async [%t2] %a : memref<?xf32>
    gpu.wait [%t3]
    return
  }
}
