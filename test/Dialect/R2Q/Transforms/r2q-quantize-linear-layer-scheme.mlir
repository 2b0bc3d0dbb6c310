// A contraction's own r2q.scheme (as -r2q-tune-group-size writes it, or a
// user) overrides the options of -r2q-quantize-linear for that layer only.
// RUN: r2q-opt %s --split-input-file --verify-diagnostics --r2q-quantize-linear="group-size=16" | FileCheck %s

// CHECK-LABEL: func.func @own_scheme
// CHECK: r2q.matmul %{{.*}}, %{{.*}}, %{{.*}} group_size 8 : tensor<2x32xf32>, tensor<1x4x4xi8>, tensor<1x4x4xf32> -> tensor<2x4xf32>
// CHECK: r2q.matmul %{{.*}}, %{{.*}}, %{{.*}} group_size 16 : tensor<2x32xf32>, tensor<2x4x4xi8>, tensor<2x4x2xf16> -> tensor<2x4xf32>
func.func @own_scheme(%x: tensor<2x32xf32>) -> (tensor<2x4xf32>, tensor<2x4xf32>) {
  %w = arith.constant dense<[[0.5, -1.0, 0.25, 2.0, -0.75, 1.5, -2.5, 0.125, 0.5, -1.0, 0.25, 2.0, -0.75, 1.5, -2.5, 0.125, 0.5, -1.0, 0.25, 2.0, -0.75, 1.5, -2.5, 0.125, 0.5, -1.0, 0.25, 2.0, -0.75, 1.5, -2.5, 0.125], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], [-1.0, 2.0, -3.0, 4.0, -5.0, 6.0, -7.0, 8.0, -1.0, 2.0, -3.0, 4.0, -5.0, 6.0, -7.0, 8.0, -1.0, 2.0, -3.0, 4.0, -5.0, 6.0, -7.0, 8.0, -1.0, 2.0, -3.0, 4.0, -5.0, 6.0, -7.0, 8.0], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]]> : tensor<4x32xf32>
  %v = arith.constant dense<[[1.5, -1.0, 0.25, 2.0, -0.75, 1.5, -2.5, 0.125, 0.5, -1.0, 0.25, 2.0, -0.75, 1.5, -2.5, 0.125, 0.5, -1.0, 0.25, 2.0, -0.75, 1.5, -2.5, 0.125, 0.5, -1.0, 0.25, 2.0, -0.75, 1.5, -2.5, 0.125], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], [-1.0, 2.0, -3.0, 4.0, -5.0, 6.0, -7.0, 8.0, -1.0, 2.0, -3.0, 4.0, -5.0, 6.0, -7.0, 8.0, -1.0, 2.0, -3.0, 4.0, -5.0, 6.0, -7.0, 8.0, -1.0, 2.0, -3.0, 4.0, -5.0, 6.0, -7.0, 8.0], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]]> : tensor<4x32xf32>
  %e = tensor.empty() : tensor<32x4xf32>
  %wt = linalg.transpose ins(%w : tensor<4x32xf32>) outs(%e : tensor<32x4xf32>) permutation = [1, 0]
  %vt = linalg.transpose ins(%v : tensor<4x32xf32>) outs(%e : tensor<32x4xf32>) permutation = [1, 0]
  %zero = arith.constant 0.0 : f32
  %o = tensor.empty() : tensor<2x4xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<2x4xf32>) -> tensor<2x4xf32>
  %y = linalg.matmul {r2q.scheme = #r2q.scheme<group_size = 8, planes = 1, method = refined, scale_type = f32>}
      ins(%x, %wt : tensor<2x32xf32>, tensor<32x4xf32>) outs(%acc : tensor<2x4xf32>) -> tensor<2x4xf32>
  %z = linalg.matmul ins(%x, %vt : tensor<2x32xf32>, tensor<32x4xf32>) outs(%acc : tensor<2x4xf32>) -> tensor<2x4xf32>
  return %y, %z : tensor<2x4xf32>, tensor<2x4xf32>
}

// -----

func.func @not_a_scheme(%x: tensor<2x32xf32>, %w: tensor<32x4xf32>, %acc: tensor<2x4xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{'r2q.scheme' must be a #r2q.scheme<...>, not "g128"}}
  %y = linalg.matmul {r2q.scheme = "g128"} ins(%x, %w : tensor<2x32xf32>, tensor<32x4xf32>) outs(%acc : tensor<2x4xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}
