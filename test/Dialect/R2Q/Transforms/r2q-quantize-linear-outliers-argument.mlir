// RUN: r2q-opt %s --split-input-file --verify-diagnostics --r2q-quantize-linear="group-size=32 outliers=0.01"
// RUN: r2q-opt %s --split-input-file --verify-diagnostics --r2q-quantize-linear="group-size=32 outlier-threshold=8"
// Without outliers, the marked argument is quantized at run time.
// RUN: r2q-opt %s --split-input-file --r2q-quantize-linear="group-size=32" | FileCheck %s

// Outliers are chosen and stored at compile time: a weight only known at run
// time (a marked argument) cannot have them, and says so at its layer.
// CHECK-LABEL: func.func @argument_weight
// CHECK: r2q.quantize
// CHECK: r2q.matmul
// CHECK-NOT: outliers
func.func @argument_weight(%x: tensor<3x64xf32>, %w: tensor<4x64xf32> {r2q.weight}) -> tensor<3x4xf32> {
  %e = tensor.empty() : tensor<64x4xf32>
  %wt = linalg.transpose ins(%w : tensor<4x64xf32>) outs(%e : tensor<64x4xf32>) permutation = [1, 0]
  %zero = arith.constant 0.0 : f32
  %init = tensor.empty() : tensor<3x4xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%init : tensor<3x4xf32>) -> tensor<3x4xf32>
  // expected-error @+1 {{layer 'argument_weight:arg1': outliers need a compile-time constant weight, but this weight is a function argument quantized at run time; make it a constant, or quantize without outliers= and outlier-threshold=}}
  %y = linalg.matmul ins(%x, %wt : tensor<3x64xf32>, tensor<64x4xf32>) outs(%acc : tensor<3x4xf32>) -> tensor<3x4xf32>
  return %y : tensor<3x4xf32>
}
