// r2q-gpu-pipeline with strategy=wgmma_gemm on sm_90a, without a GPU: the
// row scaling kernel as for mma_gemm, then the GEMM on wgmma.mma_async, its
// two sets of tiles in dynamic shared memory (more than a kernel may declare
// statically: 2 x 24 KiB + 1 KiB to start them on a multiple of 1024 bytes,
// which the 128-byte swizzle needs; the launch asks for 50176 bytes). The
// first step's tiles are filled before the loop (16-byte stores), made
// visible to wgmma's async proxy (fence.proxy) and a barrier passed; then
// per step: the products of one set fenced, issued and committed, the next
// step's tiles stored into the other set, the loads of the step after, the
// proxy fence, the wait for the products and one barrier. The loop runs two
// steps an iteration (set 0's, then set 1's: both sets' addresses are
// loop-invariant) and an odd count's last step after it, with no fill
// beside its products (it is the split's last), so neither the proxy fence
// nor a barrier after them. m64nNk16: N is
// the block's rows (64 at batch 128, 16 at batch 16), one product per 64
// features and 16 columns (2 x 4 a step at 128 features, 3 x 4 at 192). The
// descriptors' fixed fields: 1 << 62 (128-byte swizzle) | 64 << 32 (stride
// 1024 bytes) | 1 << 16 (leading offset, unused) = 4611686293305360384.
// Each kernel asks ptxas (.minnctapersm) for registers that leave room for
// 4 blocks per SM, or for as many as shared memory holds if fewer.

// RUN: r2q-opt %s --r2q-gpu-pipeline="cubin-format=isa chip=sm_90a strategy=wgmma_gemm" | FileCheck %s
// RUN: r2q-opt %s --r2q-gpu-pipeline="cubin-format=isa chip=sm_90a strategy=wgmma_gemm" --mlir-print-ir-after=convert-r2q-to-linalg -o /dev/null 2>&1 | FileCheck %s --check-prefix=IR

// CHECK-LABEL: llvm.func @prefill(
// CHECK: %[[BYTES:.*]] = llvm.mlir.constant(50176 : i32) : i32
// CHECK: gpu.launch_func {{.*}} @prefill_kernel_0::@prefill_kernel {{.*}} dynamic_shared_memory_size %[[BYTES]]
// CHECK: gpu.binary @prefill_kernel [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">
// CHECK-SAME: shfl.sync.bfly.b32
// CHECK: gpu.binary @prefill_kernel_0 [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">
// CHECK-SAME: .extern .shared .align 16 .b8 __r2q_dynamic_shared[]
// CHECK-SAME: .maxntid 32, 4, 1\0A.minnctapersm 4\0A
// CHECK-SAME: st.shared.v4.b32
// CHECK-SAME: fence.proxy.async.shared::cta;
// CHECK-SAME: bar.sync
// CHECK-SAME: $L__BB0_2:
// CHECK-SAME: wgmma.fence.sync.aligned;
// CHECK-COUNT-8: wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16
// CHECK-SAME: wgmma.commit_group.sync.aligned;
// CHECK-SAME: st.shared.v4.b32
// CHECK-SAME: ld.global.v4.b32
// CHECK-SAME: fence.proxy.async.shared::cta;
// CHECK-SAME: wgmma.wait_group.sync.aligned 0;
// CHECK-SAME: bar.sync
// CHECK-SAME: wgmma.fence.sync.aligned;
// CHECK-COUNT-8: wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16
// CHECK-SAME: wgmma.commit_group.sync.aligned;
// CHECK-SAME: st.shared.v4.b32
// CHECK-SAME: ld.global.v4.b32
// CHECK-SAME: fence.proxy.async.shared::cta;
// CHECK-SAME: wgmma.wait_group.sync.aligned 0;
// CHECK-SAME: bar.sync
// CHECK-SAME: bra {{.*}}$L__BB0_2;
// CHECK-SAME: $L__BB0_3:
// CHECK-SAME: wgmma.fence.sync.aligned;
// CHECK-COUNT-8: wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16
// CHECK-SAME: wgmma.commit_group.sync.aligned;
// CHECK-NOT: {{fence.proxy|bar.sync}}
// CHECK-SAME: wgmma.wait_group.sync.aligned 0;
// CHECK-NOT: {{ldmatrix|fence.proxy|bar.sync}}
// CHECK: gpu.binary @decode16_kernel_1 [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">
// CHECK-SAME: __r2q_dynamic_shared[]
// CHECK-SAME: .minnctapersm 4\0A
// CHECK-SAME: wgmma.wait_group.sync.aligned 0;
// CHECK-COUNT-12: wgmma.mma_async.sync.aligned.m64n16k16.f32.f16.f16
// CHECK-SAME: wgmma.commit_group.sync.aligned;

