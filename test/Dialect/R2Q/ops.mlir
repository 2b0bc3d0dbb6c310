// RUN: r2q-opt %s | r2q-opt | FileCheck %s
// RUN: r2q-opt %s --mlir-print-op-generic | r2q-opt | FileCheck %s

// CHECK-LABEL: func.func @quantize
// CHECK-SAME: (%[[W:.*]]: tensor<256x512xf32>)
func.func @quantize(%w: tensor<256x512xf32>) -> (tensor<2x256x64xi8>, tensor<2x256x4xf16>) {
  // CHECK: %[[S:.*]], %[[A:.*]] = r2q.quantize %[[W]] scheme <group_size = 128, planes = 2, method = greedy, scale_type = f16> : tensor<256x512xf32>
  %s, %a = r2q.quantize %w scheme <group_size = 128, planes = 2, method = greedy, scale_type = f16> : tensor<256x512xf32>
  // CHECK: return %[[S]], %[[A]]
  return %s, %a : tensor<2x256x64xi8>, tensor<2x256x4xf16>
}

// Parameters left out take their defaults and may come in any order.
// CHECK-LABEL: func.func @quantize_defaults
func.func @quantize_defaults(%w: tensor<8x64xbf16>) -> (tensor<2x8x8xi8>, tensor<2x8x2xf16>) {
  // CHECK: r2q.quantize %{{.*}} scheme <group_size = 32, planes = 2, method = greedy, scale_type = f16> : tensor<8x64xbf16>
  %s, %a = r2q.quantize %w scheme <group_size = 32> : tensor<8x64xbf16>
  return %s, %a : tensor<2x8x8xi8>, tensor<2x8x2xf16>
}

// CHECK-LABEL: func.func @quantize_refined_four_planes
func.func @quantize_refined_four_planes(%w: tensor<?x64xf16>) -> (tensor<4x?x8xi8>, tensor<4x?x1xbf16>) {
  // CHECK: r2q.quantize %{{.*}} scheme <group_size = 64, planes = 4, method = refined, scale_type = bf16> : tensor<?x64xf16>
  %s, %a = r2q.quantize %w scheme <scale_type = bf16, method = refined, planes = 4, group_size = 64> : tensor<?x64xf16>
  return %s, %a : tensor<4x?x8xi8>, tensor<4x?x1xbf16>
}

// CHECK-LABEL: func.func @residual
// CHECK-SAME: (%[[R:.*]]: tensor<16x256xf32>)
func.func @residual(%r: tensor<16x256xf32>) -> (tensor<16x32xi8>, tensor<16x2xf32>, tensor<16x256xf32>) {
  // CHECK: %[[S:.*]], %[[A:.*]], %[[N:.*]] = r2q.residual %[[R]] group_size 128 : tensor<16x256xf32> -> tensor<16x32xi8>, tensor<16x2xf32>, tensor<16x256xf32>
  %s, %a, %n = r2q.residual %r group_size 128 : tensor<16x256xf32> -> tensor<16x32xi8>, tensor<16x2xf32>, tensor<16x256xf32>
  // CHECK: return %[[S]], %[[A]], %[[N]]
  return %s, %a, %n : tensor<16x32xi8>, tensor<16x2xf32>, tensor<16x256xf32>
}

// CHECK-LABEL: func.func @dequantize
// CHECK-SAME: (%[[S:.*]]: tensor<2x256x64xi8>, %[[A:.*]]: tensor<2x256x4xf16>)
func.func @dequantize(%s: tensor<2x256x64xi8>, %a: tensor<2x256x4xf16>) -> tensor<256x512xbf16> {
  // CHECK: r2q.dequantize %[[S]], %[[A]] group_size 128 : tensor<2x256x64xi8>, tensor<2x256x4xf16> -> tensor<256x512xbf16>
  %w = r2q.dequantize %s, %a group_size 128 : tensor<2x256x64xi8>, tensor<2x256x4xf16> -> tensor<256x512xbf16>
  return %w : tensor<256x512xbf16>
}

