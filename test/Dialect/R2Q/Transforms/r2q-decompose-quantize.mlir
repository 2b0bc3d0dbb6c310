// RUN: r2q-opt %s --split-input-file --r2q-decompose-quantize | FileCheck %s

// Two greedy stages, each on the residual of the previous one, stacked into
// the plane dimension.
// CHECK-LABEL: func.func @greedy
// CHECK-SAME: (%[[W:.*]]: tensor<16x256xf32>)
// CHECK-DAG: %[[SIGNS:.*]] = tensor.empty() : tensor<2x16x32xi8>
// CHECK-DAG: %[[SCALES:.*]] = tensor.empty() : tensor<2x16x2xf16>
// CHECK: %[[S0:.*]], %[[A0:.*]], %[[R1:.*]] = r2q.residual %[[W]] group_size 128 : tensor<16x256xf32> -> tensor<16x32xi8>, tensor<16x2xf16>, tensor<16x256xf32>
// CHECK: %[[SIGNS0:.*]] = tensor.insert_slice %[[S0]] into %[[SIGNS]][0, 0, 0] [1, 16, 32] [1, 1, 1]
// CHECK: %[[SCALES0:.*]] = tensor.insert_slice %[[A0]] into %[[SCALES]][0, 0, 0] [1, 16, 2] [1, 1, 1]
// CHECK: %[[S1:.*]], %[[A1:.*]], %{{.*}} = r2q.residual %[[R1]] group_size 128
// CHECK: %[[SIGNS1:.*]] = tensor.insert_slice %[[S1]] into %[[SIGNS0]][1, 0, 0] [1, 16, 32] [1, 1, 1]
// CHECK: %[[SCALES1:.*]] = tensor.insert_slice %[[A1]] into %[[SCALES0]][1, 0, 0] [1, 16, 2] [1, 1, 1]
// CHECK-NOT: r2q.quantize
// CHECK: return %[[SIGNS1]], %[[SCALES1]]
func.func @greedy(%w: tensor<16x256xf32>) -> (tensor<2x16x32xi8>, tensor<2x16x2xf16>) {
  %s, %a = r2q.quantize %w scheme <group_size = 128> : tensor<16x256xf32>
  return %s, %a : tensor<2x16x32xi8>, tensor<2x16x2xf16>
}

// -----

// bf16 weights are widened to f32 first, so residuals keep f32 precision,
// as in the numerics core. Dynamic rows come from the weight.
// CHECK-LABEL: func.func @bf16_dynamic_rows
// CHECK-SAME: (%[[W:.*]]: tensor<?x64xbf16>)
// CHECK: %[[N:.*]] = tensor.dim %[[W]], %{{.*}} : tensor<?x64xbf16>
// CHECK: tensor.empty(%[[N]]) : tensor<3x?x8xi8>
// CHECK: %[[WIDE:.*]] = linalg.generic {{.*}} ins(%[[W]] : tensor<?x64xbf16>)
// CHECK: arith.extf %{{.*}} : bf16 to f32
// CHECK: r2q.residual %[[WIDE]] group_size 32 : tensor<?x64xf32>
// CHECK-COUNT-2: r2q.residual
// CHECK-NOT: r2q.residual
func.func @bf16_dynamic_rows(%w: tensor<?x64xbf16>) -> (tensor<3x?x8xi8>, tensor<3x?x2xf32>) {
  %s, %a = r2q.quantize %w scheme <group_size = 32, planes = 3, scale_type = f32> : tensor<?x64xbf16>
  return %s, %a : tensor<3x?x8xi8>, tensor<3x?x2xf32>
}

// -----

// Refined quantization has no 1-bit stages: left alone.
// CHECK-LABEL: func.func @refined
// CHECK: r2q.quantize %{{.*}} scheme <group_size = 128, planes = 2, method = refined, scale_type = f16>
// CHECK-NOT: r2q.residual
func.func @refined(%w: tensor<16x256xf32>) -> (tensor<2x16x32xi8>, tensor<2x16x2xf16>) {
  %s, %a = r2q.quantize %w scheme <method = refined> : tensor<16x256xf32>
  return %s, %a : tensor<2x16x32xi8>, tensor<2x16x2xf16>
}
