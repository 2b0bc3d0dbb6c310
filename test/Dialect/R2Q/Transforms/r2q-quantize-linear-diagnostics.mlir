// RUN: r2q-opt %s --split-input-file --verify-diagnostics --r2q-quantize-linear="group-size=8 min-weights=16"
// RUN: not r2q-opt %s --r2q-quantize-linear="group-size=12" 2>&1 | FileCheck %s --check-prefix=GROUP
// RUN: not r2q-opt %s --r2q-quantize-linear="planes=7" 2>&1 | FileCheck %s --check-prefix=PLANES
// RUN: not r2q-opt %s --r2q-quantize-linear="method=fancy" 2>&1 | FileCheck %s --check-prefix=METHOD
// RUN: not r2q-opt %s --r2q-quantize-linear="scale-type=f8" 2>&1 | FileCheck %s --check-prefix=SCALE
// RUN: not r2q-opt %s --r2q-quantize-linear="include=[" 2>&1 | FileCheck %s --check-prefix=REGEX
// RUN: not r2q-opt %s --r2q-quantize-linear="grop-size=64" 2>&1 | FileCheck %s --check-prefix=TYPO

// GROUP: error: r2q-quantize-linear: group size must be a positive multiple of 8, got 12
// PLANES: error: r2q-quantize-linear: number of planes must be between 1 and 4, got 7
// METHOD: Cannot find option named 'fancy'!
// SCALE: Cannot find option named 'f8'!
// REGEX: error: r2q-quantize-linear: invalid layer filter '[': brackets ([ ]) not balanced
// TYPO: no such option grop-size
// RUN: not r2q-opt %s --r2q-cpu-pipeline="c-interfaces=true" 2>&1 | FileCheck %s --check-prefix=PIPELINE
// PIPELINE: no such option c-interfaces

func.func @k_not_divisible(%x: tensor<2x100xf32>) -> tensor<2x4xf32> {
  %w = arith.constant dense<0.5> : tensor<100x4xf32>
  %zero = arith.constant 0.0 : f32
  %o = tensor.empty() : tensor<2x4xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<2x4xf32>) -> tensor<2x4xf32>
  // expected-remark @+1 {{layer 'k_not_divisible:linear0' left in float: group size 8 does not divide K = 100}}
  %y = linalg.matmul ins(%x, %w : tensor<2x100xf32>, tensor<100x4xf32>) outs(%acc : tensor<2x4xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

func.func @too_small(%x: tensor<2x8xf32>) -> tensor<2x1xf32> {
  %w = arith.constant dense<0.5> : tensor<8x1xf32>
  %zero = arith.constant 0.0 : f32
  %o = tensor.empty() : tensor<2x1xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<2x1xf32>) -> tensor<2x1xf32>
  // expected-remark @+1 {{layer 'too_small:linear0' left in float: 8 weights, fewer than min-weights = 16}}
  %y = linalg.matmul ins(%x, %w : tensor<2x8xf32>, tensor<8x1xf32>) outs(%acc : tensor<2x1xf32>) -> tensor<2x1xf32>
  return %y : tensor<2x1xf32>
}

// -----

// The position is (row, column) of the N x K weight, here stored K x N.
func.func @inf_in_transposed_weight(%x: tensor<1x8xf32>) -> tensor<1x2xf32> {
  %w = arith.constant dense<[[1.0, 1.0], [1.0, 1.0], [1.0, 0x7F800000], [1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [1.0, 1.0]]> : tensor<8x2xf32>
  %zero = arith.constant 0.0 : f32
  %o = tensor.empty() : tensor<1x2xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<1x2xf32>) -> tensor<1x2xf32>
  // expected-error @+1 {{layer 'inf_in_transposed_weight:linear0': weight at row 1, column 2 is +Inf}}
  %y = linalg.matmul ins(%x, %w : tensor<1x8xf32>, tensor<8x2xf32>) outs(%acc : tensor<1x2xf32>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}

// -----

func.func @nan_in_row_major_weight(%x: tensor<1x8xf32>) -> tensor<1x2xf32> {
  %w = arith.constant dense<[[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 0x7FC00000, 1.0, 1.0, 1.0, 1.0]]> : tensor<2x8xf32>
  %zero = arith.constant 0.0 : f32
  %o = tensor.empty() : tensor<1x2xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<1x2xf32>) -> tensor<1x2xf32>
  // expected-error @+1 {{layer 'nan_in_row_major_weight:linear0': weight at row 1, column 3 is NaN}}
  %y = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
      ins(%x, %w : tensor<1x8xf32>, tensor<2x8xf32>) outs(%acc : tensor<1x2xf32>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}

// -----

func.func @scale_overflows_f16(%x: tensor<1x64xf32>) -> tensor<1x2xf32> {
  %w = arith.constant dense<1.0e6> : tensor<64x2xf32>
  %zero = arith.constant 0.0 : f32
  %o = tensor.empty() : tensor<1x2xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<1x2xf32>) -> tensor<1x2xf32>
  // expected-error @+1 {{layer 'scale_overflows_f16:linear0': a scale of row 0, group 0 overflows f16; use a wider scale type or rescale the weights}}
  %y = linalg.matmul ins(%x, %w : tensor<1x64xf32>, tensor<64x2xf32>) outs(%acc : tensor<1x2xf32>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}

// -----

// A dense_resource whose blob was elided (--mlir-elide-resource-strings-if-larger).
func.func @elided_weight(%x: tensor<1x64xf32>) -> tensor<1x2xf32> {
  %w = arith.constant dense_resource<__elided__> : tensor<64x2xf32>
  %zero = arith.constant 0.0 : f32
  %o = tensor.empty() : tensor<1x2xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<1x2xf32>) -> tensor<1x2xf32>
  // expected-error @+1 {{layer '__elided__': the constant weight's data is not available (elided resource?)}}
  %y = linalg.matmul ins(%x, %w : tensor<1x64xf32>, tensor<64x2xf32>) outs(%acc : tensor<1x2xf32>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}

// -----

func.func @f64_layer(%x: tensor<2x16xf64>) -> tensor<2x4xf64> {
  %w = arith.constant dense<0.5> : tensor<16x4xf64>
  %zero = arith.constant 0.0 : f64
  %o = tensor.empty() : tensor<2x4xf64>
  %acc = linalg.fill ins(%zero : f64) outs(%o : tensor<2x4xf64>) -> tensor<2x4xf64>
  // expected-remark @+1 {{layer 'f64_layer:linear0' left in float: element type 'f64' is not supported (f32, f16 and bf16 are)}}
  %y = linalg.matmul ins(%x, %w : tensor<2x16xf64>, tensor<16x4xf64>) outs(%acc : tensor<2x4xf64>) -> tensor<2x4xf64>
  return %y : tensor<2x4xf64>
}

// -----

// An f32 weight with f64 activations: r2q.matmul takes f32, f16 and bf16.
func.func @f64_activation(%x: tensor<2x16xf64>, %w: tensor<4x16xf32> {r2q.weight}) -> tensor<2x4xf64> {
  %zero = arith.constant 0.0 : f64
  %o = tensor.empty() : tensor<2x4xf64>
  %acc = linalg.fill ins(%zero : f64) outs(%o : tensor<2x4xf64>) -> tensor<2x4xf64>
  // expected-remark @+1 {{layer 'f64_activation:arg1' left in float: element type 'f64' is not supported (f32, f16 and bf16 are)}}
  %y = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
      ins(%x, %w : tensor<2x16xf64>, tensor<4x16xf32>) outs(%acc : tensor<2x4xf64>) -> tensor<2x4xf64>
  return %y : tensor<2x4xf64>
}
