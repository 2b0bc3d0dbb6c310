// ml_program globals through r2q-cpu-pipeline under mlir-runner: an
// immutable global read by a float layer, a mutable one read, updated and
// read again (the second call sees the stored value), and the same module
// with the immutable global's layer quantized.
// RUN: r2q-opt %s --r2q-cpu-pipeline=c-interface=false \
// RUN:   | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_lib_dir/libmlir_runner_utils.so,%mlir_lib_dir/libmlir_c_runner_utils.so,%mlir_lib_dir/libomp.so \
// RUN:   | FileCheck %s
// RUN: r2q-opt %s --r2q-quantize-linear=group-size=8 --r2q-cpu-pipeline \
// RUN:   | FileCheck %s --check-prefix=QUANTIZED

// The constant layer: 16 x 0.5; the mutable one: 16 x 0.25, then 16 x 0.75.
// CHECK: [8,   8,   8,   8]
// CHECK: [4,   4,   4,   4]
// CHECK: [12,   12,   12,   12]

// The layer on the immutable global is quantized (its kernel is compiled);
// the global stays for the element-wise update that also reads it, and so
// does the mutable state.
// QUANTIZED-DAG: llvm.mlir.global private constant @w(
// QUANTIZED-DAG: llvm.mlir.global private @m(
// QUANTIZED-DAG: llvm.func @r2q_matmul_4x16_g8({{.*}}sym_visibility = "private"

ml_program.global private @w(dense<0.5> : tensor<4x16xf32>) : tensor<4x16xf32>
ml_program.global private mutable @m(dense<0.25> : tensor<4x16xf32>) : tensor<4x16xf32>
func.func @f(%x: tensor<2x16xf32>) -> (tensor<2x4xf32>, tensor<2x4xf32>) {
  %zero = arith.constant 0.0 : f32
  %w = ml_program.global_load_const @w : tensor<4x16xf32>
  %m = ml_program.global_load @m : tensor<4x16xf32>
  %o = tensor.empty() : tensor<2x4xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<2x4xf32>) -> tensor<2x4xf32>
  %y = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
      ins(%x, %w : tensor<2x16xf32>, tensor<4x16xf32>) outs(%acc : tensor<2x4xf32>) -> tensor<2x4xf32>
  %ym = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
      ins(%x, %m : tensor<2x16xf32>, tensor<4x16xf32>) outs(%acc : tensor<2x4xf32>) -> tensor<2x4xf32>
  %e = tensor.empty() : tensor<4x16xf32>
  %m2 = linalg.add ins(%m, %w : tensor<4x16xf32>, tensor<4x16xf32>) outs(%e : tensor<4x16xf32>) -> tensor<4x16xf32>
  ml_program.global_store @m = %m2 : tensor<4x16xf32>
  return %y, %ym : tensor<2x4xf32>, tensor<2x4xf32>
}
func.func @main() {
  %x = arith.constant dense<1.0> : tensor<2x16xf32>
  %a:2 = func.call @f(%x) : (tensor<2x16xf32>) -> (tensor<2x4xf32>, tensor<2x4xf32>)
  %b:2 = func.call @f(%x) : (tensor<2x16xf32>) -> (tensor<2x4xf32>, tensor<2x4xf32>)
  %u = tensor.cast %a#1 : tensor<2x4xf32> to tensor<*xf32>
  %v = tensor.cast %b#1 : tensor<2x4xf32> to tensor<*xf32>
  %r = tensor.cast %b#0 : tensor<2x4xf32> to tensor<*xf32>
  func.call @printMemrefF32(%r) : (tensor<*xf32>) -> ()
  func.call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  func.call @printMemrefF32(%v) : (tensor<*xf32>) -> ()
  return
}
func.func private @printMemrefF32(tensor<*xf32>)
