// r2q-gpu-pipeline to cubin: ptxas (found through CUDA_ROOT) accepts the
// kernels' PTX for sm_80, sm_90 and sm_90a, for a batch of 1 and of 13
// (whole tiles of 8 rows and a shorter one), f16 activations and a K with
// a tail; and the tensor-core kernels (mma_gemm: the row scaling kernel and
// the mma.sync GEMM) for a batch of 40 with f32 activations and a K with a
// tail, and with 192 features per block (its largest shared buffer); and
// the one-row kernel on tables of sign bytes (byte_lut_gemv: the result
// zeroed, then the GEMV) for a constant weight in the
// row-interleaved layout, 4 blocks of rows per warp (tile_rows = 64).

// REQUIRES: ptxas
// RUN: env CUDA_ROOT=%cuda_root r2q-opt %s --r2q-gpu-pipeline="chip=sm_80 cubin-features=+ptx80 cubin-format=bin" | FileCheck %s --check-prefix=SM80
// RUN: env CUDA_ROOT=%cuda_root r2q-opt %s --r2q-gpu-pipeline="chip=sm_90 cubin-format=bin" | FileCheck %s --check-prefix=SM90
// RUN: env CUDA_ROOT=%cuda_root r2q-opt %s --r2q-gpu-pipeline="chip=sm_90a cubin-format=fatbin" | FileCheck %s --check-prefix=SM90A

// An ELF cubin (bin) or a fatbin (magic 0xBA55ED50 little-endian: "P\ED U \BA") each.
// SM80: gpu.binary @decode_kernel  [#gpu.object<#nvvm.target<O = 3, chip = "sm_80", features = "+ptx80">, properties = {{.*}}, bin = "\7FELF
// SM80: gpu.binary @prefill_kernel  [#gpu.object<#nvvm.target<O = 3, chip = "sm_80", features = "+ptx80">, properties = {{.*}}, bin = "\7FELF
// SM80: gpu.binary @gemm_kernel  [#gpu.object<#nvvm.target<O = 3, chip = "sm_80", features = "+ptx80">, properties = {{.*}}, bin = "\7FELF
// SM80: gpu.binary @gemm_kernel_0  [#gpu.object<#nvvm.target<O = 3, chip = "sm_80", features = "+ptx80">, properties = {{.*}}, bin = "\7FELF
// SM80: gpu.binary @gemm192_kernel  [#gpu.object<#nvvm.target<O = 3, chip = "sm_80", features = "+ptx80">, properties = {{.*}}, bin = "\7FELF
// SM80: gpu.binary @gemm192_kernel_1  [#gpu.object<#nvvm.target<O = 3, chip = "sm_80", features = "+ptx80">, properties = {{.*}}, bin = "\7FELF
// SM80: gpu.binary @bytes_kernel  [#gpu.object<#nvvm.target<O = 3, chip = "sm_80", features = "+ptx80">, properties = {{.*}}, bin = "\7FELF
// SM80: gpu.binary @bytes_kernel_2  [#gpu.object<#nvvm.target<O = 3, chip = "sm_80", features = "+ptx80">, properties = {{.*}}, bin = "\7FELF
// SM90: gpu.binary @decode_kernel  [#gpu.object<#nvvm.target<O = 3, chip = "sm_90", features = "+ptx80">, properties = {{.*}}, bin = "\7FELF
// SM90: gpu.binary @prefill_kernel  [#gpu.object<#nvvm.target<O = 3, chip = "sm_90", features = "+ptx80">, properties = {{.*}}, bin = "\7FELF
// SM90: gpu.binary @gemm_kernel  [#gpu.object<#nvvm.target<O = 3, chip = "sm_90", features = "+ptx80">, properties = {{.*}}, bin = "\7FELF
// SM90: gpu.binary @gemm_kernel_0  [#gpu.object<#nvvm.target<O = 3, chip = "sm_90", features = "+ptx80">, properties = {{.*}}, bin = "\7FELF
// SM90: gpu.binary @gemm192_kernel  [#gpu.object<#nvvm.target<O = 3, chip = "sm_90", features = "+ptx80">, properties = {{.*}}, bin = "\7FELF
// SM90: gpu.binary @gemm192_kernel_1  [#gpu.object<#nvvm.target<O = 3, chip = "sm_90", features = "+ptx80">, properties = {{.*}}, bin = "\7FELF
// SM90: gpu.binary @bytes_kernel  [#gpu.object<#nvvm.target<O = 3, chip = "sm_90", features = "+ptx80">, properties = {{.*}}, bin = "\7FELF
// SM90: gpu.binary @bytes_kernel_2  [#gpu.object<#nvvm.target<O = 3, chip = "sm_90", features = "+ptx80">, properties = {{.*}}, bin = "\7FELF
// SM90A: gpu.binary @decode_kernel  [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">, properties = {{.*}}}, "P\EDU\BA
// SM90A: gpu.binary @prefill_kernel  [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">, properties = {{.*}}}, "P\EDU\BA
// SM90A: gpu.binary @gemm_kernel  [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">, properties = {{.*}}}, "P\EDU\BA
// SM90A: gpu.binary @gemm_kernel_0  [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">, properties = {{.*}}}, "P\EDU\BA
// SM90A: gpu.binary @gemm192_kernel  [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">, properties = {{.*}}}, "P\EDU\BA
// SM90A: gpu.binary @gemm192_kernel_1  [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">, properties = {{.*}}}, "P\EDU\BA
// SM90A: gpu.binary @bytes_kernel  [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">, properties = {{.*}}}, "P\EDU\BA
// SM90A: gpu.binary @bytes_kernel_2  [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">, properties = {{.*}}}, "P\EDU\BA

