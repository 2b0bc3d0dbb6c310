// Layers whose K the group size does not divide get a shorter last group
// (docs/format.md); ragged-groups=false leaves them in float with a remark.
// Layers with K = 0 are always left in float.
// RUN: r2q-opt %s --r2q-quantize-linear 2>&1 | FileCheck %s
// RUN: r2q-opt %s --r2q-quantize-linear="ragged-groups=false" 2>&1 | FileCheck %s --check-prefix=STRICT
// RUN: r2q-opt %s --r2q-quantize-linear="group-size=8" 2>&1 | FileCheck %s --check-prefix=G8

// CHECK: remark: layer 'zero_k:linear0' left in float: K = 0
// STRICT: remark: layer 'smollm:linear0' left in float: group size 128 does not divide K = 576
// STRICT: remark: layer 'smollm:arg1' left in float: group size 128 does not divide K = 576
// STRICT: remark: layer 'zero_k:linear0' left in float: K = 0

// SmolLM2-135M's hidden size: K = 576 = 4.5 groups of 128, so 5 scales and
// 72 sign bytes per row, for a constant and for a runtime weight.
// CHECK-LABEL: func.func @smollm
// CHECK-DAG: %[[S:.*]] = arith.constant dense<{{.*}}> : tensor<2x4x72xi8>
// CHECK-DAG: %[[A:.*]] = arith.constant dense<{{.*}}> : tensor<2x4x5xf16>
// CHECK-DAG: %[[RS:.*]], %[[RA:.*]] = r2q.quantize %{{.*}} scheme <group_size = 128, planes = 2, method = greedy, scale_type = f16> : tensor<6x576xf32>
// CHECK: r2q.matmul %{{.*}}, %[[S]], %[[A]] group_size 128 : tensor<3x576xf32>, tensor<2x4x72xi8>, tensor<2x4x5xf16> -> tensor<3x4xf32>
// CHECK: r2q.matmul %{{.*}}, %[[RS]], %[[RA]] group_size 128 : tensor<3x576xf32>, tensor<2x6x72xi8>, tensor<2x6x5xf16> -> tensor<3x6xf32>
// CHECK-NOT: linalg.matmul
// STRICT-LABEL: func.func @smollm
// STRICT-NOT: r2q.{{quantize|matmul}}
// STRICT: linalg.matmul
// STRICT: linalg.matmul
func.func @smollm(%x: tensor<3x576xf32>, %v: tensor<6x576xf32> {r2q.weight}) -> (tensor<3x4xf32>, tensor<3x6xf32>) {
  %w = arith.constant dense<0.5> : tensor<576x4xf32>
  %zero = arith.constant 0.0 : f32
  %o = tensor.empty() : tensor<3x4xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<3x4xf32>) -> tensor<3x4xf32>
  %y = linalg.matmul ins(%x, %w : tensor<3x576xf32>, tensor<576x4xf32>) outs(%acc : tensor<3x4xf32>) -> tensor<3x4xf32>
  %vt_init = tensor.empty() : tensor<576x6xf32>
  %vt = linalg.transpose ins(%v : tensor<6x576xf32>) outs(%vt_init : tensor<576x6xf32>) permutation = [1, 0]
  %o6 = tensor.empty() : tensor<3x6xf32>
  %acc6 = linalg.fill ins(%zero : f32) outs(%o6 : tensor<3x6xf32>) -> tensor<3x6xf32>
  %y6 = linalg.matmul ins(%x, %vt : tensor<3x576xf32>, tensor<576x6xf32>) outs(%acc6 : tensor<3x6xf32>) -> tensor<3x6xf32>
  return %y, %y6 : tensor<3x4xf32>, tensor<3x6xf32>
}

// K = 13 with G = 8: a group of 8 and a last group of 5 columns, padded to
// ceil(13/8) = 2 sign bytes per row.
// G8-LABEL: func.func @k_not_multiple_of_8
// G8: r2q.matmul {{.*}} group_size 8 : tensor<2x13xf32>, tensor<2x5x2xi8>, tensor<2x5x2xf16> -> tensor<2x5xf32>
func.func @k_not_multiple_of_8(%x: tensor<2x13xf32>) -> tensor<2x5xf32> {
  %w = arith.constant dense<-1.5> : tensor<13x5xf32>
  %zero = arith.constant 0.0 : f32
  %o = tensor.empty() : tensor<2x5xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<2x5xf32>) -> tensor<2x5xf32>
  %y = linalg.matmul ins(%x, %w : tensor<2x13xf32>, tensor<13x5xf32>) outs(%acc : tensor<2x5xf32>) -> tensor<2x5xf32>
  return %y : tensor<2x5xf32>
}

// K = 0: nothing to quantize (and no group to divide); left in float.
// CHECK-LABEL: func.func @zero_k
// CHECK: linalg.matmul
// G8-LABEL: func.func @zero_k
// G8: linalg.matmul
func.func @zero_k(%x: tensor<2x0xf32>) -> tensor<2x4xf32> {
  %w = arith.constant dense<> : tensor<0x4xf32>
  %zero = arith.constant 0.0 : f32
  %o = tensor.empty() : tensor<2x4xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%o : tensor<2x4xf32>) -> tensor<2x4xf32>
  %y = linalg.matmul ins(%x, %w : tensor<2x0xf32>, tensor<0x4xf32>) outs(%acc : tensor<2x4xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}
