// RUN: r2q-opt %s --canonicalize --split-input-file | FileCheck %s

// Two rows, two groups of 8. Row 0, group 0 is worked by hand in
// docs/format.md: a1 = mean|w| = 1.28125, a2 = 0.84375; the negative weights
// (columns 1, 5, 7) give plane-0 byte 0b10100010 = -94 as i8, the negative
// residuals (columns 0, 3, 7) give plane-1 byte 0b10001001 = -119. Row 1 is
// +1 then -1: a1 = 1 and an exact zero residual (a2 = 0, signs +1).
// CHECK-LABEL: func.func @fold_quantize
// CHECK-DAG: %[[S:.*]] = arith.constant dense<{{\[}}{{\[}}[-94, -94], [0, -1]], {{\[}}[-119, -119], [0, 0]]]> : tensor<2x2x2xi8>
// CHECK-DAG: %[[A:.*]] = arith.constant dense<{{\[}}{{\[}}[1.281250e+00, 1.281250e+00], [1.000000e+00, 1.000000e+00]], {{\[}}[8.437500e-01, 8.437500e-01], [0.000000e+00, 0.000000e+00]]]> : tensor<2x2x2xf32>
// CHECK-NOT: r2q.quantize
// CHECK: return %[[S]], %[[A]]
func.func @fold_quantize() -> (tensor<2x2x2xi8>, tensor<2x2x2xf32>) {
  %w = arith.constant dense<[[0.5, -1.0, 2.0, 0.0, 1.5, -0.25, 3.0, -2.0, 0.5, -1.0, 2.0, 0.0, 1.5, -0.25, 3.0, -2.0],
                             [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0]]> : tensor<2x16xf32>
  %s, %a = r2q.quantize %w scheme <group_size = 8, scale_type = f32> : tensor<2x16xf32>
  return %s, %a : tensor<2x2x2xi8>, tensor<2x2x2xf32>
}

// -----

// dequantize(quantize(constant)) folds to the reconstruction: levels
// +-a1 +- a2 = +-2.125 and +-0.4375 for row 0, +-1 for row 1.
// CHECK-LABEL: func.func @fold_dequantize_of_quantize
// CHECK: %[[W:.*]] = arith.constant dense<{{\[}}[4.375000e-01, -4.375000e-01, 2.125000e+00, 4.375000e-01, 2.125000e+00, -4.375000e-01, 2.125000e+00, -2.125000e+00, 4.375000e-01, -4.375000e-01, 2.125000e+00, 4.375000e-01, 2.125000e+00, -4.375000e-01, 2.125000e+00, -2.125000e+00], [1.000000e+00, 1.000000e+00, 1.000000e+00, 1.000000e+00, 1.000000e+00, 1.000000e+00, 1.000000e+00, 1.000000e+00, -1.000000e+00, -1.000000e+00, -1.000000e+00, -1.000000e+00, -1.000000e+00, -1.000000e+00, -1.000000e+00, -1.000000e+00]]> : tensor<2x16xf32>
// CHECK-NOT: r2q.
// CHECK: return %[[W]]
func.func @fold_dequantize_of_quantize() -> tensor<2x16xf32> {
  %w = arith.constant dense<[[0.5, -1.0, 2.0, 0.0, 1.5, -0.25, 3.0, -2.0, 0.5, -1.0, 2.0, 0.0, 1.5, -0.25, 3.0, -2.0],
                             [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0]]> : tensor<2x16xf32>
  %s, %a = r2q.quantize %w scheme <group_size = 8, scale_type = f32> : tensor<2x16xf32>
  %d = r2q.dequantize %s, %a group_size 8 : tensor<2x2x2xi8>, tensor<2x2x2xf32> -> tensor<2x16xf32>
  return %d : tensor<2x16xf32>
}

// -----

// One stage on a constant: signs, mean magnitude and the residual it leaves.
// CHECK-LABEL: func.func @fold_residual
// CHECK-DAG: %[[S:.*]] = arith.constant dense<-94> : tensor<1x1xi8>
// CHECK-DAG: %[[A:.*]] = arith.constant dense<1.281250e+00> : tensor<1x1xf32>
// CHECK-DAG: %[[N:.*]] = arith.constant dense<{{\[}}[-7.812500e-01, 2.812500e-01, 7.187500e-01, -1.281250e+00, 2.187500e-01, 1.031250e+00, 1.718750e+00, -7.187500e-01]]> : tensor<1x8xf32>
// CHECK: return %[[S]], %[[A]], %[[N]]
func.func @fold_residual() -> (tensor<1x1xi8>, tensor<1x1xf32>, tensor<1x8xf32>) {
  %w = arith.constant dense<[[0.5, -1.0, 2.0, 0.0, 1.5, -0.25, 3.0, -2.0]]> : tensor<1x8xf32>
  %s, %a, %n = r2q.residual %w group_size 8 : tensor<1x8xf32> -> tensor<1x1xi8>, tensor<1x1xf32>, tensor<1x8xf32>
  return %s, %a, %n : tensor<1x1xi8>, tensor<1x1xf32>, tensor<1x8xf32>
}

