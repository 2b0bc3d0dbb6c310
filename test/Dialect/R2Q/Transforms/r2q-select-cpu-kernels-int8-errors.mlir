// int8_gemm runs only on x86 with AVX2 (avx512: AVX-512 VNNI and BW):
// forcing it for another target, for a group size it does not take, or
// keeping a written kernel the target cannot run is an error of
// r2q-select-cpu-kernels at the op, not an LLVM crash later.
// RUN: not r2q-opt %s --split-input-file --r2q-select-cpu-kernels="strategy=int8_gemm target-features=+sse4.2,+avx" 2>&1 | FileCheck %s --check-prefix=NOAVX2
// RUN: not r2q-opt %s --split-input-file --r2q-select-cpu-kernels="strategy=int8_gemm target-features=+avx2" 2>&1 | FileCheck %s --check-prefix=GROUP
// RUN: not r2q-opt %s --split-input-file --r2q-select-cpu-kernels="target-features=+avx512f,+avx512bw" 2>&1 | FileCheck %s --check-prefix=WRITTEN
// RUN: r2q-opt %s --split-input-file --r2q-select-cpu-kernels="target-features=+avx512f,+avx512bw,+avx512vnni" | FileCheck %s --check-prefix=VNNI

// NOAVX2: error: 'r2q.matmul' op r2q-select-cpu-kernels: strategy int8_gemm needs an x86 target with AVX2 (target features '+avx,+sse4.2')
// VNNI-LABEL: func.func @batch_16
func.func @batch_16(%x: tensor<16x256xf32>, %s: tensor<2x40x32xi8>, %a: tensor<2x40x2xf16>) -> tensor<16x40xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<16x256xf32>, tensor<2x40x32xi8>, tensor<2x40x2xf16> -> tensor<16x40xf32>
  return %y : tensor<16x40xf32>
}

// -----

// GROUP: error: 'r2q.matmul' op r2q-select-cpu-kernels: strategy int8_gemm cannot compute this op: its group size is 24 (int8_gemm takes 8 * 2^i up to 128 or a multiple of 128)
func.func @group_24(%x: tensor<16x48xf32>, %s: tensor<1x5x6xi8>, %a: tensor<1x5x2xf16>) -> tensor<16x5xf32> {
  %y = r2q.matmul %x, %s, %a group_size 24 : tensor<16x48xf32>, tensor<1x5x6xi8>, tensor<1x5x2xf16> -> tensor<16x5xf32>
  return %y : tensor<16x5xf32>
}

// -----

// WRITTEN: error: 'r2q.matmul' op r2q-select-cpu-kernels: kernel strategy int8_gemm with target = avx512 needs a target with AVX-512 VNNI and BW
// VNNI-LABEL: func.func @written
// VNNI: #r2q.kernel<strategy = vector_gemv, max_rows = 2, otherwise = int8_gemm, target = avx512
func.func @written(%x: tensor<?x256xf32>, %s: tensor<2x40x32xi8>, %a: tensor<2x40x2xf16>) -> tensor<?x40xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = vector_gemv, max_rows = 2, otherwise = int8_gemm, target = avx512>} : tensor<?x256xf32>, tensor<2x40x32xi8>, tensor<2x40x2xf16> -> tensor<?x40xf32>
  return %y : tensor<?x40xf32>
}
