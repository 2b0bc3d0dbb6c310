// A weight that already is an R2Q code (r2q.dequantize of constant sign
// planes and scales, as r2q.torch exports a model trained with R2QLinear)
// keeps its code: r2q.matmul reads those very constants, with the code's
// group size, whatever the pass's group size; greedy R2Q of the decoded
// weight would give other scales (mean |w| of a two-level code is not its
// first scale).
// RUN: r2q-opt %s --split-input-file --verify-diagnostics --r2q-quantize-linear="group-size=16 stats=true"
// RUN: not r2q-opt %s --split-input-file --r2q-quantize-linear="group-size=16" 2>/dev/null | FileCheck %s

// CHECK-LABEL: func.func @coded
// CHECK-DAG: %[[SIGNS:.*]] = arith.constant dense<{{\[\[\[}}15, 15], [15, 15]], {{\[\[}}60, 60], [60, 60]]]> : tensor<2x2x2xi8>
// CHECK-DAG: %[[SCALES:.*]] = arith.constant dense<{{\[\[\[}}7.500000e-01, 1.500000e+00], [2.500000e-01, 2.000000e+00]], {{\[\[}}-5.000000e-01, 3.750000e-01], [1.250000e-01, 0.000000e+00]]]> : tensor<2x2x2xf16>
// CHECK: r2q.matmul %{{.*}}, %[[SIGNS]], %[[SCALES]] group_size 8
// CHECK-NOT: r2q.dequantize
// CHECK-NOT: linalg.transpose
func.func @coded(%x: tensor<3x16xf32>) -> tensor<3x2xf32> {
  %signs = arith.constant dense<"0x0F0F0F0F3C3C3C3C"> : tensor<2x2x2xi8>
  %scales = arith.constant dense<[[[0.75, 1.5], [0.25, 2.0]], [[-0.5, 0.375], [0.125, 0.0]]]> : tensor<2x2x2xf16>
  %w = r2q.dequantize %signs, %scales group_size 8 : tensor<2x2x2xi8>, tensor<2x2x2xf16> -> tensor<2x16xf32>
  %e = tensor.empty() : tensor<16x2xf32>
  %wt = linalg.transpose ins(%w : tensor<2x16xf32>) outs(%e : tensor<16x2xf32>) permutation = [1, 0]
  %zero = arith.constant 0.0 : f32
  %o = tensor.empty() : tensor<3x2xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<3x2xf32>) -> tensor<3x2xf32>
  // expected-remark @+1 {{layer 'coded:linear0': 2x16 weight, group size 8, 2 planes, already an R2Q code, kept}}
  %y = linalg.matmul ins(%x, %wt : tensor<3x16xf32>, tensor<16x2xf32>) outs(%acc : tensor<3x2xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}

// -----

// Read as a K x N weight, a code cannot be passed through: an error at the
// layer.
func.func @coded_transposed(%x: tensor<3x2xf32>) -> tensor<3x16xf32> {
  %signs = arith.constant dense<"0x0F0F0F0F3C3C3C3C"> : tensor<2x2x2xi8>
  %scales = arith.constant dense<[[[0.75, 1.5], [0.25, 2.0]], [[-0.5, 0.375], [0.125, 0.0]]]> : tensor<2x2x2xf16>
  %w = r2q.dequantize %signs, %scales group_size 8 : tensor<2x2x2xi8>, tensor<2x2x2xf16> -> tensor<2x16xf32>
  %zero = arith.constant 0.0 : f32
  %o = tensor.empty() : tensor<3x16xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<3x16xf32>) -> tensor<3x16xf32>
  // expected-error @+1 {{layer 'coded_transposed:linear0': its weight is an R2Q code (r2q.dequantize) read as K x N; r2q.matmul takes codes of N x K weights}}
  %y = linalg.matmul ins(%x, %w : tensor<3x2xf32>, tensor<2x16xf32>) outs(%acc : tensor<3x16xf32>) -> tensor<3x16xf32>
  return %y : tensor<3x16xf32>
}