// -----

// f16 scales are rounded before the next residual is taken: mean|w| of
// [0.1, -0.1, ...] is 0.1, which is 0.0999755859375 in f16.
// CHECK-LABEL: func.func @fold_f16_scales
// CHECK: arith.constant dense<{{\[}}{{\[}}[9.997550e-02]], {{\[}}[2.443790e-05]]]> : tensor<2x1x1xf16>
func.func @fold_f16_scales() -> tensor<2x1x1xf16> {
  %w = arith.constant dense<[[0.1, -0.1, 0.1, -0.1, 0.1, -0.1, 0.1, -0.1]]> : tensor<1x8xf32>
  %s, %a = r2q.quantize %w scheme <group_size = 8> : tensor<1x8xf32>
  return %a : tensor<2x1x1xf16>
}

// -----

// The fold hooks evaluate at most 4096 weights (kMaxFoldHookWeights), so
// that --canonicalize stays cheap on real models; r2q-fold-constant-weights
// folds larger constants (r2q-fold-constant-weights.mlir). 32 x 128 = 4096
// folds, 33 x 128 = 4224 does not, nor does a 4096 x 4096 layer.
// CHECK-LABEL: func.func @fold_hook_size_bound
// CHECK-DAG: %[[SMALL:.*]] = arith.constant dense<{{.*}}5.000000e-01{{.*}}0.000000e+00{{.*}}> : tensor<2x32x1xf16>
// CHECK-DAG: %[[W:.*]] = arith.constant dense<5.000000e-01> : tensor<33x128xf32>
// CHECK-DAG: %[[R:.*]] = arith.constant dense<2.500000e-01> : tensor<33x128xf32>
// CHECK-DAG: %[[BIG:.*]] = arith.constant dense<1.000000e+00> : tensor<4096x4096xf32>
// CHECK-DAG: %{{.*}}, %[[LARGE:.*]] = r2q.quantize %[[W]]
// CHECK-DAG: %{{.*}}, %[[STAGE:.*]], %{{.*}} = r2q.residual %[[R]]
// CHECK-DAG: %{{.*}}, %[[HUGE:.*]] = r2q.quantize %[[BIG]] scheme <group_size = 128, planes = 2, method = refined
// CHECK: return %[[SMALL]], %[[LARGE]], %[[STAGE]], %[[HUGE]]
func.func @fold_hook_size_bound() -> (tensor<2x32x1xf16>, tensor<2x33x1xf16>, tensor<33x1xf32>, tensor<2x4096x32xf16>) {
  %small = arith.constant dense<0.5> : tensor<32x128xf32>
  %s0, %a0 = r2q.quantize %small scheme <group_size = 128> : tensor<32x128xf32>
  %large = arith.constant dense<0.5> : tensor<33x128xf32>
  %s1, %a1 = r2q.quantize %large scheme <group_size = 128> : tensor<33x128xf32>
  %r = arith.constant dense<0.25> : tensor<33x128xf32>
  %s2, %a2, %n2 = r2q.residual %r group_size 128 : tensor<33x128xf32> -> tensor<33x16xi8>, tensor<33x1xf32>, tensor<33x128xf32>
  %big = arith.constant dense<1.0> : tensor<4096x4096xf32>
  %s3, %a3 = r2q.quantize %big scheme <group_size = 128, method = refined> : tensor<4096x4096xf32>
  return %a0, %a1, %a2, %a3 : tensor<2x32x1xf16>, tensor<2x33x1xf16>, tensor<33x1xf32>, tensor<2x4096x32xf16>
}

// -----

// Weights only known at run time stay.
// CHECK-LABEL: func.func @no_fold_runtime_weight
// CHECK: r2q.quantize
// CHECK: r2q.dequantize
func.func @no_fold_runtime_weight(%w: tensor<2x16xf32>) -> tensor<2x16xf32> {
  %s, %a = r2q.quantize %w scheme <group_size = 8> : tensor<2x16xf32>
  %d = r2q.dequantize %s, %a group_size 8 : tensor<2x2x2xi8>, tensor<2x2x2xf16> -> tensor<2x16xf32>
  return %d : tensor<2x16xf32>
}

