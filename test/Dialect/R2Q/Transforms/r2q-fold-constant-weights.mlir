// RUN: r2q-opt %s --r2q-fold-constant-weights --split-input-file | FileCheck %s

// The pass folds constants of any size; here 64 x 256 = 16384 weights, four
// times what the fold hooks take (canonicalize.mlir). A splat weight
// quantizes like any other: all signs -1 (0xFF), a1 = 0.5 (f16 0x3800), then
// an exact zero residual. Results over 1 KiB become dense_resource blobs
// (after their 4-byte alignment header); the float weight is erased.
// CHECK-LABEL: func.func @fold_large_quantize
// CHECK-NOT: tensor<64x256xbf16>
// CHECK-DAG: %[[S:.*]] = arith.constant dense_resource<r2q_signs> : tensor<2x64x32xi8>
// CHECK-DAG: %[[A:.*]] = arith.constant dense<"0x00380038{{.*}}0000"> : tensor<2x64x2xf16>
// CHECK-NOT: r2q.quantize
// CHECK: return %[[S]], %[[A]]
// CHECK: r2q_signs: "0x01000000{{(FF)+}}{{(00)+}}"
func.func @fold_large_quantize() -> (tensor<2x64x32xi8>, tensor<2x64x2xf16>) {
  %w = arith.constant dense<-0.5> : tensor<64x256xbf16>
  %s, %a = r2q.quantize %w scheme <group_size = 128> : tensor<64x256xbf16>
  return %s, %a : tensor<2x64x32xi8>, tensor<2x64x2xf16>
}

// -----

// Ops are folded in program order: dequantize(quantize(w)) becomes the
// reconstruction, -a1 - a2 = -0.5 (f32 0xBF000000) everywhere, and the
// intermediate planes and scales are erased with the weight.
// CHECK-LABEL: func.func @fold_large_dequantize_of_quantize
// CHECK-NEXT: %[[W:.*]] = arith.constant dense_resource<r2q_dequantized> : tensor<64x256xf32>
// CHECK-NEXT: return %[[W]]
// CHECK: r2q_dequantized: "0x04000000{{(000000BF)+}}"
func.func @fold_large_dequantize_of_quantize() -> tensor<64x256xf32> {
  %w = arith.constant dense<-0.5> : tensor<64x256xf32>
  %s, %a = r2q.quantize %w scheme <group_size = 64, method = refined, scale_type = f32> : tensor<64x256xf32>
  %d = r2q.dequantize %s, %a group_size 64 : tensor<2x64x32xi8>, tensor<2x64x4xf32> -> tensor<64x256xf32>
  return %d : tensor<64x256xf32>
}

// -----

// One stage on a large constant: signs +1 (0x00), scale 0.25, and an exact
// zero next residual.
// CHECK-LABEL: func.func @fold_large_residual
// CHECK-DAG: %[[S:.*]] = arith.constant dense_resource<r2q_signs> : tensor<64x32xi8>
// CHECK-DAG: %[[A:.*]] = arith.constant dense<2.500000e-01> : tensor<64x2xf32>
// CHECK-DAG: %[[N:.*]] = arith.constant dense_resource<r2q_residual> : tensor<64x256xf32>
// CHECK: return %[[S]], %[[A]], %[[N]]
// CHECK-DAG: r2q_signs: "0x01000000{{(00)+}}"
// CHECK-DAG: r2q_residual: "0x04000000{{(00000000)+}}"
func.func @fold_large_residual() -> (tensor<64x32xi8>, tensor<64x2xf32>, tensor<64x256xf32>) {
  %w = arith.constant dense<0.25> : tensor<64x256xf32>
  %s, %a, %n = r2q.residual %w group_size 128 : tensor<64x256xf32> -> tensor<64x32xi8>, tensor<64x2xf32>, tensor<64x256xf32>
  return %s, %a, %n : tensor<64x32xi8>, tensor<64x2xf32>, tensor<64x256xf32>
}

// -----

// Splat planes and scales (what a uniform weight quantizes to) are read like
// any others: no set bit, so each weight is a1 + a2 = 0.5 + 0.5 = 1.0 (f32
// 0x3F800000).
// CHECK-LABEL: func.func @fold_large_dequantize_of_splats
// CHECK-NEXT: %[[W:.*]] = arith.constant dense_resource<r2q_dequantized> : tensor<64x128xf32>
// CHECK-NEXT: return %[[W]]
// CHECK: r2q_dequantized: "0x04000000{{(0000803F)+}}"
func.func @fold_large_dequantize_of_splats() -> tensor<64x128xf32> {
  %s = arith.constant dense<0> : tensor<2x64x16xi8>
  %a = arith.constant dense<0.5> : tensor<2x64x1xf16>
  %d = r2q.dequantize %s, %a group_size 128 : tensor<2x64x16xi8>, tensor<2x64x1xf16> -> tensor<64x128xf32>
  return %d : tensor<64x128xf32>
}

// -----

// A weight that something else still reads stays; only the quantization
// goes, and results nothing reads (the signs here) are not materialized.
// CHECK-LABEL: func.func @weight_with_other_users
// CHECK-NEXT: %[[W:.*]] = arith.constant dense<1.000000e+00> : tensor<64x128xf32>
// CHECK-NEXT: %[[A:.*]] = arith.constant dense<"0x003C{{.*}}"> : tensor<2x64x1xf16>
// CHECK-NEXT: return %[[W]], %[[A]]
func.func @weight_with_other_users() -> (tensor<64x128xf32>, tensor<2x64x1xf16>) {
  %w = arith.constant dense<1.0> : tensor<64x128xf32>
  %s, %a = r2q.quantize %w scheme <group_size = 128> : tensor<64x128xf32>
  return %w, %a : tensor<64x128xf32>, tensor<2x64x1xf16>
}

// -----

// Weights only known at run time are left for the lowering.
// CHECK-LABEL: func.func @runtime_weight
// CHECK: r2q.quantize
// CHECK: r2q.dequantize
func.func @runtime_weight(%w: tensor<64x128xf32>) -> tensor<64x128xf32> {
  %s, %a = r2q.quantize %w scheme <group_size = 128> : tensor<64x128xf32>
  %d = r2q.dequantize %s, %a group_size 128 : tensor<2x64x16xi8>, tensor<2x64x1xf16> -> tensor<64x128xf32>
  return %d : tensor<64x128xf32>
}