// CHECK-LABEL: func.func @matmul_2d
// CHECK-SAME: (%[[X:.*]]: tensor<?x512xbf16>, %[[S:.*]]: tensor<2x256x64xi8>, %[[A:.*]]: tensor<2x256x4xf16>)
func.func @matmul_2d(%x: tensor<?x512xbf16>, %s: tensor<2x256x64xi8>, %a: tensor<2x256x4xf16>) -> tensor<?x256xf32> {
  // CHECK: r2q.matmul %[[X]], %[[S]], %[[A]] group_size 128 : tensor<?x512xbf16>, tensor<2x256x64xi8>, tensor<2x256x4xf16> -> tensor<?x256xf32>
  %y = r2q.matmul %x, %s, %a group_size 128 : tensor<?x512xbf16>, tensor<2x256x64xi8>, tensor<2x256x4xf16> -> tensor<?x256xf32>
  return %y : tensor<?x256xf32>
}

// CHECK-LABEL: func.func @matmul_3d
func.func @matmul_3d(%x: tensor<2x?x64xf32>, %s: tensor<1x24x8xi8>, %a: tensor<1x24x8xf32>) -> tensor<2x?x24xf32> {
  // CHECK: r2q.matmul %{{.*}} group_size 8 : tensor<2x?x64xf32>, tensor<1x24x8xi8>, tensor<1x24x8xf32> -> tensor<2x?x24xf32>
  %y = r2q.matmul %x, %s, %a group_size 8 : tensor<2x?x64xf32>, tensor<1x24x8xi8>, tensor<1x24x8xf32> -> tensor<2x?x24xf32>
  return %y : tensor<2x?x24xf32>
}

// A single activation vector (GEMV) with f16 output.
// CHECK-LABEL: func.func @matmul_vector
func.func @matmul_vector(%x: tensor<256xf16>, %s: tensor<3x100x32xi8>, %a: tensor<3x100x1xf16>) -> tensor<100xf16> {
  // CHECK: r2q.matmul %{{.*}} group_size 256 : tensor<256xf16>, tensor<3x100x32xi8>, tensor<3x100x1xf16> -> tensor<100xf16>
  %y = r2q.matmul %x, %s, %a group_size 256 : tensor<256xf16>, tensor<3x100x32xi8>, tensor<3x100x1xf16> -> tensor<100xf16>
  return %y : tensor<100xf16>
}

// The scheme attribute on its own.
// CHECK-LABEL: func.func @scheme_attribute
// CHECK: r2q.scheme = #r2q.scheme<group_size = 64, planes = 1, method = greedy, scale_type = f32>
func.func @scheme_attribute() attributes {r2q.scheme = #r2q.scheme<group_size = 64, planes = 1, scale_type = f32>} {
  return
}

// Group sizes that do not divide K: a shorter last group. K = 576, G = 128:
// ceil(576/128) = 5 groups per row (the last of 64 weights), 72 sign bytes.
// CHECK-LABEL: func.func @ragged_quantize
func.func @ragged_quantize(%w: tensor<1536x576xf32>) -> (tensor<2x1536x72xi8>, tensor<2x1536x5xf16>) {
  // CHECK: r2q.quantize %{{.*}} scheme <group_size = 128, planes = 2, method = greedy, scale_type = f16> : tensor<1536x576xf32>
  %s, %a = r2q.quantize %w scheme <group_size = 128> : tensor<1536x576xf32>
  return %s, %a : tensor<2x1536x72xi8>, tensor<2x1536x5xf16>
}