// -----

// NaN weights are never folded into constants (the passes report them).
// CHECK-LABEL: func.func @no_fold_nan
// CHECK: r2q.quantize
func.func @no_fold_nan() -> (tensor<2x1x1xi8>, tensor<2x1x1xf16>) {
  %w = arith.constant dense<[[1.0, 0x7FC00000, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]]> : tensor<1x8xf32>
  %s, %a = r2q.quantize %w scheme <group_size = 8> : tensor<1x8xf32>
  return %s, %a : tensor<2x1x1xi8>, tensor<2x1x1xf16>
}

// -----

// A scale that overflows f16 is not folded either.
// CHECK-LABEL: func.func @no_fold_f16_overflow
// CHECK: r2q.quantize
func.func @no_fold_f16_overflow() -> (tensor<2x1x1xi8>, tensor<2x1x1xf16>) {
  %w = arith.constant dense<1.0e6> : tensor<1x8xf32>
  %s, %a = r2q.quantize %w scheme <group_size = 8> : tensor<1x8xf32>
  return %s, %a : tensor<2x1x1xi8>, tensor<2x1x1xf16>
}

// -----

// K = 13, G = 8: a group of 8 and a shorter last group of 5 columns whose
// scale is the mean over those 5 only: (1 + 1 + 1 + 1 + 6) / 5 = 2 (over 8
// columns it would be 1.25). Sign bytes: 0b10101010 = -86 for columns 0-7,
// then columns 9 and 11 negative = 0b00001010 = 10, padding bits zero.
// CHECK-LABEL: func.func @fold_ragged_quantize
// CHECK-DAG: %[[S:.*]] = arith.constant dense<{{\[}}{{\[}}[-86, 10]]]> : tensor<1x1x2xi8>
// CHECK-DAG: %[[A:.*]] = arith.constant dense<{{\[}}{{\[}}[1.000000e+00, 2.000000e+00]]]> : tensor<1x1x2xf32>
// CHECK-DAG: %[[W:.*]] = arith.constant dense<{{\[}}[1.000000e+00, -1.000000e+00, 1.000000e+00, -1.000000e+00, 1.000000e+00, -1.000000e+00, 1.000000e+00, -1.000000e+00, 2.000000e+00, -2.000000e+00, 2.000000e+00, -2.000000e+00, 2.000000e+00]]> : tensor<1x13xf32>
// CHECK-NOT: r2q.
// CHECK: return %[[S]], %[[A]], %[[W]]
func.func @fold_ragged_quantize() -> (tensor<1x1x2xi8>, tensor<1x1x2xf32>, tensor<1x13xf32>) {
  %w = arith.constant dense<[[1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 6.0]]> : tensor<1x13xf32>
  %s, %a = r2q.quantize %w scheme <group_size = 8, planes = 1, scale_type = f32> : tensor<1x13xf32>
  %d = r2q.dequantize %s, %a group_size 8 : tensor<1x1x2xi8>, tensor<1x1x2xf32> -> tensor<1x13xf32>
  return %s, %a, %d : tensor<1x1x2xi8>, tensor<1x1x2xf32>, tensor<1x13xf32>
}

// -----

// The same shorter last group in one residual stage: next = w - a * s.
// CHECK-LABEL: func.func @fold_ragged_residual
// CHECK-DAG: %[[S:.*]] = arith.constant dense<{{\[}}[-86, 10]]> : tensor<1x2xi8>
// CHECK-DAG: %[[A:.*]] = arith.constant dense<{{\[}}[1.000000e+00, 2.000000e+00]]> : tensor<1x2xf32>
// CHECK-DAG: %[[N:.*]] = arith.constant dense<{{\[}}[0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, -1.000000e+00, 1.000000e+00, -1.000000e+00, 1.000000e+00, 4.000000e+00]]> : tensor<1x13xf32>
// CHECK: return %[[S]], %[[A]], %[[N]]
func.func @fold_ragged_residual() -> (tensor<1x2xi8>, tensor<1x2xf32>, tensor<1x13xf32>) {
  %w = arith.constant dense<[[1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 6.0]]> : tensor<1x13xf32>
  %s, %a, %n = r2q.residual %w group_size 8 : tensor<1x13xf32> -> tensor<1x2xi8>, tensor<1x2xf32>, tensor<1x13xf32>
  return %s, %a, %n : tensor<1x2xi8>, tensor<1x2xf32>, tensor<1x13xf32>
}
