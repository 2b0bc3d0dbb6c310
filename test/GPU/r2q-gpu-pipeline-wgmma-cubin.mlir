// wgmma_gemm to a cubin for sm_90a: ptxas (found through CUDA_ROOT) accepts
// the inline wgmma.mma_async, its fences and the proxy fence, for a batch
// of 40 (blocks of 64 rows: m64n64k16) with f32 activations, 3 planes and a
// K with a tail, with 192 features per block (its largest shared buffer),
// and for a batch of 16 (m64n16k16).

// REQUIRES: ptxas
// RUN: env CUDA_ROOT=%cuda_root r2q-opt %s --r2q-gpu-pipeline="chip=sm_90a cubin-format=bin strategy=wgmma_gemm" | FileCheck %s

// CHECK: gpu.binary @gemm_kernel  [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">, properties = {{.*}}, bin = "\7FELF
// CHECK: gpu.binary @gemm_kernel_0  [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">, properties = {{.*}}, bin = "\7FELF
// CHECK: gpu.binary @gemm192_kernel  [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">, properties = {{.*}}, bin = "\7FELF
// CHECK: gpu.binary @gemm192_kernel_1  [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">, properties = {{.*}}, bin = "\7FELF
// CHECK: gpu.binary @decode_kernel  [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">, properties = {{.*}}, bin = "\7FELF
// CHECK: gpu.binary @decode_kernel_2  [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">, properties = {{.*}}, bin = "\7FELF

func.func @gemm(%x: tensor<40x1000xf32>, %s: tensor<3x77x125xi8>, %a: tensor<3x77x16xbf16>) -> tensor<40x77xf32> {
  %y = r2q.matmul %x, %s, %a group_size 64 : tensor<40x1000xf32>, tensor<3x77x125xi8>, tensor<3x77x16xbf16> -> tensor<40x77xf32>
  return %y : tensor<40x77xf32>
}

func.func @gemm192(%x: tensor<64x1000xf16>, %s: tensor<2x300x125xi8>, %a: tensor<2x300x8xf16>) -> tensor<64x300xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = wgmma_gemm, vector_width = 16, tile_rows = 192, threads = 1>} : tensor<64x1000xf16>, tensor<2x300x125xi8>, tensor<2x300x8xf16> -> tensor<64x300xf32>
  return %y : tensor<64x300xf32>
}

func.func @decode(%x: tensor<16x4096xf16>, %s: tensor<2x4096x512xi8>, %a: tensor<2x4096x32xf16>) -> tensor<16x4096xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<16x4096xf16>, tensor<2x4096x512xi8>, tensor<2x4096x32xf16> -> tensor<16x4096xf32>
  return %y : tensor<16x4096xf32>
}