// K = 13, G = 8: groups of 8 and 5 columns, ceil(13/8) = 2 sign bytes.
// CHECK-LABEL: func.func @ragged_k_not_multiple_of_8
func.func @ragged_k_not_multiple_of_8(%x: tensor<3x13xf32>, %w: tensor<5x13xf32>) -> (tensor<5x13xf32>, tensor<3x5xf32>) {
  // CHECK: r2q.quantize %{{.*}} : tensor<5x13xf32>
  %s, %a = r2q.quantize %w scheme <group_size = 8, planes = 1> : tensor<5x13xf32>
  // CHECK: r2q.residual %{{.*}} group_size 8 : tensor<5x13xf32> -> tensor<5x2xi8>, tensor<5x2xf32>, tensor<5x13xf32>
  %s1, %a1, %r1 = r2q.residual %w group_size 8 : tensor<5x13xf32> -> tensor<5x2xi8>, tensor<5x2xf32>, tensor<5x13xf32>
  // CHECK: r2q.dequantize %{{.*}}, %{{.*}} group_size 8 : tensor<1x5x2xi8>, tensor<1x5x2xf16> -> tensor<5x13xf32>
  %d = r2q.dequantize %s, %a group_size 8 : tensor<1x5x2xi8>, tensor<1x5x2xf16> -> tensor<5x13xf32>
  // CHECK: r2q.matmul %{{.*}}, %{{.*}}, %{{.*}} group_size 8 : tensor<3x13xf32>, tensor<1x5x2xi8>, tensor<1x5x2xf16> -> tensor<3x5xf32>
  %y = r2q.matmul %x, %s, %a group_size 8 : tensor<3x13xf32>, tensor<1x5x2xi8>, tensor<1x5x2xf16> -> tensor<3x5xf32>
  return %d, %y : tensor<5x13xf32>, tensor<3x5xf32>
}

// Dense + sparse R2Q: the outliers' CSR operands, static and dynamic counts.
// CHECK-LABEL: func.func @matmul_outliers
// CHECK-SAME: (%[[X:.*]]: tensor<3x100xf32>, %[[S:.*]]: tensor<2x16x13xi8>, %[[A:.*]]: tensor<2x16x4xf16>, %[[O:.*]]: tensor<17xi32>, %[[C:.*]]: tensor<9xi16>, %[[V:.*]]: tensor<9xf16>, %[[CD:.*]]: tensor<?xi32>, %[[VD:.*]]: tensor<?xf32>)
func.func @matmul_outliers(%x: tensor<3x100xf32>, %s: tensor<2x16x13xi8>, %a: tensor<2x16x4xf16>,
                           %o: tensor<17xi32>, %c: tensor<9xi16>, %v: tensor<9xf16>,
                           %cd: tensor<?xi32>, %vd: tensor<?xf32>) -> (tensor<3x16xf32>, tensor<3x16xf32>) {
  // CHECK: r2q.matmul %[[X]], %[[S]], %[[A]] outliers(%[[O]], %[[C]], %[[V]]) group_size 32 : tensor<3x100xf32>, tensor<2x16x13xi8>, tensor<2x16x4xf16>, outliers(tensor<17xi32>, tensor<9xi16>, tensor<9xf16>) -> tensor<3x16xf32>
  %y = r2q.matmul %x, %s, %a outliers(%o, %c, %v) group_size 32 : tensor<3x100xf32>, tensor<2x16x13xi8>, tensor<2x16x4xf16>, outliers(tensor<17xi32>, tensor<9xi16>, tensor<9xf16>) -> tensor<3x16xf32>
  // CHECK: r2q.matmul %[[X]], %[[S]], %[[A]] outliers(%[[O]], %[[CD]], %[[VD]]) group_size 32 : tensor<3x100xf32>, tensor<2x16x13xi8>, tensor<2x16x4xf16>, outliers(tensor<17xi32>, tensor<?xi32>, tensor<?xf32>) -> tensor<3x16xf32>
  %z = r2q.matmul %x, %s, %a outliers(%o, %cd, %vd) group_size 32 : tensor<3x100xf32>, tensor<2x16x13xi8>, tensor<2x16x4xf16>, outliers(tensor<17xi32>, tensor<?xi32>, tensor<?xf32>) -> tensor<3x16xf32>
  return %y, %z : tensor<3x16xf32>, tensor<3x16xf32>
}