func.func @decode(%x: tensor<1x4096xf16>, %s: tensor<2x4096x512xi8>, %a: tensor<2x4096x32xf16>) -> tensor<1x4096xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<1x4096xf16>, tensor<2x4096x512xi8>, tensor<2x4096x32xf16> -> tensor<1x4096xf32>
  return %y : tensor<1x4096xf32>
}

func.func @prefill(%x: tensor<13x1000xf32>, %s: tensor<3x77x125xi8>, %a: tensor<3x77x16xbf16>) -> tensor<13x77xf32> {
  %y = r2q.matmul %x, %s, %a group_size 64 : tensor<13x1000xf32>, tensor<3x77x125xi8>, tensor<3x77x16xbf16> -> tensor<13x77xf32>
  return %y : tensor<13x77xf32>
}

func.func @gemm(%x: tensor<40x1000xf32>, %s: tensor<3x77x125xi8>, %a: tensor<3x77x16xbf16>) -> tensor<40x77xf32> {
  %y = r2q.matmul %x, %s, %a group_size 64 : tensor<40x1000xf32>, tensor<3x77x125xi8>, tensor<3x77x16xbf16> -> tensor<40x77xf32>
  return %y : tensor<40x77xf32>
}

func.func @gemm192(%x: tensor<64x1000xf16>, %s: tensor<2x300x125xi8>, %a: tensor<2x300x8xf16>) -> tensor<64x300xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = mma_gemm, vector_width = 16, tile_rows = 192, threads = 1>} : tensor<64x1000xf16>, tensor<2x300x125xi8>, tensor<2x300x8xf16> -> tensor<64x300xf32>
  return %y : tensor<64x300xf32>
}

func.func @bytes(%x: tensor<1x4096xf16>) -> tensor<1x512xf32> {
  %s = arith.constant dense<85> : tensor<2x512x512xi8>
  %a = arith.constant dense<1.5> : tensor<2x512x32xf16>
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = byte_lut_gemv, vector_width = 16, tile_rows = 64, threads = 1>} : tensor<1x4096xf16>, tensor<2x512x512xi8>, tensor<2x512x32xf16> -> tensor<1x512xf32>
  return %y : tensor<1x512xf32>
}