// IR-LABEL: func.func @prefill
// IR: gpu.launch {{.*}} dynamic_shared_memory_size %{{.*}}
// IR: gpu.dynamic_shared_memory : memref<?xi8, #gpu.address_space<workgroup>>
// IR: memref.view {{.*}} to memref<50176xi8, #gpu.address_space<workgroup>>
// IR: %[[FIXED:.*]] = arith.constant 4611686293305360384 : i64
// IR-NEXT: arith.ori %{{.*}}, %[[FIXED]] : i64
// IR: llvm.inline_asm has_side_effects "fence.proxy.async.shared::cta;", "~{memory}"
// IR-NEXT: gpu.barrier
// IR: %[[TWO0:.*]] = arith.constant 2 : index
// IR-NEXT: %[[ODD:.*]] = arith.remui %[[COUNT:.*]], %[[TWO0]] : index
// IR-NEXT: %[[EVEN:.*]] = arith.subi %[[COUNT]], %[[ODD]] : index
// IR-NEXT: %[[PAIRS_END:.*]] = arith.addi %[[FIRST:.*]], %[[EVEN]] : index
// IR-NEXT: %[[TWO:.*]] = arith.constant 2 : index
// IR-NEXT: %[[LOOP:.*]]:24 = scf.for %{{.*}} = %[[FIRST]] to %[[PAIRS_END]] step %[[TWO]]
// IR-NOT: gpu.barrier
// IR: llvm.inline_asm has_side_effects "wgmma.fence.sync.aligned;"
// IR: llvm.inline_asm has_side_effects "{\0A.reg .pred p;\0Asetp.ne.b32 p, $66, 0;\0Awgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {$0, $1,
// IR-SAME: "=f,=f,
// IR-SAME: ,0,1,2,
// IR-SAME: ,l,l,r,~{memory}"
// IR-SAME: -> !llvm.struct<(f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32)>
// IR-COUNT-5: wgmma.mma_async.sync.aligned.m64n64k16
// IR-COUNT-2: wgmma.mma_async.sync.aligned.m64n64k16
// IR-NOT: gpu.barrier
// IR: llvm.inline_asm has_side_effects "wgmma.commit_group.sync.aligned;"
// IR-NOT: gpu.barrier
// IR: vector.store
// IR-NOT: gpu.barrier
// IR: llvm.inline_asm has_side_effects "fence.proxy.async.shared::cta;"
// IR-NEXT: llvm.inline_asm has_side_effects "wgmma.wait_group.sync.aligned 0;"
// IR-NEXT: gpu.barrier
// IR-NOT: gpu.barrier
// IR: llvm.inline_asm has_side_effects "wgmma.fence.sync.aligned;"
// IR: llvm.inline_asm has_side_effects "{\0A.reg .pred p;\0Asetp.ne.b32 p, $66, 0;\0Awgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {$0, $1,
// IR-SAME: "=f,=f,
// IR-SAME: ,0,1,2,
// IR-SAME: ,l,l,r,~{memory}"
// IR-SAME: -> !llvm.struct<(f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32)>
// IR-COUNT-5: wgmma.mma_async.sync.aligned.m64n64k16
// IR: %[[PAIR0:.*]] = llvm.inline_asm {{.*}}wgmma.mma_async.sync.aligned.m64n64k16
// IR: %[[PAIR1:.*]] = llvm.inline_asm {{.*}}wgmma.mma_async.sync.aligned.m64n64k16
// IR-NOT: gpu.barrier
// IR: llvm.inline_asm has_side_effects "wgmma.commit_group.sync.aligned;"
// IR-NOT: gpu.barrier
// IR: vector.store
// IR-NOT: gpu.barrier
// IR: llvm.inline_asm has_side_effects "fence.proxy.async.shared::cta;"
// IR-NEXT: llvm.inline_asm has_side_effects "wgmma.wait_group.sync.aligned 0;"
// IR-NEXT: gpu.barrier
// IR-NEXT: scf.yield %[[PAIR0]], %[[PAIR1]], 
// IR: %[[LAST_STEP:.*]] = arith.cmpi ult, %[[PAIRS_END]], %{{.*}} : index
// IR-NEXT: scf.if %[[LAST_STEP]]
// IR-NOT: gpu.barrier
// IR: llvm.inline_asm has_side_effects "wgmma.fence.sync.aligned;"
// IR: llvm.inline_asm has_side_effects "{\0A.reg .pred p;\0Asetp.ne.b32 p, $66, 0;\0Awgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {$0, $1,
// IR-SAME: "=f,=f,
// IR-SAME: ,0,1,2,
// IR-SAME: ,l,l,r,~{memory}"
// IR-SAME: -> !llvm.struct<(f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32)>
// IR-COUNT-5: wgmma.mma_async.sync.aligned.m64n64k16
// IR: %[[LAST0:.*]] = llvm.inline_asm {{.*}}wgmma.mma_async.sync.aligned.m64n64k16
// IR: %[[LAST1:.*]] = llvm.inline_asm {{.*}}wgmma.mma_async.sync.aligned.m64n64k16
// IR-NOT: gpu.barrier
// IR: llvm.inline_asm has_side_effects "wgmma.commit_group.sync.aligned;"
// IR-NEXT: llvm.inline_asm has_side_effects "wgmma.wait_group.sync.aligned 0;"
// IR-NEXT: scf.yield %[[LAST0]], %[[LAST1]] :
// IR-NEXT: } else {
// IR-NEXT: scf.yield %[[LOOP]]#0, %[[LOOP]]#1 :
// IR: llvm.extractvalue

