// r2q-gpu-pipeline{check-bounds=true} checks the host code too: the views it
// makes of the caller's buffers and of a dynamic batch's buckets, before the
// kernels that read them are launched. A failed host check writes its message
// to stderr and aborts before the op it guards (r2q-report-failed-asserts
// with grouped=false: a branch per check where it stands, never deferred to
// its block's last check, past a launch). Run on the fake CUDA driver (no
// GPU: the host code runs, the kernels do not): rows 3 and 0 of a 4-row
// buffer pass, row 4 stops at its view, before the kernel that doubles it.

// RUN: r2q-opt %s --r2q-gpu-pipeline="cubin-format=isa check-bounds=true" --mlir-print-ir-after=int-range-optimizations --mlir-disable-threading -o %t.mlir 2> %t.checks
// RUN: FileCheck %s --check-prefix=CHECKS < %t.checks
// RUN: FileCheck %s --check-prefix=HOST < %t.mlir
// RUN: r2q-opt %s --r2q-gpu-pipeline="cubin-format=isa" | FileCheck %s --check-prefix=UNCHECKED

// REQUIRES: cuda-runtime
// The sanitized library cannot load into the uninstrumented mlir-runner.
// UNSUPPORTED: asan
// DEFINE: %{run} = env R2Q_CUDA_DRIVER=%r2q_fake_cuda mlir-runner %t.mlir -entry-point-result=void -shared-libs=%r2q_cuda_runtime
// RUN: %{run} -e in_bounds 2>&1 | FileCheck %s --check-prefix=IN-BOUNDS --allow-empty
// RUN: not --crash %{run} -e first_past_end 2>&1 | FileCheck %s --check-prefix=PAST-END

// The bucket views of a dynamic batch are checked too (the batch's rows fit
// the bucket).
// CHECKS-LABEL: func.func @decode(
// CHECKS: cf.assert {{.*}}memref.subview {{.*}} : memref<4x512xf32> to memref<?x512xf32, strided<[512, 1]>>\0A^ subview runs out-of-bounds along dimension 0

// Each view's checks branch before the launch that reads it.
// HOST-LABEL: llvm.func @rows(
// HOST: llvm.cond_br %{{.*}}, ^{{.*}}, ^[[FAILED:bb[0-9]+]](
// HOST: gpu.launch_func
// HOST: llvm.cond_br %{{.*}}, ^{{.*}}, ^[[FAILED]](
// HOST: gpu.launch_func
// HOST: ^[[FAILED]](
// HOST: llvm.call @write(
// HOST: llvm.call @abort()

// UNCHECKED-NOT: @abort

// IN-BOUNDS-NOT: ERROR
// PAST-END: ERROR: Runtime op verification failed
// PAST-END-NEXT: %subview = memref.subview %arg0[%arg1, 0] [1, 8] [1, 1] : memref<4x8xf32>
// PAST-END-NEXT: ^ offset 0 is out-of-bounds
// PAST-END-NEXT: Location: loc({{.*}}r2q-gpu-pipeline-check-bounds-host.mlir":[[@LINE+3]]:8)

func.func @rows(%x: tensor<4x8xf32>, %i: index, %j: index) -> (tensor<1x8xf32>, tensor<1x8xf32>) {
  %a = tensor.extract_slice %x[%i, 0] [1, 8] [1, 1] : tensor<4x8xf32> to tensor<1x8xf32>
  %empty = tensor.empty() : tensor<1x8xf32>
  %twice = linalg.add ins(%a, %a : tensor<1x8xf32>, tensor<1x8xf32>) outs(%empty : tensor<1x8xf32>) -> tensor<1x8xf32>
  %b = tensor.extract_slice %x[%j, 0] [1, 8] [1, 1] : tensor<4x8xf32> to tensor<1x8xf32>
  return %twice, %b : tensor<1x8xf32>, tensor<1x8xf32>
}

func.func @in_bounds() {
  %x = arith.constant dense<1.0> : tensor<4x8xf32>
  %c0 = arith.constant 0 : index
  %c3 = arith.constant 3 : index
  %r:2 = call @rows(%x, %c3, %c0) : (tensor<4x8xf32>, index, index) -> (tensor<1x8xf32>, tensor<1x8xf32>)
  return
}

func.func @first_past_end() {
  %x = arith.constant dense<1.0> : tensor<4x8xf32>
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %r:2 = call @rows(%x, %c4, %c0) : (tensor<4x8xf32>, index, index) -> (tensor<1x8xf32>, tensor<1x8xf32>)
  return
}

func.func @decode(%x: tensor<?x?x4096xf32>, %s: tensor<2x512x512xi8>, %a: tensor<2x512x32xf16>) -> tensor<?x?x512xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<?x?x4096xf32>, tensor<2x512x512xi8>, tensor<2x512x32xf16> -> tensor<?x?x512xf32>
  return %y : tensor<?x?x512xf32>
}
