// r2q-gpu-pipeline on a batch of 128 rows (mma_gemm, chosen by
// r2q-select-gpu-kernels) without a GPU: two kernels, the row scaling one
// (a butterfly of shuffles per row, the f16 conversion) and the GEMM (its
// tiles in one shared byte buffer, filled with 16-byte stores between
// barriers, the next step's 16-byte activation loads issued before the
// products, ldmatrix .x4 loads of row-major A and column-major B fragments
// from shared memory, m16n8k16 mma.sync products into f32 accumulators,
// then each lane's elements added atomically to the result: the GEMM's
// splits of K add to it); the result and the scaling kernel's outputs in device
// memory (only kernels touch them), the temporaries freed. With
// precision=exact, one warp_lut_gemv kernel instead.

// RUN: r2q-opt %s --r2q-gpu-pipeline="cubin-format=isa" | FileCheck %s --check-prefix=PTX
// RUN: r2q-opt %s --r2q-gpu-pipeline="cubin-format=isa" | FileCheck %s
// RUN: r2q-opt %s --r2q-gpu-pipeline="cubin-format=isa precision=exact" | FileCheck %s --check-prefix=EXACT
// RUN: r2q-opt %s --r2q-gpu-pipeline="cubin-format=isa" --mlir-print-ir-after=r2q-gpu-host-buffers -o /dev/null 2>&1 | FileCheck %s --check-prefix=BUFFERS

// PTX: gpu.binary @prefill_kernel [#gpu.object<#nvvm.target<O = 3, chip = "sm_90", features = "+ptx80">
// PTX-SAME: shfl.sync.bfly.b32
// PTX-SAME: cvt.rn.f16.f32
// PTX: gpu.binary @prefill_kernel_0 [#gpu.object<#nvvm.target<O = 3, chip = "sm_90", features = "+ptx80">
// PTX-SAME: .shared .align 16 .b8 __wg_prefill_kernel_0[27664]
// PTX-SAME: prmt.b32
// PTX-SAME: st.shared.v4.b32
// PTX-SAME: bar.sync
// PTX-SAME: ld.global.v4.b32
// PTX-SAME: ldmatrix.sync.aligned.m8n8.x4.shared.b16
// PTX-SAME: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// PTX-SAME: bar.sync
// PTX-SAME: atom.global.add.f32
// PTX-NOT: wmma

// EXACT: gpu.binary @prefill_kernel
// EXACT-NOT: mma.sync
// EXACT-NOT: gpu.binary

// CHECK: llvm.func @prefill(
// CHECK: %[[STREAM:.*]] = llvm.call @mgpuStreamCreate
// CHECK-NOT: @mgpuStream
// CHECK: gpu.launch_func <%[[STREAM]] : !llvm.ptr> @prefill_kernel::@prefill_kernel blocks in
// CHECK-NOT: @mgpuStream
// CHECK: gpu.launch_func <%[[STREAM]] : !llvm.ptr> @prefill_kernel_0::@prefill_kernel blocks in
// CHECK: llvm.call @mgpuMemFree(%{{.*}}, %[[STREAM]])
// CHECK: llvm.call @mgpuStreamSynchronize(%[[STREAM]])
// CHECK: llvm.call @mgpuStreamDestroy(%[[STREAM]])
// CHECK-NEXT: llvm.return
// CHECK: llvm.func @_mlir_ciface_prefill(

// BUFFERS: gpu.alloc () : memref<128x4096xf32>
// BUFFERS: gpu.alloc () : memref<128x4096xf16>
// BUFFERS: gpu.alloc () : memref<128xf32>
// BUFFERS-COUNT-2: gpu.alloc () : memref<4096xf32>
// BUFFERS-NOT: host_shared
// BUFFERS: gpu.dealloc %{{.*}} : memref<128x4096xf16>

func.func @prefill(%x: tensor<128x4096xf16>, %s: tensor<2x4096x512xi8>, %a: tensor<2x4096x32xf16>) -> tensor<128x4096xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<128x4096xf16>, tensor<2x4096x512xi8>, tensor<2x4096x32xf16> -> tensor<128x4096xf32>
  return %y : tensor<128x4096xf32>
}