func.func @prefill(%x: tensor<128x4096xf16>, %s: tensor<2x4096x512xi8>, %a: tensor<2x4096x32xf16>) -> tensor<128x4096xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<128x4096xf16>, tensor<2x4096x512xi8>, tensor<2x4096x32xf16> -> tensor<128x4096xf32>
  return %y : tensor<128x4096xf32>
}

func.func @decode16(%x: tensor<16x4096xf16>, %s: tensor<2x4096x512xi8>, %a: tensor<2x4096x32xf16>) -> tensor<16x4096xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = wgmma_gemm, vector_width = 16, tile_rows = 192, threads = 1>} : tensor<16x4096xf16>, tensor<2x4096x512xi8>, tensor<2x4096x32xf16> -> tensor<16x4096xf32>
  return %y : tensor<16x4096xf32>
}

// 64 x 192 tiles: two sets of 32 KiB, and 3 blocks per SM by shared memory
// (228 KiB, 1 KiB reserved per block), which the kernel asks ptxas to leave
// registers for (on its own ptxas takes 198, 2 blocks).
// CHECK: gpu.binary @prefill192_kernel_2 [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">
// CHECK-SAME: .minnctapersm 3\0A
// CHECK-COUNT-12: wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16

func.func @prefill192(%x: tensor<128x512xf16>, %s: tensor<2x384x64xi8>, %a: tensor<2x384x4xf16>) -> tensor<128x384xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = wgmma_gemm, vector_width = 16, tile_rows = 192, threads = 1>} : tensor<128x512xf16>, tensor<2x384x64xi8>, tensor<2x384x4xf16> -> tensor<128x384xf32>
  return %y : tensor<128x384xf32>
}
