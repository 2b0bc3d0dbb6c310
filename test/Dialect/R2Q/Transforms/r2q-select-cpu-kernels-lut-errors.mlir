// lut_gemv runs only on x86 with AVX2 (avx512: AVX-512 BW): forcing it for
// another target, for an op it cannot compute, or keeping a written kernel
// the target cannot run is an error of r2q-select-cpu-kernels at the op, not
// an LLVM crash later.
// RUN: not r2q-opt %s --split-input-file --r2q-select-cpu-kernels="strategy=lut_gemv target-features=+sse4.2,+avx" 2>&1 | FileCheck %s --check-prefix=NOAVX2
// RUN: not r2q-opt %s --split-input-file --r2q-select-cpu-kernels="strategy=lut_gemv target-features=+avx2" 2>&1 | FileCheck %s --check-prefix=SHAPE
// RUN: not r2q-opt %s --split-input-file --r2q-select-cpu-kernels="target-features=+avx2,+fma" 2>&1 | FileCheck %s --check-prefix=WRITTEN
// RUN: r2q-opt %s --split-input-file --r2q-select-cpu-kernels="target-features=+avx512f,+avx512bw" | FileCheck %s --check-prefix=BW

// NOAVX2: error: 'r2q.matmul' op r2q-select-cpu-kernels: strategy lut_gemv needs an x86 target with AVX2 (target features '+avx,+sse4.2')
// BW-LABEL: func.func @batch_1
func.func @batch_1(%x: tensor<1x256xf32>, %s: tensor<2x40x32xi8>, %a: tensor<2x40x2xf16>) -> tensor<1x40xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<1x256xf32>, tensor<2x40x32xi8>, tensor<2x40x2xf16> -> tensor<1x40xf32>
  return %y : tensor<1x40xf32>
}

// -----

// SHAPE: error: 'r2q.matmul' op r2q-select-cpu-kernels: strategy lut_gemv cannot compute this op: its rows are dynamic (lut_gemv takes a static batch)
func.func @dynamic(%x: tensor<?x256xf32>, %s: tensor<2x40x32xi8>, %a: tensor<2x40x2xf16>) -> tensor<?x40xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<?x256xf32>, tensor<2x40x32xi8>, tensor<2x40x2xf16> -> tensor<?x40xf32>
  return %y : tensor<?x40xf32>
}

// -----

// WRITTEN: error: 'r2q.matmul' op r2q-select-cpu-kernels: kernel strategy lut_gemv with target = avx512 needs a target with AVX-512 BW
// BW-LABEL: func.func @written
// BW: #r2q.kernel<strategy = lut_gemv, precision = exact, target = avx512
func.func @written(%x: tensor<2x256xf32>, %s: tensor<2x40x32xi8>, %a: tensor<2x40x2xf16>) -> tensor<2x40xf32> {
  %y = r2q.matmul %x, %s, %a group_size 128 {kernel = #r2q.kernel<strategy = lut_gemv, target = avx512>} : tensor<2x256xf32>, tensor<2x40x32xi8>, tensor<2x40x2xf16> -> tensor<2x40xf32>
  return %y : tensor<2x40xf32>
}
