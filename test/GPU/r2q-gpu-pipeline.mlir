// r2q-gpu-pipeline end to end without a GPU: the host function launches one
// kernel (the r2q.matmul, batch 1: warp_lut_gemv) from an embedded binary,
// its result in device memory (cuMemAlloc, not managed: only the kernel
// writes it); the kernel's PTX (cubin-format=isa needs no ptxas) reads
// 8-byte sign chunks and activation quads, builds 32 KiB of tables in
// shared memory between barriers, looks them up, and sums across lanes with
// a butterfly of shuffles.

// RUN: r2q-opt %s --r2q-gpu-pipeline="cubin-format=isa" | FileCheck %s --check-prefix=PTX
// RUN: r2q-opt %s --r2q-gpu-pipeline="cubin-format=isa" | FileCheck %s
// RUN: r2q-opt %s --r2q-gpu-pipeline="cubin-format=isa" --mlir-print-ir-after=r2q-gpu-host-buffers -o /dev/null 2>&1 | FileCheck %s --check-prefix=BUFFERS

// PTX: gpu.binary @gemv_kernel [#gpu.object<#nvvm.target<O = 3, chip = "sm_90", features = "+ptx80">
// PTX-SAME: .target sm_90
// PTX-SAME: .shared .align 16 .b8 __wg_gemv_kernel_0[32768]
// PTX-SAME: ld.global.v2.b32
// PTX-SAME: bar.sync
// PTX-SAME: ld.global.v4.b32
// PTX-SAME: st.shared.b32
// PTX-SAME: bar.sync
// PTX-SAME: ld.shared.b32
// PTX-SAME: shfl.sync.bfly.b32
// One stream for the call: the result's allocation and the launch on it,
// one synchronization at the end.
// Before the launch, the runtime checks that the signs (read 8 bytes at a
// time) and the activations (16) start at such multiples
// (r2q-gpu-check-alignment).
// CHECK-DAG: llvm.mlir.global internal constant @[[$XNAME:.*]]("argument 0 of @gemv (memref<1x4096xf32>, operand 1 of kernel @gemv_kernel::@gemv_kernel)\00")
// CHECK-DAG: llvm.mlir.global internal constant @[[$SNAME:.*]]("argument 1 of @gemv (memref<2x4096x512xi8>, operand 0 of kernel @gemv_kernel::@gemv_kernel)\00")
// CHECK-LABEL: llvm.func @gemv(
// CHECK-DAG: %[[SIXTEEN:.*]] = llvm.mlir.constant(16 : i64)
// CHECK-DAG: %[[EIGHT:.*]] = llvm.mlir.constant(8 : i64)
// CHECK-DAG: %[[X:.*]] = llvm.mlir.addressof @[[$XNAME]]
// CHECK-DAG: %[[S:.*]] = llvm.mlir.addressof @[[$SNAME]]
// CHECK: %[[STREAM:.*]] = llvm.call @mgpuStreamCreate
// CHECK-NOT: @mgpuStream
// CHECK: llvm.call @mgpuMemAlloc(%{{.*}}, %[[STREAM]]
// CHECK-NOT: @mgpuStream
// CHECK-DAG: %[[XSTRING:.*]] = llvm.getelementptr %[[X]][0, 0]
// CHECK-DAG: %[[SSTRING:.*]] = llvm.getelementptr %[[S]][0, 0]
// CHECK-DAG: llvm.call @r2qCudaCheckAlignment(%{{.*}}, %[[EIGHT]], %[[SSTRING]])
// CHECK-DAG: llvm.call @r2qCudaCheckAlignment(%{{.*}}, %[[SIXTEEN]], %[[XSTRING]])
// CHECK-NOT: @mgpuStream
// CHECK: gpu.launch_func <%[[STREAM]] : !llvm.ptr> @gemv_kernel::@gemv_kernel blocks in
// CHECK-NOT: @mgpuStreamCreate
// CHECK: llvm.call @mgpuStreamSynchronize(%[[STREAM]])
// CHECK: llvm.call @mgpuStreamDestroy(%[[STREAM]])
// CHECK-NEXT: llvm.return
// CHECK: llvm.func @_mlir_ciface_gemv(

// BUFFERS: gpu.alloc () : memref<1x4096xf32>
// BUFFERS-NOT: host_shared

func.func @gemv(%x: tensor<1x4096xf32>, %s: tensor<2x4096x512xi8>, %a: tensor<2x4096x32xf16>) -> tensor<1x4096xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<1x4096xf32>, tensor<2x4096x512xi8>, tensor<2x4096x32xf16> -> tensor<1x4096xf32>
  return %y : tensor<1x4096xf32>
}
